#include "pacs/web/web_server.h"

#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pacs/base/audit.h"
#include "pacs/base/log.h"

namespace pacs::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr char kPreflightHeaders[] = "Accept, Authorization, Content-Type, Accept-Encoding, Cache-Control";

// Connections open per source address. Taken on accept (I/O thread),
// given back by ~Connection, which may run on a worker thread (the last
// reference to a connection can be a worker's).
class HostConnections {
 public:
  // Counts one more from `host` unless `limit` are open; false then.
  bool TryAdd(const std::string& host, size_t limit) {
    MutexLock lock(mutex_);
    size_t& count = open_[host];
    if (count >= limit) return false;
    ++count;
    return true;
  }
  void Remove(const std::string& host) {
    MutexLock lock(mutex_);
    auto it = open_.find(host);
    if (it != open_.end() && --it->second == 0) open_.erase(it);
  }

 private:
  Mutex mutex_;
  std::unordered_map<std::string, size_t> open_ GUARDED_BY(mutex_);
};

// What every connection of one server shares. Outlives the io_context (and
// so every connection) and the worker pool.
struct ServerState {
  WebServerOptions options;
  std::shared_ptr<const Router> router;
  WebServerCounters counters;
  std::atomic<size_t> open_connections{0};
  HostConnections per_host;
  std::atomic<uint64_t> spill_files{0};
  std::optional<asio::thread_pool> workers;
  std::optional<ssl::context> tls;  // set: every connection speaks HTTPS only

  bool CorsAllows(const std::string& origin) const {
    return !options.cors_origin.empty() && (options.cors_origin == "*" || options.cors_origin == origin);
  }
};

// The byte stream under one connection, plain TCP or TLS over TCP, as one
// type, so that Beast's HTTP reading and writing (heavy templates) are
// compiled once, not once per stream type: the buffer sequences are copied
// into vectors and the handlers type-erased, and each underlying stream's
// read and write are compiled once for that erased handler. All of it runs
// on the server's one I/O thread.
class ByteStream {
 public:
  using executor_type = beast::tcp_stream::executor_type;
  using Done = std::function<void(beast::error_code, size_t)>;

  ByteStream(tcp::socket socket, ssl::context* tls) {
    if (tls != nullptr) {
      tls_.emplace(std::move(socket), *tls);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  bool is_tls() const { return tls_.has_value(); }
  beast::tcp_stream& socket_stream() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
  executor_type get_executor() { return socket_stream().get_executor(); }

  void AsyncHandshake(std::function<void(beast::error_code)> done) {
    tls_->async_handshake(ssl::stream_base::server, std::move(done));
  }
  void AsyncShutdown(std::function<void(beast::error_code)> done) { tls_->async_shutdown(std::move(done)); }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    ReadSome(Copy<asio::mutable_buffer>(buffers), Erase(std::forward<Handler>(handler)));
  }
  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    WriteSome(Copy<asio::const_buffer>(buffers), Erase(std::forward<Handler>(handler)));
  }

 private:
  template <class Buffer, class Sequence>
  static std::vector<Buffer> Copy(const Sequence& buffers) {
    std::vector<Buffer> out;
    // NOLINTNEXTLINE(readability-qualified-auto): a pointer for one buffer, an iterator class for sequences
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
      out.push_back(Buffer(*it));
    return out;
  }
  // Beast's handlers are move-only; std::function wants a copyable one.
  template <class Handler>
  static Done Erase(Handler&& handler) {
    auto held = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
    return [held](beast::error_code ec, size_t n) { (*held)(ec, n); };
  }
  void ReadSome(std::vector<asio::mutable_buffer> buffers, Done done) {
    // The vector travels with the operation: asio keeps a reference to the sequence.
    auto held = std::make_shared<std::vector<asio::mutable_buffer>>(std::move(buffers));
    auto finish = [held, done = std::move(done)](beast::error_code ec, size_t n) { done(ec, n); };
    if (tls_) {
      tls_->async_read_some(*held, std::move(finish));
    } else {
      plain_->async_read_some(*held, std::move(finish));
    }
  }
  void WriteSome(std::vector<asio::const_buffer> buffers, Done done) {
    auto held = std::make_shared<std::vector<asio::const_buffer>>(std::move(buffers));
    auto finish = [held, done = std::move(done)](beast::error_code ec, size_t n) { done(ec, n); };
    if (tls_) {
      tls_->async_write_some(*held, std::move(finish));
    } else {
      plain_->async_write_some(*held, std::move(finish));
    }
  }

