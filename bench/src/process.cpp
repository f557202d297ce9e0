#include "process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace pacs::bench {
namespace fs = std::filesystem;
namespace {

// Child pids the interrupt handler must kill; slots are claimed with a CAS so
// the handler reads them without locks.
std::array<std::atomic<pid_t>, 32> g_children{};

void RegisterChild(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pid)) return;
  }
}

void UnregisterChild(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

void OnInterrupt(int /*signal*/) {
  for (auto& slot : g_children) {
    const pid_t pid = slot.load();
    if (pid > 0) kill(pid, SIGKILL);
  }
  _exit(130);
}

// fork + exec with stdout/stderr to `out_fd`; the child dies with us.
pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int out_fd) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
  // The benchmark blocks SIGINT/SIGTERM in no thread, but be explicit: servers need them.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  dup2(out_fd, STDOUT_FILENO);
  dup2(out_fd, STDERR_FILENO);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  execvp(args[0], args.data());
  std::fprintf(stderr, "cannot execute %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

// waitpid with a deadline; -2 while still running at the deadline.
int WaitUntil(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ProcStat {
  pid_t ppid = 0;
  uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
};

// /proc/<pid>/stat; the command name may hold spaces, so parse after its ')'.
std::optional<ProcStat> ReadProcStat(pid_t pid) {
  const std::string text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  // Fields from 3 (state) on; utime is field 14, stime 15, cutime 16, cstime 17.
  std::vector<std::string> f;
  std::string token;
  while (f.size() < 15 && fields >> token) f.push_back(token);
  if (f.size() < 15) return std::nullopt;
  ProcStat s;
  s.ppid = static_cast<pid_t>(std::stol(f[1]));
  s.utime = std::stoull(f[11]);
  s.stime = std::stoull(f[12]);
  s.cutime = std::stoull(f[13]);
  s.cstime = std::stoull(f[14]);
  return s;
}

}  // namespace

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                         const std::map<std::string, std::string>& extra_env,
                                         const fs::path& log_file) {
  int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create log file " + log_file.string() + ": " + std::strerror(errno));
  ChildProcess child;
  child.log_file_ = log_file;
  child.pid_ = Spawn(argv, extra_env, fd);
  close(fd);
  if (child.pid_ < 0) return Status::IOError(std::string("cannot start ") + argv[0] + ": fork failed");
  RegisterChild(child.pid_);
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), log_file_(std::move(other.log_file_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) Stop(std::chrono::seconds(10));
    pid_ = std::exchange(other.pid_, -1);
    log_file_ = std::move(other.log_file_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(std::chrono::seconds(30));
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    UnregisterChild(pid_);
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::Stop(std::chrono::seconds grace) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int code = WaitUntil(pid_, std::chrono::steady_clock::now() + grace);
  if (code == -2) {
    kill(pid_, SIGKILL);
    code = WaitUntil(pid_, std::chrono::steady_clock::now() + std::chrono::seconds(10));
    code = -1;
  }
  UnregisterChild(pid_);
  pid_ = -1;
  return code;
}

std::string ChildProcess::LogTail(size_t max_bytes) const {
  std::string text = ReadFile(log_file_);
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

std::optional<double> ProcessTreeCpuSeconds(pid_t pid) {
  auto self = ReadProcStat(pid);
  if (!self) return std::nullopt;
  uint64_t ticks = self->utime + self->stime + self->cutime + self->cstime;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto child = ReadProcStat(static_cast<pid_t>(std::stol(name)));
    if (child && child->ppid == pid) ticks += child->utime + child->stime + child->cutime + child->cstime;
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Result<uint16_t> FreeLoopbackPort() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(s);
    return Status::IOError(std::string("cannot find a free loopback port: ") + std::strerror(errno));
  }
  close(s);
  return static_cast<uint16_t>(ntohs(addr.sin_port));
}

uint64_t ApparentFolderBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

Result<fs::path> MakeWorkFolder(const fs::path& parent) {
  std::error_code ec;
  fs::create_directories(parent, ec);
  std::string pattern = (parent / "pacscore-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr)
    return Status::IOError("cannot create a work folder under " + parent.string() + ": " + std::strerror(errno));
  return fs::path(pattern);
}

std::optional<std::string> FindProgram(const std::string& program, const std::vector<std::string>& extra_dirs) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':'))
      if (!dir.empty()) dirs.push_back(dir);
  }
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const auto& dir : dirs) {
    std::string candidate = dir;
    candidate.append("/").append(program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

int RunToCompletion(const std::vector<std::string>& argv, std::string& output, std::chrono::seconds timeout) {
  char path[] = "/tmp/pacscore-bench-cmd-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  pid_t pid = Spawn(argv, {}, fd);
  close(fd);
  int code = WaitUntil(pid, std::chrono::steady_clock::now() + timeout);
  if (code == -2) {
    kill(pid, SIGKILL);
    WaitUntil(pid, std::chrono::steady_clock::now() + std::chrono::seconds(10));
    code = -1;
  }
  output += ReadFile(path);
  unlink(path);
  return code;
}

std::string FirstOutputLine(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  std::string output;
  RunToCompletion(argv, output, timeout);
  std::string line = output.substr(0, output.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

MachineInfo DescribeMachine(const fs::path& work_dir) {
  MachineInfo m;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      m.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  }
  m.cores = static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    uint64_t kib = 0;
    meminfo >> kib;
    if (key == "MemTotal:") {
      m.memory_bytes = kib * 1024;
      break;
    }
    meminfo.ignore(1 << 20, '\n');
  }
  m.load_average = LoadAverage();
  utsname uts{};
  if (uname(&uts) == 0) m.kernel = std::string(uts.sysname) + " " + uts.release + " " + uts.machine;
  // The longest mount point that holds the work folder.
  std::error_code ec;
  const std::string target = fs::weakly_canonical(work_dir, ec).string();
  std::ifstream mounts("/proc/mounts");
  size_t best = 0;
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string device, mount_point, type;
    fields >> device >> mount_point >> type;
    const bool inside = target == mount_point || mount_point == "/" || target.rfind(mount_point + "/", 0) == 0;
    if (inside && mount_point.size() >= best) {
      best = mount_point.size();
      m.work_filesystem = type;
      m.work_filesystem.append(" (").append(mount_point).append(")");
    }
  }
  return m;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

std::string SelfExecutable() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("pacscore") : p.string();
}

void InstallInterruptCleanup() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace pacs::bench
