// `pacscore reindex` against the real server: corpus series (the 140-slice
// CT, an MR series, more CT and PT) are pushed with storescu and a fixed set
// of C-FINDs is answered by findscu. Copies of the data folder get their
// query index wiped with RocksDB directly; C-FIND then answers nothing, and
// after reindex (offline, or online through the running server) answers
// exactly as before.
#include <rocksdb/db.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "corpus.h"
#include "gtest/gtest.h"
#include "qr_test_support.h"
#include "test_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

const char* const kCorpusFolders[] = {
    "dcm_qa_ct/philips_ct_140_slices/",
    "dcm_qa_decubitus/HFS_3_t1_fl2d_sag/",
    "dcm_qa_ct/ge_hispeed_dual_head/",
    "nema_wg04/CT1/",
    "suyashkumar_dicom/",
};

// Drops the query index's column family, as a folder written before the
// index existed had none. The folder must not be open elsewhere. "" or why not.
std::string WipeQueryIndex(const fs::path& data) {
  std::vector<std::string> names;
  auto s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data.string(), &names);
  if (!s.ok()) return s.ToString();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.reserve(names.size());
  for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::Open(rocksdb::DBOptions(), data.string(), descriptors, &handles, &raw);
  if (!s.ok()) return s.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string problem = "no catalog column family";
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == "catalog") problem = (s = db->DropColumnFamily(handles[i])).ok() ? "" : s.ToString();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
  return problem;
}

// One C-FIND's answer: a line per response with the requested keys' values,
// sorted (the order of responses is not part of the answer).
using Answer = std::vector<std::string>;

class ReindexServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new fs::path(MakeTempDir("reindex"));
    baseline_ = new std::vector<Answer>;
    std::vector<SampleFile> push;
    for (const auto& f : LoadCorpus().files) {
      const std::string rel = fs::relative(f.path, CorpusDir()).string();
      for (const char* folder : kCorpusFolders)
        if (rel.rfind(folder, 0) == 0) push.push_back(f);
    }
    pushed_ = push.size();
    std::set<std::string> studies;
    for (const auto& f : push) studies.insert(f.study_uid);
    studies_ = studies.size();
    for (const auto& f : push) {
      if (f.path.string().find("HFS_3_t1_fl2d_sag") != std::string::npos) {
        mr_study_ = f.study_uid;
        mr_series_ = f.series_uid;
      }
      if (f.path.string().find("philips_ct_140_slices") != std::string::npos) ct_study_ = f.study_uid;
    }
    ASSERT_FALSE(mr_series_.empty());
    ASSERT_FALSE(ct_study_.empty());

    ServerProcess server(*work_ / "data");
    ASSERT_TRUE(server.Start()) << server.Log();
    std::string log;
    ASSERT_EQ(PushWithStorescu(push, server.port(), 2, log), push.size()) << log << server.Log();
    for (const auto& q : Queries()) baseline_->push_back(Ask(server.port(), q));
    ASSERT_EQ(server.Stop(), 0) << server.Log();
    // The comparisons mean something only if every query found something.
    for (size_t i = 0; i < baseline_->size(); ++i) ASSERT_FALSE((*baseline_)[i].empty()) << "query " << i;
    ASSERT_EQ((*baseline_)[0].size(), studies_);
    ASSERT_EQ((*baseline_)[9].size(), 140u);  // the CT study's images
    ASSERT_EQ((*baseline_)[8].size(), 35u);   // the MR series' images
    ready_ = true;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the suite's set-up failed (see above)"; }
  static void TearDownTestSuite() {
    fs::remove_all(*work_);
    delete work_;
    delete baseline_;
  }

  // The fixed set of queries: every level, universal and single-value
  // matching, wildcards, date ranges, the computed counts and modalities.
  static std::vector<FindRequest> Queries() {
    return {
        {.level = "STUDY",
         .keys = {"StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "AccessionNumber",
                  "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "ModalitiesInStudy"}},
        {.level = "STUDY", .keys = {"PatientName=H*", "StudyInstanceUID", "NumberOfStudyRelatedInstances"}},
        {.level = "STUDY", .keys = {"PatientID=ACRIN*", "StudyInstanceUID", "PatientName", "StudyDate"}},
        {.level = "STUDY", .keys = {"StudyDate=20000101-", "StudyInstanceUID", "StudyDate"}},
        {.level = "STUDY", .keys = {"StudyDate=19600101-19601231", "StudyInstanceUID", "StudyDate"}},
        {.level = "STUDY", .keys = {"ModalitiesInStudy=MR", "StudyInstanceUID", "ModalitiesInStudy"}},
        {.level = "SERIES",
         .keys = {"StudyInstanceUID=" + ct_study_, "SeriesInstanceUID", "Modality", "SeriesNumber",
                  "NumberOfSeriesRelatedInstances"}},
        {.level = "SERIES", .keys = {"StudyInstanceUID=" + mr_study_, "Modality=MR", "SeriesInstanceUID"}},
        {.level = "IMAGE",
         .keys = {"StudyInstanceUID=" + mr_study_, "SeriesInstanceUID=" + mr_series_, "SOPInstanceUID", "SOPClassUID",
                  "InstanceNumber"}},
        {.level = "IMAGE", .keys = {"StudyInstanceUID=" + ct_study_, "SeriesInstanceUID", "SOPInstanceUID"}},
        {.patient_root = true,
         .level = "PATIENT",
         .keys = {"PatientID", "PatientName", "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
                  "NumberOfPatientRelatedInstances"}},
    };
  }

  static Answer Ask(int port, const FindRequest& request) {
    FindResult r = RunFindscu(port, request, *work_);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.SortedLines(request.keys);
  }
  static std::vector<Answer> AskAll(int port) {
    std::vector<Answer> out;
    for (const auto& q : Queries()) out.push_back(Ask(port, q));
    return out;
  }

  // A copy of the pushed data folder with its query index wiped.
  static fs::path WipedCopy(const std::string& name) {
    fs::path copy = *work_ / name;
    fs::copy(*work_ / "data", copy, fs::copy_options::recursive);
    EXPECT_EQ(WipeQueryIndex(copy), "");
    return copy;
  }

  static CommandResult Reindex(const fs::path& data) {
    return RunCommand({PacscoreBinary(), "reindex", "--data", data.string()}, {}, std::chrono::seconds(300));
  }

  static fs::path* work_;
  static std::vector<Answer>* baseline_;
  static size_t pushed_, studies_;
  static std::string ct_study_, mr_study_, mr_series_;
  static bool ready_;
};
fs::path* ReindexServerTest::work_ = nullptr;
std::vector<Answer>* ReindexServerTest::baseline_ = nullptr;
size_t ReindexServerTest::pushed_ = 0, ReindexServerTest::studies_ = 0;
std::string ReindexServerTest::ct_study_, ReindexServerTest::mr_study_, ReindexServerTest::mr_series_;
bool ReindexServerTest::ready_ = false;

TEST_F(ReindexServerTest, OfflineReindexOfAWipedIndexAnswersAsBefore) {
  const fs::path data = WipedCopy("offline");
  {
    ServerProcess server(data);
    ASSERT_TRUE(server.Start()) << server.Log();
    for (const auto& answer : AskAll(server.port())) EXPECT_TRUE(answer.empty()) << "the wipe did not take";
    ASSERT_EQ(server.Stop(), 0) << server.Log();
  }
  const CommandResult run = Reindex(data);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output.find("through the server"), std::string::npos) << run.output;
  const std::string counts =
      std::to_string(pushed_) + " instances read, " + std::to_string(pushed_) + " indexed, 0 skipped";
  EXPECT_NE(run.output.find(counts), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("(0 removed"), std::string::npos) << run.output;

  ServerProcess server(data);
  ASSERT_TRUE(server.Start()) << server.Log();
  EXPECT_EQ(AskAll(server.port()), *baseline_);
}

