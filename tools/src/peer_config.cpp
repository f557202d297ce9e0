#include "peer_config.h"

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace pacs::tools {
namespace {

using Json = nlohmann::json;

Result<dicom::PeerAddress> ParsePeerObject(const std::string& text) {
  Json object;
  try {
    object = Json::parse(text);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("--peer: not valid JSON: ") + e.what());
  }
  const std::string where = "--peer " + object.value("name", std::string("(no name)"));
  auto problem = [&where](const std::string& what) { return Status::InvalidArgument(where + ": " + what); };
  if (!object.is_object()) return problem("must be NAME=AET@HOST:PORT or an object");
  static const std::set<std::string> kKeys = {"name", "aet", "host", "port", "permissions", "tls", "max_associations"};
  for (const auto& [key, value] : object.items())
    if (!kKeys.contains(key))
      return problem("unknown key \"" + key + "\" (known: name, aet, host, port, permissions, tls, max_associations)");

  dicom::PeerAddress peer;
  auto text_of = [&](const char* key, std::string& out, bool required) -> Status {
    if (!object.contains(key)) return required ? problem(std::string("\"") + key + "\" is required") : Status::Ok();
    if (!object[key].is_string()) return problem(std::string("\"") + key + "\" must be a string");
    out = object[key].get<std::string>();
    return Status::Ok();
  };
  PACS_RETURN_IF_ERROR(text_of("name", peer.name, true));
  PACS_RETURN_IF_ERROR(text_of("aet", peer.ae_title, true));
  PACS_RETURN_IF_ERROR(text_of("host", peer.host, false));
  if (peer.name.empty()) return problem("\"name\" must not be empty");
  if (peer.ae_title.empty() || peer.ae_title.size() > 16) return problem("\"aet\" must be 1-16 characters");
  auto number_of = [&](const char* key, int64_t low, int64_t high, int64_t& out) -> Status {
    if (!object.contains(key)) return Status::Ok();
    if (!object[key].is_number_integer() || object[key].get<int64_t>() < low || object[key].get<int64_t>() > high)
      return problem(std::string("\"") + key + "\" must be an integer " + std::to_string(low) + "-" +
                     std::to_string(high));
    out = object[key].get<int64_t>();
    return Status::Ok();
  };
  int64_t port = 0, max_associations = 0;
  PACS_RETURN_IF_ERROR(number_of("port", 1, 65535, port));
  PACS_RETURN_IF_ERROR(number_of("max_associations", 0, 65535, max_associations));
  peer.port = static_cast<uint16_t>(port);
  peer.max_associations = static_cast<uint16_t>(max_associations);
  if (object.contains("tls")) {
    if (!object["tls"].is_boolean()) return problem("\"tls\" must be true or false");
    peer.tls = object["tls"].get<bool>();
  }
  if (object.contains("permissions")) {
    const Json& list = object["permissions"];
    std::vector<std::string> names;
    if (!list.is_array()) return problem(R"("permissions" must be a list such as ["find", "move"])");
    for (const Json& name : list) {
      if (!name.is_string()) return problem("\"permissions\" must be a list of names");
      names.push_back(name.get<std::string>());
    }
    auto permissions = dicom::ParsePermissions(names);
    if (!permissions.ok()) return problem(permissions.status().message());
    peer.permissions = *permissions;
  }
  return peer;
}

}  // namespace

Result<dicom::PeerAddress> ParsePeerEntry(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') return ParsePeerObject(std::string(text));
  return dicom::ParsePeer(text);
}

}  // namespace pacs::tools
