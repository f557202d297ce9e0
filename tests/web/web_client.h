// File: web_client.h
// A small HTTP/1.1 client for the DICOMweb tests (Boost.Beast, blocking,
// one keep-alive connection), raw socket writes for malformed requests, and
// a multipart/related splitter written from RFC 2046 independently of the
// server's writer.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace pacs::testing {

struct WebReply {
  int status = 0;                              // 0: no reply (connection failed or closed)
  std::map<std::string, std::string> headers;  // names in lower case (last one wins)
  std::string body;                            // as received (still gzip-compressed if so)
  std::string Header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class WebClient {
 public:
  explicit WebClient(int port);
  ~WebClient();
  WebClient(const WebClient&) = delete;
  WebClient& operator=(const WebClient&) = delete;

  // One request on the client's connection (reconnecting when the server
  // closed it). Host is 127.0.0.1:PORT unless `headers` sets one.
  WebReply Request(const std::string& method, const std::string& target,
                   const std::map<std::string, std::string>& headers = {}, const std::string& body = "");
  WebReply Get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return Request("GET", target, headers);
  }
  int connections_opened() const { return connections_; }

 private:
  struct Impl;
  Impl* impl_;
  int port_;
  int connections_ = 0;
};

// Sends `bytes` on a new connection from `source` (a 127.0.0.x address),
// reads until the server closes it (or `timeout_ms`), returns what came back.
std::string RawExchange(int port, const std::string& bytes, int timeout_ms = 5000,
                        const std::string& source = "127.0.0.1");

struct Part {
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};
// Splits a multipart body; the boundary comes from `content_type`. Empty on
// a malformed body (and `error` says why).
std::vector<Part> SplitMultipart(const std::string& content_type, const std::string& body,
                                 std::string* error = nullptr);

// The port `serve --web-port 0` published in DATA/web.port, or 0.
int WebPortOf(const std::string& data_dir);

}  // namespace pacs::testing
