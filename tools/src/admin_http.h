// File: admin_http.h
// The admin endpoint of `pacscore serve`: HTTP/1.1 with JSON bodies on
// loopback only, and the client the other subcommands use to reach it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "pacs/base/result.h"

namespace pacs::tools {

struct HttpReply {
  int status = 200;
  std::string body;  // JSON
};

using AdminHandler =
    std::function<HttpReply(const std::string& method, const std::string& target, const std::string& body)>;

// Serves one request at a time on its own thread. Start/Stop from one thread.
class AdminServer {
 public:
  static Result<std::unique_ptr<AdminServer>> Start(uint16_t port, AdminHandler handler);
  ~AdminServer();
  uint16_t port() const { return port_; }
  void Stop();

 private:
  AdminServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

// One request to 127.0.0.1:port; returns the reply or an I/O error.
Result<HttpReply> AdminRequest(uint16_t port, const std::string& method, const std::string& target,
                               const std::string& body, int timeout_seconds = 3600);

}  // namespace pacs::tools
