#include "admin_http.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "pacs/base/log.h"

namespace pacs::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct AdminServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  AdminHandler handler;
  std::atomic<bool> stopping{false};
  std::thread thread;

  void Serve() {
    while (!stopping) {
      tcp::socket socket(io);
      boost::system::error_code ec;
      acceptor.accept(socket, ec);
      if (stopping) break;
      if (ec) continue;
      beast::flat_buffer buffer;
      http::request_parser<http::string_body> parser;
      parser.body_limit(uint64_t{16} * 1024 * 1024);
      http::read(socket, buffer, parser, ec);
      if (ec) continue;
      const auto& req = parser.get();
      HttpReply reply;
      try {
        reply = handler(std::string(req.method_string()), std::string(req.target()), req.body());
      } catch (const std::exception& e) {
        reply = {500, nlohmann::json{{"error", "internal error"}}.dump()};
        LogError(std::string("admin endpoint: ") + e.what());
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
      res.set(http::field::content_type, "application/json");
      res.keep_alive(false);
      res.body() = std::move(reply.body);
      res.prepare_payload();
      http::write(socket, res, ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }
};

Result<std::unique_ptr<AdminServer>> AdminServer::Start(uint16_t port, AdminHandler handler) {
  std::unique_ptr<AdminServer> server(new AdminServer());
  server->impl_ = std::make_unique<Impl>();
  auto& impl = *server->impl_;
  impl.handler = std::move(handler);
  boost::system::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  impl.acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(endpoint, ec);
  if (!ec) impl.acceptor.listen(16, ec);
  if (ec)
    return Status::IOError("admin endpoint cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
  server->port_ = impl.acceptor.local_endpoint().port();
  impl.thread = std::thread([&impl] { impl.Serve(); });
  return server;
}

void AdminServer::Stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  // Wake the blocking accept() with a connection of our own.
  boost::system::error_code ec;
  asio::io_context io;
  tcp::socket wake(io);
  wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->acceptor.close(ec);
}

AdminServer::~AdminServer() {
  try {
    Stop();
  } catch (const std::exception& e) {  // joining the thread can throw; a destructor must not
    LogError(std::string("admin endpoint: stopping failed: ") + e.what());
  }
}

Result<HttpReply> AdminRequest(uint16_t port, const std::string& method, const std::string& target,
                               const std::string& body, int timeout_seconds) {
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(timeout_seconds));
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(uint64_t{256} * 1024 * 1024);
    http::read(stream, buffer, parser);
    return HttpReply{static_cast<int>(parser.get().result_int()), parser.get().body()};
  } catch (const boost::system::system_error& e) {
    return Status::IOError("admin endpoint on 127.0.0.1:" + std::to_string(port) + ": " + e.code().message());
  }
}

}  // namespace pacs::tools
