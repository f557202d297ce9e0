// File: http.h
// What DICOMweb handlers see: a Request (decoded path, path parameters,
// query, headers, body in memory or spilled to a file, the caller's token),
// a Response (status, headers, and a body that is a string, a file, or a
// stream of pieces produced one at a time) and the Router that maps
// method + path pattern to a handler. The server (web_server.h) reads,
// checks (limits, traversal, token and role, CORS) and writes; handlers run
// on its worker threads, several at once, and must be thread-safe.
//
// Adding a route (see dicomweb.cpp for the DICOMweb ones):
//
//   router.Add("GET", "/dicom-web/studies/{study}/thumbnail",
//              [&](const Request& request) {
//                const std::string& study = request.Param("study");  // one decoded segment
//                if (study.empty()) return Response::Error(400, "no study");
//                return Response::Text(200, "image/jpeg", Thumbnail(study));
//              },
//              {.role = TokenRole::kRead});
//
//   - `{name}` captures one path segment, `{name*}` the rest of the path
//     (only as the last segment; such routes are tried after all others).
//   - RouteOptions::role: the token role the caller needs when the server
//     has a token file (read for GET, write for STOW, ...).
//   - RouteOptions::body: kInMemory (up to body_limit bytes, in
//     Request::body) or kSpillFile (up to the server's max_body, streamed to
//     a file whose path is Request::body_file, removed after the response).
//   - Return Response::Error(status, message) for any refusal: the body is
//     {"error": message}. Never throw for bad input (an exception is logged
//     and answered 500, but it is a bug).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/base/token_file.h"
#include "pacs/web/http_common.h"

namespace pacs::web {

// Header fields, names in lower case, in the order received / to send.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;                         // "GET", "POST", ... (HEAD is routed as GET)
  std::string target;                         // as received: "/dicom-web/studies?limit=1"
  std::string path;                           // decoded, without the query
  QueryParams query;                          // decoded, in order, repeats kept
  Headers headers;                            // names in lower case
  std::map<std::string, std::string> params;  // captured path segments, decoded
  std::string body;                           // RouteOptions::BodyMode::kInMemory
  std::string body_file;  // RouteOptions::BodyMode::kSpillFile: the body's file ("" when there was none)
  uint64_t body_size = 0;
  std::string peer;                   // "127.0.0.1:54321"
  const TokenEntry* token = nullptr;  // the caller's token; null when the server has no token file

  // The first header of that name (any case), or "".
  std::string Header(std::string_view name) const;
  // A captured path parameter, or "".
  const std::string& Param(const std::string& name) const;
  // Every value of a query parameter, in order.
  std::vector<std::string> QueryValues(std::string_view name) const;
};

// One piece of a streamed body at a time; an empty string ends the body.
// An error ends it too: the connection is closed without the final chunk, so
// the client sees a truncated reply rather than a wrong one.
using BodyStream = std::function<Result<std::string>()>;

struct Response {
  int status = 200;
  std::string content_type;  // "" for none
  Headers headers;           // extra ones (Content-Encoding, Vary, Cache-Control, ...)
  std::string body;          // the body, unless one of the two below is set
  std::string file_path;     // a file to send as the body (static files)
  BodyStream stream;         // a body produced piece by piece (chunked transfer coding)
  bool close = false;        // close the connection after this reply

  static Response Text(int status, std::string content_type, std::string body);
  static Response Json(int status, std::string json);  // application/json
  // {"error": message}; application/json.
  static Response Error(int status, std::string_view message);
  Response& With(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using Handler = std::function<Response(const Request& request)>;

struct RouteOptions {
  TokenRole role = TokenRole::kRead;
  // False only for what holds no patient data and must load before a
  // client can present a token (the viewer's static files).
  bool needs_token = true;
  enum class BodyMode { kInMemory, kSpillFile } body = BodyMode::kInMemory;
  uint64_t body_limit = 64 * 1024;  // kInMemory only
};

// Built before the server starts, then read by its threads (immutable once
// handed to WebServer::Start).
class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}", "{name*}" or literal
    bool tail = false;                  // ends with {name*}
    Handler handler;
    RouteOptions options;
  };
  struct Match {
    const Route* route = nullptr;  // null: no route for this method and path
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // when the path matched under other methods
  };

  // Adds a route; patterns are absolute ("/dicom-web/studies/{study}").
  // HEAD requests go to the GET route of the path.
  void Add(std::string method, std::string_view pattern, Handler handler, RouteOptions options = {});
  // Looks up decoded path segments (ParsedTarget::segments).
  Match Find(std::string_view method, const std::vector<std::string>& segments) const;
  size_t size() const { return routes_.size(); }

 private:
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace pacs::web
