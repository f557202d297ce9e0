// File: web_server.h
// The asynchronous HTTP/1.1 server behind DICOMweb and the viewer
// (Boost.Beast): keep-alive, many clients at once, bounded headers and
// bodies, an idle timeout, and handlers run on a pool of worker threads so
// that a slow handler holds neither the I/O thread nor other clients. Every
// request passes one gate before its handler: a path without traversal, a
// route, a token with the route's role (when there is a token file), and in
// loopback-only mode a loopback Host and Origin. CORS preflights are answered
// here. Bad input gets a 4xx and the server goes on; it never aborts.
// With WebServerOptions::tls the port speaks HTTPS only (Asio SSL, OpenSSL):
// each connection's TLS handshake comes first, by its own timeout.
//
//   Router router;
//   RegisterDicomWebRoutes(router, context);          // dicomweb.h
//   auto server = WebServer::Start(options, std::make_shared<Router>(std::move(router)));
//   ... (*server)->port() ...
//   (*server)->Stop();
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pacs/base/result.h"
#include "pacs/base/token_file.h"
#include "pacs/web/http.h"
#include "pacs/web/http_common.h"

namespace pacs::web {

// HTTPS: the port then speaks TLS only (1.2 and 1.3, forward-secret AEAD
// suites; docs/security.md "HTTPS"). Files in PEM; the key unencrypted and
// readable by its owner only (Start refuses it otherwise).
struct WebTlsOptions {
  enum class Verify { kRequire, kOptional, kNone };  // client certificates against ca_file
  std::string certificate_file;                      // our certificate, then its chain
  std::string private_key_file;
  std::string ca_file;  // CAs trusted to sign client certificates (a PEM file or a c_rehash'ed folder)
  Verify verify = Verify::kNone;
};

struct WebServerOptions {
  std::string name = "DICOMweb endpoint";  // for log lines
  std::string address = "127.0.0.1";       // IPv4 or IPv6 address to bind
  uint16_t port = 0;                       // 0: any free port (see port())
  HttpLimits limits{.header_limit = 16 * 1024,
                    .body_limit = 1024 * 1024,
                    .read_timeout = std::chrono::seconds(30),
                    .write_timeout = std::chrono::seconds(120),
                    .max_connections = 256};
  // Open at once from one source address; more are closed on accept, so that
  // one client cannot take every connection (browsers open 6 per server).
  size_t max_connections_per_host = 32;
  // A keep-alive connection with no request for this long is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Bodies of kSpillFile routes: at most this many bytes (else 413), into files in spill_dir.
  uint64_t max_body = uint64_t{4} << 30;
  std::string spill_dir = "/tmp";
  // Null: no tokens, and then the bind address must be loopback (Start
  // refuses any other) and every request needs a loopback Host and, if it has
  // one, a loopback or CORS-allowed Origin.
  std::shared_ptr<const TokenFile> tokens;
  // Access-Control-Allow-Origin for cross-origin callers: "" none, "*" any,
  // else one origin ("https://viewer.example.org").
  std::string cors_origin;
  unsigned worker_threads = 0;  // 0: 2 per hardware thread, at least 4
  // Set: HTTPS only. A connection whose TLS handshake is not done within
  // tls_handshake_timeout is closed (logged, audited as a security alert).
  std::optional<WebTlsOptions> tls;
  std::chrono::milliseconds tls_handshake_timeout = std::chrono::seconds(10);
};

// What the server has answered since it started, for /stats and tests.
struct WebServerCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> responses_2xx{0};
  std::atomic<uint64_t> responses_4xx{0};
  std::atomic<uint64_t> responses_5xx{0};
  std::atomic<uint64_t> connections_refused{0};  // over max_connections or max_connections_per_host
};

// Start/Stop/port from the thread that owns the server; handlers run on the
// worker threads, several at once.
class WebServer {
 public:
  static Result<std::unique_ptr<WebServer>> Start(WebServerOptions options, std::shared_ptr<const Router> router);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  uint16_t port() const { return port_; }
  const WebServerCounters& counters() const;
  // Stops accepting, closes every connection, waits for running handlers,
  // joins the threads. Idempotent.
  void Stop();

 private:
  WebServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace pacs::web
