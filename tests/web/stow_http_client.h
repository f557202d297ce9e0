// File: stow_http_client.h
// A minimal blocking HTTP/1.1 client (Boost.Beast) for the STOW-RS and
// /rendered tests, and the multipart bodies they send.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pacs::testing {

struct HttpReply {
  int status = 0;                                   // 0: no answer (the error is in `error`)
  std::multimap<std::string, std::string> headers;  // names lower case
  std::string body;
  std::string error;
  std::string Header(const std::string& name) const;
};

struct HttpRequestSpec {
  std::string method = "GET";
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;  // send the body chunked (no Content-Length)
};

// One request on a new connection to 127.0.0.1:port; the whole reply.
HttpReply Http(int port, const HttpRequestSpec& request);

// A multipart/related body of `parts` (each: headers block lines without
// the final CRLF, bytes).
std::string MultipartBody(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& parts);
std::string ReadFileBytes(const std::filesystem::path& path);

}  // namespace pacs::testing