  std::optional<beast::tcp_stream> plain_;
  std::optional<TlsStream> tls_;
};

// One client connection: reads requests one after the other (keep-alive),
// passes each through the gate, has the handler run on a worker, writes its
// reply. Owned by the asynchronous operations and worker tasks that refer to
// it; only one of them touches it at a time (the reply of request N is
// written before request N+1 is read). Over TLS (ServerState::tls) a
// handshake comes first, by the handshake timeout, and a TLS close last;
// everything else is the same code.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  static constexpr size_t kBodyReadBytes = size_t{64} * 1024;  // Beast reads at most 64 KiB at a time anyway

  // `host`: the source address, counted in server.per_host by the caller;
  // `remote`: the peer's endpoint.
  Connection(ServerState& server, tcp::socket socket, std::string host, const tcp::endpoint& remote)
      : server_(server), stream_(std::move(socket), server.tls ? &*server.tls : nullptr), host_(std::move(host)) {
    ++server_.open_connections;
    peer_ = (remote.address().is_v6() ? "[" + host_ + "]" : host_) + ":" + std::to_string(remote.port());
    beast::error_code ec;
    Tcp().socket().set_option(tcp::no_delay(true), ec);
  }
  ~Connection() {
    RemoveSpillFile();
    server_.per_host.Remove(host_);
    --server_.open_connections;
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start() {
    if (stream_.is_tls()) {
      Tcp().expires_after(server_.options.tls_handshake_timeout);
      stream_.AsyncHandshake([self = shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
    } else {
      ReadHeader(true);
    }
  }

 private:
  beast::tcp_stream& Tcp() { return stream_.socket_stream(); }

  // A failed handshake: the connection goes, with a line naming the peer and
  // why: a debug line for a peer that hung up, else a security alert (a
  // warning and an audit event).
  void OnHandshake(beast::error_code ec) {
    if (!ec) {
      ReadHeader(true);
      return;
    }
    std::string reason;
    if (ec == beast::error::timeout) {
      reason = "no TLS handshake within " + std::to_string(server_.options.tls_handshake_timeout.count()) + " ms";
    } else if (ec.category() == asio::error::get_ssl_category()) {
      char text[256] = {};
      ERR_error_string_n(static_cast<unsigned long>(ec.value()), text, sizeof text);
      reason = text;
      if (ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST)
        reason += " (plain HTTP sent to the HTTPS port)";
    } else {
      reason = ec.message();
    }
    // A peer that hung up before finishing the handshake (a port probe, a
    // health check): no alert. A TLS error or a timeout is one.
    const bool silent_close =
        ec == asio::error::eof || ec == ssl::error::stream_truncated || ec == asio::error::connection_reset;
    if (silent_close) {
      Log(LogLevel::kDebug,
          server_.options.name + ": " + peer_ + " closed the connection during the TLS handshake (" + reason + ")");
    } else {
      LogWarning("security alert: " + server_.options.name + ": TLS handshake with " + peer_ + " failed: " + reason +
                 "; connection closed");
      audit::SecurityAlert(audit::EventType::kNodeAuthentication, {.host = peer_}, "DICOMweb TLS",
                           "TLS handshake failed: " + reason);
    }
    beast::error_code ignored;
    Tcp().socket().close(ignored);
  }

  // After the last response on a connection: a TLS close_notify (bounded by
  // the handshake timeout), then the socket; plain TCP shuts its send side.
  void Finish() {
    if (stream_.is_tls()) {
      Tcp().expires_after(server_.options.tls_handshake_timeout);
      stream_.AsyncShutdown([self = shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->Tcp().socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  void ReadHeader(bool first) {
    RemoveSpillFile();
    request_ = Request();
    route_ = nullptr;
    string_parser_.reset();
    file_parser_.reset();
    header_parser_.emplace();
    header_parser_->header_limit(server_.options.limits.header_limit);
    header_parser_->body_limit(server_.options.max_body);
    Tcp().expires_after(first ? server_.options.limits.read_timeout : server_.options.idle_timeout);
    http::async_read_header(stream_, buffer_, *header_parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == http::error::body_limit) {  // a Content-Length over max_body, seen with the header
      version_ = 11;
      keep_alive_ = false;
      Reply(Response::Error(413, "request body larger than " + std::to_string(server_.options.max_body) +
                                     " bytes (--web-max-body); nothing stored"));
      return;
    }
    if (ec == http::error::header_limit) {
      version_ = 11;
      keep_alive_ = false;
      Reply(Response::Error(
          431, "request header larger than " + std::to_string(server_.options.limits.header_limit) + " bytes"));
      return;
    }
    if (ec) {
      // A client that hung up or went idle, or bytes that are not HTTP.
      if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::eof) {
        Log(LogLevel::kDebug, server_.options.name + ": request from " + peer_ + " not read (" + ec.message() + ")");
        // Malformed HTTP: say so when we still can, then close.
        if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
          version_ = 11;
          keep_alive_ = false;
          Reply(Response::Error(400, "malformed HTTP request: " + ec.message()));
        }
      }
      return;
    }
    ++server_.counters.requests;
    const auto& message = header_parser_->get();
    version_ = message.version();
    keep_alive_ = message.keep_alive();
    request_.method = std::string(message.method_string());
    head_ = request_.method == "HEAD";
    request_.target = std::string(message.target());
    request_.peer = peer_;
    for (const auto& field : message)
      request_.headers.emplace_back(ToLower(std::string_view(field.name_string().data(), field.name_string().size())),
                                    std::string(field.value()));
    const bool has_body = !header_parser_->is_done();

    if (std::optional<Response> refusal = Gate(); refusal) {
      if (has_body) keep_alive_ = false;  // the body is not read: the connection cannot go on
      Reply(std::move(*refusal));
      return;
    }
    if (!has_body) {
      Dispatch();
      return;
    }
    // Beast checks a Content-Length against the limit it had when the header
    // was parsed (max_body); an in-memory route's own limit is checked here.
    if (route_->options.body == RouteOptions::BodyMode::kInMemory && header_parser_->content_length() &&
        *header_parser_->content_length() > route_->options.body_limit) {
      keep_alive_ = false;
      Reply(Response::Error(413, "request body larger than " + std::to_string(route_->options.body_limit) +
                                     " bytes (the limit of this resource); nothing stored"));
      return;
    }
    if (TrimSpaces(ToLower(request_.Header("expect"))) == "100-continue") {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Tcp().expires_after(server_.options.limits.write_timeout);
      asio::async_write(stream_, asio::buffer(kContinue), [self = shared_from_this()](beast::error_code ec, size_t) {
        if (!ec) self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  // nullopt when the request may go on to its body and handler.
  std::optional<Response> Gate() {
    auto target = ParseTarget(request_.target);
    if (!target.ok()) return Response::Error(400, target.status().message());
    request_.path = std::move(target->path);
    request_.query = std::move(target->query);
    const std::string origin = request_.Header("origin");
    const bool has_origin = !origin.empty();
    if (!server_.options.tokens) {
      // Loopback-only mode: any web page this machine's browser shows can
      // make it send requests here; it names its own host in Host and Origin.
      if (!IsLoopbackHost(request_.Header("host")))
        return Response::Error(403, "refused: Host '" + request_.Header("host") +
                                        "' is not 127.0.0.1, localhost or [::1] (this server has no token file "
                                        "and answers loopback names only)");
      if (has_origin && !IsLoopbackOrigin(origin) && !server_.CorsAllows(origin))
        return Response::Error(403, "refused: Origin '" + origin + "' is neither loopback nor --web-cors-origin");
    }
    Router::Match match = server_.router->Find(request_.method, target->segments);
    if (request_.method == "OPTIONS") {
      Response preflight;
      preflight.status = 204;
      std::vector<std::string> methods = match.allowed_methods;
      if (match.route != nullptr) methods.push_back(match.route->method);
      std::string allow = "OPTIONS";
      for (const auto& method : methods) allow += ", " + method;
      preflight.With("Allow", allow);
      if (has_origin && server_.CorsAllows(origin)) {
        preflight.With("Access-Control-Allow-Methods", allow);
        preflight.With("Access-Control-Allow-Headers", kPreflightHeaders);
        preflight.With("Access-Control-Max-Age", "600");
      }
      return preflight;
    }
    if (match.route == nullptr) {
      if (!match.allowed_methods.empty()) {
        std::string allow;
        for (const auto& method : match.allowed_methods) allow += (allow.empty() ? "" : ", ") + method;
        return Response::Error(405, request_.method + " is not allowed on " + request_.path).With("Allow", allow);
      }
      return Response::Error(404, "no such resource: " + request_.path);
    }
    if (server_.options.tokens && match.route->options.needs_token) {
      const std::string authorization(TrimSpaces(request_.Header("authorization")));
      if (authorization.size() < 7 || ToLower(authorization.substr(0, 7)) != "bearer ")
        return Response::Error(401, "this server needs Authorization: Bearer TOKEN")
            .With("WWW-Authenticate", "Bearer realm=\"pacscore\"");
      const TokenEntry* token = server_.options.tokens->Find(TrimSpaces(std::string_view(authorization).substr(7)));
      if (token == nullptr) {
        LogWarning(server_.options.name + ": unknown token from " + peer_ + " for " + request_.method + " " +
                   request_.path);
        return Response::Error(401, "unknown token")
            .With("WWW-Authenticate", R"(Bearer realm="pacscore", error="invalid_token")");
      }
      if (!token->Has(match.route->options.role)) {
        const char* role = match.route->options.role == TokenRole::kRead    ? "read"
                           : match.route->options.role == TokenRole::kWrite ? "write"
                                                                            : "admin";
        LogWarning(server_.options.name + ": token " + token->fingerprint + " from " + peer_ + " lacks role " + role +
                   " for " + request_.method + " " + request_.path);
        return Response::Error(403, std::string("this token lacks the role '") + role + "' this request needs");
      }
      request_.token = token;
    }
    route_ = match.route;
    request_.params = std::move(match.params);
    return std::nullopt;
  }

  void ReadBody() {
    Tcp().expires_after(server_.options.limits.read_timeout + std::chrono::minutes(10));
    // Beast reads at most the buffer's free capacity (at least 512 bytes) at
    // a time, and the body parser empties the buffer after each read, so a
    // buffer left at the header's size reads a large body ~1 KB per system
    // call (and writes its spill file as slowly): a STOW body then arrived at
    // ~35 MB/s. With 64 KiB free it arrives in 64 KiB reads.
    buffer_.reserve(buffer_.size() + kBodyReadBytes);
    if (route_->options.body == RouteOptions::BodyMode::kSpillFile) {
      file_parser_.emplace(std::move(*header_parser_));
      file_parser_->body_limit(server_.options.max_body);
      const std::string path = server_.options.spill_dir + "/pacscore-web-" + std::to_string(getpid()) + "-" +
                               std::to_string(++server_.spill_files) + ".body";
      beast::error_code ec;
      file_parser_->get().body().open(path.c_str(), beast::file_mode::write_new, ec);
      if (ec) {
        LogError(server_.options.name + ": cannot create the spill file " + path + ": " + ec.message());
        keep_alive_ = false;
        Reply(Response::Error(503, "cannot take the request body: no spill file (" + ec.message() + ")"));
        return;
      }
      request_.body_file = path;
      http::async_read(stream_, buffer_, *file_parser_,
                       [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
    } else {
      string_parser_.emplace(std::move(*header_parser_));
      string_parser_->body_limit(route_->options.body_limit);
      http::async_read(stream_, buffer_, *string_parser_,
                       [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
    }
  }

  void OnBody(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      const uint64_t limit = file_parser_ ? server_.options.max_body : route_->options.body_limit;
      Reply(Response::Error(413, "request body larger than " + std::to_string(limit) + " bytes" +
                                     (file_parser_ ? " (--web-max-body)" : " (the limit of this resource)") +
                                     "; nothing stored"));
      return;
    }
    if (ec) {
      Log(LogLevel::kDebug, server_.options.name + ": body of " + request_.method + " " + request_.path + " from " +
                                peer_ + " not read (" + ec.message() + ")");
      return;  // the connection goes; the spill file with it
    }
    if (file_parser_) {
      file_parser_->get().body().close();
      std::error_code size_ec;
      request_.body_size = std::filesystem::file_size(request_.body_file, size_ec);
    } else {
      request_.body = std::move(string_parser_->get().body());
      request_.body_size = request_.body.size();
    }
    Dispatch();
  }

  void Dispatch() {
    asio::post(*server_.workers, [self = shared_from_this()] {
      Response response;
      try {
        response = self->route_->handler(self->request_);
      } catch (const std::exception& e) {
        LogError(self->server_.options.name + ": " + self->request_.method + " " + self->request_.path +
                 " failed: " + e.what());
        response = Response::Error(500, "internal error");
      }
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable { self->Reply(std::move(response)); });
    });
  }

  void AddCommonHeaders(Response& response) {
    const std::string origin = request_.Header("origin");
    if (!origin.empty() && server_.CorsAllows(origin)) {
      response.With("Access-Control-Allow-Origin", server_.options.cors_origin == "*" ? "*" : origin);
      response.With("Access-Control-Expose-Headers", "Content-Type, Content-Length, Content-Encoding, Warning");
      if (server_.options.cors_origin != "*") response.With("Vary", "Origin");
    }
  }

  void Count(int status) {
    if (status >= 500) {
      ++server_.counters.responses_5xx;
    } else if (status >= 400) {
      ++server_.counters.responses_4xx;
    } else {
      ++server_.counters.responses_2xx;
    }
    const LogLevel level = status >= 500 ? LogLevel::kWarning : LogLevel::kDebug;
    Log(level, server_.options.name + ": " + request_.method + " " + request_.target.substr(0, 300) + " from " + peer_ +
                   ": " + std::to_string(status));
  }

  template <class Message>
  void SetHeaders(Message& message, Response& response) {
    message.version(version_);
    message.result(static_cast<http::status>(response.status));
    if (!response.content_type.empty()) message.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) message.insert(name, value);
    message.set(http::field::server, "pacscore");
    message.keep_alive(keep_alive_);
  }

  void Reply(Response response) {
    if (response.close) keep_alive_ = false;
    AddCommonHeaders(response);
    Count(response.status);
    Tcp().expires_after(server_.options.limits.write_timeout);
    if (response.stream && (head_ || version_ < 11)) {
      // No chunked coding for HTTP/1.0 (and none needed for HEAD): gather the pieces.
      std::string body;
      for (;;) {
        auto piece = response.stream();
        if (!piece.ok()) {
          response = Response::Error(500, piece.status().message());
          break;
        }
        if (piece->empty()) {
          response.body = std::move(body);
          break;
        }
        body += *piece;
      }
      response.stream = nullptr;
    }
    if (response.stream) {
      stream_body_ = std::move(response.stream);
      stream_header_.emplace();
      SetHeaders(*stream_header_, response);
      stream_header_->chunked(true);
      stream_serializer_.emplace(*stream_header_);
      http::async_write_header(stream_, *stream_serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return;
        self->NextPiece();
      });
      return;
    }
    if (!response.file_path.empty()) {
      file_response_.emplace();
      beast::error_code ec;
      file_response_->body().open(response.file_path.c_str(), beast::file_mode::scan, ec);
      if (!ec) {
        SetHeaders(*file_response_, response);
        file_response_->prepare_payload();
        if (head_) {
          const uint64_t size = file_response_->body().size();
          file_response_->body().close();
          string_response_.emplace();
          SetHeaders(*string_response_, response);
          string_response_->content_length(size);
          file_response_.reset();
          WriteString();
          return;
        }
        http::async_write(stream_, *file_response_,
                          [self = shared_from_this()](beast::error_code ec, size_t) { self->AfterWrite(ec); });
        return;
      }
      response = Response::Error(404, "cannot open the file: " + ec.message());
    }
    string_response_.emplace();
    SetHeaders(*string_response_, response);
    const size_t size = response.body.size();
    if (!head_) string_response_->body() = std::move(response.body);
    if (response.status != 204 && response.status >= 200) string_response_->content_length(size);
    WriteString();
  }

  void WriteString() {
    http::async_write(stream_, *string_response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->AfterWrite(ec); });
  }

  // Produces the next piece of a streamed body on a worker, writes it here.
  void NextPiece() {
    asio::post(*server_.workers, [self = shared_from_this()] {
      Result<std::string> piece = std::string();
      try {
        piece = self->stream_body_();
      } catch (const std::exception& e) {
        piece = Status::Internal(e.what());
      }
      asio::post(self->stream_.get_executor(), [self, piece = std::move(piece)]() mutable {
        if (!piece.ok()) {
          LogWarning(self->server_.options.name + ": " + self->request_.method + " " + self->request_.path + " for " +
                     self->peer_ + " cut short: " + piece.status().ToString());
          beast::error_code ignored;
          self->Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
          return;
        }
        self->Tcp().expires_after(self->server_.options.limits.write_timeout);
        if (piece->empty()) {
          asio::async_write(self->stream_, http::make_chunk_last(),
                            [self](beast::error_code ec, size_t) { self->AfterWrite(ec); });
          return;
        }
        self->piece_ = std::move(*piece);
        asio::async_write(self->stream_, http::make_chunk(asio::buffer(self->piece_)),
                          [self](beast::error_code ec, size_t) {
                            if (!ec) self->NextPiece();
                          });
      });
    });
  }

  void AfterWrite(beast::error_code ec) {
    string_response_.reset();
    file_response_.reset();
    stream_serializer_.reset();
    stream_header_.reset();
    stream_body_ = nullptr;
    piece_.clear();
    if (ec) return;
    if (!keep_alive_) {
      Finish();
      return;
    }
    ReadHeader(false);
  }

  void RemoveSpillFile() {
    if (request_.body_file.empty()) return;
    if (file_parser_) file_parser_->get().body().close();
    std::error_code ignored;
    std::filesystem::remove(request_.body_file, ignored);
    request_.body_file.clear();
  }

  ServerState& server_;
  ByteStream stream_;
  beast::flat_buffer buffer_;
  const std::string host_;  // source address, as counted in server_.per_host
  std::string peer_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> string_parser_;
  std::optional<http::request_parser<http::file_body>> file_parser_;
  Request request_;
  const Router::Route* route_ = nullptr;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  std::optional<http::response<http::string_body>> string_response_;
  std::optional<http::response<http::file_body>> file_response_;
  std::optional<http::response<http::empty_body>> stream_header_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  BodyStream stream_body_;
  std::string piece_;
};

// TLS 1.2 suites (BCP195 / RFC 9325): ECDHE key exchange and AEAD ciphers
// only. TLS 1.3's own suites (all AEAD) are OpenSSL's defaults.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr size_t kMaxPemBytes = 1 << 20;

// OpenSSL's error queue of this thread as one line (and emptied).
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    out += (out.empty() ? "" : "; ") + std::string(text);
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

// The private key file's bytes, if only its owner may read or write it
// (the token file's rule): a key others can read is no secret. A symlink is
// followed (certbot links its keys) and any owner is taken.
Result<std::string> ReadPrivateKeyFile(const std::string& path) {
  return ReadOwnerOnlyFile(path, "--web-tls-key " + path,
                           {.follow_symlink = true, .owned_by_this_user = false, .max_bytes = kMaxPemBytes});
}

// The server's TLS context: TLS 1.2+, the suites above, our certificate
// chain and key, and client certificates checked as `tls.verify` says.
Status SetUpTls(const WebTlsOptions& tls, std::optional<ssl::context>& out) {
  if (tls.certificate_file.empty() || tls.private_key_file.empty())
    return Status::InvalidArgument(
        "--web-tls-cert and --web-tls-key go together: give both (the certificate and "
        "its private key)");
  if (tls.verify != WebTlsOptions::Verify::kNone && tls.ca_file.empty())
    return Status::InvalidArgument(
        "checking client certificates (--web-tls-verify) needs the trusted CAs "
        "(--web-tls-ca FILE|DIR)");
  ERR_clear_error();
  auto key_text = ReadPrivateKeyFile(tls.private_key_file);
  if (!key_text.ok()) return key_text.status();
  std::error_code exists_ec;
  if (!std::filesystem::is_regular_file(tls.certificate_file, exists_ec))
    return Status::InvalidArgument("--web-tls-cert " + tls.certificate_file + ": no such file");

  out.emplace(ssl::context::tls_server);
  ssl::context& ctx = *out;
  SSL_CTX* native = ctx.native_handle();
  beast::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                      ssl::context::single_dh_use,
                  ec);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  if (ec || SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
    return Status::Internal("cannot set the TLS protocol versions and ciphers: " + OpenSslErrors());
  // A key with a passphrase fails instead of prompting on the console.
  ctx.set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); }, ec);

  if (SSL_CTX_use_certificate_chain_file(native, tls.certificate_file.c_str()) != 1)
    return Status::InvalidArgument("--web-tls-cert " + tls.certificate_file +
                                   ": not a PEM certificate (chain) OpenSSL accepts (" + OpenSslErrors() + ")");
  ctx.use_private_key(asio::buffer(*key_text), ssl::context::pem, ec);
  if (ec) {
    const std::string detail = OpenSslErrors();
    return Status::InvalidArgument("--web-tls-key " + tls.private_key_file +
                                   ": not an unencrypted PEM private key of the certificate in --web-tls-cert " +
                                   tls.certificate_file + " (" + ec.message() + "; " + detail + ")");
  }
  if (SSL_CTX_check_private_key(native) != 1)
    return Status::InvalidArgument("--web-tls-key " + tls.private_key_file +
                                   " is not the private key of the certificate in --web-tls-cert " +
                                   tls.certificate_file);
  if (X509* cert = SSL_CTX_get0_certificate(native)) {
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
      LogWarning("--web-tls-cert " + tls.certificate_file + " has expired: clients will refuse HTTPS");
    else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
      LogWarning("--web-tls-cert " + tls.certificate_file + " is not valid yet: clients will refuse HTTPS");
  }

  static const unsigned char kSessionContext[] = "pacscore-web";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  if (!tls.ca_file.empty()) {
    if (std::filesystem::is_directory(tls.ca_file, exists_ec)) {
      ctx.add_verify_path(tls.ca_file, ec);
    } else if (std::filesystem::is_regular_file(tls.ca_file, exists_ec)) {
      ctx.load_verify_file(tls.ca_file, ec);
      if (!ec) {
        // Tell clients which CAs we accept.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.ca_file.c_str()))
          SSL_CTX_set_client_CA_list(native, names);
      }
    } else {
      return Status::InvalidArgument("--web-tls-ca " + tls.ca_file + ": no such file or folder");
    }
    if (ec)
      return Status::InvalidArgument("--web-tls-ca " + tls.ca_file + ": no PEM CA certificate could be read (" +
                                     OpenSslErrors() + ")");
  }
  switch (tls.verify) {
    case WebTlsOptions::Verify::kRequire:
      ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
      break;
    case WebTlsOptions::Verify::kOptional:
      ctx.set_verify_mode(ssl::verify_peer, ec);
      break;
    case WebTlsOptions::Verify::kNone:
      ctx.set_verify_mode(ssl::verify_none, ec);
      break;
  }
  ERR_clear_error();
  return Status::Ok();
}

}  // namespace

struct WebServer::Impl {
  ServerState state;  // before `io`: outlives the connections the io_context holds
  asio::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  asio::steady_timer accept_retry{io};
  std::thread thread;

  void Accept();
  void Run();
};

void WebServer::Impl::Accept() {
  acceptor->async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      LogWarning(state.options.name + ": accept failed (" + ec.message() + "), retrying in 100 ms");
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    static LogLimiter refusals(10);
    beast::error_code remote_ec;
    const tcp::endpoint remote = socket.remote_endpoint(remote_ec);
    const std::string host = remote_ec ? std::string("?") : remote.address().to_string();
    if (state.open_connections >= state.options.limits.max_connections) {
      ++state.counters.connections_refused;
      refusals.Warn(state.options.name + ": " + std::to_string(state.open_connections.load()) +
                    " connections open already; refused one more, from " + host);
      beast::error_code ignored;
      socket.close(ignored);
    } else if (!state.per_host.TryAdd(host, state.options.max_connections_per_host)) {
      ++state.counters.connections_refused;
      refusals.Warn(state.options.name + ": refused a connection from " + host + ": " +
                    std::to_string(state.options.max_connections_per_host) +
                    " connections from that address are open (--web-max-connections-per-host)");
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Connection>(state, std::move(socket), host, remote)->Start();
    }
    Accept();
  });
}

void WebServer::Impl::Run() {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {  // a bug in a completion handler: log it and keep serving
      LogError(state.options.name + ": " + e.what());
    }
  }
}

