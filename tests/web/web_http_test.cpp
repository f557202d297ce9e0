// The HTTP plumbing of pacs::web in process: target and query parsing
// (traversal refused), Accept parsing, the router, gzip, and the server over
// real loopback sockets with a test router (keep-alive, limits, tokens,
// CORS, streamed bodies, spilled bodies).
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "gtest/gtest.h"
#include "pacs/web/http.h"
#include "pacs/web/http_common.h"
#include "pacs/web/media_type.h"
#include "pacs/web/web_server.h"
#include "web_client.h"

namespace pacs::web {
namespace {

using testing::RawExchange;
using testing::WebClient;

TEST(ParseTargetTest, DecodesPathAndQueryAndRefusesTraversal) {
  auto parsed = ParseTarget("/dicom-web/studies/1.2%2E3?PatientName=SMI%2A&includefield=a%2Cb&includefield=c&x");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->path, "/dicom-web/studies/1.2.3");
  ASSERT_EQ(parsed->segments.size(), 3u);
  ASSERT_EQ(parsed->query.size(), 4u);
  EXPECT_EQ(parsed->query[0], (std::pair<std::string, std::string>{"PatientName", "SMI*"}));
  EXPECT_EQ(parsed->query[1].second, "a,b");
  EXPECT_EQ(parsed->query[3], (std::pair<std::string, std::string>{"x", ""}));
  for (const char* bad : {"/a/../b", "/a/%2e%2e/b", "/a/%2E%2e", "/a/./b", "/a/b%2Fc", "/a%00", "relative", "",
                          "/a%5c..", "/a/%zz", "/a/%4"})
    EXPECT_FALSE(ParseTarget(bad).ok()) << bad;
  EXPECT_EQ(ParseQueryString("a=1+2&&b=%41")->size(), 2u);
  EXPECT_EQ((*ParseQueryString("a=1+2"))[0].second, "1 2");
}

TEST(LoopbackTest, HostsOriginsAndAddresses) {
  for (const char* host : {"127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]", "[::1]:80"})
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  for (const char* host : {"", "evil.org", "127.0.0.1.evil.org", "localhost:x", "[::2]", "127.0.0.2"})
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  EXPECT_TRUE(IsLoopbackOrigin("http://localhost:3000"));
  EXPECT_FALSE(IsLoopbackOrigin("http://localhost.evil.org"));
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackAddress("::1"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackAddress("127.evil"));
}

TEST(MediaTypeTest, QuotedAndUnquotedParametersAreTheSame) {
  auto quoted = ParseAccept("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*");
  auto plain = ParseAccept("multipart/related;type=application/octet-stream;transfer-syntax=*");
  ASSERT_TRUE(quoted.ok() && plain.ok());
  EXPECT_EQ(quoted->at(0).Param("type"), plain->at(0).Param("type"));
  EXPECT_EQ(quoted->at(0).Param("transfer-syntax"), "*");
  EXPECT_TRUE(quoted->at(0).Covers("multipart/related"));
  auto ordered = ParseAccept("text/plain;q=0.2, application/dicom+json, */*;q=0, image/*;q=0.5");
  ASSERT_TRUE(ordered.ok());
  ASSERT_EQ(ordered->size(), 3u);  // q=0 dropped
  EXPECT_EQ(ordered->at(0).Essence(), "application/dicom+json");
  EXPECT_EQ(ordered->at(1).Essence(), "image/*");
  EXPECT_TRUE(ordered->at(1).Covers("image/jls"));
  auto comma = ParseAccept("multipart/related; type=\"a/b,c\", text/plain");
  ASSERT_TRUE(comma.ok());
  EXPECT_EQ(comma->size(), 2u);
  EXPECT_EQ(comma->at(0).Param("type"), "a/b,c");
  EXPECT_EQ(ParseAccept("")->at(0).Essence(), "*/*");
  for (const char* bad : {"text", "text/plain; q=2", "text/plain; q=abc", "*/plain", "a/b; x", "a/b; t=\"open"})
    EXPECT_FALSE(ParseAccept(bad).ok()) << bad;
}

TEST(GzipTest, RoundTripAndAcceptEncoding) {
  const std::string text(100000, 'x');
  auto compressed = GzipCompress(text);
  ASSERT_TRUE(compressed.ok());
  EXPECT_LT(compressed->size(), 1000u);
  EXPECT_EQ(*GzipDecompress(*compressed), text);
  EXPECT_FALSE(GzipDecompress("not gzip").ok());
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("deflate"));
  EXPECT_FALSE(AcceptsGzip(""));
}

