// File: process.h
// What `pacscore bench` needs from the operating system: child servers that
// always die with the benchmark, their CPU time from /proc, free loopback
// ports, folder sizes, and a description of the machine a result came from.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::bench {

// A child process started by the benchmark (a server under test). Its output
// goes to a log file; it is sent SIGKILL when the benchmark process dies
// (PR_SET_PDEATHSIG), and stopped with SIGTERM then SIGKILL when this object
// goes away. Used from one thread.
class ChildProcess {
 public:
  static Result<ChildProcess> Start(const std::vector<std::string>& argv,
                                    const std::map<std::string, std::string>& extra_env,
                                    const std::filesystem::path& log_file);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool Running();
  // SIGTERM, waits up to `grace`, then SIGKILL. Returns the exit code, or -1
  // when it had to be killed or died of a signal.
  int Stop(std::chrono::seconds grace = std::chrono::seconds(60));
  // The last `max_bytes` of its log, for error messages.
  std::string LogTail(size_t max_bytes = 2000) const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::filesystem::path log_file_;
};

// CPU seconds (user + system) used by `pid`, its reaped children and its live
// or zombie children (storescp --fork serves each association in a child).
std::optional<double> ProcessTreeCpuSeconds(pid_t pid);

// A TCP port on 127.0.0.1 that was free a moment ago.
Result<uint16_t> FreeLoopbackPort();

// Sum of the apparent sizes (st_size) of the regular files under `dir`.
uint64_t ApparentFolderBytes(const std::filesystem::path& dir);

// A fresh folder `<parent>/pacscore-bench-XXXXXX`.
Result<std::filesystem::path> MakeWorkFolder(const std::filesystem::path& parent);

// `program` looked up in PATH, then in `extra_dirs`; nullopt when absent.
std::optional<std::string> FindProgram(const std::string& program, const std::vector<std::string>& extra_dirs = {});

// Runs a command to completion (bounded) and returns its first output line.
std::string FirstOutputLine(const std::vector<std::string>& argv,
                            std::chrono::seconds timeout = std::chrono::seconds(10));

// Runs a command to completion (bounded); returns the exit code (-1 on
// timeout or signal) and appends its output to `output`.
int RunToCompletion(const std::vector<std::string>& argv, std::string& output,
                    std::chrono::seconds timeout = std::chrono::seconds(60));

struct MachineInfo {
  std::string cpu_model;
  unsigned cores = 0;
  uint64_t memory_bytes = 0;
  std::string kernel;
  std::string work_filesystem;  // filesystem type of the folder the servers write to
  std::string load_average;     // /proc/loadavg's 1, 5, 15 minute figures when described
};
MachineInfo DescribeMachine(const std::filesystem::path& work_dir);
// "1.23 0.98 0.50": other work on a shared machine shows up here.
std::string LoadAverage();

// The path of the running pacscore binary (/proc/self/exe).
std::string SelfExecutable();

// Child processes still registered are sent SIGKILL when the benchmark gets
// SIGINT or SIGTERM, before it exits with 130.
void InstallInterruptCleanup();

}  // namespace pacs::bench