Result<std::unique_ptr<WebServer>> WebServer::Start(WebServerOptions options, std::shared_ptr<const Router> router) {
  if (!options.tokens && !IsLoopbackAddress(options.address))
    return Status::InvalidArgument(options.name + ": binding " + options.address +
                                   " needs a token file (--web-token-file); without one only a loopback address "
                                   "(127.0.0.1, ::1) is allowed");
  if (!router) return Status::InvalidArgument(options.name + ": no routes");
  std::unique_ptr<WebServer> server(new WebServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& impl = *server->impl_;
  impl.state.options = std::move(options);
  impl.state.router = std::move(router);
  const WebServerOptions& opts = impl.state.options;
  if (opts.tls) {
    if (opts.tls_handshake_timeout.count() <= 0)
      return Status::InvalidArgument(opts.name + ": the TLS handshake timeout must be positive");
    Status tls = SetUpTls(*opts.tls, impl.state.tls);
    if (!tls.ok()) return tls.WithContext(opts.name);
  }
  unsigned workers = opts.worker_threads;
  if (workers == 0) workers = std::max(4u, 2 * std::max(1u, std::thread::hardware_concurrency()));
  impl.state.workers.emplace(workers);

  const std::string where = opts.address + ":" + std::to_string(opts.port);
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(opts.address, ec);
  if (ec) return Status::InvalidArgument(opts.name + ": '" + opts.address + "' is not an IP address");
  const tcp::endpoint endpoint(address, opts.port);
  impl.acceptor.emplace(impl.io);
  impl.acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl.acceptor->bind(endpoint, ec);
  if (!ec) impl.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError(opts.name + " cannot listen on " + where + ": " + ec.message());
  server->port_ = impl.acceptor->local_endpoint().port();
  impl.Accept();
  impl.thread = std::thread([&impl] { impl.Run(); });
  return server;
}

const WebServerCounters& WebServer::counters() const {
  return impl_->state.counters;
}

void WebServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
  impl_->state.workers->join();  // handlers already running finish; their replies are dropped
  beast::error_code ignored;
  impl_->acceptor->close(ignored);
}

WebServer::~WebServer() {
  try {
    Stop();
  } catch (const std::exception& e) {
    LogError("DICOMweb endpoint: stopping failed: " + std::string(e.what()));
  }
}

}  // namespace pacs::web
