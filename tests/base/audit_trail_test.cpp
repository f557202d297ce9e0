// The audit trail's writer: every line one JSON object with the documented
// fields, whole lines under concurrent writers, each line on disk as soon as
// Write returns, and a write failure that is logged once and stops nothing.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pacs/base/audit.h"

namespace pacs::audit {
namespace {
namespace fs = std::filesystem;
using Json = nlohmann::json;

class AuditTrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("audit_trail_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Every line of the file, each parsed (a line that is not JSON fails the test).
  static std::vector<Json> ReadLines(const fs::path& path) {
    std::ifstream in(path);
    std::vector<Json> lines;
    std::string line;
    while (std::getline(in, line)) {
      Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
      lines.push_back(std::move(parsed));
    }
    return lines;
  }

  fs::path dir_;
};

TEST_F(AuditTrailTest, WritesOneJsonLinePerEventWithTheDocumentedFields) {
  const fs::path path = dir_ / "audit.log";
  auto trail = AuditTrail::Open(path.string(), "PACSCORE");
  ASSERT_TRUE(trail.ok()) << trail.status().ToString();
  (*trail)->Write({.id = EventId::kQuery,
                   .service = "C-FIND",
                   .peer = {.ae = "FINDSCU", .host = "10.1.2.3"},
                   .studies = {{"1.2.3", "PAT-7", 0}},
                   .query = {{"PatientID", "PAT-7"}, {"StudyInstanceUID", ""}},
                   .counts = {{"matches", 2}}});
  (*trail)->Write({.id = EventId::kInstancesTransferred,
                   .action = Action::kCreate,
                   .outcome = Outcome::kMinorFailure,
                   .service = "C-STORE",
                   .peer = {.ae = "MODALITY", .host = "10.1.2.4"},
                   .our_ae = "OTHERAE",
                   .studies = {{"1.2.3", "PAT-7", 3}, {"1.2.4", "PAT-7", 1}},
                   .counts = {{"stored", 4}, {"failed", 1}}});
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 2u);
  const Json& query = lines[0];
  EXPECT_TRUE(
      std::regex_match(query["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << query["time"];
  EXPECT_EQ(query["event"]["code"], "110112");
  EXPECT_EQ(query["event"]["name"], "Query");
  EXPECT_EQ(query["action"], "E");
  EXPECT_EQ(query["outcome"], 0);
  EXPECT_EQ(query["our_ae"], "PACSCORE");
  EXPECT_EQ(query["peer_ae"], "FINDSCU");
  EXPECT_EQ(query["peer_host"], "10.1.2.3");
  EXPECT_EQ(query["query"]["PatientID"], "PAT-7");
  EXPECT_EQ(query["counts"]["matches"], 2);
  EXPECT_FALSE(query.contains("type"));

  const Json& store = lines[1];
  EXPECT_EQ(store["event"]["code"], "110104");
  EXPECT_EQ(store["action"], "C");
  EXPECT_EQ(store["outcome"], 4);
  EXPECT_EQ(store["our_ae"], "OTHERAE");
  ASSERT_EQ(store["studies"].size(), 2u);
  EXPECT_EQ(store["studies"][0]["uid"], "1.2.3");
  EXPECT_EQ(store["studies"][0]["instances"], 3);
  EXPECT_EQ(store["patient_ids"], Json::array({"PAT-7"}));
  EXPECT_EQ(store["counts"]["failed"], 1);

  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0007, 0u) << "the audit log must not be world-readable";
}

TEST_F(AuditTrailTest, EachLineIsInTheFileWhenWriteReturns) {
  const fs::path path = dir_ / "audit.log";
  auto trail = AuditTrail::Open(path.string(), "PACSCORE");
  ASSERT_TRUE(trail.ok());
  for (int i = 1; i <= 3; ++i) {
    (*trail)->Write(
        {.id = EventId::kSecurityAlert, .type = EventType::kNodeAuthentication, .detail = std::to_string(i)});
    // Read by another file description while the trail stays open: nothing waits in a buffer.
    const auto lines = ReadLines(path);
    ASSERT_EQ(lines.size(), static_cast<size_t>(i));
    EXPECT_EQ(lines.back()["detail"], std::to_string(i));
    EXPECT_EQ(lines.back()["type"]["code"], "110126");
  }
}

TEST_F(AuditTrailTest, AppendsToAnExistingFile) {
  const fs::path path = dir_ / "audit.log";
  {
    std::ofstream(path) << R"({"earlier":true})"
                        << "\n";
  }
  auto trail = AuditTrail::Open(path.string(), "PACSCORE");
  ASSERT_TRUE(trail.ok());
  (*trail)->Write({.id = EventId::kApplicationActivity, .type = EventType::kApplicationStart});
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0]["earlier"].get<bool>());
  EXPECT_EQ(lines[1]["type"]["name"], "Application Start");
}

TEST_F(AuditTrailTest, ConcurrentWritersNeverInterleaveLines) {
  const fs::path path = dir_ / "audit.log";
  auto trail = AuditTrail::Open(path.string(), "PACSCORE");
  ASSERT_TRUE(trail.ok());
  constexpr int kThreads = 8;
  constexpr int kEach = 400;
  // Long lines (several KB) so that a torn write would show.
  const std::string padding(3000, 'x');
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        (*trail)->Write({.id = EventId::kQuery,
                         .service = "C-FIND",
                         .peer = {.ae = "T" + std::to_string(t)},
                         .counts = {{"i", static_cast<uint64_t>(i)}},
                         .detail = padding});
    });
  for (auto& thread : threads) thread.join();
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kEach));
  std::set<std::pair<std::string, uint64_t>> seen;
  for (const auto& line : lines) {
    ASSERT_TRUE(line.is_object());
    EXPECT_EQ(line["detail"], padding);
    seen.emplace(line["peer_ae"].get<std::string>(), line["counts"]["i"].get<uint64_t>());
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach)) << "every event exactly once";
  EXPECT_EQ((*trail)->lost_events(), 0u);
}

