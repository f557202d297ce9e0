// Access control of the real `pacscore serve` (docs/security.md, "Access
// control (AE table)") with DCMTK's own clients: an unknown AE gets nothing,
// echo and store are open to any AE by default and can be switched off,
// peers (--peer and --config objects) get what their permissions say, a peer
// from another host and a wrong called AE title are refused, and the per-AE
// association caps hold.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/scu.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kCtSeries[] = "1.3.46.670589.33.1.18734725841080964938.23067202722091553970";

struct Slice {
  fs::path path;
  std::string storescu_flag;
};

// The first two slices of the corpus CT series (from MANIFEST.tsv).
std::vector<Slice> TwoCtSlices() {
  std::vector<Slice> out;
  std::ifstream manifest(CorpusDir() / "MANIFEST.tsv");
  std::string line;
  std::getline(manifest, line);
  while (std::getline(manifest, line) && out.size() < 2) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, '\t');) fields.push_back(field);
    if (fields.size() < 19 || fields[14] != kCtSeries) continue;
    out.push_back({CorpusDir() / fields[0], StorescuFlagFor(fields[12]).value_or("")});
  }
  return out;
}

const std::map<std::string, std::string> kNoDelay = {{"TCP_NODELAY", "1"}};

CommandResult Echo(int port, const std::string& calling, const std::string& called = "PACSCORE") {
  return RunCommand({"echoscu", "-to", "10", "-aet", calling, "-aec", called, "127.0.0.1", std::to_string(port)},
                    kNoDelay, std::chrono::seconds(30));
}

CommandResult Store(int port, const std::string& calling, const Slice& slice) {
  std::vector<std::string> argv = {"storescu", "-to", "10", "-aet", calling, "-aec", "PACSCORE"};
  if (!slice.storescu_flag.empty()) argv.push_back(slice.storescu_flag);
  argv.insert(argv.end(), {"127.0.0.1", std::to_string(port), slice.path.string()});
  return RunCommand(argv, kNoDelay, std::chrono::seconds(60));
}

// A study-level C-FIND for every patient; findscu -v prints each response.
CommandResult FindAll(int port, const std::string& calling, const std::string& called = "PACSCORE") {
  return RunCommand(
      {"findscu", "-v", "-to", "10", "-S", "-aet", calling, "-aec", called, "-k", "QueryRetrieveLevel=STUDY", "-k",
       "PatientName=*", "-k", "StudyInstanceUID", "127.0.0.1", std::to_string(port)},
      kNoDelay, std::chrono::seconds(30));
}

// Responses with an identifier ("Find Response: N (Pending)") in findscu -v output.
int Matches(const std::string& output) {
  int count = 0;
  for (size_t at = output.find("(Pending)"); at != std::string::npos; at = output.find("(Pending)", at + 1)) ++count;
  return count;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t FilesIn(const fs::path& dir) {
  size_t count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) ++count;
  return count;
}

// An association held open from `calling_ae` with DCMTK's DcmSCU (only
// Verification proposed), to fill an association cap.
class HeldAssociation {
 public:
  HeldAssociation(int port, const std::string& calling_ae) {
    scu_.setAETitle(calling_ae);
    scu_.setPeerHostName("127.0.0.1");
    scu_.setPeerPort(static_cast<Uint16>(port));
    scu_.setPeerAETitle("PACSCORE");
    scu_.setACSETimeout(10);
    OFList<OFString> syntaxes;
    syntaxes.emplace_back(UID_LittleEndianExplicitTransferSyntax);
    scu_.addPresentationContext(UID_VerificationSOPClass, syntaxes);
    open_ = scu_.initNetwork().good() && scu_.negotiateAssociation().good();
  }
  ~HeldAssociation() { Release(); }
  HeldAssociation(const HeldAssociation&) = delete;
  HeldAssociation& operator=(const HeldAssociation&) = delete;
  bool open() const { return open_; }
  void Release() {
    if (open_) scu_.releaseAssociation();
    open_ = false;
  }

 private:
  DcmSCU scu_;
  bool open_ = false;
};

