// C-MOVE and C-GET against the real `pacscore serve`: movescu to a DCMTK
// storescp destination, getscu back to the requester, gdcmscu's C-MOVE; a
// whole study, a series and an instance, compared attribute by attribute
// (every Pixel Data byte included) with the files that were sent.
#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <thread>

#include "corpus.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "gtest/gtest.h"
#include "pacs/dicom/dataset_compare.h"
#include "pacs/dicom/multiframe_generator.h"
#include "qr_test_support.h"
#include "test_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

const std::string kPhilipsStudy = "1.3.46.670589.33.1.15053592413351079234.27718218421047494460";
constexpr uint64_t kRetrievalBuffer = 4ull << 20;

class RetrieveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new fs::path(MakeTempDir("retrieve"));
    sent_ = new std::map<std::string, FileAttributes>;
    std::vector<SampleFile> push;
    for (const auto& f : LoadCorpus().files) {
      const std::string rel = fs::relative(f.path, CorpusDir()).string();
      if (rel.rfind("dcm_qa_ct/philips_ingenuity_head_phantom/", 0) == 0 || rel.rfind("nema_wg04/CT1/", 0) == 0)
        push.push_back(f);
    }
    for (const auto& f : push) {
      auto attrs = ReadAttributes(f.path);
      (*sent_)[attrs["SOPInstanceUID"]] = attrs;
    }
    dest_port_ = FreePort();
    gdcm_port_ = FreePort();
    // A small retrieval buffer (4 MiB: a few CT slices ahead of the sender)
    // so that the cap is reached and checked (RetrievalQueueStaysUnderItsCap).
    server_ = new ServerProcess(*work_ / "data", {"--peer", "DEST=DESTSCP@127.0.0.1:" + std::to_string(dest_port_),
                                                  "--peer", "GDCM=GDCMSCU@127.0.0.1:" + std::to_string(gdcm_port_),
                                                  "--retrieval-buffer", std::to_string(kRetrievalBuffer)});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    std::string log;
    ASSERT_EQ(PushWithStorescu(push, server_->port(), 1, log), push.size()) << log << server_->Log();
    ready_ = true;
  }
  // A failed suite set-up must fail every test, not skip it.
  void SetUp() override { ASSERT_TRUE(ready_) << "the suite's set-up failed (see above)"; }

  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*work_);
    delete work_;
    delete sent_;
  }

  static fs::path Fresh(const std::string& name) {
    const fs::path dir = *work_ / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
  }

  // Every received file equals the file sent under its SOP Instance UID.
  static void ExpectSameAsSent(const std::vector<fs::path>& received) {
    for (const auto& path : received) {
      auto attrs = ReadAttributes(path);
      auto it = sent_->find(attrs["SOPInstanceUID"]);
      ASSERT_NE(it, sent_->end()) << path;
      EXPECT_EQ(CompareFiles(it->second.path, path), "") << path;
    }
  }
  static size_t SentCount(const std::string& keyword, const std::string& value) {
    size_t n = 0;
    for (const auto& [uid, attrs] : *sent_) n += attrs[keyword] == value;
    return n;
  }
  static std::string SeriesOf(const std::string& folder) {
    for (const auto& [uid, attrs] : *sent_)
      if (attrs.path.string().find(folder) != std::string::npos) return attrs["SeriesInstanceUID"];
    return {};
  }
  static std::string PhilipsInstance() {
    for (const auto& [uid, attrs] : *sent_)
      if (attrs["StudyInstanceUID"] == kPhilipsStudy) return uid;
    return {};
  }
  static std::string SopOf(const std::string& file) {
    for (const auto& [uid, attrs] : *sent_)
      if (attrs.path.filename() == file) return uid;
    return {};
  }

  static CommandResult Getscu(const std::vector<std::string>& keys, const fs::path& out,
                              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"getscu", "-v", "-S", "-aec", "PACSCORE", "-od", out.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    for (const auto& k : keys) argv.insert(argv.end(), {"-k", k});
    argv.insert(argv.end(), {"127.0.0.1", std::to_string(server_->port())});
    return RunCommand(argv, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(120));
  }
  static CommandResult Movescu(const std::vector<std::string>& keys, const std::string& destination) {
    std::vector<std::string> argv = {"movescu", "-d", "-S", "-aec", "PACSCORE", "-aem", destination};
    for (const auto& k : keys) argv.insert(argv.end(), {"-k", k});
    argv.insert(argv.end(), {"127.0.0.1", std::to_string(server_->port())});
    return RunCommand(argv, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(120));
  }
  // The completed count of the last C-MOVE/C-GET response (getscu -v and
  // movescu -d print them in different words).
  static int Completed(const std::string& output) {
    std::regex re(R"(Completed Sub-?operations\s*:\s*(\d+))", std::regex::icase);
    int last = -1;
    for (std::sregex_iterator it(output.begin(), output.end(), re), end; it != end; ++it) last = std::stoi((*it)[1]);
    return last;
  }

  static fs::path* work_;
  static std::map<std::string, FileAttributes>* sent_;
  static ServerProcess* server_;
  static bool ready_;
  static int dest_port_, gdcm_port_;
};
fs::path* RetrieveTest::work_ = nullptr;
std::map<std::string, FileAttributes>* RetrieveTest::sent_ = nullptr;
ServerProcess* RetrieveTest::server_ = nullptr;
bool RetrieveTest::ready_ = false;
int RetrieveTest::dest_port_ = 0;
int RetrieveTest::gdcm_port_ = 0;

