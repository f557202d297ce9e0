#include "query_matching.h"

#include <algorithm>

#include "index_records.h"

namespace pacs::dicom::query {
namespace {

bool IsDateTimeVr(const std::string& vr) {
  return vr == "DA" || vr == "TM" || vr == "DT";
}

bool HasWildcard(std::string_view s) {
  return s.find_first_of("*?") != std::string_view::npos;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

size_t Utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

// A PN pattern without '=' is matched against each component group; with
// '=' against the whole value. Both sides are normalised the same way.
std::string NormalizeWholeName(std::string_view value) {
  std::string out;
  for (auto group : Split(value, '=')) {
    out += index::NormalizeNameGroup(group);
    out.push_back('=');
  }
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

}  // namespace

bool WildcardMatch(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star = std::string_view::npos, resume = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      resume = ti;
    } else if (pi < p.size() && p[pi] == '?') {
      ++pi;
      ti += Utf8Length(static_cast<unsigned char>(t[ti]));
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi;
      ++ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      resume += Utf8Length(static_cast<unsigned char>(t[resume]));
      ti = resume;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size() && ti == t.size();
}

std::string NormalizeDateTime(std::string_view value) {
  value = Trim(value);
  // Legacy DA "YYYY.MM.DD"; a '.' elsewhere is a TM/DT fraction and stays.
  const bool legacy_date = value.size() == 10 && value[4] == '.' && value[7] == '.';
  std::string out;
  for (char c : value)
    if (c != ':' && !(legacy_date && c == '.')) out.push_back(c);
  return out;
}

bool InRange(std::string_view value, std::string_view lower, std::string_view upper) {
  if (value.empty()) return false;
  if (!lower.empty() && value < lower) return false;
  if (!upper.empty() && value.substr(0, std::min(value.size(), upper.size())) > upper) return false;
  return true;
}

KeyMatcher::KeyMatcher(uint32_t tag, std::string vr, std::string value)
    : tag_(tag), vr_(std::move(vr)), value_(std::move(value)) {
  std::string_view v = Trim(value_);
  if (v.empty() || (v == "*" && vr_ != "UI")) return;  // universal
  if (IsDateTimeVr(vr_)) {
    const size_t dash = v.find('-');
    // DT values may carry a UTC offset ("+0100" / "-0500") after 14+ digits;
    // a dash at position >= 14 of a single DT value is such an offset.
    if (dash != std::string_view::npos &&
        !(vr_ == "DT" && dash >= 14 && v.find('-', dash + 1) == std::string_view::npos && v.size() - dash == 5)) {
      kind_ = MatchKind::kRange;
      lower_ = NormalizeDateTime(v.substr(0, dash));
      upper_ = NormalizeDateTime(v.substr(dash + 1));
      return;
    }
    kind_ = MatchKind::kRange;  // a single date or time: [v, v], truncation semantics
    lower_ = upper_ = NormalizeDateTime(v);
    return;
  }
  if (vr_ == "UI") {
    kind_ = MatchKind::kList;
    for (auto uid : Split(v, '\\'))
      if (!Trim(uid).empty()) alternatives_.emplace_back(Trim(uid));
    if (alternatives_.size() == 1) kind_ = MatchKind::kSingle;
    return;
  }
  const auto parts = Split(v, '\\');
  for (auto part : parts) {
    part = Trim(part);
    std::string alt = is_person_name()
                          ? (part.find('=') != std::basic_string_view<char>::npos ? NormalizeWholeName(part)
                                                                                  : index::NormalizeNameGroup(part))
                          : std::string(part);
    alternatives_.push_back(std::move(alt));
  }
  if (parts.size() > 1)
    kind_ = MatchKind::kList;
  else
    kind_ = HasWildcard(alternatives_[0]) ? MatchKind::kWildcard : MatchKind::kSingle;
}

bool KeyMatcher::MatchesOne(std::string_view stored) const {
  stored = Trim(stored);
  if (kind_ == MatchKind::kRange) {
    const std::string normalized = NormalizeDateTime(stored);
    if (lower_ == upper_)  // single value: the stored value lies within what it denotes
      return !normalized.empty() && normalized.substr(0, std::min(normalized.size(), lower_.size())) == lower_;
    return InRange(normalized, lower_, upper_);
  }
  auto match = [&](const std::string& alt, std::string_view text) {
    return HasWildcard(alt) ? WildcardMatch(alt, text) : alt == text;
  };
  if (is_person_name()) {
    for (const auto& alt : alternatives_) {
      if (alt.find('=') != std::string::npos) {
        if (match(alt, NormalizeWholeName(stored))) return true;
        continue;
      }
      for (auto group : Split(stored, '='))
        if (match(alt, index::NormalizeNameGroup(group))) return true;
    }
    return false;
  }
  return std::ranges::any_of(alternatives_, [&](const auto& alt) { return match(alt, stored); });
}

bool KeyMatcher::Matches(std::string_view stored) const {
  if (kind_ == MatchKind::kUniversal) return true;
  if (MatchesOne(stored)) return true;
  // A multi-valued attribute matches when one of its values does.
  if (stored.find('\\') == std::string_view::npos) return false;
  return std::ranges::any_of(Split(stored, '\\'), [this](auto one) { return MatchesOne(one); });
}

std::string KeyMatcher::LiteralPrefix() const {
  if (kind_ == MatchKind::kSingle) return alternatives_[0];
  if (kind_ == MatchKind::kWildcard) {
    const std::string& p = alternatives_[0];
    return p.substr(0, p.find_first_of("*?"));
  }
  return {};
}

}  // namespace pacs::dicom::query
