#include "admin_http.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "pacs/base/log.h"

namespace pacs::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Result<std::unique_ptr<AdminServer>> AdminServer::Start(uint16_t port, AdminHandler handler) {
  HttpServerOptions options;
  options.name = "admin endpoint";
  options.address = "127.0.0.1";
  options.port = port;
  options.body_limit = uint64_t{16} * 1024 * 1024;
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  if (!server.ok()) return server.status();
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(*server)));
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
