// File: http_server.h
// The small HTTP/1.1 responder behind the admin endpoint and /metrics
// (Boost.Beast): one request per connection, answered by a handler on the
// server's own thread. A client cannot hold it: every read and write has a
// deadline, header and body sizes are bounded, and while one client is
// silent the others are still read (reads are asynchronous; only the
// handler runs one request at a time).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pacs/base/result.h"

namespace pacs::tools {

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

using HttpHandler =
    std::function<HttpReply(const std::string& method, const std::string& target, const std::string& body)>;

struct HttpServerOptions {
  std::string name = "HTTP endpoint";  // for log lines and errors: "admin endpoint", "metrics endpoint"
  std::string address = "127.0.0.1";   // an IPv4 or IPv6 address to bind
  uint16_t port = 0;                   // 0: any free port (see HttpServer::port())
  uint32_t header_limit = 8 * 1024;    // request line and headers, bytes
  uint64_t body_limit = 64 * 1024;     // request body, bytes
  // From accepting a connection to having read the whole request; and for
  // writing the reply. A client slower than that is disconnected.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds write_timeout = std::chrono::seconds(60);
  // Connections being read or written at once; more are closed on accept.
  size_t max_connections = 32;
};

// Thread-safe as follows: the handler runs on the server's thread only, one
// request at a time; Start/Stop/port from the thread that owns the server.
class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  // Stops accepting, drops open connections once the running handler (if
  // any) returns, and joins the thread. Idempotent.
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