TEST_F(ReindexServerTest, OnlineReindexThroughTheServerAnswersAsBeforeAndNeverHalfway) {
  const fs::path data = WipedCopy("online");
  ServerProcess server(data);
  ASSERT_TRUE(server.Start()) << server.Log();
  for (const auto& answer : AskAll(server.port())) EXPECT_TRUE(answer.empty()) << "the wipe did not take";

  // C-FINDs while the index is rebuilt see the old (empty) index or the whole
  // new one, nothing in between.
  std::atomic<bool> done{false};
  CommandResult run;
  std::thread reindex([&] {
    run = Reindex(data);
    done = true;
  });
  const FindRequest studies = Queries()[0];
  int asked = 0;
  while (!done || asked == 0) {
    const Answer answer = Ask(server.port(), studies);
    EXPECT_TRUE(answer.empty() || answer == (*baseline_)[0]) << answer.size() << " studies mid-reindex";
    ++asked;
  }
  reindex.join();
  RecordProperty("cfinds_during_reindex", asked);
  ASSERT_EQ(run.exit_code, 0) << run.output << server.Log();
  EXPECT_NE(run.output.find("through the server"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(std::to_string(pushed_) + " indexed, 0 skipped"), std::string::npos) << run.output;
  EXPECT_EQ(AskAll(server.port()), *baseline_);

  // Again on the now intact index: nothing to write, the same answers.
  const CommandResult again = Reindex(data);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("; 0 index entries written (0 removed"), std::string::npos) << again.output;
  EXPECT_EQ(AskAll(server.port()), *baseline_);
}

}  // namespace
}  // namespace pacs::testing