TEST_F(RetrieveTest, GetscuRetrievesStudySeriesAndInstance) {
  const std::string series = SeriesOf("S2010_stereotaxis_axial_2.5mm");
  const std::string sop = PhilipsInstance();
  const auto& one = sent_->at(sop);
  struct Case {
    std::vector<std::string> keys;
    size_t expected;
  };
  const std::vector<Case> cases = {
      {{"QueryRetrieveLevel=STUDY", "StudyInstanceUID=" + kPhilipsStudy}, SentCount("StudyInstanceUID", kPhilipsStudy)},
      {{"QueryRetrieveLevel=SERIES", "StudyInstanceUID=" + kPhilipsStudy, "SeriesInstanceUID=" + series},
       SentCount("SeriesInstanceUID", series)},
      {{"QueryRetrieveLevel=IMAGE", "StudyInstanceUID=" + one["StudyInstanceUID"],
        "SeriesInstanceUID=" + one["SeriesInstanceUID"], "SOPInstanceUID=" + sop},
       1},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const fs::path out = Fresh("get" + std::to_string(i));
    auto r = Getscu(cases[i].keys, out);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(Completed(r.output), static_cast<int>(cases[i].expected)) << r.output;
    const auto files = FilesIn(out);
    EXPECT_EQ(files.size(), cases[i].expected);
    ExpectSameAsSent(files);
  }
}

TEST_F(RetrieveTest, MovescuToStorescpRetrievesStudySeriesAndInstance) {
  const fs::path out = Fresh("move");
  // storescp's default: uncompressed syntaxes only, so every instance arrives
  // in (or decoded to) the syntax it was sent to pacscore in.
  BackgroundProcess storescp({"storescp", "-aet", "DESTSCP", "-od", out.string(), std::to_string(dest_port_)},
                             {{"TCP_NODELAY", "1"}}, *work_ / "storescp.log");
  const std::string series = SeriesOf("S4010_exam_summary_sc");
  const std::string sop = PhilipsInstance();
  const auto& one = sent_->at(sop);
  size_t total = 0;
  struct Case {
    std::vector<std::string> keys;
    size_t expected;
  };
  const std::vector<Case> cases = {
      {{"QueryRetrieveLevel=STUDY", "StudyInstanceUID=" + kPhilipsStudy}, SentCount("StudyInstanceUID", kPhilipsStudy)},
      {{"QueryRetrieveLevel=SERIES", "StudyInstanceUID=" + kPhilipsStudy, "SeriesInstanceUID=" + series},
       SentCount("SeriesInstanceUID", series)},
      {{"QueryRetrieveLevel=IMAGE", "StudyInstanceUID=" + one["StudyInstanceUID"],
        "SeriesInstanceUID=" + one["SeriesInstanceUID"], "SOPInstanceUID=" + sop},
       1},
  };
  for (const auto& c : cases) {
    fs::remove_all(out);
    fs::create_directories(out);
    auto r = Movescu(c.keys, "DESTSCP");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(Completed(r.output), static_cast<int>(c.expected)) << r.output;
    EXPECT_EQ(WaitForFiles(out, c.expected, std::chrono::seconds(20)), c.expected) << storescp.Log();
    ExpectSameAsSent(FilesIn(out));
    total += c.expected;
  }
  EXPECT_GT(total, 0u);
}

