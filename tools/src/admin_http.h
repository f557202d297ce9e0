// File: admin_http.h
// The admin endpoint of `pacscore serve` and the client the other
// subcommands reach it with. It listens on a Unix domain socket in the data
// folder (mode 0600: the server's user and root only) and, when asked, on
// 127.0.0.1:PORT with a bearer token of role `admin` (pacs/base/token_file.h).
// Every request passes one gate before any handler runs: a loopback Host
// (and Origin, if any), the caller's identity (socket peer uid, or token),
// and for POST a JSON body sent as application/json. Every admin action is
// logged by LogAdminAction(), with who asked.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "http_server.h"
#include "pacs/base/result.h"
#include "pacs/base/token_file.h"

namespace pacs::tools {

// Who made an admin request.
struct AdminCaller {
  bool unix_socket = false;
  int64_t uid = -1;              // Unix socket: the client's user (SO_PEERCRED)
  int64_t pid = -1;              // Unix socket: the client's process
  std::string address;           // TCP: the client's ADDR:PORT
  std::string token;             // TCP: the token's fingerprint ("sha256:1a2b3c4d"), never the token
  std::string Describe() const;  // "uid 0 pid 4242 over the admin socket", "token sha256:1a2b3c4d from 127.0.0.1:5123"
};

// An admin request that passed the gate. `body` is the parsed JSON object
// of a POST (an empty object for GET).
using AdminHandler = std::function<HttpReply(const std::string& method, const std::string& target,
                                             const nlohmann::json& body, const AdminCaller& caller)>;

struct AdminServerOptions {
  std::string socket_path;                  // the Unix socket, normally DATA/admin.sock
  int tcp_port = -1;                        // -1: no TCP port; 0: any free port on 127.0.0.1
  std::shared_ptr<const TokenFile> tokens;  // required with a TCP port
  uint64_t body_limit = uint64_t{1} * 1024 * 1024;
};

// Start/Stop from one thread; the handler runs on many threads at once.
class AdminServer {
 public:
  static Result<std::unique_ptr<AdminServer>> Start(const AdminServerOptions& options, AdminHandler handler);
  // 0 when there is no TCP port.
  uint16_t tcp_port() const { return tcp_ ? tcp_->port() : 0; }
  // Stops both listeners; requests already running finish first.
  void Stop();

 private:
  AdminServer() = default;
  std::unique_ptr<HttpServer> socket_;
  std::unique_ptr<HttpServer> tcp_;
};

// The gate, on its own for tests: nullopt when `request` may go to the
// handler (and `caller` says who it is), else the refusal to send.
std::optional<HttpReply> CheckAdminRequest(const HttpRequest& request, const TokenFile* tokens, AdminCaller& caller,
                                           nlohmann::json& body);
// Host header values and Origins that name this machine over loopback
// (127.0.0.1, localhost and [::1], with or without a port): the checks every
// HTTP endpoint shares, in pacs/web/http_common.h.
using web::IsLoopbackHost;
using web::IsLoopbackOrigin;

// The one place admin actions are logged (info; refusals at warning; GET
// /health at debug, as every CLI command asks it first). `detail` is the
// request's JSON, shortened. The audit log hooks in here.
void LogAdminAction(const AdminCaller& caller, const std::string& method, const std::string& target,
                    const std::string& detail, int status, const std::string& outcome);

// Where a client reaches a running server's admin endpoint.
struct AdminEndpoint {
  std::string socket_path;  // the Unix socket, when set
  uint16_t port = 0;        // else 127.0.0.1:port
  std::string token;        // Bearer token for the TCP port
  std::string Describe() const;
};

// One request; returns the reply or an I/O error naming the endpoint.
Result<HttpReply> AdminRequest(const AdminEndpoint& endpoint, const std::string& method, const std::string& target,
                               const std::string& body, int timeout_seconds = 3600);

}  // namespace pacs::tools
