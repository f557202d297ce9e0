#include "http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <thread>

#include "pacs/base/log.h"
#include "pacs/base/mutex.h"

namespace pacs::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

namespace {

// What the connections share. The io thread accepts, reads and writes; each
// complete request is handed to a thread of its own (RunHandler), whose reply
// goes back to the io thread to be written.
struct ServerState {
  HttpServerOptions options;
  HttpRequestHandler handler;
  std::atomic<size_t> open_connections{0};  // changed by whichever thread drops a connection last

  Mutex mutex;
  CondVar handlers_done;
  size_t running_handlers GUARDED_BY(mutex) = 0;

  HttpReply Call(const HttpRequest& request) const {
    try {
      return handler(request);
    } catch (const std::exception& e) {
      LogError(options.name + ": " + request.method + " " + request.target + " failed: " + e.what());
      return {500, web::JsonErrorBody("internal error")};
    }
  }

  // Runs the handler on a new thread and gives `done` its reply there.
  // Stop() waits for every such thread before the state goes away.
  void RunHandler(HttpRequest request, std::function<void(HttpReply)> done) {
    {
      MutexLock lock(mutex);
      ++running_handlers;
    }
    try {
      std::thread([this, request = std::move(request), done = std::move(done)]() mutable {
        HttpReply reply = Call(request);
        done(std::move(reply));
        done = nullptr;  // drops the connection reference here, before Stop() may free the state
        MutexLock lock(mutex);
        --running_handlers;
        handlers_done.SignalAll();
      }).detach();
    } catch (const std::system_error& e) {  // no thread to be had: answer 503 at once
      {
        MutexLock lock(mutex);
        --running_handlers;
        handlers_done.SignalAll();
      }
      LogWarning(options.name + ": no thread for a request (" + e.what() + "); answered 503");
      done({503, web::JsonErrorBody("server busy")});
    }
  }
};

HttpPeer PeerOf(tcp::socket& socket) {
  HttpPeer peer;
  beast::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return peer;
  const std::string address = remote.address().to_string();
  peer.address = (remote.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(remote.port());
  return peer;
}

HttpPeer PeerOf(local::socket& socket) {
  HttpPeer peer;
  peer.unix_socket = true;
  peer.address = "unix socket";
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) {
    peer.uid = credentials.uid;
    peer.gid = credentials.gid;
    peer.pid = credentials.pid;
  }
  return peer;
}

// One connection: read one request (bounded in time and size), have it
// answered on a handler thread, write the reply, close. Owned by the
// asynchronous operations and the handler thread that refer to it.
template <class Protocol>
class Connection : public std::enable_shared_from_this<Connection<Protocol>> {
 public:
  Connection(ServerState& server, typename Protocol::socket socket, HttpPeer peer)
      : server_(server), peer_(std::move(peer)), stream_(std::move(socket)) {
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
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
      const int status = ec == http::error::header_limit ? 431 : 413;
      LogWarning(server_.options.name + ": request from " + peer_.address + " refused with " + std::to_string(status) +
                 " (" + ec.message() + ")");
      Send({status, "request too large for the " + server_.options.name + "\n", "text/plain; charset=utf-8"}, 11);
      return;
    }
    if (ec) {
      // A timeout, a client that hung up, or bytes that are not HTTP: nothing to answer.
      Log(LogLevel::kDebug, server_.options.name + ": request from " + peer_.address + " not read (" + ec.message() +
                                "), connection closed");
      return;
    }
    const auto& message = parser_.get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.body = message.body();
    request.host = std::string(message[http::field::host]);
    request.has_origin = message.find(http::field::origin) != message.end();
    request.origin = std::string(message[http::field::origin]);
    request.content_type = std::string(message[http::field::content_type]);
    request.authorization = std::string(message[http::field::authorization]);
    request.peer = peer_;
    const unsigned version = message.version();
    server_.RunHandler(std::move(request), [self = this->shared_from_this(), version](HttpReply reply) mutable {
      // Back on the io thread to write; if the server is stopping, the
      // posted write is dropped with the io_context, and the connection with it.
      auto executor = self->stream_.get_executor();
      asio::post(executor, [self = std::move(self), reply = std::move(reply), version]() mutable {
        self->Send(std::move(reply), version);
      });
    });
  }

  void Send(HttpReply reply, unsigned version) {
    response_.result(static_cast<http::status>(reply.status));
    response_.version(version);
    response_.set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) response_.set(name, value);
    response_.body() = std::move(reply.body);
    response_.keep_alive(false);
    response_.prepare_payload();
    stream_.expires_after(server_.options.write_timeout);
    http::async_write(stream_, response_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      beast::error_code ignored;
      if (!ec) self->stream_.socket().shutdown(Protocol::socket::shutdown_send, ignored);
    });
  }

  ServerState& server_;
  const HttpPeer peer_;
  beast::basic_stream<Protocol> stream_;
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
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<local::acceptor> unix_acceptor;
  asio::steady_timer accept_retry{io};
  std::thread thread;
  // The Unix socket file this server created, removed by Stop() if it is still that file.
  dev_t socket_device = 0;
  ino_t socket_inode = 0;

  template <class Protocol>
  void Accept(typename Protocol::acceptor& acceptor);
  Status ListenTcp();
  Status ListenUnix();
  void Run();
};

