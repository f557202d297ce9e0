// The dicomweb-client npm package (the DICOMweb library OHIF uses), run
// under Node.js by dicomweb_client.mjs, against the real `pacscore serve
// --web-port`: QIDO-RS at the three levels, series metadata, frames as stored,
// as JPEG-LS and uncompressed, and STOW-RS. What it got is checked here
// against the corpus: UIDs and counts, and every frame's pixels equal to the
// original file's (JPEG-LS decoded with our codec first).
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "pacs/codecs/frame_codec.h"
#include "web_client_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

std::vector<uint8_t> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The native Pixel Data of an uncompressed corpus file, and its description.
struct OriginalFrame {
  std::vector<uint8_t> pixels;
  codecs::FrameInfo info;
  std::string error;
};
OriginalFrame ReadOriginalFrame(const fs::path& path) {
  OriginalFrame out;
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) {
    out.error = "DCMTK cannot read " + path.string();
    return out;
  }
  DcmDataset& ds = *file.getDataset();
  Uint16 rows = 0, columns = 0, allocated = 0, stored = 0, representation = 0;
  ds.findAndGetUint16(DCM_Rows, rows);
  ds.findAndGetUint16(DCM_Columns, columns);
  ds.findAndGetUint16(DCM_BitsAllocated, allocated);
  ds.findAndGetUint16(DCM_BitsStored, stored);
  ds.findAndGetUint16(DCM_PixelRepresentation, representation);
  out.info = {.rows = rows,
              .columns = columns,
              .bits_allocated = allocated,
              .bits_stored = stored,
              .samples_per_pixel = 1,
              .is_signed = representation == 1,
              .planar = false};
  DcmElement* element = nullptr;
  Uint16* words = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element->getUint16Array(words).bad() || !words) {
    out.error = "no 16-bit Pixel Data in " + path.string();
    return out;
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(words);  // little-endian host, as DICOM's OW
  out.pixels.assign(bytes, bytes + element->getLength());
  return out;
}

class DicomwebClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ct_ = CtSeriesFiles();
    if (ct_.size() != 140) GTEST_SKIP() << "the corpus CT series (140 files) is missing under " << CorpusDir();
    ASSERT_TRUE(fs::exists(WebClientWorkDir() / "npm" / "node_modules" / "dicomweb-client"))
        << "dicomweb-client is not installed under " << WebClientWorkDir()
        << ": the ctest fixture web_client_setup (tests/browser/setup.sh) installs it";
    dir_ = MakeTempDir("dicomweb_client");
    server_ = std::make_unique<WebServer>(dir_ / "data");
    ASSERT_EQ(server_->Start(), "");
    ASSERT_EQ(PushAndSettle(ct_, server_->process()), "");
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->process().Stop(), 0) << server_->process().Log();
    }
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs dicomweb_client.mjs; its report, or a test failure.
  std::optional<tools::Json> RunClient(const std::vector<std::string>& extra_args) {
    std::vector<std::string> args = {"--url", server_->base_url() + "/dicom-web", "--patient-name", "HEAD",
                                     "--out", (dir_ / "frames").string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    auto run = RunNodeScript("dicomweb_client.mjs", args, std::chrono::seconds(120));
    auto report = LastJsonLine(run.output);
    EXPECT_TRUE(report.has_value()) << "dicomweb_client.mjs printed no report (exit " << run.exit_code << "):\n"
                                    << run.output;
    if (!report) return std::nullopt;
    EXPECT_EQ(run.exit_code, 0) << tools::JsonString(*report, "step") << ": " << tools::JsonString(*report, "message")
                                << "\nserver log:\n"
                                << server_->process().Log();
    if (run.exit_code != 0) return std::nullopt;
    return report;
  }

  std::vector<SampleFile> ct_;
  fs::path dir_;
  std::unique_ptr<WebServer> server_;
};

