// File: admin_http.h
// The admin endpoint of `pacscore serve`: HTTP/1.1 with JSON bodies on
// loopback only, and the client the other subcommands use to reach it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "http_server.h"
#include "pacs/base/result.h"

namespace pacs::tools {

using AdminHandler = HttpHandler;

// The admin endpoint on 127.0.0.1:port (0: any free port), an HttpServer
// that takes request bodies up to 16 MiB. Start/Stop from one thread.
class AdminServer {
 public:
  static Result<std::unique_ptr<AdminServer>> Start(uint16_t port, AdminHandler handler);
  uint16_t port() const { return server_->port(); }
  void Stop() { server_->Stop(); }

 private:
  explicit AdminServer(std::unique_ptr<HttpServer> server) : server_(std::move(server)) {}
  std::unique_ptr<HttpServer> server_;
};

// One request to 127.0.0.1:port; returns the reply or an I/O error.
Result<HttpReply> AdminRequest(uint16_t port, const std::string& method, const std::string& target,
                               const std::string& body, int timeout_seconds = 3600);

}  // namespace pacs::tools
