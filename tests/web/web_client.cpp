#include "web_client.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <optional>

namespace pacs::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}
}  // namespace

struct WebClient::Impl {
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

WebClient::WebClient(int port) : impl_(new Impl), port_(port) {}
WebClient::~WebClient() {
  delete impl_;
}

WebReply WebClient::Request(const std::string& method, const std::string& target,
                            const std::map<std::string, std::string>& headers, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    if (!impl_->stream) {
      impl_->stream.emplace(impl_->io);
      impl_->stream->expires_after(std::chrono::seconds(30));
      impl_->stream->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)), ec);
      if (ec) {
        impl_->stream.reset();
        return {};
      }
      impl_->buffer.clear();
      ++connections_;
    }
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    if (!body.empty() || method == "POST") request.prepare_payload();
    impl_->stream->expires_after(std::chrono::seconds(60));
    http::write(*impl_->stream, request, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 32);
    parser.skip(method == "HEAD");
    if (!ec) http::read(*impl_->stream, impl_->buffer, parser, ec);
    if (ec) {
      impl_->stream.reset();
      if (attempt == 0) continue;  // the server closed an idle keep-alive connection: once more
      return {};
    }
    WebReply reply;
    const auto& message = parser.get();
    reply.status = static_cast<int>(message.result_int());
    for (const auto& field : message)
      reply.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
    reply.body = message.body();
    if (!message.keep_alive()) impl_->stream.reset();
    return reply;
  }
  return {};
}

std::string RawExchange(int port, const std::string& bytes, int timeout_ms, const std::string& source) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  stream.socket().open(tcp::v4(), ec);
  if (!ec) stream.socket().bind(tcp::endpoint(asio::ip::make_address(source), 0), ec);
  if (ec) return "";
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (ec) return "";
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  asio::write(stream.socket(), asio::buffer(bytes), ec);
  std::string out;
  char buffer[4096];
  for (;;) {
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    const size_t n = stream.read_some(asio::buffer(buffer), ec);
    out.append(buffer, n);
    if (ec) break;
  }
  return out;
}

std::vector<Part> SplitMultipart(const std::string& content_type, const std::string& body, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error != nullptr) *error = why;
    return std::vector<Part>{};
  };
  const size_t at = Lower(content_type).find("boundary=");
  if (at == std::string::npos) return fail("no boundary in " + content_type);
  std::string boundary = content_type.substr(at + 9);
  boundary = boundary.substr(0, boundary.find(';'));
  if (!boundary.empty() && boundary.front() == '"') boundary = boundary.substr(1, boundary.size() - 2);
  const std::string delimiter = "--" + boundary;
  std::vector<Part> parts;
  size_t position = body.find(delimiter);
  if (position != 0) return fail("the body does not start with the boundary");
  for (;;) {
    position += delimiter.size();
    if (body.compare(position, 2, "--") == 0) break;  // closing delimiter
    if (body.compare(position, 2, "\r\n") != 0) return fail("no CRLF after a boundary");
    position += 2;
    const size_t headers_end = body.find("\r\n\r\n", position);
    if (headers_end == std::string::npos) return fail("part headers do not end");
    Part part;
    size_t line_start = position;
    while (line_start < headers_end) {
      size_t line_end = body.find("\r\n", line_start);
      if (line_end > headers_end) line_end = headers_end;
      const std::string line = body.substr(line_start, line_end - line_start);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        part.headers[Lower(line.substr(0, colon))] = value;
      }
      line_start = line_end + 2;
    }
    const size_t next = body.find("\r\n" + delimiter, headers_end + 4);
    if (next == std::string::npos) return fail("a part does not end with a boundary");
    part.body = body.substr(headers_end + 4, next - headers_end - 4);
    parts.push_back(std::move(part));
    position = next + 2;
  }
  return parts;
}

int WebPortOf(const std::string& data_dir) {
  std::ifstream in(data_dir + "/web.port");
  int port = 0;
  in >> port;
  return port;
}

}  // namespace pacs::testing