// storescp +xa accepts every syntax: pacscore sends what needs no work, the
// codestreams it stores (JPEG-LS of natively received frames) or the syntax
// an instance arrived in (JPEG lossless, JPEG-LS near-lossless, JPEG 2000
// lossy...). Headers are unchanged and the pixels decode (GDCM) to the original.
TEST_F(RetrieveTest, MoveSendsStoredAndReceivedCodestreams) {
  const fs::path out = Fresh("move_compressed");
  BackgroundProcess storescp({"storescp", "+xa", "-aet", "DESTSCP", "-od", out.string(), std::to_string(dest_port_)},
                             {{"TCP_NODELAY", "1"}}, *work_ / "storescp2.log");
  auto r = Movescu({"QueryRetrieveLevel=PATIENT", "PatientID=1CT1"}, "DESTSCP");
  // Patient level exists only in Patient Root; movescu -S asks in Study Root.
  EXPECT_NE(r.output.find("DataSetDoesNotMatchSOPClass"), std::string::npos) << r.output;
  std::vector<std::string> argv = {"movescu",
                                   "-d",
                                   "-P",
                                   "-aec",
                                   "PACSCORE",
                                   "-aem",
                                   "DESTSCP",
                                   "-k",
                                   "QueryRetrieveLevel=PATIENT",
                                   "-k",
                                   "PatientID=1CT1",
                                   "127.0.0.1",
                                   std::to_string(server_->port())};
  r = RunCommand(argv, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(120));
  const size_t expected = SentCount("PatientID", "1CT1");
  EXPECT_EQ(Completed(r.output), static_cast<int>(expected)) << r.output;
  ASSERT_EQ(WaitForFiles(out, expected, std::chrono::seconds(20)), expected) << storescp.Log();
  for (const auto& path : FilesIn(out)) {
    auto attrs = ReadAttributes(path);
    const auto& original = sent_->at(attrs["SOPInstanceUID"]).path;
    DcmFileFormat a, b;
    ASSERT_TRUE(a.loadFile(original.c_str()).good());
    ASSERT_TRUE(b.loadFile(path.c_str()).good());
    if (a.getDataset()->getOriginalXfer() == b.getDataset()->getOriginalXfer()) {
      EXPECT_EQ(CompareFiles(original, path), "") << path;  // as received, byte for byte
      continue;
    }
    // Sent as stored: decode both to native with GDCM and compare.
    const fs::path raw_a = *work_ / "raw_a.dcm", raw_b = *work_ / "raw_b.dcm";
    ASSERT_EQ(RunCommand({"gdcmconv", "--raw", original.string(), raw_a.string()}).exit_code, 0);
    ASSERT_EQ(RunCommand({"gdcmconv", "--raw", path.string(), raw_b.string()}).exit_code, 0);
    DcmFileFormat da, db;
    ASSERT_TRUE(da.loadFile(raw_a.c_str()).good());
    ASSERT_TRUE(db.loadFile(raw_b.c_str()).good());
    const Uint8 *pa = nullptr, *pb = nullptr;
    unsigned long na = 0, nb = 0;
    da.getDataset()->findAndGetUint8Array(DCM_PixelData, pa, &na);
    db.getDataset()->findAndGetUint8Array(DCM_PixelData, pb, &nb);
    ASSERT_GT(na, 0u);
    EXPECT_TRUE(na == nb && std::equal(pa, pa + na, pb)) << path << " does not decode to the original pixels";
    delete a.getDataset()->remove(DCM_PixelData);
    delete b.getDataset()->remove(DCM_PixelData);
    delete b.getDataset()->remove(DCM_PhotometricInterpretation);  // YBR_RCT for colour codestreams
    delete a.getDataset()->remove(DCM_PhotometricInterpretation);
    EXPECT_TRUE(dicom::CompareDatasets(*a.getDataset(), *b.getDataset()).ok()) << path;
  }
}

