#include "test_support.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace pacs::testing {
namespace fs = std::filesystem;

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int out_fd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  dup2(out_fd, STDOUT_FILENO);
  dup2(out_fd, STDERR_FILENO);
  int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, STDIN_FILENO);
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "cannot execute %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

// Waits for `pid` up to `timeout`; kills it after that. Returns the exit code or -1.
int WaitBounded(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         std::chrono::seconds timeout) {
  char path[] = "/tmp/pacs_cmd_XXXXXX";
  int fd = mkstemp(path);
  CommandResult result;
  pid_t pid = Spawn(argv, env, fd);
  result.exit_code = WaitBounded(pid, timeout);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  result.output = ss.str();
  unlink(path);
  return result;
}

namespace {

// The kernel's range for outgoing connections' local ports.
std::pair<int, int> EphemeralPortRange() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  int high = 60999;
  in >> low >> high;
  return {low, high};
}

bool CanBind(int port) {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);  // servers under test bind 0.0.0.0
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(s);
  return ok;
}

}  // namespace

// A port the kernel hands out as an ephemeral port can be taken by any
// outgoing connection (a client in a test running beside this one) between
// this call and the server's bind; CI lost a run to that. So ports come from
// below the ephemeral range, where only listeners live, starting at a point
// that differs per process and advancing per call, so that two tests run in
// parallel do not walk the same sequence.
int FreePort() {
  const auto [low, high] = EphemeralPortRange();
  int first = 20000;
  int last = low - 1;
  if (last - first < 1000) {  // an unusual range: use what lies above it
    first = high + 1;
    last = 65535;
  }
  const int span = last - first + 1;
  if (span > 100) {
    static std::atomic<int> next{
        static_cast<int>((static_cast<unsigned>(getpid()) * 7919U) % static_cast<unsigned>(span))};
    for (int attempt = 0; attempt < 200; ++attempt) {
      const int port = first + (next.fetch_add(1) % span);
      if (CanBind(port)) return port;
    }
  }
  // Last resort: an ephemeral port from the kernel.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  close(s);
  return ntohs(addr.sin_port);
}

std::string PacscoreBinary() {
  return std::string(PACS_BIN_DIR) + "/pacscore";
}
fs::path CorpusDir() {
  return PACS_CORPUS_DIR;
}
fs::path PydicomDir() {
  return PACS_PYDICOM_DIR;
}

fs::path MakeTempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("pacs_it_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> TestClientPeers() {
  std::vector<std::string> args;
  for (const char* aet : {"FINDSCU", "GETSCU", "MOVESCU", "GDCMSCU", "COMMITSCU"})
    args.insert(args.end(), {"--peer", std::string("TEST_") + aet + "=" + aet + "@127.0.0.1:104"});
  return args;
}

ServerProcess::ServerProcess(fs::path data_dir, std::vector<std::string> extra_args, bool test_client_peers)
    : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)), test_client_peers_(test_client_peers) {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
}

bool ServerProcess::Start() {
  log_path_ = data_dir_.string() + ".serve.log";
  // A port taken between FreePort() and the server's bind makes the server
  // exit with "Address already in use"; that is the harness's race, not the
  // server's failure, so it tries another port (a bounded number of times).
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto log_size_before = fs::exists(log_path_) ? fs::file_size(log_path_) : 0;
    if (StartOnce()) return true;
    if (pid_ > 0) return false;  // running but not answering
    const std::string log = Log();
    if (log.find("Address already in use", log_size_before) == std::string::npos) return false;
  }
  return false;
}

bool ServerProcess::StartOnce() {
  port_ = FreePort();
  std::vector<std::string> argv = {PacscoreBinary(),   "serve",  "--data",
                                   data_dir_.string(), "--port", std::to_string(port_)};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  if (test_client_peers_) {
    const auto peers = TestClientPeers();
    argv.insert(argv.end(), peers.begin(), peers.end());
  }
  // Tests export and import through the server inside their own temporary folder.
  if (std::find(argv.begin(), argv.end(), "--admin-allow-dir") == argv.end())
    argv.insert(argv.end(), {"--admin-allow-dir", data_dir_.parent_path().string()});
  int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_ = Spawn(argv, {}, fd);
  close(fd);
  for (int i = 0; i < 200; ++i) {  // up to 20 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (!fs::exists(data_dir_ / "admin.sock")) continue;
    auto echo = RunCommand({"echoscu", "-to", "5", "-aec", "PACSCORE", "127.0.0.1", std::to_string(port_)},
                           {{"TCP_NODELAY", "1"}}, std::chrono::seconds(20));
    if (echo.exit_code == 0) return true;
  }
  return false;
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int code = WaitBounded(pid_, std::chrono::seconds(60));
  pid_ = -1;
  return code;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitBounded(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

std::string ServerProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> StorescuFlagFor(const std::string& ts) {
  static const std::map<std::string, std::string> kFlags = {
      {"1.2.840.10008.1.2", ""},         {"1.2.840.10008.1.2.1", ""},       {"1.2.840.10008.1.2.2", ""},
      {"1.2.840.10008.1.2.1.99", "-xd"}, {"1.2.840.10008.1.2.4.50", "-xy"}, {"1.2.840.10008.1.2.4.51", "-xx"},
      {"1.2.840.10008.1.2.4.70", "-xs"}, {"1.2.840.10008.1.2.4.80", "-xt"}, {"1.2.840.10008.1.2.4.81", "-xu"},
      {"1.2.840.10008.1.2.4.90", "-xv"}, {"1.2.840.10008.1.2.4.91", "-xw"}, {"1.2.840.10008.1.2.5", "-xr"},
  };
  auto it = kFlags.find(ts);
  if (it == kFlags.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, long long> ParseStatsJson(const std::string& json) {
  std::map<std::string, long long> out;
  // Top-level "key": integer pairs; the nested "server" object is read by prefixing.
  std::regex pair_re("\"([a-z_]+)\"\\s*:\\s*(-?[0-9]+)");
  for (std::sregex_iterator it(json.begin(), json.end(), pair_re), end; it != end; ++it)
    out.emplace((*it)[1].str(), std::stoll((*it)[2].str()));
  return out;
}

tools::Json StatsJson(const fs::path& data) {
  auto r = RunCommand({PacscoreBinary(), "stats", "--data", data.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto json = tools::ParseJson(r.output);
  EXPECT_TRUE(json.ok()) << r.output;
  return json.ok() ? *json : tools::Json::object();
}

}  // namespace pacs::testing
