#include "json_config.h"

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>

namespace pacs::tools {
namespace {

using Json = nlohmann::json;

// One value of a flag as CLI11 takes it: text.
std::string FlagValue(const std::string& key, const Json& value, bool objects_allowed) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && objects_allowed) return value.dump();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number()) return value.dump();
  throw CLI::ConfigError("--config: \"" + key + "\" must be a string, a number, true/false or a list of them");
}

}  // namespace

std::vector<CLI::ConfigItem> JsonConfig::from_config(std::istream& input) const {
  if (section_ == nullptr)
    throw CLI::ConfigError("--config comes after the command it configures, e.g. pacscore serve --config FILE.json");
  const std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
  Json document;
  try {
    document = Json::parse(text);
  } catch (const Json::exception& e) {
    throw CLI::ConfigError(std::string("--config: not valid JSON: ") + e.what());
  }
  if (!document.is_object())
    throw CLI::ConfigError("--config: the file must hold one JSON object whose keys are flag names");

  std::vector<CLI::ConfigItem> items;
  for (const auto& [key, value] : document.items()) {
    const CLI::Option* option = section_->get_option_no_throw("--" + key);
    if (option == nullptr || !option->get_configurable())
      throw CLI::ConfigError("--config: \"" + key + "\" is not a flag of pacscore " + section_->get_name());
    CLI::ConfigItem item;
    item.parents = {section_->get_name()};
    item.name = key;
    const bool objects_allowed = std::find(object_keys_.begin(), object_keys_.end(), key) != object_keys_.end();
    if (value.is_array()) {
      for (const auto& element : value) item.inputs.push_back(FlagValue(key, element, objects_allowed));
    } else {
      item.inputs.push_back(FlagValue(key, value, objects_allowed));
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::string JsonConfig::to_config(const CLI::App* app, bool default_also, bool /*write_description*/,
                                  std::string /*prefix*/) const {
  Json out = Json::object();
  for (const CLI::Option* option : app->get_options()) {
    if (option->get_lnames().empty() || !option->get_configurable()) continue;
    if (option->count() == 0 && !default_also) continue;
    const std::string& name = option->get_lnames().front();
    if (option->get_expected_min() == 0) {  // a flag
      out[name] = option->count() > 0 && option->as<bool>();
    } else if (option->get_expected_max() > 1) {  // repeatable
      out[name] = option->count() > 0 ? option->results() : std::vector<std::string>{};
    } else if (option->count() > 0) {
      out[name] = option->results().back();
    } else if (!option->get_default_str().empty()) {
      out[name] = option->get_default_str();
    }
  }
  return out.dump(2);
}

}  // namespace pacs::tools
