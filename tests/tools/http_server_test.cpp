// The HTTP responder behind the admin endpoint and /metrics, over real
// loopback sockets: a silent or oversized client cannot hold it, replies
// carry the handler's status and content type, and listening addresses
// parse as the flags document them.
#include "http_server.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <string>

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

TEST(HttpServerTest, TheAdminClientTalksToIt) {
  auto admin = AdminServer::Start(0, Echo());
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  auto reply = AdminRequest((*admin)->port(), "POST", "/import", R"({"path":"x"})", 5);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, R"(POST /import {"path":"x"})");
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
