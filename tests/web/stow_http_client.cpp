#include "stow_http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <iterator>

namespace pacs::testing {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::string HttpReply::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

HttpReply Http(int port, const HttpRequestSpec& spec) {
  HttpReply reply;
  try {
    boost::asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    http::request<http::string_body> request(http::string_to_verb(spec.method), spec.target, 11);
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : spec.headers) request.set(name, value);
    request.body() = spec.body;
    if (spec.chunked)
      request.chunked(true);
    else if (spec.method != "GET" || !spec.body.empty())
      request.prepare_payload();
    beast::error_code write_error;
    http::write(socket, request, write_error);  // the server may answer (413) and close before reading it all
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    beast::error_code read_error;
    http::read(socket, buffer, parser, read_error);
    if (read_error) {
      reply.error = "read: " + read_error.message() + (write_error ? "; write: " + write_error.message() : "");
      return reply;
    }
    const auto& response = parser.get();
    reply.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers.emplace(name, std::string(field.value()));
    }
    reply.body = response.body();
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  } catch (const std::exception& e) {
    reply.error = e.what();
  }
  return reply;
}

std::string MultipartBody(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& parts) {
  std::string body;
  for (const auto& [headers, bytes] : parts) {
    body += "--" + boundary + "\r\n";
    if (!headers.empty()) body += headers + "\r\n";
    body += "\r\n";
    body += bytes;
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace pacs::testing
