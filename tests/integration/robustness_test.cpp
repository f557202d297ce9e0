// Bad input loses nothing: malformed files are rejected by `import` with the
// file and the reason; over the network, truncated datasets, element lengths
// that run past the end and garbage bytes get a failure status or an abort,
// and the server keeps answering with everything stored before intact.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "corpus.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"
#include "pacs/dicom/instance_split.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

std::string Encode(DcmDataset& dataset, E_TransferSyntax xfer) {
  auto bytes = dicom::EncodeDatasetBytes(dataset, xfer);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

// Opens an association proposing CT Image Storage in explicit VR little
// endian, sends a C-STORE request whose dataset is `dataset_bytes` verbatim,
// and reports what came back: a status, or that the association ended.
std::string SendRawStore(int port, const std::string& dataset_bytes) {
  T_ASC_Network* net = nullptr;
  if (ASC_initializeNetwork(NET_REQUESTOR, 0, 10, &net).bad()) return "network init failed";
  T_ASC_Parameters* params = nullptr;
  ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
  ASC_setAPTitles(params, "ROBUSTNESS", "PACSCORE", nullptr);
  ASC_setPresentationAddresses(params, "localhost", ("127.0.0.1:" + std::to_string(port)).c_str());
  const char* ts[] = {UID_LittleEndianExplicitTransferSyntax};
  ASC_addPresentationContext(params, 1, UID_CTImageStorage, ts, 1);
  T_ASC_Association* assoc = nullptr;
  std::string outcome;
  if (ASC_requestAssociation(net, params, &assoc).bad() || ASC_countAcceptedPresentationContexts(params) != 1) {
    outcome = "association refused";
  } else {
    DcmDataset cmd;
    cmd.putAndInsertString(DCM_AffectedSOPClassUID, UID_CTImageStorage);
    cmd.putAndInsertUint16(DCM_CommandField, 0x0001);
    cmd.putAndInsertUint16(DCM_MessageID, 1);
    cmd.putAndInsertUint16(DCM_Priority, 0);
    cmd.putAndInsertUint16(DCM_CommandDataSetType, 0x0000);
    cmd.putAndInsertString(DCM_AffectedSOPInstanceUID, "1.2.3.4.5.6.7.8.9");
    std::string cmd_bytes = Encode(cmd, EXS_LittleEndianImplicit);
    DUL_PDV pdv{static_cast<unsigned long>(cmd_bytes.size()), 1, DUL_COMMANDPDV, OFTrue, cmd_bytes.data()};
    DUL_PDVLIST list{};
    list.count = 1;
    list.pdv = &pdv;
    OFCondition cond = DUL_WritePDVs(&assoc->DULassociation, &list);
    // The data in PDVs of at most 16 KiB, the last one flagged as last.
    for (size_t off = 0; cond.good() && off < dataset_bytes.size(); off += 16384) {
      const size_t n = std::min<size_t>(16384, dataset_bytes.size() - off);
      DUL_PDV data{static_cast<unsigned long>(n), 1, DUL_DATASETPDV, off + n == dataset_bytes.size() ? OFTrue : OFFalse,
                   const_cast<char*>(dataset_bytes.data() + off)};
      list.pdv = &data;
      cond = DUL_WritePDVs(&assoc->DULassociation, &list);
    }
    T_DIMSE_Message rsp{};
    T_ASC_PresentationContextID pres = 0;
    DcmDataset* detail = nullptr;
    cond = cond.good() ? DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 20, &pres, &rsp, &detail) : cond;
    delete detail;
    if (cond.good() && rsp.CommandField == DIMSE_C_STORE_RSP) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "status %04x", rsp.msg.CStoreRSP.DimseStatus);
      outcome = buf;
      ASC_releaseAssociation(assoc);
    } else {
      outcome = std::string("ended: ") + cond.text();
      ASC_abortAssociation(assoc);
    }
    ASC_dropAssociation(assoc);
    ASC_destroyAssociation(&assoc);
  }
  if (assoc) ASC_destroyAssociation(&assoc);
  ASC_dropNetwork(&net);
  return outcome;
}

bool Echo(int port) {
  return RunCommand({"echoscu", "-to", "5", "-aec", "PACSCORE", "127.0.0.1", std::to_string(port)},
                    {{"TCP_NODELAY", "1"}}, std::chrono::seconds(20))
             .exit_code == 0;
}

class RobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    for (const auto& f : LoadCorpus().files)
      if (f.path.string().find("dcm_qa_ts/") != std::string::npos) valid_.push_back(f);
    ASSERT_EQ(valid_.size(), 9u);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Everything in `sent` exports and round-trips exactly from the data folder.
  void ExpectIntact(const std::vector<SampleFile>& sent, const std::string& tag) {
    const fs::path out = dir_ / ("export_" + tag);
    auto r = RunCommand({PacscoreBinary(), "export", "--data", (dir_ / "data").string(), "--out", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::vector<SampleFile> stored;
    for (const auto& p : CheckRoundTrip(sent, out, stored)) ADD_FAILURE() << tag << ": " << p;
  }

  fs::path dir_;
  std::vector<SampleFile> valid_;
};

TEST_F(RobustnessTest, ImportRejectsMalformedFilesNamingFileAndReason) {
  std::vector<std::string> argv = {PacscoreBinary(), "import", "--data", (dir_ / "data").string()};
  for (const auto& f : valid_) argv.push_back(f.path.string());
  auto first = RunCommand(argv);
  ASSERT_EQ(first.exit_code, 0) << first.output;

  std::vector<fs::path> bad;
  for (const auto& e : fs::directory_iterator(CorpusDir() / "malformed")) bad.push_back(e.path());
  for (const auto& name : {"rtplan_truncated.dcm", "MR_truncated.dcm"})
    if (fs::exists(PydicomDir() / name)) bad.push_back(PydicomDir() / name);
  ASSERT_GE(bad.size(), 6u);
  for (const auto& path : bad) {
    auto r = RunCommand({PacscoreBinary(), "import", "--data", (dir_ / "data").string(), path.string()});
    EXPECT_EQ(r.exit_code, 2) << path << ": " << r.output;
    EXPECT_NE(r.output.find(path.string() + ": "), std::string::npos) << "no line naming the file: " << r.output;
    EXPECT_NE(r.output.find("1 rejected"), std::string::npos) << r.output;
  }
  auto stats =
      ParseStatsJson(RunCommand({PacscoreBinary(), "stats", "--data", (dir_ / "data").string(), "--json"}).output);
  EXPECT_EQ(stats["instances"], 9);
  ExpectIntact(valid_, "after_malformed");
}

TEST_F(RobustnessTest, NetworkGarbageTruncationAndOverrunsLeaveServerHealthy) {
  ServerProcess server(dir_ / "data");
  ASSERT_TRUE(server.Start()) << server.Log();
  // Something stored before the abuse.
  const SampleFile& good = valid_[0];
  std::string log;
  ASSERT_EQ(PushWithStorescu({good}, server.port(), 1, log), 1u) << log;
  ExpectIntact({good}, "before");

  // A valid dataset to cut short.
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile((CorpusDir() / "dcm_qa_ct/philips_ct_140_slices").string().c_str()).bad());
  for (const auto& e : fs::directory_iterator(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices")) {
    ASSERT_TRUE(file.loadFile(e.path().c_str()).good());
    break;
  }
  file.getDataset()->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5.6.7.8.9");
  const std::string full = Encode(*file.getDataset(), EXS_LittleEndianExplicit);
  const std::string truncated = full.substr(0, full.size() / 2);

  // An element whose length runs past the end of the dataset.
  DcmDataset small;
  small.putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  std::string overrun = Encode(small, EXS_LittleEndianExplicit);
  const char header[] = {0x08, 0x00, 0x18, 0x00, 'U', 'I', 0x00, 0x10};  // (0008,0018) UI, length 4096
  overrun.append(header, sizeof header);
  overrun.append("1.2.3.4.5.6");

  for (const auto& [name, bytes] : {std::pair{"truncated", truncated}, std::pair{"overrun", overrun}}) {
    const std::string outcome = SendRawStore(server.port(), bytes);
    SCOPED_TRACE(name + std::string(" -> ") + outcome);
    std::printf("%s dataset -> %s\n", name, outcome.c_str());
    EXPECT_TRUE(outcome.rfind("status c", 0) == 0 || outcome.rfind("status a", 0) == 0 ||
                outcome.rfind("ended:", 0) == 0)
        << outcome;
    EXPECT_TRUE(Echo(server.port())) << server.Log();
  }

  // Garbage bytes straight onto the socket.
  std::mt19937 rng(42);
  for (int round = 0; round < 3; ++round) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string junk(4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (round == 1) junk[0] = 0x01;  // looks like an A-ASSOCIATE-RQ, then nonsense
    [[maybe_unused]] auto sent = send(s, junk.data(), junk.size(), MSG_NOSIGNAL);
    close(s);
    EXPECT_TRUE(Echo(server.port())) << "after garbage round " << round << "\n" << server.Log();
  }

  // Nothing of the bad input was stored; the server still stores; old data intact.
  auto stats =
      ParseStatsJson(RunCommand({PacscoreBinary(), "stats", "--data", (dir_ / "data").string(), "--json"}).output);
  EXPECT_EQ(stats["instances"], 1);
  std::optional<SampleFile> other;
  for (const auto& f : LoadCorpus().files)
    if (f.path.string().find("nema_wg04/CT1/") != std::string::npos && f.transfer_syntax == "1.2.840.10008.1.2.1")
      other = f;
  ASSERT_TRUE(other.has_value());
  ASSERT_EQ(PushWithStorescu({*other}, server.port(), 1, log), 1u) << log;
  ExpectIntact({good, *other}, "after");
  EXPECT_NE(server.Log().find("ROBUSTNESS@127.0.0.1"), std::string::npos) << "no log line naming the peer";
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

}  // namespace
}  // namespace pacs::testing
