// The audit trail of a real session (serve --audit-log): C-STORE with
// storescu, C-FIND with findscu, C-GET with getscu, C-MOVE with movescu to a
// storescp, an association refused because --max-associations is reached, a
// delete through the admin endpoint (`pacscore delete` on the running
// server), then a stop. Every line of the audit log must parse as JSON and
// each event carry its PS3.15 code, action, outcome, AEs, study and patient,
// and counts. --log-file gets every line timestamped, DCMTK's included.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "corpus.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/scu.h"
#include "gtest/gtest.h"
#include "qr_test_support.h"
#include "test_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kStudy = "1.3.46.670589.33.1.15053592413351079234.27718218421047494460";

std::vector<Json> ReadJsonLines(const fs::path& path, std::vector<std::string>& not_json) {
  std::ifstream in(path);
  std::vector<Json> lines;
  std::string line;
  while (std::getline(in, line)) {
    Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded())
      not_json.push_back(line);
    else
      lines.push_back(std::move(parsed));
  }
  return lines;
}

// A-ASSOCIATE-RQ PDU type with 16 bytes of junk: DCMTK cannot read it, logs
// an error (through our log) and the pool drops the connection.
bool SendJunkAssociationRequest(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool sent = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  const char pdu[] = "\x01\x00\x00\x00\x00\x10junkjunkjunkjunk";
  sent = sent && ::send(fd, pdu, sizeof pdu - 1, 0) == static_cast<ssize_t>(sizeof pdu - 1);
  char byte = 0;
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (sent) (void)::recv(fd, &byte, 1, 0);  // until the server closes it (bounded)
  ::close(fd);
  return sent;
}

// Lines of a log: each must begin with a UTC timestamp with milliseconds
// and a level. Returns how many came from DCMTK.
size_t ExpectEveryLineStamped(const std::string& text, size_t& lines) {
  const std::regex stamped(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |ERROR|DEBUG) .*)");
  std::istringstream in(text);
  std::string line;
  size_t dcmtk_lines = 0;
  lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_TRUE(std::regex_match(line, stamped)) << line;
    if (line.find(" dcmtk.") != std::string::npos) ++dcmtk_lines;
  }
  return dcmtk_lines;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<Json> EventsWith(const std::vector<Json>& events, const std::string& code, const std::string& service) {
  std::vector<Json> found;
  for (const auto& e : events)
    if (e["event"]["code"] == code && (service.empty() || e["service"] == service)) found.push_back(e);
  return found;
}