// getscu proposes only uncompressed syntaxes: lossless-compressed instances
// are decoded on the way and must carry exactly the pixels of the
// uncompressed original (CT1_UNC); lossy ones cannot be sent that way.
TEST_F(RetrieveTest, GetDecodesLosslessInstancesForAnUncompressedRequester) {
  auto pixels = [](const fs::path& path) {
    DcmFileFormat f;
    EXPECT_TRUE(f.loadFile(path.c_str()).good()) << path;
    DcmDataset& ds = *f.getDataset();
    EXPECT_TRUE(ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).good()) << path;
    const Uint16* data = nullptr;
    unsigned long count = 0;
    ds.findAndGetUint16Array(DCM_PixelData, data, &count);
    return std::vector<Uint16>(data, data + count);
  };
  const auto reference = pixels(sent_->at(SopOf("CT1_UNC.dcm")).path);
  ASSERT_FALSE(reference.empty());
  for (const std::string name : {"CT1_JPLL.dcm", "CT1_JLSL.dcm", "CT1_J2KR.dcm"}) {
    const auto& attrs = sent_->at(SopOf(name));
    const fs::path out = Fresh("get_" + name);
    auto r = Getscu({"QueryRetrieveLevel=IMAGE", "StudyInstanceUID=" + attrs["StudyInstanceUID"],
                     "SeriesInstanceUID=" + attrs["SeriesInstanceUID"], "SOPInstanceUID=" + attrs["SOPInstanceUID"]},
                    out);
    EXPECT_EQ(Completed(r.output), 1) << name << "\n" << r.output;
    const auto files = FilesIn(out);
    ASSERT_EQ(files.size(), 1u) << name << "\n" << r.output;
    DcmFileFormat received;
    ASSERT_TRUE(received.loadFile(files[0].c_str()).good());
    EXPECT_FALSE(DcmXfer(received.getDataset()->getOriginalXfer()).isEncapsulated()) << name;
    EXPECT_TRUE(pixels(files[0]) == reference) << name;
  }
  const auto& lossy = sent_->at(SopOf("CT1_J2KI.dcm"));
  const fs::path out = Fresh("get_lossy");
  auto r = Getscu({"QueryRetrieveLevel=IMAGE", "StudyInstanceUID=" + lossy["StudyInstanceUID"],
                   "SeriesInstanceUID=" + lossy["SeriesInstanceUID"], "SOPInstanceUID=" + lossy["SOPInstanceUID"]},
                  out);
  EXPECT_NE(r.output.find("Number of Failed Suboperations    : 1"), std::string::npos) << r.output;
  EXPECT_TRUE(FilesIn(out).empty());
}