// The server ends an association on its thread just after the client
// released it: repeat (bounded) until `run` succeeds.
bool SucceedsWithin(const std::function<CommandResult()>& run, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    if (run().exit_code == 0) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Defaults: echo and store from any AE; query and retrieve for peers only.
class DefaultAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    slices_ = TwoCtSlices();
    ASSERT_EQ(slices_.size(), 2u) << "the CT series is missing from " << CorpusDir();
    dir_ = MakeTempDir("access_default");
    // Only the peer FINDSCU (and the move destination) are known: not the
    // test harness's usual client peers.
    server_ = std::make_unique<ServerProcess>(
        dir_ / "data",
        std::vector<std::string>{"--peer", "QUERY=FINDSCU@127.0.0.1:104", "--peer", "DEST=DESTSCP@127.0.0.1:104"},
        false);
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  std::vector<Slice> slices_;
  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(DefaultAccessTest, AnUnknownAeMayEchoAndStoreButGetsNothing) {
  const int port = server_->port();
  // Echo and store from any AE, as Orthanc >= 1.9 does.
  EXPECT_EQ(Echo(port, "NOBODY").exit_code, 0);
  for (const Slice& slice : slices_) {
    auto stored = Store(port, "NOBODY", slice);
    ASSERT_EQ(stored.exit_code, 0) << stored.output;
  }
  // The peer with the find permission sees the study...
  auto permitted = FindAll(port, "FINDSCU");
  EXPECT_EQ(permitted.exit_code, 0) << permitted.output;
  EXPECT_EQ(Matches(permitted.output), 1) << permitted.output;

  // ...an unknown AE gets no identifier: its association is refused.
  auto find = FindAll(port, "NOBODY");
  EXPECT_NE(find.exit_code, 0) << find.output;
  EXPECT_EQ(Matches(find.output), 0) << find.output;
  EXPECT_TRUE(Contains(find.output, "Rejected Permanent")) << find.output;
  EXPECT_TRUE(Contains(find.output, "Calling AE Title Not Recognized")) << find.output;

  // getscu proposes storage contexts too (store is open to any AE): the
  // association comes up without its C-GET contexts, and nothing is sent.
  const fs::path got = dir_ / "got";
  fs::create_directories(got);
  auto get = RunCommand({"getscu", "-to", "10", "-S", "-aet", "EVIL", "-aec", "PACSCORE", "-od", got.string(), "-k",
                         "QueryRetrieveLevel=STUDY", "-k", "PatientName=*", "127.0.0.1", std::to_string(port)},
                        kNoDelay, std::chrono::seconds(30));
  EXPECT_NE(get.exit_code, 0) << get.output;
  EXPECT_EQ(FilesIn(got), 0u) << get.output;

  auto move = RunCommand({"movescu", "-to", "10", "-S", "-aet", "EVIL", "-aec", "PACSCORE", "-aem", "DESTSCP", "-k",
                          "QueryRetrieveLevel=STUDY", "-k", "PatientName=*", "127.0.0.1", std::to_string(port)},
                         kNoDelay, std::chrono::seconds(30));
  EXPECT_NE(move.exit_code, 0) << move.output;
  EXPECT_TRUE(Contains(move.output, "Calling AE Title Not Recognized")) << move.output;

  // Each refusal is logged with the peer's AE, host and reason.
  const std::string log = server_->Log();
  EXPECT_TRUE(Contains(log, "refused NOBODY@127.0.0.1 (called PACSCORE): calling_ae_title")) << log;
  EXPECT_TRUE(Contains(log, "refused EVIL@127.0.0.1 (called PACSCORE): calling_ae_title")) << log;
  EXPECT_TRUE(Contains(log, "association from EVIL@127.0.0.1: presentation contexts for get refused")) << log;
}

TEST_F(DefaultAccessTest, TheCalledAeTitleMustBeOurs) {
  auto wrong = Echo(server_->port(), "ECHOSCU", "ANYTHING");
  EXPECT_NE(wrong.exit_code, 0) << wrong.output;
  EXPECT_TRUE(Contains(wrong.output, "Called AE Title Not Recognized")) << wrong.output;
  auto find = FindAll(server_->port(), "FINDSCU", "ANYTHING");
  EXPECT_NE(find.exit_code, 0) << find.output;
  EXPECT_EQ(Matches(find.output), 0) << find.output;
  EXPECT_TRUE(Contains(server_->Log(), "refused ECHOSCU@127.0.0.1 (called ANYTHING): called_ae_title"))
      << server_->Log();
}

TEST(AnyCalledAetTest, RelaxesTheCalledAeCheck) {
  const fs::path dir = MakeTempDir("access_any_called");
  ServerProcess server(dir / "data", {"--any-called-aet"});
  ASSERT_TRUE(server.Start()) << server.Log();
  auto echo = Echo(server.port(), "ECHOSCU", "ANYTHING");
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  auto find = FindAll(server.port(), "FINDSCU", "WHATEVER");
  EXPECT_EQ(find.exit_code, 0) << find.output;
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

TEST(AssociationCapTest, ACallingAeOverItsCapIsRefusedOthersAreNot) {
  const fs::path dir = MakeTempDir("access_cap");
  ServerProcess server(dir / "data", {"--max-associations-per-ae", "1"});
  ASSERT_TRUE(server.Start()) << server.Log();
  {
    HeldAssociation held(server.port(), "BUSY");
    ASSERT_TRUE(held.open());
    auto second = Echo(server.port(), "BUSY");
    EXPECT_NE(second.exit_code, 0) << second.output;
    EXPECT_TRUE(Contains(second.output, "Rejected Transient")) << second.output;
    EXPECT_TRUE(Contains(second.output, "Local Limit Exceeded")) << second.output;
    auto other = Echo(server.port(), "OTHER");
    EXPECT_EQ(other.exit_code, 0) << other.output;
  }
  // Released: the slot is free again.
  EXPECT_TRUE(SucceedsWithin([&] { return Echo(server.port(), "BUSY"); }, std::chrono::seconds(5)));
  EXPECT_TRUE(Contains(server.Log(), "refused BUSY@127.0.0.1 (called PACSCORE): too_many_associations_for_ae"))
      << server.Log();
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

// Everything from a --config file: any-AE echo and store off, peers with
// their own permissions, host and association cap.
TEST(ConfigFileAccessTest, PeersGetWhatTheirPermissionsSay) {
  const std::vector<Slice> slices = TwoCtSlices();
  ASSERT_EQ(slices.size(), 2u) << "the CT series is missing from " << CorpusDir();
  const fs::path dir = MakeTempDir("access_config");
  const fs::path config = dir / "serve.json";
  std::ofstream(config) << R"({
    "echo-from-any-ae": false,
    "store-from-any-ae": false,
    "peer": [
      {"name": "ECHOER", "aet": "ECHOSCU", "host": "127.0.0.1", "permissions": ["echo"]},
      {"name": "MODALITY", "aet": "MODALITY", "permissions": ["store"]},
      {"name": "VIEWER", "aet": "VIEWER", "host": "127.0.0.1", "port": 104, "permissions": ["echo", "find"],
       "max_associations": 1},
      {"name": "FAR", "aet": "FARAWAY", "host": "127.0.0.2", "permissions": ["echo", "store", "find"]}
    ]})";
  ServerProcess server(dir / "data", {"--config", config.string()}, false);
  ASSERT_TRUE(server.Start()) << server.Log();  // its readiness C-ECHO comes from ECHOSCU, a peer
  const int port = server.port();

  // Echo and store are for peers only now.
  auto echo = Echo(port, "STRANGER");
  EXPECT_NE(echo.exit_code, 0) << echo.output;
  EXPECT_TRUE(Contains(echo.output, "Calling AE Title Not Recognized")) << echo.output;
  auto store = Store(port, "STORESCU", slices[0]);
  EXPECT_NE(store.exit_code, 0) << store.output;
  // The peer with the store permission stores; the one with echo only may not.
  auto stored = Store(port, "MODALITY", slices[0]);
  EXPECT_EQ(stored.exit_code, 0) << stored.output;
  auto echo_refused = Store(port, "ECHOSCU", slices[1]);
  EXPECT_NE(echo_refused.exit_code, 0) << echo_refused.output;

  // The viewer finds what was stored; the modality may store but not query.
  auto found = FindAll(port, "VIEWER");
  EXPECT_EQ(found.exit_code, 0) << found.output;
  EXPECT_EQ(Matches(found.output), 1) << found.output;
  auto modality_find = FindAll(port, "MODALITY");
  EXPECT_NE(modality_find.exit_code, 0) << modality_find.output;
  EXPECT_EQ(Matches(modality_find.output), 0) << modality_find.output;

  // FARAWAY is configured at 127.0.0.2: from 127.0.0.1 it is not recognised.
  auto far = FindAll(port, "FARAWAY");
  EXPECT_NE(far.exit_code, 0) << far.output;
  EXPECT_EQ(Matches(far.output), 0) << far.output;
  EXPECT_TRUE(Contains(far.output, "Calling AE Title Not Recognized")) << far.output;

  // VIEWER's own cap (max_associations 1) holds.
  {
    HeldAssociation held(port, "VIEWER");
    ASSERT_TRUE(held.open());
    auto second = FindAll(port, "VIEWER");
    EXPECT_NE(second.exit_code, 0) << second.output;
    EXPECT_TRUE(Contains(second.output, "Local Limit Exceeded")) << second.output;
  }

  const std::string log = server.Log();
  EXPECT_TRUE(Contains(log, "refused STRANGER@127.0.0.1 (called PACSCORE): calling_ae_title")) << log;
  EXPECT_TRUE(Contains(log, "refused MODALITY@127.0.0.1 (called PACSCORE): not_permitted")) << log;
  EXPECT_TRUE(Contains(log, "refused FARAWAY@127.0.0.1 (called PACSCORE): calling_host")) << log;
  EXPECT_TRUE(Contains(log, "refused VIEWER@127.0.0.1 (called PACSCORE): too_many_associations_for_ae")) << log;
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
