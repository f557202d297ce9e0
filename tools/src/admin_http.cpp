#include "admin_http.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

#include "pacs/base/audit.h"
#include "pacs/base/log.h"

namespace pacs::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using Json = nlohmann::json;

namespace {

std::string Lower(std::string_view text) {
  return web::ToLower(text);
}

std::string Trim(std::string_view text) {
  return std::string(web::TrimSpaces(text));
}

HttpReply Refusal(int status, const std::string& message) {
  return {status, web::JsonErrorBody(message)};
}

// What is logged of a request body: enough to say what was asked.
std::string Shorten(std::string text) {
  constexpr size_t kMax = 400;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

}  // namespace

std::string AdminCaller::Describe() const {
  if (unix_socket) return "uid " + std::to_string(uid) + " pid " + std::to_string(pid) + " over the admin socket";
  return (token.empty() ? std::string("no token") : "token " + token) + " from " + address;
}

void LogAdminAction(const AdminCaller& caller, const std::string& method, const std::string& target,
                    const std::string& detail, int status, const std::string& outcome) {
  const bool refused = status == 401 || status == 403 || status == 405 || status == 415 || status == 421 ||
                       (status == 400 && outcome.rfind("refused", 0) == 0);
  // A refused admin request is a Security Alert (a bad token, a foreign
  // Host/Origin, another user); the actions themselves are audited by the
  // handlers (serve.cpp), which know the studies concerned.
  if (refused)
    audit::SecurityAlert(status == 401 ? audit::EventType::kLogin : audit::EventType::kUseOfRestrictedFunction,
                         {.host = caller.unix_socket ? "admin socket" : caller.address, .user = caller.Describe()},
                         "admin " + target, std::to_string(status) + " " + outcome);
  const LogLevel level =
      refused ? LogLevel::kWarning : (method == "GET" && target == "/health" ? LogLevel::kDebug : LogLevel::kInfo);
  Log(level, "admin: " + method + " " + Shorten(target) + (detail.empty() ? "" : " " + Shorten(detail)) + " by " +
                 caller.Describe() + ": " + std::to_string(status) + (outcome.empty() ? "" : " " + outcome));
}

std::optional<HttpReply> CheckAdminRequest(const HttpRequest& request, const TokenFile* tokens, AdminCaller& caller,
                                           Json& body) {
  caller.unix_socket = request.peer.unix_socket;
  caller.uid = request.peer.uid;
  caller.pid = request.peer.pid;
  caller.address = request.peer.address;
  // A browser on this machine can be made to send requests to loopback by any
  // web page; it always names the page's host in Host and Origin.
  if (!IsLoopbackHost(request.host))
    return Refusal(403, "refused: Host '" + request.host + "' is not 127.0.0.1, localhost or [::1]");
  if (request.has_origin && !IsLoopbackOrigin(request.origin))
    return Refusal(403, "refused: Origin '" + request.origin + "' is not a loopback origin");
  if (request.peer.unix_socket) {
    // The socket's mode 0600 keeps others out already; this holds even if someone loosens it.
    const auto self = static_cast<int64_t>(geteuid());
    if (request.peer.uid != self && request.peer.uid != 0)
      return Refusal(403, "refused: uid " + std::to_string(request.peer.uid) + " is not the server's user (uid " +
                              std::to_string(self) + ") or root");
  } else {
    const std::string& header = request.authorization;
    const bool bearer = header.size() > 7 && Lower(header.substr(0, 7)) == "bearer ";
    const TokenEntry* entry = bearer && tokens != nullptr ? tokens->Find(Trim(header.substr(7))) : nullptr;
    if (entry == nullptr) {
      HttpReply reply = Refusal(401, header.empty() ? "refused: no bearer token (Authorization: Bearer TOKEN)"
                                                    : "refused: the bearer token is not valid");
      reply.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="pacscore admin")");
      return reply;
    }
    caller.token = entry->fingerprint;
    if (!entry->Has(TokenRole::kAdmin))
      return Refusal(403, "refused: token " + entry->fingerprint + " has roles " + entry->RoleNames() + ", not admin");
  }
  if (request.method == "GET") {
    body = Json::object();
    return std::nullopt;
  }
  if (request.method != "POST")
    return Refusal(405, "refused: method " + request.method + " (the admin endpoint takes GET and POST)");
  // A form or text/plain POST is what a web page can send without a preflight.
  const std::string media_type =
      Lower(Trim(std::string_view(request.content_type)
                     .substr(0, std::min(request.content_type.size(), request.content_type.find(';')))));
  if (media_type != "application/json")
    return Refusal(415, "refused: Content-Type '" + request.content_type + "' is not application/json");
  try {
    body = Json::parse(request.body);
  } catch (const Json::exception& e) {
    return Refusal(400, std::string("refused: the body is not JSON: ") + e.what());
  }
  if (!body.is_object()) return Refusal(400, "refused: the body is JSON but not an object");
  return std::nullopt;
}

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const AdminServerOptions& options, AdminHandler handler) {
  if (options.tcp_port >= 0 && (!options.tokens || options.tokens->size() == 0))
    return Status::InvalidArgument("the admin TCP port needs a token file (--admin-token-file)");
  auto shared = std::make_shared<AdminHandler>(std::move(handler));
  auto gate = [shared, tokens = options.tokens](const HttpRequest& request) -> HttpReply {
    AdminCaller caller;
    Json body;
    if (auto refusal = CheckAdminRequest(request, tokens.get(), caller, body)) {
      LogAdminAction(caller, request.method, request.target, "", refusal->status,
                     Json::parse(refusal->body, nullptr, false).value("error", ""));
      return *refusal;
    }
    HttpReply reply = (*shared)(request.method, request.target, body, caller);
    std::string outcome;
    if (reply.status != 200) {
      const Json parsed = Json::parse(reply.body, nullptr, false);
      if (parsed.is_object()) outcome = parsed.value("error", "");
    }
    LogAdminAction(caller, request.method, request.target, request.method == "POST" ? request.body : "", reply.status,
                   outcome);
    return reply;
  };
  std::unique_ptr<AdminServer> server(new AdminServer());
  HttpServerOptions socket_options;
  socket_options.name = "admin endpoint";
  socket_options.unix_socket_path = options.socket_path;
  socket_options.body_limit = options.body_limit;
  auto on_socket = HttpServer::Start(socket_options, gate);
  if (!on_socket.ok()) return on_socket.status();
  server->socket_ = std::move(*on_socket);
  if (options.tcp_port >= 0) {
    HttpServerOptions tcp_options = socket_options;
    tcp_options.unix_socket_path.clear();
    tcp_options.address = "127.0.0.1";  // loopback only, always
    tcp_options.port = static_cast<uint16_t>(options.tcp_port);
    auto on_tcp = HttpServer::Start(tcp_options, gate);
    if (!on_tcp.ok()) return on_tcp.status();  // the socket server stops (and goes) with `server`
    server->tcp_ = std::move(*on_tcp);
  }
  return server;
}

