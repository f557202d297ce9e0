#include "query_planner.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace pacs::dicom::query {
namespace {

using index::Level;
using index::Tag;

constexpr uint32_t kRetrieveAeTitle = Tag(0x0008, 0x0054);
constexpr uint32_t kInstanceAvailability = Tag(0x0008, 0x0056);
constexpr uint32_t kStudyDate = Tag(0x0008, 0x0020);
constexpr uint32_t kAccessionNumber = Tag(0x0008, 0x0050);
constexpr uint32_t kModalitiesInStudy = Tag(0x0008, 0x0061);
constexpr uint32_t kPatientName = Tag(0x0010, 0x0010);
constexpr uint32_t kPatientId = Tag(0x0010, 0x0020);
constexpr uint32_t kStudyInstanceUid = Tag(0x0020, 0x000D);
constexpr uint32_t kSeriesInstanceUid = Tag(0x0020, 0x000E);
constexpr uint32_t kSopInstanceUid = Tag(0x0008, 0x0018);

// Days in a month of the proleptic Gregorian calendar.
int DaysIn(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
  return kDays[month - 1];
}

bool ParseDate(const std::string& s, int& y, int& m, int& d) {
  if (s.size() != 8 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
  y = std::stoi(s.substr(0, 4));
  m = std::stoi(s.substr(4, 2));
  d = std::stoi(s.substr(6, 2));
  return m >= 1 && m <= 12 && d >= 1 && d <= DaysIn(y, m);
}

// Ranges of the date index covering [lower, upper]: days for short ranges,
// months or years for longer ones, the whole index for open or odd ranges.
std::vector<KeyRange> DateRanges(const std::string& lower, const std::string& upper) {
  int y1, m1, d1, y2, m2, d2;
  if (lower == upper && !lower.empty()) return {{lower, lower.size() == 8}};
  if (!ParseDate(lower, y1, m1, d1) || !ParseDate(upper, y2, m2, d2) || lower > upper) return {{"", false}};
  std::vector<KeyRange> out;
  const int months = (y2 - y1) * 12 + (m2 - m1);
  char buf[16];
  if (months <= 2) {
    for (int y = y1, m = m1, d = d1; std::make_tuple(y, m, d) <= std::make_tuple(y2, m2, d2);) {
      std::snprintf(buf, sizeof buf, "%04d%02d%02d", y, m, d);
      out.push_back({buf, true});
      if (++d > DaysIn(y, m)) {
        d = 1;
        if (++m > 12) m = 1, ++y;
      }
    }
  } else if (months <= 36) {
    for (int y = y1, m = m1; y * 12 + m <= y2 * 12 + m2;) {
      std::snprintf(buf, sizeof buf, "%04d%02d", y, m);
      out.push_back({buf, false});
      if (++m > 12) m = 1, ++y;
    }
  } else {
    for (int y = y1; y <= y2; ++y) {
      std::snprintf(buf, sizeof buf, "%04d", y);
      out.push_back({buf, false});
    }
  }
  return out;
}

bool IsUidList(const KeyMatcher* m) {
  return m && (m->kind() == MatchKind::kSingle || m->kind() == MatchKind::kList);
}

const KeyMatcher* MatcherFor(const QueryPlan& plan, uint32_t tag) {
  for (const auto& level : plan.matchers)
    for (const auto& m : level)
      if (m.tag() == tag) return &m;
  return nullptr;
}

Source Uids(Source::Kind kind, std::string_view family, const KeyMatcher& m) {
  Source s;
  s.kind = kind;
  s.family = family;
  s.uids = m.alternatives();
  return s;
}

Source WholeFamily(std::string_view family) {
  Source s;
  s.kind = Source::Kind::kRecords;
  s.family = family;
  s.ranges = {{"", false}};
  return s;
}

// A secondary index read by value: exact (single value or list) or by the
// literal prefix of a wildcard, filtered by the matcher.
std::optional<Source> ValueIndex(const KeyMatcher& m, std::string_view family, bool ids_in_value) {
  Source s;
  s.kind = Source::Kind::kIndex;
  s.family = family;
  s.ids_in_value = ids_in_value;
  bool exact = true;
  if (m.kind() == MatchKind::kSingle || m.kind() == MatchKind::kWildcard) {
    std::string literal = m.LiteralPrefix();
    if (m.is_person_name()) literal = literal.substr(0, literal.find('='));
    if (literal.empty()) return std::nullopt;
    exact = m.kind() == MatchKind::kSingle && literal.size() == m.alternatives()[0].size();
    s.ranges.push_back({std::move(literal), exact});
  } else if (m.kind() == MatchKind::kList) {
    for (const auto& alt : m.alternatives()) {
      if (alt.empty() || alt.find_first_of("*?=") != std::string::npos) return std::nullopt;
      s.ranges.push_back({alt, true});
    }
  } else {
    return std::nullopt;
  }
  s.may_repeat = s.ranges.size() > 1 || family == index::kNameIndex;
  // A whole-name pattern (with '=') is checked against the record, not the
  // index's per-group terms.
  const bool whole_name = m.is_person_name() && m.value().find('=') != std::string::npos;
  if (!exact && !whole_name) s.filter = m;
  return s;
}

std::optional<Source> DateIndex(const KeyMatcher& m) {
  if (m.kind() != MatchKind::kRange) return std::nullopt;
  Source s;
  s.kind = Source::Kind::kIndex;
  s.family = index::kDateIndex;
  s.ranges = DateRanges(m.lower(), m.upper());
  s.filter = m;
  return s;
}

// Patient records read by the literal prefix of PatientID.
std::optional<Source> PatientIdRecords(const KeyMatcher& m) {
  if (m.kind() != MatchKind::kSingle && m.kind() != MatchKind::kWildcard) return std::nullopt;
  std::string literal = m.LiteralPrefix();
  if (literal.empty()) return std::nullopt;
  Source s;
  s.kind = Source::Kind::kRecords;
  s.family = index::kPatientRecords;
  s.ranges.push_back({std::move(literal), m.kind() == MatchKind::kSingle});
  return s;
}

std::vector<Source> PatientSources(const QueryPlan& plan) {
  std::vector<Source> out;
  if (const auto* m = MatcherFor(plan, kPatientId))
    if (auto s = PatientIdRecords(*m)) out.push_back(std::move(*s));
  if (const auto* m = MatcherFor(plan, kPatientName))
    if (auto s = ValueIndex(*m, index::kNameIndex, true)) out.push_back(std::move(*s));
  return out;
}

// Studies from study- and patient-level keys, most specific first.
std::vector<Source> StudySources(const QueryPlan& plan) {
  std::vector<Source> out;
  if (const auto* m = MatcherFor(plan, kStudyInstanceUid); IsUidList(m))
    out.push_back(Uids(Source::Kind::kUids, index::kStudyRecords, *m));
  if (const auto* m = MatcherFor(plan, kAccessionNumber))
    if (auto s = ValueIndex(*m, index::kAccessionIndex, false)) out.push_back(std::move(*s));
  if (const auto* m = MatcherFor(plan, kPatientId))
    if (auto s = ValueIndex(*m, index::kPatientIdIndex, false)) out.push_back(std::move(*s));
  if (const auto* m = MatcherFor(plan, kPatientName))
    if (auto s = ValueIndex(*m, index::kNameIndex, false)) out.push_back(std::move(*s));
  if (const auto* m = MatcherFor(plan, kStudyDate))
    if (auto s = DateIndex(*m)) out.push_back(std::move(*s));
  if (const auto* m = MatcherFor(plan, kModalitiesInStudy))
    if (auto s = ValueIndex(*m, index::kModalityIndex, false)) out.push_back(std::move(*s));
  return out;
}

// Series and instances named by UID: the instance UIDs (image level) or
// else the series UIDs, each looked up where it is filed.
std::optional<Source> UidLookups(const QueryPlan& plan) {
  if (plan.level == Level::kImage)
    if (const auto* m = MatcherFor(plan, kSopInstanceUid); IsUidList(m))
      return Uids(Source::Kind::kUidLookups, index::kInstanceLookups, *m);
  if (const auto* m = MatcherFor(plan, kSeriesInstanceUid); IsUidList(m))
    return Uids(Source::Kind::kUidLookups, index::kSeriesLookups, *m);
  return std::nullopt;
}

}  // namespace

std::string Source::name() const {
  switch (kind) {
    case Kind::kUids:
    case Kind::kUidLookups:
      return "uid";
    case Kind::kIndex:
      return std::string(family);
    case Kind::kRecords:
      break;
  }
  const bool whole = ranges.size() == 1 && ranges[0].value.empty() && !ranges[0].exact;
  return whole ? "scan:" + std::string(family) : std::string(family);
}

QueryPlan PlanQuery(const Query& query) {
  QueryPlan plan;
  plan.level = static_cast<Level>(static_cast<int>(query.level));
  for (const auto& key : query.keys) {
    if (key.is_sequence || key.tag == kRetrieveAeTitle || key.tag == kInstanceAvailability) continue;
    KeyMatcher matcher(key.tag, key.vr, key.value);
    auto level = index::LevelOf(key.tag);
    if (!level || *level > plan.level) {
      if (!matcher.universal()) plan.unsupported_keys = true;
      continue;
    }
    if (!matcher.universal()) plan.matchers[static_cast<int>(*level)].push_back(std::move(matcher));
  }
  switch (plan.level) {
    case Level::kPatient:
      plan.sources = PatientSources(plan);
      if (plan.sources.empty()) plan.sources.push_back(WholeFamily(index::kPatientRecords));
      break;
    case Level::kStudy:
      plan.sources = StudySources(plan);
      if (plan.sources.empty()) plan.sources.push_back(WholeFamily(index::kStudyRecords));
      break;
    case Level::kSeries:
    case Level::kImage:
      if (auto lookups = UidLookups(plan)) {
        plan.sources.push_back(std::move(*lookups));
      } else if (auto studies = StudySources(plan); !studies.empty()) {
        plan.sources = std::move(studies);
        plan.per_study = true;
      } else {
        plan.sources.push_back(
            WholeFamily(plan.level == Level::kSeries ? index::kSeriesRecords : index::kInstanceRecords));
      }
      break;
  }
  return plan;
}

}  // namespace pacs::dicom::query
