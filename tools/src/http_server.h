// File: http_server.h
// The small HTTP/1.1 responder behind the admin endpoint and /metrics
// (Boost.Beast), on TCP or on a Unix domain socket: one request per
// connection. A client cannot hold it: connections are read asynchronously
// with a deadline, header and body sizes are bounded, the number of open
// connections is capped, and each request's handler runs on a thread of its
// own, so a long request (an export, a compaction) does not hold /health.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/web/http_common.h"

namespace pacs::tools {

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones (WWW-Authenticate, ...)
};

// Who is on the other end of a connection.
struct HttpPeer {
  bool unix_socket = false;
  std::string address;  // TCP: "127.0.0.1:54321"; Unix socket: "unix socket"
  // Unix socket only, from SO_PEERCRED: the client process's user, group and pid.
  int64_t uid = -1;
  int64_t gid = -1;
  int64_t pid = -1;
};

struct HttpRequest {
  std::string method;
  std::string target;
  std::string body;
  std::string host;           // the Host header, "" when absent
  std::string origin;         // the Origin header, "" when absent
  std::string content_type;   // "" when absent
  std::string authorization;  // "" when absent
  bool has_origin = false;    // an empty Origin header is still an Origin header
  HttpPeer peer;
};

using HttpRequestHandler = std::function<HttpReply(const HttpRequest& request)>;
// The shape /metrics and the tests use: method, target, body.
using HttpHandler =
    std::function<HttpReply(const std::string& method, const std::string& target, const std::string& body)>;

// The limits (header and body size, read and write deadlines, connections
// open at once) are the ones every HTTP endpoint shares (pacs/web/http_common.h):
// reads from accepting a connection to having the whole request, writes of
// the reply; a slower client is disconnected; connections over the cap are
// closed on accept with a log line (it also bounds the handler threads).
struct HttpServerOptions : web::HttpLimits {
  std::string name = "HTTP endpoint";  // for log lines and errors: "admin endpoint", "metrics endpoint"
  std::string address = "127.0.0.1";   // an IPv4 or IPv6 address to bind
  uint16_t port = 0;                   // 0: any free port (see HttpServer::port())
  // When set, listen on this Unix domain socket instead of address:port. It is
  // created with mode 0600 (before it accepts anything); a stale socket there
  // is replaced, a live one (a server answers) or any other file is an error.
  std::string unix_socket_path;
};

// Thread-safe as follows: handlers run on threads of their own, several at
// once (at most max_connections); Start/Stop/port from the thread that owns
// the server.
class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpRequestHandler handler);
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }  // 0 on a Unix socket
  // Stops accepting and drops every open connection at once (an idle or slow
  // client holds nothing), waits for the handlers already running to return
  // (their work is not interrupted), joins the threads and, on a Unix
  // socket, removes it. Idempotent.
  void Stop();

 private:
  HttpServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

struct ListenAddress {
  std::string address;  // without brackets: "127.0.0.1", "::1"
  uint16_t port = 0;
};

// "ADDR:PORT" (IPv4), "[ADDR]:PORT" (IPv6), for a listening flag such as
// --metrics-bind; an InvalidArgument naming the text otherwise.
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace pacs::tools
