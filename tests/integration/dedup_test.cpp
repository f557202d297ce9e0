// Issue 4's traps and figures: identical pixels are stored once whatever
// syntax carried them, re-sent and corrected studies cost (almost) nothing,
// deletes give the space back after collection, and verify --deep stays clean.
#include <gtest/gtest.h>

#include <set>

#include "corpus.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/instance_split.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The server re-encodes frames behind its C-STORE responses; `compact` waits
// for that and compacts, so the folder is measured as it will stay.
tools::Json SettledStats(const fs::path& data) {
  auto c = RunCommand({PacscoreBinary(), "compact", "--data", data.string()});
  EXPECT_EQ(c.exit_code, 0) << c.output;
  return StatsJson(data);
}

void ExpectVerifyDeepClean(const fs::path& data, const std::string& when) {
  auto r = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--deep"});
  EXPECT_EQ(r.exit_code, 0) << when << ": " << r.output;
  EXPECT_NE(r.output.find("clean"), std::string::npos) << when << ": " << r.output;
}

// In process, on a real RocksDB folder: what the engine records for the traps.
class DedupTrapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    dicom::InitDicomLibrary();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<engine::Store> Open(engine::DuplicatePolicy policy) {
    auto store = engine::Store::Open({.path = (dir_ / "data").string(), .on_duplicate = policy});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  fs::path dir_;
};

TEST_F(DedupTrapsTest, OneSliceInNineSyntaxesIsOneFrameWithOneIdentity) {
  auto store = Open(engine::DuplicatePolicy::kKeep);
  dicom::Ingestor ingestor(*store);
  std::set<engine::ContentHash> native_keys, compressed_identities;
  for (const auto& path : FilesIn(CorpusDir() / "dcm_qa_ts")) {
    auto report = ingestor.IngestFile(path);
    ASSERT_TRUE(report.ok()) << path << ": " << report.status().ToString();
    auto rec = store->GetInstance(report->sop_instance_uid);
    ASSERT_TRUE(rec.ok());
    ASSERT_FALSE(rec->chunks.empty());
    if (rec->pixel_layout == engine::PixelLayout::kNative) {
      native_keys.insert(rec->chunks[0].hash);
      EXPECT_EQ(rec->chunks[0].pixel_hash, rec->chunks[0].hash);
    } else {
      compressed_identities.insert(rec->chunks[0].pixel_hash);
    }
  }
  // Explicit, implicit and big endian: one stored frame.
  ASSERT_EQ(native_keys.size(), 1u);
  // RLE, JPEG lossless (2), JPEG-LS (2), JPEG 2000: the same decoded pixels.
  ASSERT_EQ(compressed_identities.size(), 1u);
  EXPECT_EQ(*compressed_identities.begin(), *native_keys.begin());
  auto st = store->Stats(false);
  EXPECT_EQ(st->instances, 9u);
  EXPECT_EQ(st->frames_in_several_encodings, 1u);
  EXPECT_EQ(st->chunk_references, 9u);
  auto report = store->VerifyStructure(std::chrono::hours(1));
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
  store
      ->ForEachInstance([&](const engine::InstanceRecord& rec) {
        Status s = dicom::VerifyInstanceDeep(*store, rec);
        EXPECT_TRUE(s.ok()) << rec.sop_instance_uid << ": " << s.ToString();
        return true;
      })
      .ok();
}

// dcm_qa_12bit: three different images under one SOP Instance UID.
TEST_F(DedupTrapsTest, SameUidDifferentPixelsFollowsThePolicyVisibly) {
  const auto files = FilesIn(CorpusDir() / "dcm_qa_12bit");
  ASSERT_EQ(files.size(), 3u);
  std::string uid;
  {
    auto store = Open(engine::DuplicatePolicy::kKeep);
    dicom::Ingestor ingestor(*store);
    auto first = ingestor.IngestFile(files[0]);
    ASSERT_TRUE(first.ok());
    uid = first->sop_instance_uid;
    const auto first_frame = store->GetInstance(uid)->chunks[0].hash;
    for (size_t i = 1; i < 3; ++i) {
      auto again = ingestor.IngestFile(files[i]);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again->commit.outcome, engine::CommitOutcome::kKeptExisting);
      EXPECT_NE(again->commit.existing_header_hash, again->commit.new_header_hash) << "both hashes are reported";
      EXPECT_EQ(store->GetInstance(uid)->chunks[0].hash, first_frame) << "the stored pixels stay the first file's";
    }
    EXPECT_EQ(store->Stats(false)->instances, 1u);
  }
  {
    auto store = Open(engine::DuplicatePolicy::kReject);
    dicom::Ingestor ingestor(*store);
    auto rejected = ingestor.IngestFile(files[1]);
    EXPECT_EQ(rejected.status().code(), StatusCode::kAlreadyExists);
    EXPECT_NE(rejected.status().message().find("rejected, nothing stored"), std::string::npos);
  }
  {
    auto store = Open(engine::DuplicatePolicy::kReplace);
    dicom::Ingestor ingestor(*store);
    const auto before = store->GetInstance(uid)->chunks[0].hash;
    auto replaced = ingestor.IngestFile(files[2]);
    ASSERT_TRUE(replaced.ok());
    EXPECT_EQ(replaced->commit.outcome, engine::CommitOutcome::kReplaced);
    EXPECT_NE(store->GetInstance(uid)->chunks[0].hash, before);
    auto st = store->Stats(false);
    EXPECT_EQ(st->instances, 1u);
    EXPECT_EQ(st->chunks_awaiting_collection, 1u) << "the replaced image's frame waits for collection";
    auto report = store->VerifyStructure(std::chrono::hours(1));
    EXPECT_TRUE(report->problems.empty());
  }
}

