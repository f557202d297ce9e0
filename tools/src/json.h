// File: json.h
// The small JSON subset the admin endpoint and `--json` outputs speak:
// objects, arrays, strings, integers, booleans, null.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::tools {

struct JsonValue;
using JsonObject = std::map<std::string, JsonValue>;
using JsonArray = std::vector<JsonValue>;

struct JsonValue {
  std::variant<std::nullptr_t, bool, int64_t, std::string, JsonArray, JsonObject> v = nullptr;

  JsonValue() = default;
  JsonValue(bool b) : v(b) {}                            // NOLINT
  JsonValue(int64_t i) : v(i) {}                         // NOLINT
  JsonValue(uint64_t i) : v(static_cast<int64_t>(i)) {}  // NOLINT
  JsonValue(int i) : v(static_cast<int64_t>(i)) {}       // NOLINT
  JsonValue(std::string s) : v(std::move(s)) {}          // NOLINT
  JsonValue(const char* s) : v(std::string(s)) {}        // NOLINT
  JsonValue(JsonArray a) : v(std::move(a)) {}            // NOLINT
  JsonValue(JsonObject o) : v(std::move(o)) {}           // NOLINT

  const JsonObject* object() const { return std::get_if<JsonObject>(&v); }
  const std::string* string() const { return std::get_if<std::string>(&v); }
  const int64_t* integer() const { return std::get_if<int64_t>(&v); }
  // Looks up a key of an object; null when absent or not an object.
  const JsonValue* Get(const std::string& key) const;
  std::string GetString(const std::string& key) const;
  int64_t GetInt(const std::string& key, int64_t fallback = 0) const;
};

std::string ToJson(const JsonValue& value, bool pretty = false);
Result<JsonValue> ParseJson(std::string_view text);

}  // namespace pacs::tools