TEST(RouterTest, PatternsMethodsAndTails) {
  Router router;
  router.Add("GET", "/r/studies/{study}", [](const Request&) { return Response::Text(200, "text/plain", "study"); });
  router.Add("GET", "/r/studies/{study}/series",
             [](const Request&) { return Response::Text(200, "text/plain", "series"); });
  router.Add("POST", "/r/studies", [](const Request&) { return Response::Text(200, "text/plain", "stow"); });
  router.Add("GET", "/{path*}", [](const Request&) { return Response::Text(200, "text/plain", "static"); });
  auto match = router.Find("GET", {"r", "studies", "1.2"});
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->pattern, "/r/studies/{study}");
  EXPECT_EQ(match.params.at("study"), "1.2");
  EXPECT_EQ(router.Find("HEAD", {"r", "studies", "1.2", "series"}).route->pattern, "/r/studies/{study}/series");
  EXPECT_EQ(router.Find("GET", {"a", "b.js"}).params.at("path"), "a/b.js");
  EXPECT_EQ(router.Find("GET", {}).route->pattern, "/{path*}");
  auto post = router.Find("POST", {"r", "studies", "1.2"});
  EXPECT_EQ(post.route, nullptr);
  EXPECT_FALSE(post.allowed_methods.empty());
}

class WebServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spill_ = std::filesystem::temp_directory_path() / ("webcore-spill-" + std::to_string(getpid()));
    std::filesystem::create_directories(spill_);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    std::error_code ec;
    std::filesystem::remove_all(spill_, ec);
  }
  void Start(WebServerOptions options = {}) {
    auto router = std::make_shared<Router>();
    router->Add("GET", "/echo/{word}", [](const Request& request) {
      return Response::Text(200, "text/plain",
                            request.Param("word") + "|" + request.Header("x-test") + "|" +
                                (request.QueryValues("q").empty() ? "" : request.QueryValues("q")[0]));
    });
    router->Add("GET", "/stream", [](const Request&) {
      auto count = std::make_shared<int>(0);
      Response response;
      response.content_type = "text/plain";
      response.stream = [count]() -> Result<std::string> {
        if (*count == 100) return std::string();
        return std::to_string((*count)++) + ",";
      };
      return response;
    });
    router->Add("GET", "/fail", [](const Request&) -> Response { throw std::runtime_error("boom"); });
    router->Add(
        "POST", "/small",
        [](const Request& request) { return Response::Text(200, "text/plain", std::to_string(request.body.size())); },
        {.role = TokenRole::kWrite, .body_limit = 1000});
    router->Add("POST", "/spill",
                [this](const Request& request) {
                  spilled_file_ = request.body_file;
                  std::ifstream in(request.body_file, std::ios::binary);
                  std::string content((std::istreambuf_iterator<char>(in)), {});
                  return Response::Text(200, "text/plain", std::to_string(content.size()) + ":" + content.substr(0, 5));
                },
                {.role = TokenRole::kWrite, .body = RouteOptions::BodyMode::kSpillFile});
    options.spill_dir = spill_.string();
    if (options.max_body == (uint64_t{4} << 30)) options.max_body = 100000;
    auto started = WebServer::Start(std::move(options), router);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(*started);
  }
  std::filesystem::path spill_;
  std::string spilled_file_;
  std::unique_ptr<WebServer> server_;
};

