// Crash safety: the server is killed with SIGKILL at seeded moments while
// four associations push the corpus; one kill lands between a durable commit
// and its C-STORE response (a test-only hook holds it there). After each
// restart every instance that was answered with success is present and
// exports exactly, and verify --deep is clean.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

// storescu runs in the background; its output is parsed after the kill.
struct Pusher {
  pid_t pid = -1;
  fs::path log;
};

// One association's work: a storescu run per proposal flag, one after the
// other (storescu proposes one compressed syntax at a time), in the background.
Pusher StartStorescu(const std::map<std::string, std::vector<const SampleFile*>>& groups, int port,
                     const fs::path& log) {
  std::string script;
  for (const auto& [flag, files] : groups) {
    script += "storescu -nh -R -v -aec PACSCORE " + flag + " 127.0.0.1 " + std::to_string(port);
    for (const auto* f : files) script += " '" + f->path.string() + "'";
    script += "; ";
  }
  Pusher p;
  p.log = log;
  p.pid = fork();
  if (p.pid == 0) {
    setpgid(0, 0);  // so that the whole group can be killed
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    setenv("TCP_NODELAY", "1", 1);
    execlp("bash", "bash", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return p;
}

// Files whose C-STORE got a Success response, from storescu -v output:
// "Sending file: X" ... "Received Store Response (Success)".
std::set<std::string> Acknowledged(const fs::path& log) {
  std::ifstream in(log);
  std::set<std::string> ok;
  std::string line, current;
  while (std::getline(in, line)) {
    if (auto p = line.find("Sending file: "); p != std::string::npos)
      current = line.substr(p + 14);
    else if (line.find("Received Store Response (Success)") != std::string::npos && !current.empty())
      ok.insert(current);
  }
  return ok;
}

TEST(CrashTest, KillNineAtSeededMomentsLosesNoAcknowledgedInstance) {
  const fs::path dir = MakeTempDir("crash");
  const fs::path data = dir / "data";
  // The corpus, without the three images that share one SOP Instance UID
  // (which of them is kept depends on arrival order, see dedup_test).
  std::vector<SampleFile> files;
  for (const auto& f : LoadCorpus().files)
    if (f.path.string().find("dcm_qa_12bit") == std::string::npos) files.push_back(f);
  std::map<std::string, const SampleFile*> by_path;
  for (const auto& f : files) by_path[f.path.string()] = &f;

  std::mt19937 rng(20261127);
  std::set<std::string> acknowledged;  // paths
  const int kRounds = 6;
  const int kHoldRound = 2;  // this round is killed while a commit is held before its response
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<std::string> extra;
    const fs::path marker = dir / ("held_" + std::to_string(round));
    if (round == kHoldRound) {
      setenv("PACS_TEST_HOLD_AFTER_COMMIT", "25", 1);
      setenv("PACS_TEST_HOLD_MARKER", marker.c_str(), 1);
    }
    ServerProcess server(data);
    ASSERT_TRUE(server.Start()) << server.Log();
    unsetenv("PACS_TEST_HOLD_AFTER_COMMIT");
    unsetenv("PACS_TEST_HOLD_MARKER");

    // Four associations, each over a shuffled quarter, grouped by proposal flag.
    std::vector<const SampleFile*> order;
    for (const auto& f : files) order.push_back(&f);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<Pusher> pushers;
    for (int a = 0; a < 4; ++a) {
      std::map<std::string, std::vector<const SampleFile*>> groups;
      for (size_t i = a; i < order.size(); i += 4) groups[order[i]->storescu_flag].push_back(order[i]);
      pushers.push_back(StartStorescu(groups, server.port(),
                                      dir / ("push_" + std::to_string(round) + "_" + std::to_string(a) + ".log")));
    }
    if (round == kHoldRound) {
      for (int i = 0; i < 600 && !fs::exists(marker); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ASSERT_TRUE(fs::exists(marker)) << "the hold hook never fired\n" << server.Log();
    } else {
      std::uniform_int_distribution<int> delay(150, 1500);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    }
    server.Kill();
    for (auto& p : pushers) {
      int status = 0;
      for (int i = 0; i < 200 && waitpid(p.pid, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      kill(-p.pid, SIGKILL);
      waitpid(p.pid, &status, 0);
      for (const auto& path : Acknowledged(p.log)) acknowledged.insert(path);
    }
    std::printf("round %d: %zu files acknowledged so far\n", round, acknowledged.size());

    // Restart: every acknowledged instance is there and exact; verify --deep clean.
    ServerProcess again(data);
    ASSERT_TRUE(again.Start()) << again.Log();
    const fs::path out = dir / ("export_" + std::to_string(round));
    auto r = RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, fs::path> exported;
    // A kill before the first acknowledgement can leave nothing to export, and
    // export creates no folder for an empty archive.
    if (fs::exists(out))
      for (const auto& e : fs::recursive_directory_iterator(out))
        if (e.is_regular_file()) exported[e.path().stem().string()] = e.path();
    int checked = 0;
    for (const auto& path : acknowledged) {
      const SampleFile* f = by_path.at(path);
      auto it = exported.find(f->sop_instance_uid);
      ASSERT_NE(it, exported.end()) << "acknowledged but missing after kill -9: " << path;
      EXPECT_EQ(CompareFiles(f->path, it->second), "") << path;
      ++checked;
    }
    EXPECT_EQ(checked, static_cast<int>(acknowledged.size()));
    auto v = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--deep"});
    EXPECT_EQ(v.exit_code, 0) << v.output;
    EXPECT_EQ(again.Stop(), 0);
    fs::remove_all(out);
  }
  EXPECT_GT(acknowledged.size(), 50u) << "the kills came too early to test anything";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
