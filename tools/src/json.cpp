#include "json.h"

#include <cstdio>

namespace pacs::tools {
namespace {

void Escape(std::string& out, const std::string& s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void Write(std::string& out, const JsonValue& value, bool pretty, int depth) {
  const std::string indent = pretty ? "\n" + std::string(2 * (depth + 1), ' ') : "";
  const std::string close = pretty ? "\n" + std::string(2 * depth, ' ') : "";
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>)
          out += "null";
        else if constexpr (std::is_same_v<T, bool>)
          out += x ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>)
          out += std::to_string(x);
        else if constexpr (std::is_same_v<T, std::string>)
          Escape(out, x);
        else if constexpr (std::is_same_v<T, JsonArray>) {
          out.push_back('[');
          for (size_t i = 0; i < x.size(); ++i) {
            if (i) out.push_back(',');
            out += indent;
            Write(out, x[i], pretty, depth + 1);
          }
          if (!x.empty()) out += close;
          out.push_back(']');
        } else {
          out.push_back('{');
          bool first = true;
          for (const auto& [k, v] : x) {
            if (!first) out.push_back(',');
            first = false;
            out += indent;
            Escape(out, k);
            out += pretty ? ": " : ":";
            Write(out, v, pretty, depth + 1);
          }
          if (!x.empty()) out += close;
          out.push_back('}');
        }
      },
      value.v);
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}
  Result<JsonValue> Document() {
    auto v = Value(0);
    if (!v.ok()) return v;
    Skip();
    if (pos_ != s_.size()) return Error("trailing characters");
    return v;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("JSON " + what + " at offset " + std::to_string(pos_));
  }
  void Skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  Result<std::string> String() {
    if (!Eat('"')) return Error("expected a string");
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return Error("bad \\u escape");
          unsigned code = std::stoul(std::string(s_.substr(pos_, 4)), nullptr, 16);
          pos_ += 4;
          if (code < 0x80)
            out.push_back(static_cast<char>(code));
          else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default:
          out.push_back(e);
      }
    }
    if (!Eat('"')) return Error("unterminated string");
    return out;
  }
  Result<JsonValue> Value(int depth) {
    if (depth > 64) return Error("nesting too deep");
    Skip();
    if (pos_ >= s_.size()) return Error("unexpected end");
    char c = s_[pos_];
    if (c == '"') {
      auto s = String();
      if (!s.ok()) return s.status();
      return JsonValue(std::move(*s));
    }
    if (c == '{') {
      ++pos_;
      JsonObject obj;
      if (Eat('}')) return JsonValue(std::move(obj));
      do {
        auto key = String();
        if (!key.ok()) return key.status();
        if (!Eat(':')) return Error("expected ':'");
        auto val = Value(depth + 1);
        if (!val.ok()) return val;
        obj[*key] = std::move(*val);
      } while (Eat(','));
      if (!Eat('}')) return Error("expected '}'");
      return JsonValue(std::move(obj));
    }
    if (c == '[') {
      ++pos_;
      JsonArray arr;
      if (Eat(']')) return JsonValue(std::move(arr));
      do {
        auto val = Value(depth + 1);
        if (!val.ok()) return val;
        arr.push_back(std::move(*val));
      } while (Eat(','));
      if (!Eat(']')) return Error("expected ']'");
      return JsonValue(std::move(arr));
    }
    if (s_.substr(pos_, 4) == "true") {
      pos_ += 4;
      return JsonValue(true);
    }
    if (s_.substr(pos_, 5) == "false") {
      pos_ += 5;
      return JsonValue(false);
    }
    if (s_.substr(pos_, 4) == "null") {
      pos_ += 4;
      return JsonValue();
    }
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                s_[pos_] == 'e' || s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-'))
      ++pos_;
    if (start == pos_) return Error("unexpected character");
    return JsonValue(static_cast<int64_t>(std::stod(std::string(s_.substr(start, pos_ - start)))));
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

const JsonValue* JsonValue::Get(const std::string& key) const {
  const auto* obj = object();
  if (!obj) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() ? nullptr : &it->second;
}

std::string JsonValue::GetString(const std::string& key) const {
  const JsonValue* v = Get(key);
  return v && v->string() ? *v->string() : std::string();
}

int64_t JsonValue::GetInt(const std::string& key, int64_t fallback) const {
  const JsonValue* v = Get(key);
  return v && v->integer() ? *v->integer() : fallback;
}

std::string ToJson(const JsonValue& value, bool pretty) {
  std::string out;
  Write(out, value, pretty, 0);
  return out;
}

Result<JsonValue> ParseJson(std::string_view text) {
  return Parser(text).Document();
}

}  // namespace pacs::tools
