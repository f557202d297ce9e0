// File: http_common.h
// HTTP plumbing shared by every HTTP endpoint of pacscore: the admin endpoint
// and /metrics (tools/src/http_server.h) and DICOMweb (web_server.h). One
// place for request limits, Host/Origin checks, percent and query-string
// decoding, JSON error bodies and gzip, so the endpoints cannot drift apart.
//
//   auto query = ParseQueryString("limit=10&PatientName=SMI%2A");  // decoded pairs, in order
//   if (!IsLoopbackHost(request_host)) return JsonError(403, "...");
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::web {

// Bounds on what one client may make a server hold.
// The defaults are the admin endpoint's; the web server sets its own.
struct HttpLimits {
  uint32_t header_limit = 8 * 1024;  // request line and headers, bytes
  uint64_t body_limit = 64 * 1024;   // request body held in memory, bytes
  // From accepting a connection (or the end of the previous reply on a
  // keep-alive connection) to having read a whole request header.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds write_timeout = std::chrono::seconds(60);
  size_t max_connections = 32;  // open at once; more are closed on accept
};

// Host header values and Origins that name this machine over loopback:
// 127.0.0.1, localhost and [::1], with or without a port.
bool IsLoopbackHost(std::string_view host);
bool IsLoopbackOrigin(std::string_view origin);
// Whether an IP address (textual, no port) is a loopback address (127/8, ::1).
bool IsLoopbackAddress(std::string_view address);

// %XX decoding. `plus_is_space`: '+' means ' ' (query strings, not paths).
// InvalidArgument on a bad escape ("%G1", "%4") naming it.
Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);
// Percent-encodes everything outside RFC 3986's unreserved set.
std::string PercentEncode(std::string_view text);

// "a=1&b=x%20y&a=2" -> {{"a","1"},{"b","x y"},{"a","2"}}: names and values
// decoded, order and repeats kept, empty pieces skipped, "a" -> {"a",""}.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
Result<QueryParams> ParseQueryString(std::string_view query);

// A request target split into its decoded path and its query. Refuses
// (InvalidArgument) a path that is not absolute, holds a NUL or a control
// character, or has a "." or ".." segment, raw or percent-encoded (also
// %2F inside a segment, which could become one after decoding).
struct ParsedTarget {
  std::string path;                   // decoded
  std::vector<std::string> segments;  // decoded, the empty ones dropped
  QueryParams query;
};
Result<ParsedTarget> ParseTarget(std::string_view target);

// {"error": message} as compact JSON (invalid UTF-8 replaced): the body of
// every error reply.
std::string JsonErrorBody(std::string_view message);

// ASCII lower case, and trimming of spaces and tabs.
std::string ToLower(std::string_view text);
std::string_view TrimSpaces(std::string_view text);

// Whether an Accept-Encoding header allows gzip (gzip or *, q not 0).
bool AcceptsGzip(std::string_view accept_encoding);
// gzip (RFC 1952) of `data` with zlib; level 1-9.
Result<std::string> GzipCompress(std::string_view data, int level = 6);
// The inverse, for tests and clients; refuses output above `max_bytes`.
Result<std::string> GzipDecompress(std::string_view data, size_t max_bytes = size_t{1} << 30);

}  // namespace pacs::web