// /dev/full fails every write with ENOSPC: the events are counted as lost,
// one error line is logged for the whole run of failures, and Write returns.
TEST_F(AuditTrailTest, AWriteFailureIsLoggedOnceAndStopsNothing) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto trail = AuditTrail::Open("/dev/full", "PACSCORE");
  ASSERT_TRUE(trail.ok()) << trail.status().ToString();
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 50; ++i) (*trail)->Write({.id = EventId::kQuery, .service = "C-FIND"});
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ((*trail)->lost_events(), 50u);
  size_t errors = 0;
  for (size_t at = log.find("audit log /dev/full: write failed"); at != std::string::npos;
       at = log.find("audit log /dev/full: write failed", at + 1))
    ++errors;
  EXPECT_EQ(errors, 1u) << log;
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
}

TEST_F(AuditTrailTest, OpenNamesTheFileItCannotOpen) {
  auto trail = AuditTrail::Open((dir_ / "missing" / "audit.log").string(), "PACSCORE");
  ASSERT_FALSE(trail.ok());
  EXPECT_NE(trail.status().message().find((dir_ / "missing" / "audit.log").string()), std::string::npos);
}

// The process-wide trail: nothing is written without one; installing one
// records Audit Recording Started, removing it Audit Recording Stopped.
TEST_F(AuditTrailTest, TheInstalledTrailRecordsItsOwnStartAndStop) {
  const fs::path path = dir_ / "audit.log";
  ASSERT_FALSE(AuditEnabled());
  Audit({.id = EventId::kQuery});  // the null sink: goes nowhere, fails nothing
  auto trail = AuditTrail::Open(path.string(), "PACSCORE");
  ASSERT_TRUE(trail.ok());
  EXPECT_EQ(InstallAuditTrail(std::move(*trail)), nullptr);
  EXPECT_TRUE(AuditEnabled());
  SecurityAlert(EventType::kUseOfRestrictedFunction, {.ae = "", .host = "127.0.0.1", .user = "uid 65534 (nobody)"},
                "admin /delete", "bad token");
  auto previous = InstallAuditTrail(nullptr);
  EXPECT_NE(previous, nullptr);
  EXPECT_FALSE(AuditEnabled());
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["type"]["code"], "110134");
  EXPECT_EQ(lines[1]["event"]["code"], "110113");
  EXPECT_EQ(lines[1]["type"]["code"], "110132");
  EXPECT_EQ(lines[1]["outcome"], 4);
  EXPECT_EQ(lines[1]["user"], "uid 65534 (nobody)");
  EXPECT_EQ(lines[1]["detail"], "bad token");
  EXPECT_EQ(lines[2]["type"]["code"], "110133");
}

TEST(StudyTallyTest, CountsPerStudyAndGivesTheOutcome) {
  StudyTally tally;
  EXPECT_TRUE(tally.empty());
  tally.Add("1.1", "P1", true);
  tally.Add("1.2", "P2", true);
  tally.Add("1.1", "P1", true);
  EXPECT_EQ(tally.outcome(), Outcome::kSuccess);
  tally.Add("1.1", "P1", false);
  tally.Add("", "", false);  // a dataset that never arrived
  ASSERT_EQ(tally.studies().size(), 2u);
  EXPECT_EQ(tally.studies()[0].instances, 2u);
  EXPECT_EQ(tally.studies()[1].patient_id, "P2");
  EXPECT_EQ(tally.succeeded(), 3u);
  EXPECT_EQ(tally.failed(), 2u);
  EXPECT_EQ(tally.outcome(), Outcome::kMinorFailure);
  StudyTally failed;
  failed.Add("1.3", "P3", false);
  EXPECT_EQ(failed.outcome(), Outcome::kSeriousFailure);
}

}  // namespace
}  // namespace pacs::audit