TEST_F(WebServerTest, KeepAliveStreamsErrorsAndLimits) {
  Start();
  WebClient client(server_->port());
  auto echo = client.Get("/echo/hello%20there?q=1", {{"X-Test", "h"}});
  EXPECT_EQ(echo.status, 200);
  EXPECT_EQ(echo.body, "hello there|h|1");
  auto streamed = client.Get("/stream");
  EXPECT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(streamed.body.substr(0, 6), "0,1,2,");
  EXPECT_EQ(streamed.body.size(), 290u);
  EXPECT_EQ(client.Get("/fail").status, 500);
  EXPECT_EQ(client.Get("/nothing").status, 404);
  EXPECT_EQ(client.Request("PUT", "/echo/x").status, 405);
  EXPECT_EQ(client.Request("POST", "/small", {}, std::string(999, 'a')).body, "999");
  EXPECT_EQ(client.Request("POST", "/small", {}, std::string(1001, 'a')).status, 413);
  EXPECT_EQ(client.Get("/echo/again").status, 200);
  EXPECT_LE(client.connections_opened(), 2);  // the 413 closes the connection
  auto spilled = client.Request("POST", "/spill", {}, "hello" + std::string(50000, 'z'));
  EXPECT_EQ(spilled.body, "50005:hello");
  EXPECT_FALSE(spilled_file_.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(std::filesystem::exists(spilled_file_)) << "the spill file outlived its request";
  EXPECT_EQ(client.Request("POST", "/spill", {}, std::string(100001, 'z')).status, 413);
  EXPECT_EQ(RawExchange(server_->port(), "GET /echo/a HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").rfind("HTTP/1.0 200", 0),
            0u);
  const std::string old_client = RawExchange(server_->port(), "GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_NE(old_client.find("\r\n\r\n0,1,2,"), std::string::npos)
      << old_client.substr(0, 300);  // no chunked coding for HTTP/1.0
  EXPECT_EQ(RawExchange(server_->port(), "GARBAGE\r\n\r\n", 2000).rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(client.Get("/echo/still").status, 200);
}

TEST_F(WebServerTest, TokensRolesAndCors) {
  auto tokens = TokenFile::Parse("reader-0123456789abcdef read\nwriter-0123456789abcdef write\n", "test");
  ASSERT_TRUE(tokens.ok());
  Start({.address = "127.0.0.1", .tokens = std::make_shared<const TokenFile>(std::move(*tokens)), .cors_origin = "*"});
  WebClient client(server_->port());
  EXPECT_EQ(client.Get("/echo/a").status, 401);
  EXPECT_EQ(client.Get("/echo/a", {{"Authorization", "Bearer nope-nope-nope-nope"}}).status, 401);
  EXPECT_EQ(client.Get("/echo/a", {{"Authorization", "bearer reader-0123456789abcdef"}}).status, 200);
  EXPECT_EQ(client.Request("POST", "/small", {{"Authorization", "Bearer reader-0123456789abcdef"}}, "x").status, 403);
  EXPECT_EQ(client.Request("POST", "/small", {{"Authorization", "Bearer writer-0123456789abcdef"}}, "x").status, 200);
  auto preflight =
      client.Request("OPTIONS", "/small", {{"Origin", "https://x.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_NE(preflight.Header("access-control-allow-methods").find("POST"), std::string::npos);
  EXPECT_NE(preflight.Header("access-control-allow-headers").find("Authorization"), std::string::npos);
  EXPECT_EQ(preflight.Header("access-control-max-age"), "600");
  EXPECT_EQ(
      client.Get("/echo/a", {{"Origin", "https://x.example"}, {"Authorization", "Bearer reader-0123456789abcdef"}})
          .Header("access-control-allow-origin"),
      "*");
}

// One source address may hold at most max_connections_per_host connections;
// the next is closed on accept, while other addresses are still served, and
// a closed connection gives its place back.
TEST_F(WebServerTest, ConnectionsPerSourceAddressAreCapped) {
  WebServerOptions options;
  options.max_connections_per_host = 3;
  Start(std::move(options));
  namespace asio = boost::asio;
  asio::io_context io;
  const asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"), server_->port());
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> silent;
  for (int i = 0; i < 3; ++i) {
    silent.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    silent.back()->connect(server);
  }
  const std::string get = "GET /echo/a HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  // The fourth from 127.0.0.1 is closed without an answer (well before the
  // 30 s read timeout that ends silent connections).
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RawExchange(server_->port(), get, 10000), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(server_->counters().connections_refused.load(), 1u);
  // Another address is served.
  EXPECT_EQ(RawExchange(server_->port(), get, 5000, "127.0.0.2").rfind("HTTP/1.0 200", 0), 0u);
  // Closing one of the three lets 127.0.0.1 in again.
  silent.front()->close();
  silent.erase(silent.begin());
  std::string answer;
  for (int attempt = 0; attempt < 50 && answer.rfind("HTTP/1.0 200", 0) != 0; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    answer = RawExchange(server_->port(), get, 5000);
  }
  EXPECT_EQ(answer.rfind("HTTP/1.0 200", 0), 0u) << answer;
}

TEST(WebServerStartTest, NoTokensMeansLoopbackOnly) {
  auto router = std::make_shared<Router>();
  auto refused = WebServer::Start({.address = "0.0.0.0"}, router);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("token"), std::string::npos);
}

}  // namespace
}  // namespace pacs::web