// Through the real server and storescu: the figures of the issue.
TEST(DedupFiguresTest, ResentCorrectedDeletedCompacted) {
  const fs::path dir = MakeTempDir("dedup_figures");
  const fs::path data = dir / "data";
  const fs::path series = CorpusDir() / "dcm_qa_ct/philips_ct_140_slices";
  std::vector<SampleFile> originals;
  for (const auto& f : LoadCorpus().files)
    if (f.path.parent_path() == series) originals.push_back(f);
  ASSERT_EQ(originals.size(), 140u);

  // The corrected copy: new PatientName, new study, series and instance UIDs.
  const fs::path copy_dir = dir / "copy";
  fs::create_directories(copy_dir);
  std::vector<SampleFile> copies;
  for (const auto& f : originals) {
    fs::copy_file(f.path, copy_dir / f.path.filename());
    SampleFile c = f;
    c.path = copy_dir / f.path.filename();
    copies.push_back(c);
  }
  std::vector<std::string> modify = {"dcmodify", "-nb", "-gst", "-gse", "-gin", "-ma", "(0010,0010)=CORRECTED^NAME"};
  for (const auto& c : copies) modify.push_back(c.path.string());
  auto m = RunCommand(modify);
  ASSERT_EQ(m.exit_code, 0) << m.output;
  std::set<std::string> copy_studies;
  for (auto& c : copies) {
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(c.path.c_str()).good());
    OFString v;
    ff.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, v);
    c.sop_instance_uid = v.c_str();
    ff.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, v);
    copy_studies.insert(v.c_str());
  }

  ServerProcess server(data);
  ASSERT_TRUE(server.Start()) << server.Log();
  const long long empty = tools::JsonInt(SettledStats(data), "stored_bytes");
  std::string log;
  ASSERT_EQ(PushWithStorescu(originals, server.port(), 1, log), 140u) << log;
  const long long first = tools::JsonInt(SettledStats(data), "stored_bytes");
  ExpectVerifyDeepClean(data, "after the first push");

  ASSERT_EQ(PushWithStorescu(originals, server.port(), 1, log), 140u) << log;
  auto twice = SettledStats(data);
  const long long second = tools::JsonInt(twice, "stored_bytes");
  std::printf("stored_bytes: empty %lld, first push %lld, second push %lld (+%.3f%%)\n", empty, first, second,
              100.0 * (second - first) / (first - empty));
  EXPECT_LE(second - first, (first - empty) * 5 / 1000) << "a re-sent series may add at most 0.5%";
  EXPECT_EQ(tools::JsonInt(twice, "instances"), 140);

  ASSERT_EQ(PushWithStorescu(copies, server.port(), 1, log), 140u) << log;
  auto corrected = SettledStats(data);
  const long long third = tools::JsonInt(corrected, "stored_bytes");
  std::printf("corrected copy adds %lld bytes (%.3f%% of the first push)\n", third - second,
              100.0 * (third - second) / (first - empty));
  EXPECT_LE(third - second, (first - empty) * 2 / 100) << "a corrected copy may add only header bytes (2%)";
  EXPECT_EQ(tools::JsonInt(corrected, "instances"), 280);
  EXPECT_EQ(tools::JsonInt(corrected, "unique_frames"), 140);
  EXPECT_EQ(tools::JsonInt(corrected, "frame_references"), 280);
  ExpectVerifyDeepClean(data, "after the corrected copy");

  for (const auto& study : copy_studies) {
    auto d = RunCommand({PacscoreBinary(), "delete", "--data", data.string(), "--study", study});
    ASSERT_EQ(d.exit_code, 0) << d.output;
  }
  EXPECT_EQ(tools::JsonInt(StatsJson(data), "instances"), 140);
  ExpectVerifyDeepClean(data, "after deleting the copy");
  auto d = RunCommand({PacscoreBinary(), "delete", "--data", data.string(), "--study", originals[0].study_uid});
  ASSERT_EQ(d.exit_code, 0) << d.output;
  auto deleted = StatsJson(data);
  EXPECT_EQ(tools::JsonInt(deleted, "instances"), 0);
  EXPECT_EQ(tools::JsonInt(deleted, "frames_awaiting_collection"), 140);
  ExpectVerifyDeepClean(data, "after deleting the original");
  auto c = RunCommand({PacscoreBinary(), "compact", "--data", data.string(), "--gc-grace", "0"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const long long after = tools::JsonInt(SettledStats(data), "stored_bytes");
  std::printf("after delete + compact --gc-grace 0: %lld bytes (empty archive %lld)\n", after, empty);
  EXPECT_LE(after, empty + 1000000) << "the space of deleted frames comes back";
  ExpectVerifyDeepClean(data, "after compact");
  auto v0 = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--gc-grace", "0"});
  EXPECT_EQ(v0.exit_code, 0) << "nothing unreferenced is left: " << v0.output;
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