template <class Protocol>
void HttpServer::Impl::Accept(typename Protocol::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](beast::error_code ec, typename Protocol::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;  // stopping
    if (ec) {
      // Out of file descriptors, say: try again shortly instead of spinning.
      Log(LogLevel::kWarning, options.name + ": accept failed (" + ec.message() + "), retrying in 100 ms");
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this, &acceptor](beast::error_code wait_ec) {
        if (!wait_ec) Accept<Protocol>(acceptor);
      });
      return;
    }
    HttpPeer peer = PeerOf(socket);
    if (state.open_connections >= options.max_connections) {
      Log(LogLevel::kWarning, options.name + ": " + std::to_string(state.open_connections.load()) +
                                  " connections open already; refused one more from " + peer.address);
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Connection<Protocol>>(state, std::move(socket), std::move(peer))->Start();
    }
    Accept<Protocol>(acceptor);
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

Status HttpServer::Impl::ListenTcp() {
  const std::string where = options.address + ":" + std::to_string(options.port);
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) return Status::InvalidArgument(options.name + ": '" + options.address + "' is not an IP address");
  const tcp::endpoint endpoint(address, options.port);
  tcp_acceptor.emplace(io);
  tcp_acceptor->open(endpoint.protocol(), ec);
  if (!ec) tcp_acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) tcp_acceptor->bind(endpoint, ec);
  if (!ec) tcp_acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError(options.name + " cannot listen on " + where + ": " + ec.message());
  return Status::Ok();
}

Status HttpServer::Impl::ListenUnix() {
  const std::string& path = options.unix_socket_path;
  const std::string what = options.name + " socket " + path;
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    return Status::InvalidArgument(what + ": the path has " + std::to_string(path.size()) + " bytes, more than the " +
                                   std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                                   " a Unix socket allows; use a shorter data folder path");
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::AlreadyExists(what + " exists and is not a socket; left alone. Remove it if nothing needs it");
    // A server answers there, or a stale socket is left from one that died.
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int connected = probe < 0 ? -1 : connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address);
    const int error = errno;
    if (probe >= 0) close(probe);
    if (connected == 0 || error == EAGAIN) return Status::Busy(what + ": another server answers there; stop it first");
    if (error != ECONNREFUSED && error != ENOENT)
      return Status::IOError(what + " exists and cannot be checked (" + std::strerror(error) + "); left alone");
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::IOError(what + ": cannot remove the stale socket: " + std::strerror(errno));
    LogInfo(options.name + ": removed the stale socket " + path + " (no server answered there)");
  }
  beast::error_code ec;
  unix_acceptor.emplace(io);
  unix_acceptor->open(local(), ec);
  if (!ec) unix_acceptor->bind(local::endpoint(path), ec);
  if (ec) return Status::IOError(options.name + " cannot listen on " + path + ": " + ec.message());
  // Owner only before it accepts anything: connecting to a socket that is
  // bound but not listening is refused, so nobody slips in before the chmod.
  if (chmod(path.c_str(), 0600) != 0 || lstat(path.c_str(), &st) != 0) {
    const std::string reason = std::strerror(errno);
    unlink(path.c_str());
    return Status::IOError(what + ": cannot make it mode 0600: " + reason + "; removed");
  }
  socket_device = st.st_dev;
  socket_inode = st.st_ino;
  unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    unlink(path.c_str());
    return Status::IOError(options.name + " cannot listen on " + path + ": " + ec.message());
  }
  return Status::Ok();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, HttpRequestHandler handler) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& impl = *server->impl_;
  impl.options = std::move(options);
  impl.state.handler = std::move(handler);
  if (impl.options.unix_socket_path.empty()) {
    PACS_RETURN_IF_ERROR(impl.ListenTcp());
    server->port_ = impl.tcp_acceptor->local_endpoint().port();
    impl.Accept<tcp>(*impl.tcp_acceptor);
  } else {
    PACS_RETURN_IF_ERROR(impl.ListenUnix());
    impl.Accept<local>(*impl.unix_acceptor);
  }
  impl.thread = std::thread([&impl] { impl.Run(); });
  return server;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, HttpHandler handler) {
  return Start(std::move(options), [handler = std::move(handler)](const HttpRequest& request) {
    return handler(request.method, request.target, request.body);
  });
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->io.stop();  // at once: handlers run elsewhere, idle connections hold nothing
  impl_->thread.join();
  {
    MutexLock lock(impl_->state.mutex);
    if (impl_->state.running_handlers > 0)
      LogInfo(impl_->options.name + ": waiting for " + std::to_string(impl_->state.running_handlers) +
              " running requests to finish");
    while (impl_->state.running_handlers > 0) impl_->state.handlers_done.Wait(impl_->state.mutex);
  }
  beast::error_code ignored;
  if (impl_->tcp_acceptor) impl_->tcp_acceptor->close(ignored);  // the port is free from here on
  if (impl_->unix_acceptor) {
    impl_->unix_acceptor->close(ignored);
    struct stat st {};
    const std::string& path = impl_->options.unix_socket_path;
    if (lstat(path.c_str(), &st) == 0 && st.st_dev == impl_->socket_device && st.st_ino == impl_->socket_inode)
      unlink(path.c_str());
  }
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