// The server stores natively received frames raw and re-encodes them to
// JPEG-LS in the background. Once it has: a C-GET whose requester accepts
// JPEG-LS (getscu +xt), a C-MOVE to a destination that accepts every syntax
// and an export `--transfer-syntax stored` send every frame as stored, byte for byte, and
// the server's counter of frames decoded for retrieval does not move; an
// uncompressed C-GET decodes each frame exactly once. Every copy decodes
// (DCMTK's dcmdjpls) to the instance sent, in the same frame order.
TEST_F(RetrieveTest, ReencodedSeriesLeavesAsStoredWithoutDecoding) {
  const fs::path data = *work_ / "data";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  tools::Json stats = StatsJson(data);
  while (tools::JsonInt(stats, "frames_awaiting_reencoding") != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stats = StatsJson(data);
  }
  ASSERT_EQ(tools::JsonInt(stats, "frames_awaiting_reencoding"), 0) << tools::ToJson(stats);
  auto decoded = [&] {
    return tools::JsonInt(StatsJson(data).value("server", tools::Json::object()), "frames_decoded_for_retrieval");
  };

  const std::string series = SeriesOf("S2010_stereotaxis_axial_2.5mm");
  const size_t frames = SentCount("SeriesInstanceUID", series);  // single-frame CT slices
  ASSERT_GT(frames, 1u);
  const std::vector<std::string> keys = {"QueryRetrieveLevel=SERIES", "StudyInstanceUID=" + kPhilipsStudy,
                                         "SeriesInstanceUID=" + series};
  // Each received file is JPEG-LS and the same dataset as the C-GET's
  // copy, which dcmdjpls decodes to the file sent.
  std::map<std::string, fs::path> got;
  auto expect_jpegls_of_sent = [&](const std::vector<fs::path>& files) {
    for (const auto& path : files) {
      DcmFileFormat f;
      ASSERT_TRUE(f.loadFile(path.c_str()).good()) << path;
      EXPECT_EQ(f.getDataset()->getOriginalXfer(), EXS_JPEGLSLossless) << path;
      const std::string uid = ReadAttributes(path)["SOPInstanceUID"];
      if (auto it = got.find(uid); it != got.end()) {
        EXPECT_EQ(CompareFiles(it->second, path), "") << path;
        continue;
      }
      got[uid] = path;
      const fs::path native = path.string() + ".native";
      ASSERT_EQ(RunCommand({"dcmdjpls", path.string(), native.string()}).exit_code, 0) << path;
      EXPECT_EQ(CompareFiles(sent_->at(uid).path, native), "") << path;
    }
  };

  int64_t before = decoded();
  const fs::path as_stored = Fresh("get_as_stored");
  auto r = Getscu(keys, as_stored, {"+xt"});
  EXPECT_EQ(Completed(r.output), static_cast<int>(frames)) << r.output;
  ASSERT_EQ(FilesIn(as_stored).size(), frames) << r.output;
  EXPECT_EQ(decoded() - before, 0) << "a C-GET in the stored syntax decoded frames";
  expect_jpegls_of_sent(FilesIn(as_stored));

  before = decoded();
  const fs::path moved = Fresh("move_as_stored");
  {
    BackgroundProcess storescp(
        {"storescp", "+xa", "-aet", "DESTSCP", "-od", moved.string(), std::to_string(dest_port_)},
        {{"TCP_NODELAY", "1"}}, *work_ / "storescp3.log");
    r = Movescu(keys, "DESTSCP");
    EXPECT_EQ(Completed(r.output), static_cast<int>(frames)) << r.output;
    ASSERT_EQ(WaitForFiles(moved, frames, std::chrono::seconds(20)), frames) << storescp.Log();
  }
  EXPECT_EQ(decoded() - before, 0) << "a C-MOVE in the stored syntax decoded frames";
  expect_jpegls_of_sent(FilesIn(moved));

  before = decoded();
  const fs::path exported = Fresh("export_as_stored");
  r = RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", exported.string(), "--study",
                  kPhilipsStudy, "--transfer-syntax", "stored"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<fs::path> series_files;
  for (const auto& e : fs::recursive_directory_iterator(exported))
    if (e.is_regular_file() && e.path().parent_path().filename() == series) series_files.push_back(e.path());
  ASSERT_EQ(series_files.size(), frames);
  expect_jpegls_of_sent(series_files);
  // The whole study went out as stored: nothing decoded.
  EXPECT_EQ(decoded() - before, 0) << "an export in the stored syntax decoded frames";

  before = decoded();
  const fs::path uncompressed = Fresh("get_uncompressed");
  r = Getscu(keys, uncompressed);
  EXPECT_EQ(Completed(r.output), static_cast<int>(frames)) << r.output;
  ASSERT_EQ(FilesIn(uncompressed).size(), frames);
  ExpectSameAsSent(FilesIn(uncompressed));
  EXPECT_EQ(decoded() - before, static_cast<int64_t>(frames)) << "each frame decoded once";
}

