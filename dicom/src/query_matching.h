// File: query_matching.h (private to pacs::dicom)
// PS3.4 C.2.2.2 attribute matching on UTF-8 values: universal, single value,
// wildcard (* ?), range (DA, TM, DT; open ranges), UID lists, and value lists.
// Person names match case-insensitively, per component group.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pacs::dicom::query {

enum class MatchKind { kUniversal, kSingle, kWildcard, kRange, kList };

// A compiled matching key. `vr` is the two-letter VR of the attribute.
class KeyMatcher {
 public:
  KeyMatcher(uint32_t tag, std::string vr, std::string value);

  uint32_t tag() const { return tag_; }
  const std::string& vr() const { return vr_; }
  MatchKind kind() const { return kind_; }
  bool universal() const { return kind_ == MatchKind::kUniversal; }
  // The query value as sent (UTF-8).
  const std::string& value() const { return value_; }
  // kSingle / kList: the alternatives (PN: normalised); kWildcard: the pattern.
  const std::vector<std::string>& alternatives() const { return alternatives_; }
  // kRange: bounds, empty when open.
  const std::string& lower() const { return lower_; }
  const std::string& upper() const { return upper_; }
  bool is_person_name() const { return vr_ == "PN"; }

  // True when the stored (UTF-8, possibly multi-valued) value matches.
  bool Matches(std::string_view stored) const;
  // The literal text every match starts with (for an index prefix scan);
  // for PN, normalised. Empty when the key cannot narrow a scan.
  std::string LiteralPrefix() const;

 private:
  bool MatchesOne(std::string_view stored_value) const;
  uint32_t tag_;
  std::string vr_;
  std::string value_;
  MatchKind kind_ = MatchKind::kUniversal;
  std::vector<std::string> alternatives_;
  std::string lower_, upper_;
};

// Glob match with '*' (any run) and '?' (one UTF-8 character).
bool WildcardMatch(std::string_view pattern, std::string_view text);
// DA/TM/DT range check; bounds may be empty (open). The upper bound covers
// every value that starts with it ("1200" includes 12:00:59).
bool InRange(std::string_view value, std::string_view lower, std::string_view upper);
// Removes the legacy separators ('.' in DA, ':' in TM) before comparing.
std::string NormalizeDateTime(std::string_view value);

}  // namespace pacs::dicom::query
