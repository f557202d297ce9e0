#include <algorithm>

#include "pacs/web/http.h"

namespace pacs::web {

std::string Request::Header(std::string_view name) const {
  const std::string lower = ToLower(name);
  for (const auto& [key, value] : headers)
    if (key == lower) return value;
  return "";
}

const std::string& Request::Param(const std::string& name) const {
  static const std::string kEmpty;
  const auto it = params.find(name);
  return it == params.end() ? kEmpty : it->second;
}

std::vector<std::string> Request::QueryValues(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : query)
    if (key == name) values.push_back(value);
  return values;
}

Response Response::Text(int status, std::string content_type, std::string body) {
  Response response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

Response Response::Json(int status, std::string json) {
  return Text(status, "application/json", std::move(json));
}

Response Response::Error(int status, std::string_view message) {
  return Text(status, "application/json", JsonErrorBody(message));
}

void Router::Add(std::string method, std::string_view pattern, Handler handler, RouteOptions options) {
  auto route = std::make_unique<Route>();
  route->method = std::move(method);
  route->pattern = std::string(pattern);
  size_t start = 1;
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    const std::string_view segment = pattern.substr(start, end - start);
    if (!segment.empty()) route->segments.emplace_back(segment);
    start = end + 1;
  }
  route->tail = !route->segments.empty() && route->segments.back().size() > 3 &&
                route->segments.back().ends_with("*}") && route->segments.back().front() == '{';
  route->handler = std::move(handler);
  route->options = options;
  routes_.push_back(std::move(route));
}

namespace {

bool MatchRoute(const Router::Route& route, const std::vector<std::string>& segments,
                std::map<std::string, std::string>& params) {
  const size_t fixed = route.tail ? route.segments.size() - 1 : route.segments.size();
  if (route.tail ? segments.size() < fixed : segments.size() != fixed) return false;
  std::map<std::string, std::string> captured;
  for (size_t i = 0; i < fixed; ++i) {
    const std::string& pattern = route.segments[i];
    if (pattern.size() >= 2 && pattern.front() == '{' && pattern.back() == '}') {
      captured[pattern.substr(1, pattern.size() - 2)] = segments[i];
    } else if (pattern != segments[i]) {
      return false;
    }
  }
  if (route.tail) {
    std::string rest;
    for (size_t i = fixed; i < segments.size(); ++i) rest += (rest.empty() ? "" : "/") + segments[i];
    const std::string& pattern = route.segments.back();
    captured[pattern.substr(1, pattern.size() - 3)] = rest;
  }
  params = std::move(captured);
  return true;
}

}  // namespace

Router::Match Router::Find(std::string_view method, const std::vector<std::string>& segments) const {
  const std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
  Match match;
  for (const bool tail_pass : {false, true}) {
    for (const auto& route : routes_) {
      if (route->tail != tail_pass) continue;
      std::map<std::string, std::string> params;
      if (!MatchRoute(*route, segments, params)) continue;
      if (route->method == wanted) {
        if (match.route == nullptr) {
          match.route = route.get();
          match.params = std::move(params);
        }
      } else if (std::find(match.allowed_methods.begin(), match.allowed_methods.end(), route->method) ==
                 match.allowed_methods.end()) {
        match.allowed_methods.push_back(route->method);
      }
    }
    if (match.route != nullptr) break;
  }
  return match;
}

}  // namespace pacs::web