TEST_F(DicomwebClientTest, SearchesRetrievesMetadataAndFramesThatMatchTheCorpus) {
  auto report = RunClient({"--frames-of", "3"});
  ASSERT_TRUE(report.has_value());
  std::set<std::string> ct_uids;
  std::map<std::string, fs::path> file_of;
  for (const auto& f : ct_) {
    ct_uids.insert(f.sop_instance_uid);
    file_of[f.sop_instance_uid] = f.path;
  }

  // QIDO-RS: the one study of patient HEAD, its one series, its 140 instances.
  const auto studies = report->value("studies", tools::Json::array());
  ASSERT_EQ(studies.size(), 1u) << studies.dump();
  EXPECT_EQ(tools::JsonString(studies[0], "study_uid"), ct_[0].study_uid);
  EXPECT_EQ(tools::JsonString(studies[0], "patient_id"), "PLASTIC");
  EXPECT_EQ(tools::JsonInt(studies[0], "series_count"), 1);
  EXPECT_EQ(tools::JsonInt(studies[0], "instance_count"), 140);
  EXPECT_EQ(studies[0].value("modalities", tools::Json::array()), tools::Json::array({"CT"}));
  const auto series = report->value("series", tools::Json::array());
  ASSERT_EQ(series.size(), 1u) << series.dump();
  EXPECT_EQ(tools::JsonString(series[0], "series_uid"), ct_[0].series_uid);
  EXPECT_EQ(tools::JsonString(series[0], "modality"), "CT");
  EXPECT_EQ(tools::JsonInt(series[0], "instance_count"), 140);
  std::set<std::string> found;
  for (const auto& instance : report->value("instances", tools::Json::array()))
    found.insert(tools::JsonString(instance, "sop_uid"));
  EXPECT_EQ(found, ct_uids);
  std::set<std::string> page;
  for (const auto& uid : report->value("instances_limit_5_offset_2", tools::Json::array()))
    page.insert(uid.get<std::string>());
  EXPECT_EQ(page.size(), 5u) << "limit=5&offset=2 should give 5 distinct instances";
  for (const auto& uid : page) EXPECT_TRUE(ct_uids.count(uid)) << uid;

  // Series metadata: one object per instance, Pixel Data as a bulk data reference.
  std::set<std::string> described;
  for (const auto& m : report->value("metadata", tools::Json::array())) {
    described.insert(tools::JsonString(m, "sop_uid"));
    EXPECT_EQ(tools::JsonInt(m, "rows"), 512);
    EXPECT_EQ(tools::JsonInt(m, "columns"), 512);
    EXPECT_TRUE(tools::JsonBool(m, "pixel_data_bulk")) << m.dump();
  }
  EXPECT_EQ(described, ct_uids);

  // Frames: the uncompressed one equals the original Pixel Data byte for byte;
  // the JPEG-LS ones (as stored, after the settle, and by name) are the same
  // codestream and decode to it.
  const auto frames = report->value("frames", tools::Json::array());
  EXPECT_EQ(frames.size(), 9u);
  std::map<std::string, std::map<std::string, std::vector<uint8_t>>> bytes;  // sop -> kind -> bytes
  for (const auto& f : frames) {
    EXPECT_EQ(tools::JsonInt(f, "parts"), 1) << f.dump();
    bytes[tools::JsonString(f, "sop_uid")][tools::JsonString(f, "kind")] = ReadBytes(tools::JsonString(f, "file"));
  }
  const auto jpegls = codecs::MakeCodec(codecs::CodecId::kJpegLs);
  for (const auto& [sop, by_kind] : bytes) {
    SCOPED_TRACE("instance " + sop);
    ASSERT_TRUE(file_of.count(sop));
    const OriginalFrame original = ReadOriginalFrame(file_of[sop]);
    ASSERT_EQ(original.error, "");
    ASSERT_EQ(by_kind.size(), 3u);
    EXPECT_TRUE(by_kind.at("uncompressed") == original.pixels)
        << "uncompressed frame of " << by_kind.at("uncompressed").size() << " bytes differs from the original's "
        << original.pixels.size();
    const auto& stored = by_kind.at("as_stored");
    ASSERT_GE(stored.size(), 4u);
    EXPECT_TRUE(stored[0] == 0xFF && stored[1] == 0xD8 && stored[2] == 0xFF && stored[3] == 0xF7)
        << "the frame as stored should be a JPEG-LS codestream (SOI, SOF55)";
    EXPECT_LT(stored.size(), original.pixels.size());
    EXPECT_TRUE(stored == by_kind.at("jpegls")) << "as stored and image/jls should be the same stored codestream";
    auto decoded = jpegls->Decode(original.info, stored);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(*decoded == original.pixels) << "the JPEG-LS frame does not decode to the original pixels";
  }
}

TEST_F(DicomwebClientTest, StoresAnInstanceWithStoreInstancesAndExportsItUnchanged) {
  const fs::path stowed = CorpusDir() / "dcm_qa_ct" / "ge_hispeed_dual_head" / "01.dcm";
  if (!fs::exists(stowed)) GTEST_SKIP() << stowed << " missing";
  auto report = RunClient({"--frames-of", "1", "--stow", stowed.string()});
  ASSERT_TRUE(report.has_value());
  const auto stow = report->value("stow", tools::Json::object());
  const int64_t http = tools::JsonInt(stow, "http_status");
  if (tools::JsonString(stow, "status") != "stored" && (http == 404 || http == 405 || http == 501))
    GTEST_SKIP() << "STOW-RS is not served by this build (POST /dicom-web/studies answered " << http
                 << "): " << tools::JsonString(stow, "message");
  ASSERT_EQ(tools::JsonString(stow, "status"), "stored") << stow.dump();

  auto exported =
      RunCommand({PacscoreBinary(), "export", "--data", (dir_ / "data").string(), "--out", (dir_ / "export").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  // Everything exported is one of the files sent (the CT series by C-STORE, one file by STOW-RS).
  std::vector<SampleFile> sent = ct_;
  SampleFile extra;
  extra.path = stowed;
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(stowed.c_str()).good());
  OFString uid;
  file.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid);
  extra.sop_instance_uid = uid.c_str();
  sent.push_back(extra);
  std::vector<SampleFile> stored;
  for (const auto& problem : CheckRoundTrip(sent, dir_ / "export", stored)) ADD_FAILURE() << problem;
  EXPECT_EQ(stored.size(), sent.size());
}

}  // namespace
}  // namespace pacs::testing