// Transcoding retrieval decodes on the server's worker pool ahead of the
// sender (prefetch.h). After background re-encoding, the CT series and a
// multi-frame instance made of its slices leave uncompressed by C-GET, by
// C-MOVE to a default storescp and by `export --transfer-syntax` exactly as
// they were sent, every frame in its place; the sub-operations of a
// transcoding C-GET come in the same order as those of a pass-through one;
// and the retrieval queue never held more than its cap (--retrieval-buffer).
TEST_F(RetrieveTest, TranscodingRetrievalIsPixelExactInOrderAndUnderItsCap) {
  const fs::path data = *work_ / "data";
  // A multi-frame instance of 7 distinct CT frames (3.5 MiB, under the cap).
  const fs::path multiframe = *work_ / "multiframe.dcm";
  auto written = dicom::WriteMultiFrame(
      CorpusDir() / "dcm_qa_ct/philips_ingenuity_head_phantom/S2010_stereotaxis_axial_2.5mm", multiframe, 7 * 524288);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  auto pushed =
      RunCommand({"storescu", "-aec", "PACSCORE", "127.0.0.1", std::to_string(server_->port()), multiframe.string()},
                 {{"TCP_NODELAY", "1"}});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.output;
  auto mf = ReadAttributes(multiframe);
  {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(multiframe.c_str()).good());
    Sint32 number_of_frames = 0;
    file.getDataset()->findAndGetSint32(DCM_NumberOfFrames, number_of_frames);
    ASSERT_EQ(number_of_frames, 7);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  tools::Json stats = StatsJson(data);
  while (tools::JsonInt(stats, "frames_awaiting_reencoding") != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stats = StatsJson(data);
  }
  ASSERT_EQ(tools::JsonInt(stats, "frames_awaiting_reencoding"), 0) << tools::ToJson(stats);
  auto server_stat = [&](const char* key) {
    return tools::JsonInt(StatsJson(data).value("server", tools::Json::object()), key);
  };

  // C-GET, uncompressed: the multi-frame instance, every frame decoded in order.
  const std::vector<std::string> mf_keys = {"QueryRetrieveLevel=IMAGE", "StudyInstanceUID=" + mf["StudyInstanceUID"],
                                            "SeriesInstanceUID=" + mf["SeriesInstanceUID"],
                                            "SOPInstanceUID=" + mf["SOPInstanceUID"]};
  int64_t before = server_stat("frames_decoded_for_retrieval");
  const fs::path got_mf = Fresh("get_multiframe");
  auto r = Getscu(mf_keys, got_mf);
  EXPECT_EQ(Completed(r.output), 1) << r.output;
  ASSERT_EQ(FilesIn(got_mf).size(), 1u) << r.output;
  EXPECT_EQ(CompareFiles(multiframe, FilesIn(got_mf)[0]), "");
  EXPECT_EQ(server_stat("frames_decoded_for_retrieval") - before, 7) << "the stored frames were not all decoded";

  // C-GET of the series: uncompressed (decoded on the pool) and as stored
  // (pass-through) send the instances in the same order.
  const std::string series = SeriesOf("S2010_stereotaxis_axial_2.5mm");
  const size_t frames = SentCount("SeriesInstanceUID", series);
  const std::vector<std::string> keys = {"QueryRetrieveLevel=SERIES", "StudyInstanceUID=" + kPhilipsStudy,
                                         "SeriesInstanceUID=" + series};
  auto order = [](const std::string& output) {
    std::vector<std::string> uids;
    std::regex re(R"(Affected SOP Instance UID\s*:\s*([0-9.]+))");
    for (std::sregex_iterator it(output.begin(), output.end(), re), end; it != end; ++it) uids.push_back((*it)[1]);
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());  // getscu -d prints each request twice
    return uids;
  };
  const fs::path unc = Fresh("get_series_unc");
  r = Getscu(keys, unc, {"-d"});
  EXPECT_EQ(Completed(r.output), static_cast<int>(frames)) << r.output;
  ExpectSameAsSent(FilesIn(unc));
  const auto decoded_order = order(r.output);
  const fs::path jls = Fresh("get_series_jls");
  r = Getscu(keys, jls, {"-d", "+xt"});
  EXPECT_EQ(Completed(r.output), static_cast<int>(frames)) << r.output;
  const auto stored_order = order(r.output);
  EXPECT_EQ(decoded_order.size(), frames);
  EXPECT_EQ(decoded_order, stored_order) << "a transcoding C-GET sent the instances in another order";

  // C-MOVE to a default storescp (uncompressed only): the series and the multi-frame instance.
  const fs::path moved = Fresh("move_transcoded");
  {
    BackgroundProcess storescp({"storescp", "-aet", "DESTSCP", "-od", moved.string(), std::to_string(dest_port_)},
                               {{"TCP_NODELAY", "1"}}, *work_ / "storescp4.log");
    r = Movescu(keys, "DESTSCP");
    EXPECT_EQ(Completed(r.output), static_cast<int>(frames)) << r.output;
    r = Movescu(mf_keys, "DESTSCP");
    EXPECT_EQ(Completed(r.output), 1) << r.output;
    ASSERT_EQ(WaitForFiles(moved, frames + 1, std::chrono::seconds(20)), frames + 1) << storescp.Log();
  }
  for (const auto& path : FilesIn(moved)) {
    const std::string uid = ReadAttributes(path)["SOPInstanceUID"];
    EXPECT_EQ(CompareFiles(uid == mf["SOPInstanceUID"] ? multiframe : sent_->at(uid).path, path), "") << path;
  }

  // export --transfer-syntax Explicit VR Little Endian (the offline tool, the same pool).
  const fs::path exported = Fresh("export_transcoded");
  r = RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", exported.string(), "--study",
                  mf["StudyInstanceUID"], "--transfer-syntax", "1.2.840.10008.1.2.1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(exported))
    if (e.is_regular_file()) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(CompareFiles(multiframe, files[0]), "");
  const fs::path exported_series = Fresh("export_series_transcoded");
  r = RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", exported_series.string(), "--study",
                  kPhilipsStudy, "--transfer-syntax", "1.2.840.10008.1.2.1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  size_t series_files = 0;
  for (const auto& e : fs::recursive_directory_iterator(exported_series)) {
    if (!e.is_regular_file() || e.path().parent_path().filename() != series) continue;
    ++series_files;
    EXPECT_EQ(CompareFiles(sent_->at(ReadAttributes(e.path())["SOPInstanceUID"]).path, e.path()), "") << e.path();
  }
  EXPECT_EQ(series_files, frames);

  // The queue of every retrieval above stayed under --retrieval-buffer, and was used.
  const int64_t peak = server_stat("retrieval_peak_queued_bytes");
  EXPECT_GT(peak, 0) << "the retrievals held nothing in their queues";
  EXPECT_LE(peak, static_cast<int64_t>(kRetrievalBuffer)) << server_->Log();
  EXPECT_EQ(server_stat("retrieval_queued_bytes"), 0) << "bytes still counted after every retrieval ended";
}