void AdminServer::Stop() {
  if (tcp_) tcp_->Stop();
  if (socket_) socket_->Stop();
}

std::string AdminEndpoint::Describe() const {
  return socket_path.empty() ? "admin endpoint on 127.0.0.1:" + std::to_string(port)
                             : "admin endpoint on " + socket_path;
}

namespace {

// Connect, write, read, all asynchronous under one deadline (Beast applies
// its timeouts to asynchronous operations only).
template <class Protocol>
Result<HttpReply> Exchange(const typename Protocol::endpoint& to, const AdminEndpoint& endpoint,
                           const std::string& method, const std::string& target, const std::string& body,
                           int timeout_seconds) {
  asio::io_context io;
  beast::basic_stream<Protocol> stream(io);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, endpoint.socket_path.empty() ? "127.0.0.1" : "localhost");
  if (!endpoint.token.empty()) req.set(http::field::authorization, "Bearer " + endpoint.token);
  if (method != "GET") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(uint64_t{256} * 1024 * 1024);
  beast::error_code failure;
  stream.expires_after(std::chrono::seconds(timeout_seconds));
  stream.async_connect(to, [&](beast::error_code ec) {
    if (ec) {
      failure = ec;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code write_ec, size_t) {
      if (write_ec) {
        failure = write_ec;
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code read_ec, size_t) { failure = read_ec; });
    });
  });
  io.run();
  if (failure) return Status::IOError(endpoint.Describe() + ": " + failure.message());
  return HttpReply{static_cast<int>(parser.get().result_int()), parser.get().body()};
}

}  // namespace

Result<HttpReply> AdminRequest(const AdminEndpoint& endpoint, const std::string& method, const std::string& target,
                               const std::string& body, int timeout_seconds) {
  try {
    if (!endpoint.socket_path.empty())
      return Exchange<local>(local::endpoint(endpoint.socket_path), endpoint, method, target, body, timeout_seconds);
    return Exchange<tcp>(tcp::endpoint(asio::ip::make_address("127.0.0.1"), endpoint.port), endpoint, method, target,
                         body, timeout_seconds);
  } catch (const std::exception& e) {  // a socket path too long for a Unix socket, say
    return Status::IOError(endpoint.Describe() + ": " + e.what());
  }
}

}  // namespace pacs::tools
