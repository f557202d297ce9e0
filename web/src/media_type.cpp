#include "pacs/web/media_type.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "pacs/web/http_common.h"

namespace pacs::web {

namespace {

constexpr size_t kMaxRanges = 64;

bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return IsTokenChar(c); });
}

// Splits at `separator` outside double quotes.
std::vector<std::string_view> SplitOutsideQuotes(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == separator && !quoted) {
      pieces.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  pieces.push_back(text.substr(start));
  return pieces;
}

Result<std::string> Unquote(std::string_view value) {
  if (value.empty() || value.front() != '"') return std::string(value);
  if (value.size() < 2 || value.back() != '"') return Status::InvalidArgument("unterminated quoted value");
  std::string out;
  for (size_t i = 1; i + 1 < value.size(); ++i) {
    if (value[i] == '\\' && i + 2 < value.size()) ++i;
    out.push_back(value[i]);
  }
  return out;
}

Result<double> ParseQ(std::string_view text) {
  // 0, 1, 0.x up to three decimals, 1.000 (RFC 9110 12.4.2).
  if (text.empty() || text.size() > 5 || (text[0] != '0' && text[0] != '1'))
    return Status::InvalidArgument("bad weight q=" + std::string(text));
  if (text.size() > 1 && (text[1] != '.' || text.size() < 3))
    return Status::InvalidArgument("bad weight q=" + std::string(text));
  for (size_t i = 2; i < text.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(text[i])) == 0)
      return Status::InvalidArgument("bad weight q=" + std::string(text));
  const double q = std::strtod(std::string(text).c_str(), nullptr);
  if (q > 1.0) return Status::InvalidArgument("bad weight q=" + std::string(text));
  return q;
}

Result<MediaType> ParseOne(std::string_view text, bool accept) {
  const std::vector<std::string_view> pieces = SplitOutsideQuotes(text, ';');
  const std::string_view essence = TrimSpaces(pieces[0]);
  const size_t slash = essence.find('/');
  if (slash == std::string_view::npos)
    return Status::InvalidArgument("media type '" + std::string(essence.substr(0, 100)) + "' has no '/'");
  MediaType media;
  media.type = ToLower(TrimSpaces(essence.substr(0, slash)));
  media.subtype = ToLower(TrimSpaces(essence.substr(slash + 1)));
  if (!IsToken(media.type) || !IsToken(media.subtype))
    return Status::InvalidArgument("media type '" + std::string(essence.substr(0, 100)) + "' is not type/subtype");
  if (media.type == "*" && media.subtype != "*")
    return Status::InvalidArgument("media range '" + std::string(essence.substr(0, 100)) + "' is not valid");
  for (size_t i = 1; i < pieces.size(); ++i) {
    const std::string_view param = TrimSpaces(pieces[i]);
    if (param.empty()) continue;
    const size_t equals = param.find('=');
    if (equals == std::string_view::npos)
      return Status::InvalidArgument("parameter '" + std::string(param.substr(0, 100)) + "' has no '='");
    const std::string name = ToLower(TrimSpaces(param.substr(0, equals)));
    if (!IsToken(name)) return Status::InvalidArgument("bad parameter name '" + name.substr(0, 100) + "'");
    auto value = Unquote(TrimSpaces(param.substr(equals + 1)));
    if (!value.ok()) return value.status().WithContext("parameter " + name);
    if (accept && name == "q") {
      auto q = ParseQ(*value);
      if (!q.ok()) return q.status();
      media.q = *q;
      continue;
    }
    if (media.params.size() >= 32) return Status::InvalidArgument("more than 32 parameters");
    media.params.emplace_back(name, std::move(*value));
  }
  return media;
}

}  // namespace

std::string MediaType::Param(std::string_view name) const {
  for (const auto& [key, value] : params)
    if (key == name) return value;
  return "";
}

bool MediaType::HasParam(std::string_view name) const {
  return std::any_of(params.begin(), params.end(), [&](const auto& param) { return param.first == name; });
}

bool MediaType::Covers(std::string_view essence) const {
  const size_t slash = essence.find('/');
  if (slash == std::string_view::npos) return false;
  if (type == "*") return true;
  if (type != essence.substr(0, slash)) return false;
  return subtype == "*" || subtype == essence.substr(slash + 1);
}

Result<MediaType> ParseMediaType(std::string_view text) {
  if (text.size() > 4096) return Status::InvalidArgument("media type longer than 4096 bytes");
  return ParseOne(text, false);
}

Result<std::vector<MediaType>> ParseAccept(std::string_view text) {
  std::vector<MediaType> ranges;
  if (TrimSpaces(text).empty()) {
    ranges.push_back(MediaType{.type = "*", .subtype = "*"});
    return ranges;
  }
  if (text.size() > 16384) return Status::InvalidArgument("Accept header longer than 16384 bytes");
  for (std::string_view piece : SplitOutsideQuotes(text, ',')) {
    if (TrimSpaces(piece).empty()) continue;
    if (ranges.size() >= kMaxRanges) return Status::InvalidArgument("more than 64 media ranges in Accept");
    auto range = ParseOne(piece, true);
    if (!range.ok()) return range.status().WithContext("Accept");
    if (range->q > 0) ranges.push_back(std::move(*range));
  }
  std::stable_sort(ranges.begin(), ranges.end(), [](const MediaType& a, const MediaType& b) { return a.q > b.q; });
  return ranges;
}

}  // namespace pacs::web