TEST(AuditTrail, RecordsEveryEventOfASessionWithItsFields) {
  const fs::path work = MakeTempDir("audit");
  const fs::path audit_log = work / "audit.log";
  const fs::path log_file = work / "pacscore.log";

  // Six instances of one study (the small series of the Philips phantom).
  std::vector<SampleFile> push;
  for (const auto& f : LoadCorpus().files) {
    const std::string rel = fs::relative(f.path, CorpusDir()).string();
    if (rel.rfind("dcm_qa_ct/philips_ingenuity_head_phantom/S4010", 0) == 0 ||
        rel.rfind("dcm_qa_ct/philips_ingenuity_head_phantom/S1000", 0) == 0)
      push.push_back(f);
  }
  ASSERT_EQ(push.size(), 6u);
  ASSERT_EQ(push[0].study_uid, kStudy);
  const std::string patient_id = push[0].patient_key.substr(0, push[0].patient_key.find('\0'));
  ASSERT_FALSE(patient_id.empty());

  const int dest_port = FreePort();
  ServerProcess server(
      work / "data",
      {"--audit-log", audit_log.string(), "--log-file", log_file.string(), "--max-associations", "1", "--peer",
       "DEST=DESTSCP@127.0.0.1:" + std::to_string(dest_port), "--peer", "AF=AUDITFIND@127.0.0.1:104", "--peer",
       "AG=AUDITGET@127.0.0.1:104", "--peer", "AM=AUDITMOVE@127.0.0.1:104", "--verbose"});
  ASSERT_TRUE(server.Start()) << server.Log();
  const std::string port = std::to_string(server.port());
  const std::map<std::string, std::string> nodelay = {{"TCP_NODELAY", "1"}};

  std::string log;
  ASSERT_EQ(PushWithStorescu(push, server.port(), 1, log), push.size()) << log;

  auto find = RunCommand({"findscu", "-S", "-aet", "AUDITFIND", "-aec", "PACSCORE", "-k", "QueryRetrieveLevel=STUDY",
                          "-k", "PatientID=" + patient_id, "-k", "StudyInstanceUID", "127.0.0.1", port},
                         nodelay, std::chrono::seconds(30));
  ASSERT_EQ(find.exit_code, 0) << find.output;

  const fs::path got = work / "got";
  fs::create_directories(got);
  auto get = RunCommand({"getscu", "-S", "-aet", "AUDITGET", "-aec", "PACSCORE", "-od", got.string(), "-k",
                         "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=" + kStudy, "127.0.0.1", port},
                        nodelay, std::chrono::seconds(60));
  ASSERT_EQ(get.exit_code, 0) << get.output;

  const fs::path moved = work / "moved";
  fs::create_directories(moved);
  {
    BackgroundProcess storescp({"storescp", "-aet", "DESTSCP", "-od", moved.string(), std::to_string(dest_port)},
                               nodelay, work / "storescp.log");
    auto move = RunCommand({"movescu", "-S", "-aet", "AUDITMOVE", "-aec", "PACSCORE", "-aem", "DESTSCP", "-k",
                            "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=" + kStudy, "127.0.0.1", port},
                           nodelay, std::chrono::seconds(60));
    ASSERT_EQ(move.exit_code, 0) << move.output;
    EXPECT_EQ(WaitForFiles(moved, push.size(), std::chrono::seconds(20)), push.size()) << storescp.Log();
  }

  // --max-associations 1: while this association is open, the next is refused.
  {
    DcmSCU holder;
    holder.setAETitle("HOLDER");
    holder.setPeerAETitle("PACSCORE");
    holder.setPeerHostName("127.0.0.1");
    holder.setPeerPort(static_cast<Uint16>(server.port()));
    OFList<OFString> syntaxes;
    syntaxes.emplace_back(UID_LittleEndianImplicitTransferSyntax);
    ASSERT_TRUE(holder.addPresentationContext(UID_VerificationSOPClass, syntaxes).good());
    ASSERT_TRUE(holder.initNetwork().good());
    ASSERT_TRUE(holder.negotiateAssociation().good());
    auto refused = RunCommand({"echoscu", "-to", "5", "-aet", "REFUSEDECHO", "-aec", "PACSCORE", "127.0.0.1", port},
                              nodelay, std::chrono::seconds(20));
    EXPECT_NE(refused.exit_code, 0) << refused.output;
    holder.releaseAssociation();
  }

  ASSERT_TRUE(SendJunkAssociationRequest(server.port()));

  auto deleted = RunCommand({PacscoreBinary(), "delete", "--data", server.data_dir().string(), "--study", kStudy}, {},
                            std::chrono::seconds(60));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  ASSERT_EQ(server.Stop(), 0) << server.Log();

  std::vector<std::string> not_json;
  const std::vector<Json> events = ReadJsonLines(audit_log, not_json);
  EXPECT_TRUE(not_json.empty()) << "lines that are not JSON: " << not_json.size() << ", first: " << not_json[0];
  ASSERT_FALSE(events.empty());
  const std::regex iso_ms(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  for (const auto& e : events) {
    EXPECT_TRUE(std::regex_match(e["time"].get<std::string>(), iso_ms)) << e;
    EXPECT_EQ(e["our_ae"], "PACSCORE") << e;
    EXPECT_TRUE(e["outcome"] == 0 || e["outcome"] == 4 || e["outcome"] == 8 || e["outcome"] == 12) << e;
  }
  std::string dump;
  for (const auto& e : events) dump += e.dump() + "\n";

  // Application Start first, Application Stop last, both by this process's user.
  auto activity = EventsWith(events, "110100", "");
  ASSERT_EQ(activity.size(), 2u) << dump;
  EXPECT_EQ(activity[0]["type"]["code"], "110120");
  EXPECT_EQ(activity[1]["type"]["code"], "110121");
  EXPECT_EQ(activity[1]["outcome"], 0);
  EXPECT_NE(activity[0]["user"].get<std::string>().find("uid "), std::string::npos);

  // C-STORE: one event for storescu's association, naming the study and patient.
  auto stores = EventsWith(events, "110104", "C-STORE");
  ASSERT_EQ(stores.size(), 1u) << dump;
  EXPECT_EQ(stores[0]["action"], "C");
  EXPECT_EQ(stores[0]["outcome"], 0);
  EXPECT_EQ(stores[0]["peer_ae"], "STORESCU");
  EXPECT_EQ(stores[0]["peer_host"], "127.0.0.1");
  EXPECT_EQ(stores[0]["counts"]["stored"], 6);
  EXPECT_EQ(stores[0]["counts"]["failed"], 0);
  ASSERT_EQ(stores[0]["studies"].size(), 1u) << stores[0];
  EXPECT_EQ(stores[0]["studies"][0]["uid"], kStudy);
  EXPECT_EQ(stores[0]["studies"][0]["patient_id"], patient_id);
  EXPECT_EQ(stores[0]["studies"][0]["instances"], 6);
  EXPECT_EQ(stores[0]["patient_ids"], Json::array({patient_id}));

  // C-FIND: the query keys as sent and the number of matches.
  auto queries = EventsWith(events, "110112", "C-FIND");
  ASSERT_EQ(queries.size(), 1u) << dump;
  EXPECT_EQ(queries[0]["action"], "E");
  EXPECT_EQ(queries[0]["outcome"], 0);
  EXPECT_EQ(queries[0]["peer_ae"], "AUDITFIND");
  EXPECT_EQ(queries[0]["query"]["PatientID"], patient_id);
  EXPECT_EQ(queries[0]["query"]["QueryRetrieveLevel"], "STUDY");
  EXPECT_TRUE(queries[0]["query"].contains("StudyInstanceUID"));
  EXPECT_EQ(queries[0]["counts"]["matches"], 1);
  EXPECT_EQ(queries[0]["patient_ids"], Json::array({patient_id}));

  // C-GET and C-MOVE: instances read (R), sub-operation counts, the destination of the move.
  for (const std::string service : {"C-GET", "C-MOVE"}) {
    auto sent = EventsWith(events, "110104", service);
    ASSERT_EQ(sent.size(), 1u) << service << "\n" << dump;
    EXPECT_EQ(sent[0]["action"], "R");
    EXPECT_EQ(sent[0]["outcome"], 0) << sent[0];
    EXPECT_EQ(sent[0]["peer_ae"], service == "C-GET" ? "AUDITGET" : "AUDITMOVE");
    EXPECT_EQ(sent[0]["counts"]["completed"], 6) << sent[0];
    EXPECT_EQ(sent[0]["counts"]["failed"], 0);
    ASSERT_EQ(sent[0]["studies"].size(), 1u);
    EXPECT_EQ(sent[0]["studies"][0]["uid"], kStudy);
    EXPECT_EQ(sent[0]["studies"][0]["patient_id"], patient_id);
    if (service == "C-MOVE") {
      EXPECT_EQ(sent[0]["destination_ae"], "DESTSCP");
    }
  }

  // The refused association: a Security Alert (Node Authentication) naming the peer and the reason.
  bool refusal_seen = false;
  for (const auto& alert : EventsWith(events, "110113", "DICOM association")) {
    if (alert["peer_ae"] != "REFUSEDECHO") continue;
    refusal_seen = true;
    EXPECT_EQ(alert["type"]["code"], "110126");
    EXPECT_EQ(alert["outcome"], 4);
    EXPECT_EQ(alert["peer_host"], "127.0.0.1");
    EXPECT_NE(alert["detail"].get<std::string>().find("too_many_associations"), std::string::npos) << alert;
  }
  EXPECT_TRUE(refusal_seen) << dump;
  bool junk_seen = false;
  for (const auto& alert : EventsWith(events, "110113", "DICOM association"))
    junk_seen = junk_seen || alert["detail"].get<std::string>().find("unreadable association request") == 0;
  EXPECT_TRUE(junk_seen) << dump;

  // The admin delete: DICOM Study Deleted (D) with the study, its patient and the count.
  auto deletions = EventsWith(events, "110105", "admin /delete");
  ASSERT_EQ(deletions.size(), 1u) << dump;
  EXPECT_EQ(deletions[0]["action"], "D");
  EXPECT_EQ(deletions[0]["outcome"], 0);
  EXPECT_EQ(deletions[0]["peer_host"], "127.0.0.1");
  EXPECT_EQ(deletions[0]["counts"]["instances"], 6);
  ASSERT_EQ(deletions[0]["studies"].size(), 1u);
  EXPECT_EQ(deletions[0]["studies"][0]["uid"], kStudy);
  EXPECT_EQ(deletions[0]["studies"][0]["patient_id"], patient_id);

  // --log-file: our lines and DCMTK's (the junk request), each one stamped; nothing on stderr.
  size_t lines = 0;
  EXPECT_GT(ExpectEveryLineStamped(ReadFile(log_file), lines), 0u) << "no DCMTK line in the log file";
  EXPECT_GT(lines, 5u);
  EXPECT_EQ(server.Log(), "");
  fs::remove_all(work);
}

// Without --log-file, stderr carries the same stamped lines, DCMTK's included
// (DCMTK's own console appender wrote "E: ..." with no time).
TEST(LogFile, ConsoleLinesAreStampedDcmtksIncluded) {
  const fs::path work = MakeTempDir("audit_console");
  // --verbose: DCMTK's debug lines too (by default only its warnings, which
  // a healthy session does not produce).
  ServerProcess server(work / "data", {"--verbose"});
  ASSERT_TRUE(server.Start()) << server.Log();
  ASSERT_TRUE(SendJunkAssociationRequest(server.port()));
  auto echo = RunCommand({"echoscu", "-to", "5", "-aec", "PACSCORE", "127.0.0.1", std::to_string(server.port())},
                         {{"TCP_NODELAY", "1"}}, std::chrono::seconds(20));
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  ASSERT_EQ(server.Stop(), 0) << server.Log();
  size_t lines = 0;
  EXPECT_GT(ExpectEveryLineStamped(server.Log(), lines), 0u) << server.Log();
  EXPECT_GT(lines, 3u);
  fs::remove_all(work);
}

}  // namespace
}  // namespace pacs::testing
