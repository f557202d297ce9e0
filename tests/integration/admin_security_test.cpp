// The admin endpoint against the attacks of issue 13, on the real server:
// another local user reaches nothing through the admin socket, a browser-
// shaped request deletes nothing, the TCP port needs an admin token, export
// and import stay inside --admin-allow-dir and write nothing others can
// read, and an idle client holds neither /health nor SIGTERM.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "corpus.h"
#include "pacs/base/token_file.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

const char* kAdminToken = "admin-token-for-the-test-0123456789";
const char* kReadToken = "read-token-for-the-test-0123456789";

// Sends `bytes` on a fresh connection (a Unix socket path, or a TCP port on
// 127.0.0.1) and reads until the server closes, at most 10 s.
std::string RawExchange(const std::string& socket_path, int port, const std::string& bytes) {
  int fd = -1;
  if (!socket_path.empty()) {
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd);
      return std::string("connect failed: ") + std::strerror(errno);
    }
  } else {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd);
      return std::string("connect failed: ") + std::strerror(errno);
    }
  }
  timeval ten_seconds{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
  if (write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) ADD_FAILURE() << "short write";
  std::string reply;
  char chunk[4096];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    reply.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

std::string Post(const std::string& target, const std::string& host, const std::string& content_type,
                 const std::string& body, const std::string& extra_headers = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

int StatusOf(const std::string& reply) {
  if (reply.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::atoi(reply.c_str() + 9);
}

class AdminSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = MakeTempDir("admin_security");
    allowed_ = dir_ / "allowed";
    fs::create_directories(allowed_);
    token_file_ = dir_ / "admin.tokens";
    std::ofstream(token_file_) << "# test tokens\n" << kAdminToken << " admin\n" << kReadToken << " read\n";
    fs::permissions(token_file_, fs::perms::owner_read | fs::perms::owner_write);
    server_ = new ServerProcess(dir_ / "data", {"--admin-port", "0", "--admin-token-file", token_file_.string(),
                                                "--admin-allow-dir", allowed_.string()});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    std::ifstream port_file(dir_ / "data" / "admin.port");
    port_file >> admin_port_;
    ASSERT_GT(admin_port_, 0) << server_->Log();
    // A few plain files, one study at least.
    for (const auto& file : LoadCorpus().files) {
      if (!file.storescu_flag.empty()) continue;
      files_.push_back(file);
      if (files_.size() == 4) break;
    }
    std::string log;
    ASSERT_EQ(PushWithStorescu(files_, server_->port(), 1, log), files_.size()) << log;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    fs::remove_all(dir_);
  }

  static long long Instances() { return StatsJson(dir_ / "data").value("instances", -1LL); }
  static std::string Socket() { return (dir_ / "data" / "admin.sock").string(); }
  std::string Bearer(const char* token) { return std::string("Authorization: Bearer ") + token + "\r\n"; }

  static inline fs::path dir_, allowed_, token_file_;
  static inline ServerProcess* server_ = nullptr;
  static inline int admin_port_ = 0;
  static inline std::vector<SampleFile> files_;
};

TEST_F(AdminSecurityTest, TheSocketIsOwnerOnlyAndNobodyGetsNothingThroughIt) {
  struct stat st {};
  ASSERT_EQ(lstat(Socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
  if (geteuid() != 0) GTEST_SKIP() << "running as another user needs root";
  // Let nobody reach the socket file itself, so that only its mode stands in the way.
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
  fs::permissions(dir_ / "data", fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
  const long long before = Instances();
  ASSERT_GT(before, 0);
  const std::vector<std::string> as_nobody = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
  auto run_as_nobody = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), as_nobody.begin(), as_nobody.end());
    return RunCommand(argv, {}, std::chrono::seconds(60));
  };
  // A raw connection: refused by the socket's permissions.
  auto connect = run_as_nobody({"/usr/bin/python3", "-c",
                                "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1])\n"
                                " print('CONNECTED')\nexcept OSError as e:\n print('REFUSED', e.strerror)",
                                Socket()});
  EXPECT_NE(connect.output.find("REFUSED Permission denied"), std::string::npos) << connect.output;
  // The CLI as nobody: neither through the server nor by opening the folder.
  auto del =
      run_as_nobody({PacscoreBinary(), "delete", "--data", (dir_ / "data").string(), "--study", files_[0].study_uid});
  EXPECT_NE(del.exit_code, 0) << del.output;
  auto exported = run_as_nobody(
      {PacscoreBinary(), "export", "--data", (dir_ / "data").string(), "--out", (allowed_ / "by_nobody").string()});
  EXPECT_NE(exported.exit_code, 0) << exported.output;
  EXPECT_FALSE(fs::exists(allowed_ / "by_nobody" / files_[0].study_uid));
  EXPECT_EQ(Instances(), before) << "nobody deleted something";
  fs::permissions(dir_, fs::perms::owner_all);
}

TEST_F(AdminSecurityTest, ABrowserShapedDeleteIsRefusedAndDeletesNothing) {
  const long long before = Instances();
  ASSERT_GT(before, 0);
  const std::string body = "{\"study\":\"" + files_[0].study_uid + "\"}";
  const std::string evil = "Origin: http://evil.example\r\n";
  // What a web page can send to loopback: foreign Host and Origin, text/plain. Even with the token.
  EXPECT_EQ(StatusOf(RawExchange("", admin_port_, Post("/delete", "evil.example", "text/plain", body, evil))), 403);
  EXPECT_EQ(StatusOf(RawExchange("", admin_port_,
                                 Post("/delete", "evil.example:8043", "text/plain", body, evil + Bearer(kAdminToken)))),
            403);
  EXPECT_EQ(StatusOf(RawExchange("", admin_port_,
                                 Post("/delete", "127.0.0.1", "application/json", body, evil + Bearer(kAdminToken)))),
            403);
  EXPECT_EQ(
      StatusOf(RawExchange("", admin_port_, Post("/delete", "127.0.0.1", "text/plain", body, Bearer(kAdminToken)))),
      415);
  EXPECT_EQ(StatusOf(RawExchange("", admin_port_,
                                 Post("/delete", "127.0.0.1", "application/json", "study=1", Bearer(kAdminToken)))),
            400);
  // The same over the socket (DNS rebinding gives a foreign Host).
  EXPECT_EQ(StatusOf(RawExchange(Socket(), 0, Post("/delete", "evil.example", "text/plain", body, evil))), 403);
  EXPECT_EQ(StatusOf(RawExchange(Socket(), 0, Post("/delete", "localhost", "text/plain", body))), 415);
  EXPECT_EQ(Instances(), before) << "a refused request deleted something";
  const std::string log = server_->Log();
  EXPECT_NE(log.find("admin: POST /delete by token sha256:"), std::string::npos) << log;
  EXPECT_NE(log.find("refused: Host 'evil.example' is not"), std::string::npos) << log;
  EXPECT_NE(log.find("refused: Content-Type 'text/plain' is not application/json"), std::string::npos) << log;
}

TEST_F(AdminSecurityTest, TheTcpPortNeedsAnAdminToken) {
  const std::string get = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  EXPECT_EQ(StatusOf(RawExchange("", admin_port_, get + "\r\n")), 401);
  EXPECT_EQ(StatusOf(RawExchange("", admin_port_, get + Bearer("wrong-token-0123456789abcdef") + "\r\n")), 401);
  EXPECT_EQ(StatusOf(RawExchange("", admin_port_, get + Bearer(kReadToken) + "\r\n")), 403);
  const std::string ok = RawExchange("", admin_port_, get + Bearer(kAdminToken) + "\r\n");
  EXPECT_EQ(StatusOf(ok), 200) << ok;
  EXPECT_NE(ok.find("\"instances\":" + std::to_string(Instances())), std::string::npos) << ok;
  EXPECT_NE(server_->Log().find("admin: GET /stats by token " + TokenFingerprint(kAdminToken)), std::string::npos)
      << server_->Log();
}

TEST_F(AdminSecurityTest, ExportAndImportStayInsideTheAllowedFolders) {
  const std::string data = (dir_ / "data").string();
  auto export_to = [&](const fs::path& out) {
    return RunCommand({PacscoreBinary(), "export", "--data", data, "--out", out.string()});
  };
  const fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  auto r = export_to(outside / "x");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("outside the folders this server allows"), std::string::npos) << r.output;
  r = export_to(allowed_.string() + "/../outside/y");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("'..' in the path"), std::string::npos) << r.output;
  fs::create_directory_symlink(outside, allowed_ / "link");
  r = export_to(allowed_ / "link");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("it is a symlink"), std::string::npos) << r.output;
  r = export_to(allowed_ / "link" / "z");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("outside the folders"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_empty(outside)) << "something was written outside";

  r = export_to(allowed_ / "out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  size_t exported = 0;
  for (const auto& entry : fs::recursive_directory_iterator(allowed_ / "out")) {
    struct stat st {};
    ASSERT_EQ(lstat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07, 0u) << entry.path() << " is open to others: " << std::oct << (st.st_mode & 0777);
    if (entry.is_regular_file()) ++exported;
  }
  EXPECT_EQ(exported, files_.size());

  // Import: a symlink inside the allowed folder to a file outside is refused.
  fs::copy_file(files_[0].path, outside / "secret.dcm");
  fs::create_symlink(outside / "secret.dcm", allowed_ / "secret.dcm");
  r = RunCommand({PacscoreBinary(), "import", "--data", data, (allowed_ / "secret.dcm").string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("it is a symlink"), std::string::npos) << r.output;
  r = RunCommand({PacscoreBinary(), "import", "--data", data, (outside / "secret.dcm").string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("outside the folders"), std::string::npos) << r.output;
  // One inside is imported (an identical duplicate of a stored instance).
  fs::copy_file(files_[0].path, allowed_ / "inside.dcm");
  r = RunCommand({PacscoreBinary(), "import", "--data", data, (allowed_ / "inside.dcm").string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 identical to stored ones"), std::string::npos) << r.output;
  const std::string log = server_->Log();
  EXPECT_NE(log.find("admin: POST /export {\"out\":\"" + (outside / "x").string()), std::string::npos) << log;
}

// Last: it stops the server.
TEST_F(AdminSecurityTest, ZIdleConnectionsHoldNeitherHealthNorSigterm) {
  // One idle TCP connection and one idle socket connection, left open.
  const int idle_tcp = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(admin_port_));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(idle_tcp, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const int idle_unix = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  std::strncpy(unix_address.sun_path, Socket().c_str(), sizeof unix_address.sun_path - 1);
  ASSERT_EQ(connect(idle_unix, reinterpret_cast<sockaddr*>(&unix_address), sizeof unix_address), 0);
  ASSERT_EQ(write(idle_unix, "GET /health HTTP/1.1\r\n", 22), 22);  // and never the rest

  auto start = steady_clock::now();
  const std::string health =
      RawExchange("", admin_port_, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + Bearer(kAdminToken) + "\r\n");
  EXPECT_EQ(StatusOf(health), 200) << health;
  auto stats =
      RunCommand({PacscoreBinary(), "stats", "--data", (dir_ / "data").string()}, {}, std::chrono::seconds(30));
  EXPECT_EQ(stats.exit_code, 0) << stats.output;
  const double health_seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
  EXPECT_LT(health_seconds, 3.0) << "idle clients held /health or the CLI";

  start = steady_clock::now();
  EXPECT_EQ(server_->Stop(), 0);
  const double stop_seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
  EXPECT_LT(stop_seconds, 5.0) << "idle clients delayed SIGTERM";
  std::printf("with idle admin clients: /health + stats in %.3f s, SIGTERM to exit in %.3f s\n", health_seconds,
              stop_seconds);
  close(idle_tcp);
  close(idle_unix);
}

}  // namespace
}  // namespace pacs::testing
