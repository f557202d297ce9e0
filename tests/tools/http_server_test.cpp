// The HTTP responder behind the admin endpoint and /metrics, over real
// loopback sockets: a silent or oversized client cannot hold it, replies
// carry the handler's status and content type, and listening addresses
// parse as the flags document them.
#include "http_server.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "admin_http.h"

namespace pacs::tools {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Sends `bytes` as they are and reads until the server closes (bounded: 5 s).
std::string RawExchange(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer(bytes));
  timeval five_seconds{5, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  std::string reply;
  boost::system::error_code ec;
  char chunk[4096];
  for (;;) {
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    reply.append(chunk, n);
  }
  return reply;
}

HttpServerOptions TestOptions() {
  HttpServerOptions options;
  options.name = "test endpoint";
  options.read_timeout = milliseconds(500);
  options.header_limit = 1024;
  options.body_limit = 16;
  return options;
}

HttpHandler Echo() {
  return [](const std::string& method, const std::string& target, const std::string& body) {
    if (target == "/missing") return HttpReply{404, "no"};
    return HttpReply{200, method + " " + target + " " + body, "text/plain; version=0.0.4"};
  };
}

TEST(HttpServerTest, AnswersWithTheHandlersStatusBodyAndContentType) {
  auto server = HttpServer::Start(TestOptions(), Echo());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string reply = RawExchange((*server)->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("Content-Type: text/plain; version=0.0.4\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("\r\n\r\nGET /metrics "), std::string::npos) << reply;
  EXPECT_EQ(RawExchange((*server)->port(), "GET /missing HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
}

TEST(HttpServerTest, ASilentClientDoesNotHoldTheOthersAndIsDroppedAfterTheReadTimeout) {
  auto server = HttpServer::Start(TestOptions(), Echo());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  asio::io_context io;
  tcp::socket silent(io);
  silent.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*server)->port()));
  asio::write(silent, asio::buffer(std::string("GET /slow HTTP/1.1\r\n")));  // and never the end of the headers

  const auto start = steady_clock::now();
  const std::string reply = RawExchange((*server)->port(), "GET /fast HTTP/1.1\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_LT(steady_clock::now() - start, milliseconds(400)) << "the silent client held the server";

  // The server closes the silent connection once its read timeout (500 ms) is over.
  timeval five_seconds{5, 0};
  setsockopt(silent.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  char byte = 0;
  boost::system::error_code ec;
  const size_t n = silent.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_LT(steady_clock::now() - start, milliseconds(3000));
}

TEST(HttpServerTest, OversizedHeadersAndBodiesAreRefused) {
  auto server = HttpServer::Start(TestOptions(), Echo());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string big_header = "GET / HTTP/1.1\r\nX-Filler: " + std::string(2000, 'a') + "\r\n\r\n";
  EXPECT_EQ(RawExchange((*server)->port(), big_header).rfind("HTTP/1.1 431", 0), 0u);
  const std::string big_body = "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b');
  EXPECT_EQ(RawExchange((*server)->port(), big_body).rfind("HTTP/1.1 413", 0), 0u);
  // Still serving.
  EXPECT_EQ(RawExchange((*server)->port(), "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

TEST(HttpServerTest, AHandlerThatThrowsGetsA500AndTheServerGoesOn) {
  auto server = HttpServer::Start(TestOptions(), [](const std::string&, const std::string& target, const std::string&) {
    if (target == "/throw") throw std::runtime_error("boom");
    return HttpReply{200, "fine"};
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ(RawExchange((*server)->port(), "GET /throw HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 500", 0), 0u);
  EXPECT_EQ(RawExchange((*server)->port(), "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

TEST(HttpServerTest, StopFreesThePortAndAPortInUseIsAnError) {
  auto first = HttpServer::Start(TestOptions(), Echo());
  ASSERT_TRUE(first.ok());
  HttpServerOptions same = TestOptions();
  same.port = (*first)->port();
  auto second = HttpServer::Start(same, Echo());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("test endpoint cannot listen on 127.0.0.1:" + std::to_string(same.port)),
            std::string::npos)
      << second.status().ToString();
  (*first)->Stop();
  (*first)->Stop();  // idempotent
  auto third = HttpServer::Start(same, Echo());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST(HttpServerTest, AHandlerStillRunningDoesNotHoldOtherRequests) {
  std::atomic<bool> release{false};
  auto server =
      HttpServer::Start(TestOptions(), [&release](const std::string&, const std::string& target, const std::string&) {
        if (target == "/slow")
          for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(milliseconds(10));
        return HttpReply{200, target};
      });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::thread slow([&] { RawExchange((*server)->port(), "GET /slow HTTP/1.1\r\n\r\n"); });
  std::this_thread::sleep_for(milliseconds(100));  // /slow is in its handler by now
  const auto start = steady_clock::now();
  EXPECT_EQ(RawExchange((*server)->port(), "GET /health HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000)) << "a running handler held another request";
  release = true;
  slow.join();
}

TEST(HttpServerTest, StopIsNotHeldByAnIdleConnection) {
  HttpServerOptions options = TestOptions();
  options.read_timeout = std::chrono::seconds(60);
  auto server = HttpServer::Start(options, Echo());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  asio::io_context io;
  tcp::socket idle(io);
  idle.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*server)->port()));
  std::this_thread::sleep_for(milliseconds(50));
  const auto start = steady_clock::now();
  (*server)->Stop();
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000)) << "an idle connection held Stop()";
}

std::filesystem::path SocketPath(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("pacs_http_" + std::to_string(getpid()) + "_" + name + ".sock");
}

TEST(HttpServerTest, ListensOnAUnixSocketOwnerOnlyAndReplacesOnlyAStaleOne) {
  const auto path = SocketPath("unix");
  std::filesystem::remove(path);
  HttpServerOptions options = TestOptions();
  options.unix_socket_path = path.string();
  auto server = HttpServer::Start(options, Echo());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
  auto reply = AdminRequest({.socket_path = path.string()}, "GET", "/x", "", 5);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->body, "GET /x ");
  // A second server on a live socket is refused and leaves it alone.
  auto second = HttpServer::Start(options, Echo());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another server answers there"), std::string::npos)
      << second.status().ToString();
  EXPECT_TRUE(AdminRequest({.socket_path = path.string()}, "GET", "/x", "", 5).ok());
  (*server)->Stop();
  EXPECT_FALSE(std::filesystem::exists(path)) << "Stop() removes its socket";
  // A stale socket (bound, nobody listening) is replaced.
  {
    asio::io_context io;
    asio::local::stream_protocol::acceptor stale(io);
    stale.open();
    stale.bind(asio::local::stream_protocol::endpoint(path.string()));
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  auto third = HttpServer::Start(options, Echo());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  (*third)->Stop();
  // Any other file is not a socket to replace.
  std::ofstream(path) << "keep me";
  auto fourth = HttpServer::Start(options, Echo());
  ASSERT_FALSE(fourth.ok());
  EXPECT_NE(fourth.status().message().find("is not a socket"), std::string::npos) << fourth.status().ToString();
  std::filesystem::remove(path);
}

TEST(AdminGateTest, LoopbackHostsAndOrigins) {
  for (const char* host : {"127.0.0.1", "127.0.0.1:8043", "localhost", "LOCALHOST:1", "[::1]", "[::1]:8043"})
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  for (const char* host : {"", "evil.example", "127.0.0.1.evil.example", "localhost.evil", "127.0.0.2", "::1", "[::1]x",
                           "localhost:80x", "10.0.0.1:8043", "[::2]"})
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  for (const char* origin : {"http://localhost", "http://127.0.0.1:8043", "https://[::1]:1"})
    EXPECT_TRUE(IsLoopbackOrigin(origin)) << origin;
  for (const char* origin : {"null", "", "http://evil.example", "http://localhost/x", "file://", "http://localhost.a"})
    EXPECT_FALSE(IsLoopbackOrigin(origin)) << origin;
}

HttpRequest PostFromSocket(const std::string& body, const std::string& content_type = "application/json") {
  HttpRequest request;
  request.method = "POST";
  request.target = "/delete";
  request.body = body;
  request.host = "localhost";
  request.content_type = content_type;
  request.peer = {.unix_socket = true, .address = "unix socket", .uid = geteuid(), .gid = 0, .pid = 1};
  return request;
}

int GateStatus(const HttpRequest& request, const TokenFile* tokens = nullptr) {
  AdminCaller caller;
  nlohmann::json body;
  auto refusal = CheckAdminRequest(request, tokens, caller, body);
  return refusal ? refusal->status : 0;
}

TEST(AdminGateTest, RefusesForeignHostsOriginsNonJsonBodiesAndStrangers) {
  EXPECT_EQ(GateStatus(PostFromSocket(R"({"study":"1.2"})")), 0);
  EXPECT_EQ(GateStatus(PostFromSocket(R"({"study":"1.2"})", "application/json; charset=utf-8")), 0);
  HttpRequest foreign_host = PostFromSocket("{}");
  foreign_host.host = "evil.example";
  EXPECT_EQ(GateStatus(foreign_host), 403);
  HttpRequest no_host = PostFromSocket("{}");
  no_host.host = "";
  EXPECT_EQ(GateStatus(no_host), 403);
  HttpRequest foreign_origin = PostFromSocket("{}");
  foreign_origin.has_origin = true;
  foreign_origin.origin = "http://evil.example";
  EXPECT_EQ(GateStatus(foreign_origin), 403);
  foreign_origin.origin = "null";
  EXPECT_EQ(GateStatus(foreign_origin), 403);
  EXPECT_EQ(GateStatus(PostFromSocket(R"({"study":"1.2"})", "text/plain")), 415);
  EXPECT_EQ(GateStatus(PostFromSocket(R"({"study":"1.2"})", "")), 415);
  EXPECT_EQ(GateStatus(PostFromSocket("study=1.2")), 400);
  EXPECT_EQ(GateStatus(PostFromSocket("[1]")), 400);
  HttpRequest put = PostFromSocket("{}");
  put.method = "PUT";
  EXPECT_EQ(GateStatus(put), 405);
  HttpRequest stranger = PostFromSocket("{}");
  stranger.peer.uid = geteuid() + 1;
  EXPECT_EQ(GateStatus(stranger), 403);
}

TEST(AdminGateTest, TcpNeedsABearerTokenWithRoleAdmin) {
  auto tokens = TokenFile::Parse("admin-token-0123456789 admin\nreader-token-0123456789 read\n", "test");
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  HttpRequest request = PostFromSocket("{}");
  request.peer = {.unix_socket = false, .address = "127.0.0.1:5000"};
  request.host = "127.0.0.1:8043";
  EXPECT_EQ(GateStatus(request, &*tokens), 401);
  request.authorization = "Bearer wrong-token-0123456789";
  EXPECT_EQ(GateStatus(request, &*tokens), 401);
  request.authorization = "Basic admin-token-0123456789";
  EXPECT_EQ(GateStatus(request, &*tokens), 401);
  request.authorization = "Bearer reader-token-0123456789";
  EXPECT_EQ(GateStatus(request, &*tokens), 403);
  request.authorization = "Bearer admin-token-0123456789";
  EXPECT_EQ(GateStatus(request, &*tokens), 0);
  request.authorization = "bearer admin-token-0123456789";
  EXPECT_EQ(GateStatus(request, &*tokens), 0);
  AdminCaller caller;
  nlohmann::json body;
  EXPECT_FALSE(CheckAdminRequest(request, &*tokens, caller, body));
  EXPECT_EQ(caller.token, TokenFingerprint("admin-token-0123456789"));
  EXPECT_EQ(caller.Describe().find("admin-token"), std::string::npos) << "the token itself is never described";
}

TEST(ListenAddressTest, ParsesIpv4AndBracketedIpv6AndRejectsTheRest) {
  auto v4 = ParseListenAddress("127.0.0.1:9464");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->address, "127.0.0.1");
  EXPECT_EQ(v4->port, 9464);
  auto v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->address, "::1");
  EXPECT_EQ(v6->port, 0);
  for (const char* bad :
       {"9464", "localhost:9464", "::1:9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:9x", ":9464", "[::1]9464"}) {
    auto parsed = ParseListenAddress(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().message().find(bad), std::string::npos) << parsed.status().ToString();
    }
  }
}

}  // namespace
}  // namespace pacs::tools
