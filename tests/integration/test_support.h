// File: test_support.h
// What the integration tests share: running real processes (pacscore serve,
// storescu, ...) with bounded waits, free loopback ports, the corpus list.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"

namespace pacs::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by the timeout or a signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] (looked up in PATH) with extra environment entries; kills it
// after `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                         std::chrono::seconds timeout = std::chrono::seconds(300));

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

std::string PacscoreBinary();
std::filesystem::path CorpusDir();
std::filesystem::path PydicomDir();
std::filesystem::path MakeTempDir(const std::string& name);

// The `serve --peer` entries for the DCMTK and GDCM clients the tests run
// with their default calling AE titles (findscu FINDSCU, getscu GETSCU,
// movescu MOVESCU, gdcmscu GDCMSCU, commit-request COMMITSCU), from
// 127.0.0.1: only peers may query and retrieve (docs/security.md).
std::vector<std::string> TestClientPeers();

// A running `pacscore serve` on loopback, stopped with SIGTERM on destruction.
// Started with TestClientPeers() unless `test_client_peers` is false (a
// --peer flag replaces the peers of a --config file).
class ServerProcess {
 public:
  explicit ServerProcess(std::filesystem::path data_dir, std::vector<std::string> extra_args = {},
                         bool test_client_peers = true);
  ~ServerProcess();
  bool Start();  // waits (bounded) until the admin endpoint and C-ECHO answer; retries a port taken meanwhile
  int Stop();    // SIGTERM, bounded wait; returns the exit code
  void Kill();   // SIGKILL
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::string Log() const;

 private:
  bool StartOnce();

  std::filesystem::path data_dir_;
  std::vector<std::string> extra_args_;
  bool test_client_peers_ = true;
  int port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path log_path_;
};

// storescu flag that makes it propose `transfer_syntax`, or nullopt when
// storescu cannot propose it. Empty string: the default (uncompressed) proposals.
std::optional<std::string> StorescuFlagFor(const std::string& transfer_syntax);

// Parsed `pacscore stats --json`.
std::map<std::string, long long> ParseStatsJson(const std::string& json);

// `pacscore stats --data DIR --json`, run and parsed (an empty object, and a
// test failure, when it fails).
tools::Json StatsJson(const std::filesystem::path& data);

}  // namespace pacs::testing
