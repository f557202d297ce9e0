// The data folder outlives the process: a clean stop, a restart and a kill -9
// lose nothing, and `stats` gives the same answer through the running server
// and from the stopped folder.
#include <gtest/gtest.h>

#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

// Top-level stats minus what depends on the process rather than the data:
// the server's own counters, and du (RocksDB's WAL preallocation is released on close).
std::map<std::string, long long> DataStats(const fs::path& data) {
  auto r = RunCommand({PacscoreBinary(), "stats", "--data", data.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto all = ParseStatsJson(r.output);
  std::map<std::string, long long> out;
  for (const char* key : {"patients", "studies", "series", "instances", "received_bytes", "received_bytes_total",
                          "stored_bytes", "pixel_chunks", "pixel_chunk_bytes"}) {
    EXPECT_TRUE(all.count(key)) << key << " missing from " << r.output;
    out[key] = all[key];
  }
  return out;
}

std::vector<SampleFile> Subset(const std::string& folder) {
  std::vector<SampleFile> out;
  for (const auto& f : LoadCorpus().files)
    if (f.path.string().find(folder) != std::string::npos) out.push_back(f);
  return out;
}

TEST(RestartTest, StopRestartAndStatsThroughServerOrFolderAgree) {
  const fs::path dir = MakeTempDir("restart");
  const auto files = Subset("dcm_qa_ct/philips_ingenuity_head_phantom/");
  ASSERT_EQ(files.size(), 60u);
  ServerProcess server(dir / "data");
  ASSERT_TRUE(server.Start()) << server.Log();
  std::string log;
  ASSERT_EQ(PushWithStorescu(files, server.port(), 2, log), files.size()) << log;
  // Let the background re-encoding finish first (compact waits for it):
  // otherwise it goes on changing the folder between the two measurements.
  auto settle = RunCommand({PacscoreBinary(), "compact", "--data", (dir / "data").string()});
  ASSERT_EQ(settle.exit_code, 0) << settle.output;
  const auto running = DataStats(dir / "data");
  EXPECT_EQ(running.at("instances"), 60);
  EXPECT_EQ(running.at("series"), 3);
  ASSERT_EQ(server.Stop(), 0) << server.Log();
  EXPECT_NE(server.Log().find("stopped cleanly"), std::string::npos) << server.Log();
  EXPECT_FALSE(fs::exists(dir / "data" / "admin.sock"));

  EXPECT_EQ(DataStats(dir / "data"), running) << "stats of the stopped folder differ from the running server's";

  ServerProcess again(dir / "data");
  ASSERT_TRUE(again.Start()) << again.Log();
  // Reopening writes a new MANIFEST and OPTIONS file, so the folder's size may
  // move by a few bytes; everything counted from the data must not.
  auto restarted = DataStats(dir / "data");
  auto expected = running;
  restarted.erase("stored_bytes");
  expected.erase("stored_bytes");
  EXPECT_EQ(restarted, expected);
  auto r = RunCommand({PacscoreBinary(), "export", "--data", (dir / "data").string(), "--out", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<SampleFile> stored;
  for (const auto& p : CheckRoundTrip(files, dir / "out", stored)) ADD_FAILURE() << p;
  EXPECT_EQ(again.Stop(), 0);
  fs::remove_all(dir);
}

TEST(RestartTest, KillNineLosesNoAcknowledgedInstance) {
  const fs::path dir = MakeTempDir("kill9");
  const auto files = Subset("dcm_qa_decubitus/");
  ASSERT_EQ(files.size(), 35u);
  ServerProcess server(dir / "data");
  ASSERT_TRUE(server.Start()) << server.Log();
  std::string log;
  ASSERT_EQ(PushWithStorescu(files, server.port(), 1, log), files.size()) << log;
  server.Kill();  // no flush, no clean close: only the synced WAL holds the data

  auto stats = DataStats(dir / "data");  // read-only view of the killed folder
  EXPECT_EQ(stats.at("instances"), 35);
  ServerProcess again(dir / "data");
  ASSERT_TRUE(again.Start()) << again.Log();
  auto r = RunCommand({PacscoreBinary(), "export", "--data", (dir / "data").string(), "--out", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<SampleFile> stored;
  for (const auto& p : CheckRoundTrip(files, dir / "out", stored)) ADD_FAILURE() << p;
  EXPECT_EQ(stored.size(), 35u);
  EXPECT_EQ(again.Stop(), 0);
  fs::remove_all(dir);
}

TEST(RestartTest, SecondServerOnSameFolderRefusesWithClearMessage) {
  const fs::path dir = MakeTempDir("twoservers");
  ServerProcess first(dir / "data");
  ASSERT_TRUE(first.Start()) << first.Log();
  auto r =
      RunCommand({PacscoreBinary(), "serve", "--data", (dir / "data").string(), "--port", std::to_string(FreePort())},
                 {}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("held by another process"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / "data" / "admin.sock")) << "the second server must not remove the first's admin socket";
  EXPECT_EQ(first.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
