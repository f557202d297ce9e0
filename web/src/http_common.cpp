#include "pacs/web/http_common.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace pacs::web {

namespace {

bool IsPort(std::string_view text) {
  return !text.empty() && text.size() <= 5 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string ToLower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view TrimSpaces(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

bool IsLoopbackHost(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view name = host.substr(1, close - 1);
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !IsPort(rest.substr(1)))) return false;
    return name == "::1";
  }
  const size_t colon = host.find(':');
  const std::string name = ToLower(host.substr(0, colon));
  if (colon != std::string_view::npos && !IsPort(host.substr(colon + 1))) return false;
  return name == "127.0.0.1" || name == "localhost";
}

bool IsLoopbackOrigin(std::string_view origin) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (ToLower(origin.substr(0, scheme.size())) != scheme) continue;
    const std::string_view rest = origin.substr(scheme.size());
    return rest.find('/') == std::string_view::npos && IsLoopbackHost(rest);
  }
  return false;
}

bool IsLoopbackAddress(std::string_view address) {
  if (address == "::1" || address == "localhost") return true;
  if (address.substr(0, 4) != "127.") return false;
  return std::all_of(address.begin(), address.end(), [](unsigned char c) { return std::isdigit(c) != 0 || c == '.'; });
}

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int high = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0)
        return Status::InvalidArgument("bad percent escape '" + std::string(text.substr(i, 3)) + "'");
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<QueryParams> ParseQueryString(std::string_view query) {
  QueryParams params;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view piece = query.substr(start, end - start);
    if (!piece.empty()) {
      const size_t equals = piece.find('=');
      auto name = PercentDecode(piece.substr(0, equals), true);
      if (!name.ok()) return name.status().WithContext("query parameter name");
      Result<std::string> value = std::string();
      if (equals != std::string_view::npos) value = PercentDecode(piece.substr(equals + 1), true);
      if (!value.ok()) return value.status().WithContext("query parameter " + *name);
      params.emplace_back(std::move(*name), std::move(*value));
    }
    start = end + 1;
  }
  return params;
}

Result<ParsedTarget> ParseTarget(std::string_view target) {
  ParsedTarget parsed;
  const size_t question = target.find('?');
  const std::string_view raw_path = target.substr(0, question);
  if (raw_path.empty() || raw_path.front() != '/')
    return Status::InvalidArgument("the request target '" + std::string(raw_path.substr(0, 200)) +
                                   "' is not an absolute path");
  // Segment by segment, so that an encoded slash cannot join two segments
  // into a ".." after decoding.
  size_t start = 1;
  std::string path;
  while (start <= raw_path.size()) {
    size_t end = raw_path.find('/', start);
    if (end == std::string_view::npos) end = raw_path.size();
    auto segment = PercentDecode(raw_path.substr(start, end - start), false);
    if (!segment.ok()) return segment.status().WithContext("request path");
    if (*segment == "." || *segment == "..")
      return Status::InvalidArgument("the request path has a '" + *segment + "' segment; refused");
    for (const unsigned char c : *segment) {
      if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
        return Status::InvalidArgument("the request path holds a control character, an encoded slash or a backslash");
    }
    path += "/" + *segment;
    if (!segment->empty()) parsed.segments.push_back(std::move(*segment));
    start = end + 1;
  }
  parsed.path = std::move(path);
  if (question != std::string_view::npos) {
    auto query = ParseQueryString(target.substr(question + 1));
    if (!query.ok()) return query.status();
    parsed.query = std::move(*query);
  }
  return parsed;
}

std::string JsonErrorBody(std::string_view message) {
  return nlohmann::json({{"error", std::string(message)}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool AcceptsGzip(std::string_view accept_encoding) {
  size_t start = 0;
  while (start < accept_encoding.size()) {
    size_t end = accept_encoding.find(',', start);
    if (end == std::string_view::npos) end = accept_encoding.size();
    const std::string_view item = TrimSpaces(accept_encoding.substr(start, end - start));
    start = end + 1;
    const size_t semi = item.find(';');
    const std::string coding = ToLower(TrimSpaces(item.substr(0, semi)));
    if (coding != "gzip" && coding != "*") continue;
    if (semi == std::string_view::npos) return true;
    const std::string params = ToLower(item.substr(semi + 1));
    const size_t q = params.find("q=");
    if (q == std::string::npos) return true;
    const std::string_view value = TrimSpaces(std::string_view(params).substr(q + 2));
    // q=0, q=0.0, q=0.000: refused; any other weight accepts.
    if (value.find_first_not_of("0.") != std::string_view::npos) return true;
  }
  return false;
}

Result<std::string> GzipCompress(std::string_view data, int level) {
  z_stream stream{};
  if (deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Status::Internal("zlib: deflateInit2 failed");
  std::string out;
  out.resize(deflateBound(&stream, static_cast<uLong>(data.size())) + 32);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int result = deflate(&stream, Z_FINISH);
  const size_t written = stream.total_out;
  deflateEnd(&stream);
  if (result != Z_STREAM_END) return Status::Internal("zlib: deflate did not finish (" + std::to_string(result) + ")");
  out.resize(written);
  return out;
}

Result<std::string> GzipDecompress(std::string_view data, size_t max_bytes) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) return Status::Internal("zlib: inflateInit2 failed");
  std::string out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  int result = Z_OK;
  char buffer[64 * 1024];
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&stream);
      return Status::InvalidArgument("gzip data inflates past " + std::to_string(max_bytes) + " bytes");
    }
    if (result == Z_BUF_ERROR && stream.avail_in == 0) break;
  }
  inflateEnd(&stream);
  if (result != Z_STREAM_END) return Status::InvalidArgument("not a complete gzip stream");
  return out;
}

}  // namespace pacs::web
