#include "http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <thread>

#include "pacs/base/log.h"

namespace pacs::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// What the connections share. Everything in this file runs on the server's
// one thread (io.run()), except Start() and Stop(), which touch the state
// only before the thread starts and after it is joined: no lock is needed.
struct ServerState {
  HttpServerOptions options;
  HttpHandler handler;
  size_t open_connections = 0;
};

// One connection: read one request (bounded in time and size), answer it,
// close. Owned by the asynchronous operations that refer to it.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerState& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    ++server_.open_connections;
  }
  ~Connection() { --server_.open_connections; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start() {
    parser_.header_limit(server_.options.header_limit);
    parser_.body_limit(server_.options.body_limit);
    stream_.expires_after(server_.options.read_timeout);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
      Reply(ec == http::error::header_limit ? 431 : 413, "request too large for the " + server_.options.name, 11);
      return;
    }
    if (ec) {
      // A timeout, a client that hung up, or bytes that are not HTTP: nothing to answer.
      Log(LogLevel::kDebug, server_.options.name + ": request not read (" + ec.message() + "), connection closed");
      return;
    }
    const auto& request = parser_.get();
    HttpReply reply;
    try {
      reply = server_.handler(std::string(request.method_string()), std::string(request.target()), request.body());
    } catch (const std::exception& e) {
      LogError(server_.options.name + ": " + std::string(request.method_string()) + " " +
               std::string(request.target()) + " failed: " + e.what());
      reply = {500, R"({"error":"internal error"})"};
    }
    response_.result(static_cast<http::status>(reply.status));
    response_.version(request.version());
    response_.set(http::field::content_type, reply.content_type);
    response_.body() = std::move(reply.body);
    Send();
  }

  void Reply(int status, const std::string& message, unsigned version) {
    response_.result(static_cast<http::status>(status));
    response_.version(version);
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    response_.body() = message + "\n";
    Send();
  }

  void Send() {
    response_.keep_alive(false);
    response_.prepare_payload();
    stream_.expires_after(server_.options.write_timeout);
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, size_t) {
      beast::error_code ignored;
      if (!ec) self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  ServerState& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

struct HttpServer::Impl {
  // Before `io`, so that it outlives the connections the io_context still
  // holds (and destroys) when it goes.
  ServerState state;
  HttpServerOptions& options = state.options;

  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;

  void Accept();
  void Run();
};

void HttpServer::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;  // stopping
    if (ec) {
      // Out of file descriptors, say: try again shortly instead of spinning.
      Log(LogLevel::kWarning, options.name + ": accept failed (" + ec.message() + "), retrying in 100 ms");
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    if (state.open_connections >= options.max_connections) {
      Log(LogLevel::kWarning,
          options.name + ": " + std::to_string(state.open_connections) + " connections open already; refused one more");
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Connection>(state, std::move(socket))->Start();
    }
    Accept();
  });
}

void HttpServer::Impl::Run() {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {  // a bug in a completion handler: log it and keep serving
      LogError(options.name + ": " + e.what());
    }
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, HttpHandler handler) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& impl = *server->impl_;
  impl.options = std::move(options);
  impl.state.handler = std::move(handler);
  const std::string where = impl.options.address + ":" + std::to_string(impl.options.port);
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(impl.options.address, ec);
  if (ec) return Status::InvalidArgument(impl.options.name + ": '" + impl.options.address + "' is not an IP address");
  const tcp::endpoint endpoint(address, impl.options.port);
  impl.acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(endpoint, ec);
  if (!ec) impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError(impl.options.name + " cannot listen on " + where + ": " + ec.message());
  server->port_ = impl.acceptor.local_endpoint().port();
  impl.Accept();
  impl.thread = std::thread([&impl] { impl.Run(); });
  return server;
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->io.stop();  // returns after the running handler, if any; pending connections are dropped
  impl_->thread.join();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);  // the thread is gone: the port is free from here on
}

HttpServer::~HttpServer() {
  try {
    Stop();
  } catch (const std::exception& e) {  // joining can throw; a destructor must not
    LogError("HTTP endpoint: stopping failed: " + std::string(e.what()));
  }
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  auto invalid = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not ADDR:PORT or [IPV6]:PORT: " + why);
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid("no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return invalid("an IPv6 address goes in brackets");
  }
  beast::error_code ec;
  asio::ip::make_address(std::string(host), ec);
  if (host.empty() || ec) return invalid("'" + std::string(host) + "' is not an IP address");
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return invalid("the port is a number 0-65535");
  return ListenAddress{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace pacs::tools