TEST_F(RetrieveTest, UnknownDestinationAndMissingStudyAreRefused) {
  auto r = Movescu({"QueryRetrieveLevel=STUDY", "StudyInstanceUID=" + kPhilipsStudy}, "NOWHERE");
  EXPECT_NE(r.output.find("MoveDestinationUnknown"), std::string::npos) << r.output;
  r = Movescu({"QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.3.4.5.6.7"}, "DESTSCP");
  EXPECT_NE(r.output.find("UnableToProcess"), std::string::npos) << r.output;
  const fs::path out = Fresh("get_missing");
  r = Getscu({"QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.3.4.5.6.7"}, out);
  EXPECT_NE(r.output.find("UnableToProcess"), std::string::npos) << r.output;
  // A destination that does not answer: sub-operations cannot be performed.
  r = Movescu({"QueryRetrieveLevel=STUDY", "StudyInstanceUID=" + kPhilipsStudy}, "GDCMSCU");
  EXPECT_NE(r.output.find("Refused: OutOfResourcesSubOperations"), std::string::npos) << r.output;
}

// GDCM 3.0.21 aborts while releasing its association (see query_find_test);
// the instances it received before that are complete files.
TEST_F(RetrieveTest, GdcmscuMovesAStudy) {
  const fs::path out = Fresh("gdcm_move");
  auto r = RunCommand({"gdcmscu", "--move", "--studyroot", "--study", "--call", "PACSCORE", "--aetitle", "GDCMSCU",
                       "--port-scp", std::to_string(gdcm_port_), "-o", out.string(), "--key", "20,d=" + kPhilipsStudy,
                       "127.0.0.1", std::to_string(server_->port())},
                      {}, std::chrono::seconds(120));
  const size_t expected = SentCount("StudyInstanceUID", kPhilipsStudy);
  EXPECT_EQ(FilesIn(out).size(), expected) << r.output;
  ExpectSameAsSent(FilesIn(out));
}

}  // namespace
}  // namespace pacs::testing
