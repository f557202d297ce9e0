#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "index_records.h"
#include "pacs/dicom/query.h"
#include "query_matching.h"

namespace pacs::dicom {
namespace {

using index::Level;
using index::Record;
using index::Tag;
using query::KeyMatcher;
using query::MatchKind;

constexpr uint32_t kSpecificCharacterSet = Tag(0x0008, 0x0005);
constexpr uint32_t kQueryRetrieveLevel = Tag(0x0008, 0x0052);
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

// Beyond this many entries an index is "not selective"; probing stops there.
constexpr uint64_t kProbeCap = 20000;

Level ToLevel(QueryLevel l) {
  return static_cast<Level>(static_cast<int>(l));
}

const char* LevelName(QueryLevel l) {
  switch (l) {
    case QueryLevel::kPatient:
      return "PATIENT";
    case QueryLevel::kStudy:
      return "STUDY";
    case QueryLevel::kSeries:
      return "SERIES";
    case QueryLevel::kImage:
      return "IMAGE";
  }
  return "";
}

std::string_view AfterLastNul(std::string_view key) {
  const size_t pos = key.rfind('\0');
  return pos == std::string_view::npos ? std::string_view() : key.substr(pos + 1);
}

// The value part of a secondary key: between the index prefix and the first NUL.
std::string_view IndexedValue(std::string_view key) {
  key.remove_prefix(2);
  return key.substr(0, key.find('\0'));
}

std::string Join(const std::map<std::string, uint64_t>& tally) {
  std::string out;
  for (const auto& [key, count] : tally) {
    if (!out.empty()) out.push_back('\\');
    out += key;
  }
  return out;
}

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

// Prefixes of the date index covering [lower, upper]: days for short ranges,
// months or years for longer ones, the whole index for open or odd ranges.
std::vector<std::string> DatePrefixes(const std::string& lower, const std::string& upper) {
  const std::string base(index::kDateIndex);
  int y1, m1, d1, y2, m2, d2;
  if (lower == upper && !lower.empty()) return {base + lower + (lower.size() == 8 ? std::string(1, '\0') : "")};
  if (!ParseDate(lower, y1, m1, d1) || !ParseDate(upper, y2, m2, d2) || lower > upper) return {base};
  std::vector<std::string> out;
  const int months = (y2 - y1) * 12 + (m2 - m1);
  char buf[16];
  if (months <= 2) {
    for (int y = y1, m = m1, d = d1; std::make_tuple(y, m, d) <= std::make_tuple(y2, m2, d2);) {
      std::snprintf(buf, sizeof buf, "%04d%02d%02d", y, m, d);
      out.push_back(base + buf + '\0');
      if (++d > DaysIn(y, m)) {
        d = 1;
        if (++m > 12) m = 1, ++y;
      }
    }
  } else if (months <= 36) {
    for (int y = y1, m = m1; y * 12 + m <= y2 * 12 + m2;) {
      std::snprintf(buf, sizeof buf, "%04d%02d", y, m);
      out.push_back(base + buf);
      if (++m > 12) m = 1, ++y;
    }
  } else {
    for (int y = y1; y <= y2; ++y) {
      std::snprintf(buf, sizeof buf, "%04d", y);
      out.push_back(base + buf);
    }
  }
  return out;
}

// Where candidate ids come from: a list known up front, or prefix scans of
// the catalog whose entries `extract` turns into ids (empty: skip the entry).
struct Source {
  std::string name;
  std::vector<std::string> ids;  // exact list
  bool is_list = false;
  std::vector<std::string> prefixes;
  std::function<std::string(std::string_view key, std::string_view value)> extract;
  bool may_repeat = false;
  bool carries_record = false;  // the scanned value is the record itself
};

class Runner {
 public:
  Runner(const engine::Store& store, const Query& query, const std::string& ae_title)
      : store_(store), query_(query), ae_title_(ae_title), level_(ToLevel(query.level)) {
    for (const auto& key : query.keys) {
      if (key.is_sequence || key.tag == kRetrieveAeTitle || key.tag == kInstanceAvailability) continue;
      KeyMatcher matcher(key.tag, key.vr, key.value);
      auto level = index::LevelOf(key.tag);
      if (!level || *level > level_) {
        if (!matcher.universal()) stats_.unsupported_keys = true;
        continue;
      }
      if (!matcher.universal()) matchers_[static_cast<int>(*level)].push_back(std::move(matcher));
    }
  }

  // Calls `emit` for each match; the records of the match are in `current_`.
  Status Run(const std::function<bool()>& emit) {
    emit_ = emit;
    switch (level_) {
      case Level::kPatient:
        return RunPatients();
      case Level::kStudy:
        return RunStudies();
      case Level::kSeries:
        return RunSeries();
      case Level::kImage:
        return RunImages();
    }
    return Status::Ok();
  }

  const QueryStats& stats() const { return stats_; }

  // The value of `tag` for the current match, as the response carries it.
  std::string ValueFor(uint32_t tag) {
    if (tag == kRetrieveAeTitle) return ae_title_;
    if (tag == kInstanceAvailability) return "ONLINE";
    auto level = index::LevelOf(tag);
    if (!level || *level > level_) return {};
    return ValueAt(tag, *level);
  }

  const std::string& study_uid() const { return current_.study_uid; }
  const std::string& series_uid() const { return current_.series_uid; }
  const std::string& sop_uid() const { return current_.sop_uid; }

 private:
  struct Current {
    std::string patient_key;
    std::shared_ptr<const Record> patient, study, series, instance;
    std::string study_uid, series_uid, sop_uid;
  };

  std::string ValueAt(uint32_t tag, Level level) {
    switch (tag) {
      case Tag(0x0020, 0x1200):
        return Counter(PatientRecord(), &Record::studies);
      case Tag(0x0020, 0x1202):
        return Counter(PatientRecord(), &Record::series);
      case Tag(0x0020, 0x1204):
        return Counter(PatientRecord(), &Record::instances);
      case Tag(0x0020, 0x1206):
        return Counter(current_.study.get(), &Record::series);
      case Tag(0x0020, 0x1208):
        return Counter(current_.study.get(), &Record::instances);
      case Tag(0x0020, 0x1209):
        return Counter(current_.series.get(), &Record::instances);
      case Tag(0x0008, 0x0061):
        return current_.study ? Join(current_.study->modalities) : "";
      case Tag(0x0008, 0x0062):
        return current_.study ? Join(current_.study->sop_classes) : "";
      default:
        break;
    }
    const Record* rec = nullptr;
    switch (level) {
      // Below PATIENT level, the study record carries the patient attributes
      // as that study's instances gave them.
      case Level::kPatient:
        rec = level_ == Level::kPatient ? current_.patient.get() : current_.study.get();
        break;
      case Level::kStudy:
        rec = current_.study.get();
        break;
      case Level::kSeries:
        rec = current_.series.get();
        break;
      case Level::kImage:
        rec = current_.instance.get();
        break;
    }
    if (!rec) return {};
    const std::string* v = rec->attributes.Find(tag);
    return v ? *v : std::string();
  }

  static std::string Counter(const Record* rec, uint64_t Record::*field) {
    return rec ? std::to_string(rec->*field) : std::string();
  }

  const Record* PatientRecord() {
    if (!current_.patient && !current_.patient_key.empty()) {
      auto loaded = LoadRecord(index::PatientRecordKey(current_.patient_key));
      if (loaded.ok() && *loaded) current_.patient = *loaded;
    }
    return current_.patient.get();
  }

  Result<std::shared_ptr<const Record>> LoadRecord(const std::string& key) {
    auto bytes = store_.GetCatalog(key);
    if (!bytes.ok()) return bytes.status();
    ++stats_.candidates;
    if (!*bytes) return std::shared_ptr<const Record>();
    return DecodeRecord(**bytes, key);
  }

  static Result<std::shared_ptr<const Record>> DecodeRecord(std::string_view bytes, std::string_view key) {
    auto rec = Record::Decode(bytes);
    if (!rec.ok()) return rec.status().WithContext("index record " + std::string(key));
    return std::make_shared<const Record>(std::move(*rec));
  }

  bool MatchLevel(Level level) {
    for (const auto& m : matchers_[static_cast<int>(level)])
      if (!m.Matches(ValueAt(m.tag(), level))) return false;
    return true;
  }
  bool HasMatchers(Level level) const { return !matchers_[static_cast<int>(level)].empty(); }
  const KeyMatcher* MatcherFor(uint32_t tag) const {
    for (const auto& level : matchers_)
      for (const auto& m : level)
        if (m.tag() == tag) return &m;
    return nullptr;
  }

  // --- sources ------------------------------------------------------------

  Source UidList(const KeyMatcher& m, const char* name) {
    Source s;
    s.name = name;
    s.is_list = true;
    s.ids = m.alternatives();
    return s;
  }

  // A secondary index scanned by value: exact (single value) or by the
  // literal prefix of a wildcard, filtered by the matcher.
  std::optional<Source> ValueIndex(const KeyMatcher& m, std::string_view index, bool patient_keys) {
    std::vector<std::string> prefixes;
    bool exact = true;
    if (m.kind() == MatchKind::kSingle || m.kind() == MatchKind::kWildcard) {
      std::string literal = m.LiteralPrefix();
      if (m.is_person_name()) literal = literal.substr(0, literal.find('='));
      if (literal.empty()) return std::nullopt;
      exact = m.kind() == MatchKind::kSingle && literal.size() == m.alternatives()[0].size();
      prefixes.push_back(std::string(index) + literal + (exact ? std::string(1, '\0') : ""));
    } else if (m.kind() == MatchKind::kList) {
      for (const auto& alt : m.alternatives()) {
        if (alt.empty() || alt.find_first_of("*?=") != std::string::npos) return std::nullopt;
        prefixes.push_back(std::string(index) + alt + '\0');
      }
    } else {
      return std::nullopt;
    }
    Source s;
    s.name = std::string(index);
    s.prefixes = std::move(prefixes);
    s.may_repeat = s.prefixes.size() > 1 || index == index::kNameIndex;
    const bool whole_name = m.is_person_name() && m.value().find('=') != std::string::npos;
    const KeyMatcher* matcher = &m;
    s.extract = [matcher, exact, whole_name, patient_keys](std::string_view key, std::string_view value) {
      if (!exact && !whole_name && !matcher->Matches(IndexedValue(key))) return std::string();
      return std::string(patient_keys ? value : AfterLastNul(key));
    };
    return s;
  }

  std::optional<Source> DateIndex(const KeyMatcher& m) {
    if (m.kind() != MatchKind::kRange) return std::nullopt;
    Source s;
    s.name = std::string(index::kDateIndex);
    s.prefixes = DatePrefixes(m.lower(), m.upper());
    const KeyMatcher* matcher = &m;
    s.extract = [matcher](std::string_view key, std::string_view) {
      return matcher->Matches(IndexedValue(key)) ? std::string(AfterLastNul(key)) : std::string();
    };
    return s;
  }

  Source FullScan(char record_prefix) {
    Source s;
    s.name = std::string("scan:") + record_prefix;
    s.prefixes = {std::string(1, record_prefix)};
    s.carries_record = true;
    s.extract = [](std::string_view key, std::string_view) { return std::string(key.substr(1)); };
    return s;
  }

  // Study-id sources from study- and patient-level keys, most specific first.
  std::vector<Source> StudySources() {
    std::vector<Source> out;
    if (auto* m = MatcherFor(kStudyInstanceUid);
        m && (m->kind() == MatchKind::kSingle || m->kind() == MatchKind::kList))
      out.push_back(UidList(*m, "uid"));
    if (auto* m = MatcherFor(kAccessionNumber))
      if (auto s = ValueIndex(*m, index::kAccessionIndex, false)) out.push_back(std::move(*s));
    if (auto* m = MatcherFor(kPatientId))
      if (auto s = ValueIndex(*m, index::kPatientIdIndex, false)) out.push_back(std::move(*s));
    if (auto* m = MatcherFor(kPatientName))
      if (auto s = ValueIndex(*m, index::kNameIndex, false)) out.push_back(std::move(*s));
    if (auto* m = MatcherFor(kStudyDate))
      if (auto s = DateIndex(*m)) out.push_back(std::move(*s));
    if (auto* m = MatcherFor(kModalitiesInStudy))
      if (auto s = ValueIndex(*m, index::kModalityIndex, false)) out.push_back(std::move(*s));
    return out;
  }

  Result<uint64_t> Estimate(const Source& s, uint64_t cap) {
    if (s.is_list) return static_cast<uint64_t>(s.ids.size());
    uint64_t n = 0;
    for (const auto& prefix : s.prefixes) {
      Status st = store_.ScanCatalog(prefix, [&](std::string_view key, std::string_view value) {
        if (!s.extract(key, value).empty()) ++n;
        return n < cap;
      });
      PACS_RETURN_IF_ERROR(st);
      if (n >= cap) break;
    }
    return n;
  }

  // The most selective source: probes each (bounded by the best so far).
  Result<Source> Choose(std::vector<Source> sources) {
    if (sources.size() == 1) return std::move(sources[0]);
    size_t best = 0;
    uint64_t best_count = UINT64_MAX;
    for (size_t i = 0; i < sources.size(); ++i) {
      auto n = Estimate(sources[i], std::min<uint64_t>(kProbeCap, best_count));
      if (!n.ok()) return n.status();
      if (*n < best_count) best_count = *n, best = i;
      if (best_count == 0) break;
    }
    return std::move(sources[best]);
  }

  // Calls `visit(id, record bytes or empty)` for each distinct id.
  Status ForEach(const Source& s, const std::function<bool(const std::string&, std::string_view)>& visit) {
    stats_.index_used = s.name;
    if (s.is_list) {
      for (const auto& id : s.ids)
        if (!visit(id, {})) break;
      return Status::Ok();
    }
    std::unordered_set<std::string> seen;
    bool go_on = true;
    for (const auto& prefix : s.prefixes) {
      Status st = store_.ScanCatalog(prefix, [&](std::string_view key, std::string_view value) {
        std::string id = s.extract(key, value);
        if (id.empty()) return true;
        if (s.may_repeat && !seen.insert(id).second) return true;
        go_on = visit(id, s.carries_record ? value : std::string_view());
        return go_on;
      });
      PACS_RETURN_IF_ERROR(st);
      if (!go_on) break;
    }
    return Status::Ok();
  }

  // --- levels -------------------------------------------------------------

  bool Emit() {
    ++stats_.matches;
    return emit_();
  }

  Status RunPatients() {
    std::vector<Source> sources;
    if (auto* m = MatcherFor(kPatientId); m && (m->kind() == MatchKind::kSingle || m->kind() == MatchKind::kWildcard)) {
      std::string literal = m->LiteralPrefix();
      if (!literal.empty()) {
        const bool exact = m->kind() == MatchKind::kSingle;
        Source s;
        s.name = "P";
        s.prefixes = {"P" + literal + (exact ? std::string(1, '\0') : "")};
        s.carries_record = true;
        s.extract = [](std::string_view key, std::string_view) { return std::string(key.substr(1)); };
        sources.push_back(std::move(s));
      }
    }
    if (auto* m = MatcherFor(kPatientName))
      if (auto s = ValueIndex(*m, index::kNameIndex, true)) sources.push_back(std::move(*s));
    auto source = sources.empty() ? Result<Source>(FullScan('P')) : Choose(std::move(sources));
    if (!source.ok()) return source.status();
    Status inner;
    Status st = ForEach(*source, [&](const std::string& patient_key, std::string_view bytes) {
      current_ = {};
      current_.patient_key = patient_key;
      auto rec = bytes.empty() ? LoadRecord(index::PatientRecordKey(patient_key))
                               : (++stats_.candidates, DecodeRecord(bytes, patient_key));
      if (!rec.ok()) return inner = rec.status(), false;
      if (!*rec) return true;
      current_.patient = *rec;
      if (!MatchLevel(Level::kPatient)) return true;
      return Emit();
    });
    PACS_RETURN_IF_ERROR(st);
    return inner;
  }

  // Loads a study into current_ and checks the study- and patient-level keys.
  Result<bool> EnterStudy(const std::string& study_uid, std::string_view bytes) {
    auto cached = study_cache_.find(study_uid);
    if (cached == study_cache_.end()) {
      auto rec = bytes.empty() ? LoadRecord(index::StudyRecordKey(study_uid))
                               : (++stats_.candidates, DecodeRecord(bytes, study_uid));
      if (!rec.ok()) return rec.status();
      current_ = {};
      current_.study_uid = study_uid;
      current_.study = *rec;
      bool ok = current_.study != nullptr;
      if (ok) {
        current_.patient_key = current_.study->patient_key;
        ok = MatchLevel(Level::kPatient) && MatchLevel(Level::kStudy);
      }
      // Series and image runs revisit a study once per series; remember it.
      if (level_ != Level::kStudy)
        cached = study_cache_.emplace(study_uid, std::make_pair(current_.study, ok)).first;
      else
        return ok;
    }
    current_ = {};
    current_.study_uid = study_uid;
    current_.study = cached->second.first;
    if (current_.study) current_.patient_key = current_.study->patient_key;
    return cached->second.second;
  }

  Status RunStudies() {
    auto sources = StudySources();
    auto source = sources.empty() ? Result<Source>(FullScan('S')) : Choose(std::move(sources));
    if (!source.ok()) return source.status();
    Status inner;
    Status st = ForEach(*source, [&](const std::string& study_uid, std::string_view bytes) {
      auto ok = EnterStudy(study_uid, bytes);
      if (!ok.ok()) return inner = ok.status(), false;
      return *ok ? Emit() : true;
    });
    PACS_RETURN_IF_ERROR(st);
    return inner;
  }

  // Visits the studies a series or image query is confined to; `all` is set
  // when no key narrows the studies (the caller then scans its own level).
  Status ForEachCandidateStudy(const std::function<bool(const std::string&)>& visit, bool& all) {
    auto sources = StudySources();
    all = sources.empty();
    if (all) return Status::Ok();
    auto source = Choose(std::move(sources));
    if (!source.ok()) return source.status();
    Status inner;
    Status st = ForEach(*source, [&](const std::string& study_uid, std::string_view bytes) {
      auto ok = EnterStudy(study_uid, bytes);
      if (!ok.ok()) return inner = ok.status(), false;
      return *ok ? visit(study_uid) : true;
    });
    PACS_RETURN_IF_ERROR(st);
    return inner;
  }

  // Handles one series record (key E<study>\0<series>); false stops the run.
  bool VisitSeries(std::string_view key, std::string_view bytes, Status& inner) {
    std::string_view rest = key.substr(1);
    const size_t sep = rest.find('\0');
    const std::string study_uid(rest.substr(0, sep)), series_uid(rest.substr(sep + 1));
    auto ok = EnterStudy(study_uid, {});
    if (!ok.ok()) return inner = ok.status(), false;
    if (!*ok) return true;
    ++stats_.candidates;
    auto rec = DecodeRecord(bytes, key);
    if (!rec.ok()) return inner = rec.status(), false;
    current_.series_uid = series_uid;
    current_.series = *rec;
    if (!MatchLevel(Level::kSeries)) return true;
    return Emit();
  }

  // Series UIDs from the request: each is looked up to find its study.
  Result<std::vector<std::pair<std::string, std::string>>> LookUpSeries(const KeyMatcher& m) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& uid : m.alternatives()) {
      auto study = store_.GetCatalog(index::SeriesLookupKey(uid));
      if (!study.ok()) return study.status();
      if (*study) out.emplace_back(**study, uid);
    }
    return out;
  }

  Status RunSeries() {
    Status inner;
    auto scan = [&](const std::string& prefix) {
      return store_.ScanCatalog(
          prefix, [&](std::string_view key, std::string_view bytes) { return VisitSeries(key, bytes, inner); });
    };
    const KeyMatcher* series_uids = MatcherFor(kSeriesInstanceUid);
    if (series_uids && (series_uids->kind() == MatchKind::kSingle || series_uids->kind() == MatchKind::kList)) {
      stats_.index_used = "uid";
      auto found = LookUpSeries(*series_uids);
      if (!found.ok()) return found.status();
      for (const auto& [study, series] : *found) {
        PACS_RETURN_IF_ERROR(scan(index::SeriesRecordKey(study, series)));
        PACS_RETURN_IF_ERROR(inner);
      }
      return Status::Ok();
    }
    bool all = false;
    Status scan_status;
    PACS_RETURN_IF_ERROR(ForEachCandidateStudy(
        [&](const std::string& study_uid) {
          scan_status = scan(index::SeriesRecordKey(study_uid, ""));
          return scan_status.ok() && inner.ok();
        },
        all));
    PACS_RETURN_IF_ERROR(scan_status);
    PACS_RETURN_IF_ERROR(inner);
    if (!all) return Status::Ok();
    stats_.index_used = "scan:E";
    PACS_RETURN_IF_ERROR(scan("E"));
    return inner;
  }

  // Handles one instance record (key I<study>\0<series>\0<sop>).
  bool VisitInstance(std::string_view key, std::string_view bytes, Status& inner) {
    std::string_view rest = key.substr(1);
    const size_t sep1 = rest.find('\0'), sep2 = rest.find('\0', sep1 + 1);
    const std::string study_uid(rest.substr(0, sep1));
    const std::string series_uid(rest.substr(sep1 + 1, sep2 - sep1 - 1));
    auto ok = EnterStudy(study_uid, {});
    if (!ok.ok()) return inner = ok.status(), false;
    if (!*ok) return true;
    auto series = series_cache_.find(series_uid);
    if (series == series_cache_.end()) {
      auto rec = LoadRecord(index::SeriesRecordKey(study_uid, series_uid));
      if (!rec.ok()) return inner = rec.status(), false;
      current_.series = *rec;
      const bool match = current_.series && MatchLevel(Level::kSeries);
      series = series_cache_.emplace(series_uid, std::make_pair(current_.series, match)).first;
    }
    if (!series->second.second) return true;
    current_.series_uid = series_uid;
    current_.series = series->second.first;
    ++stats_.candidates;
    auto rec = DecodeRecord(bytes, key);
    if (!rec.ok()) return inner = rec.status(), false;
    current_.sop_uid = std::string(rest.substr(sep2 + 1));
    current_.instance = *rec;
    if (!MatchLevel(Level::kImage)) return true;
    return Emit();
  }

  Status RunImages() {
    Status inner;
    auto scan = [&](const std::string& prefix) {
      return store_.ScanCatalog(
          prefix, [&](std::string_view key, std::string_view bytes) { return VisitInstance(key, bytes, inner); });
    };
    const KeyMatcher* sop_uids = MatcherFor(kSopInstanceUid);
    if (sop_uids && (sop_uids->kind() == MatchKind::kSingle || sop_uids->kind() == MatchKind::kList)) {
      stats_.index_used = "uid";
      for (const auto& uid : sop_uids->alternatives()) {
        auto where = store_.GetCatalog(index::InstanceLookupKey(uid));
        if (!where.ok()) return where.status();
        if (!*where) continue;
        const std::string& loc = **where;
        const size_t sep = loc.find('\0');
        PACS_RETURN_IF_ERROR(scan(index::InstanceRecordKey(loc.substr(0, sep), loc.substr(sep + 1), uid)));
        PACS_RETURN_IF_ERROR(inner);
      }
      return Status::Ok();
    }
    const KeyMatcher* series_uids = MatcherFor(kSeriesInstanceUid);
    if (series_uids && (series_uids->kind() == MatchKind::kSingle || series_uids->kind() == MatchKind::kList)) {
      stats_.index_used = "uid";
      auto found = LookUpSeries(*series_uids);
      if (!found.ok()) return found.status();
      for (const auto& [study, series] : *found) {
        std::string prefix = index::SeriesRecordKey(study, series);
        prefix[0] = 'I';
        prefix.push_back('\0');
        PACS_RETURN_IF_ERROR(scan(prefix));
        PACS_RETURN_IF_ERROR(inner);
      }
      return Status::Ok();
    }
    bool all = false;
    Status scan_status;
    PACS_RETURN_IF_ERROR(ForEachCandidateStudy(
        [&](const std::string& study_uid) {
          scan_status = scan(index::InstanceRecordKey(study_uid, "", "").substr(0, study_uid.size() + 2));
          return scan_status.ok() && inner.ok();
        },
        all));
    PACS_RETURN_IF_ERROR(scan_status);
    PACS_RETURN_IF_ERROR(inner);
    if (!all) return Status::Ok();
    stats_.index_used = "scan:I";
    PACS_RETURN_IF_ERROR(scan("I"));
    return inner;
  }

  const engine::Store& store_;
  const Query& query_;
  const std::string& ae_title_;
  const Level level_;
  std::vector<KeyMatcher> matchers_[4];
  QueryStats stats_;
  std::function<bool()> emit_;
  Current current_;
  std::unordered_map<std::string, std::pair<std::shared_ptr<const Record>, bool>> study_cache_;
  std::unordered_map<std::string, std::pair<std::shared_ptr<const Record>, bool>> series_cache_;
};

bool IsAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

void PutValue(DcmDataset& rsp, const QueryKey& key, const std::string& value) {
  DcmTag tag(static_cast<Uint16>(key.tag >> 16), static_cast<Uint16>(key.tag & 0xFFFF));
  if (tag.getEVR() == EVR_UNKNOWN || tag.getEVR() == EVR_UN || tag.getEVR() == EVR_xs || tag.getEVR() == EVR_ox ||
      tag.getEVR() == EVR_lt)
    if (!key.vr.empty()) tag.setVR(DcmVR(key.vr.c_str()));
  if (key.is_sequence) {
    rsp.insert(new DcmSequenceOfItems(tag), true);
    return;
  }
  DcmElement* element = nullptr;
  if (DcmItem::newDicomElement(element, tag).bad() || element == nullptr) return;
  if (!value.empty()) element->putString(value.c_str(), static_cast<Uint32>(value.size()));
  if (rsp.insert(element, true).bad()) delete element;
}

}  // namespace

Result<Query> ParseIdentifier(DcmDataset& identifier, InformationModel model) {
  Query q;
  q.model = model;
  OFString level;
  if (identifier.findAndGetOFString(DCM_QueryRetrieveLevel, level).bad() || level.empty())
    return Status::InvalidArgument("identifier has no QueryRetrieveLevel (0008,0052)");
  std::string name(level.c_str());
  name.erase(std::remove(name.begin(), name.end(), ' '), name.end());
  if (name == "PATIENT")
    q.level = QueryLevel::kPatient;
  else if (name == "STUDY")
    q.level = QueryLevel::kStudy;
  else if (name == "SERIES")
    q.level = QueryLevel::kSeries;
  else if (name == "IMAGE")
    q.level = QueryLevel::kImage;
  else
    return Status::InvalidArgument("unknown QueryRetrieveLevel '" + name + "'");
  if (model == InformationModel::kStudyRoot && q.level == QueryLevel::kPatient)
    return Status::InvalidArgument("QueryRetrieveLevel PATIENT does not exist in the Study Root model");

  OFString charset;
  identifier.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  q.requested_charset = charset.c_str();
  if (!charset.empty() && charset != "ISO_IR 192") {
    OFCondition cond = identifier.convertToUTF8();
    if (cond.bad())
      return Status::InvalidArgument("identifier text cannot be converted from SpecificCharacterSet '" +
                                     std::string(charset.c_str()) + "' to UTF-8: " + cond.text());
  }
  for (unsigned long i = 0; i < identifier.card(); ++i) {
    DcmElement* element = identifier.getElement(i);
    const DcmTag& tag = element->getTag();
    const uint32_t key = index::Tag(tag.getGroup(), tag.getElement());
    if (key == kQueryRetrieveLevel || key == kSpecificCharacterSet || tag.getGroup() == 0x0002) continue;
    QueryKey k;
    k.tag = key;
    k.vr = DcmVR(element->getVR()).getVRName();
    k.is_sequence = element->ident() == EVR_SQ;
    OFString value;
    if (!k.is_sequence && element->getLength() > 0 && element->getOFStringArray(value, OFTrue).good())
      k.value.assign(value.c_str(), value.length());
    q.keys.push_back(std::move(k));
  }
  return q;
}

struct QueryEngine::Impl {
  const engine::Store& store;
  std::string ae_title;
};

QueryEngine::QueryEngine(const engine::Store& store, std::string retrieve_ae_title)
    : impl_(std::make_unique<Impl>(Impl{store, std::move(retrieve_ae_title)})) {}
QueryEngine::~QueryEngine() = default;

Result<QueryStats> QueryEngine::Find(const Query& query,
                                     const std::function<bool(DcmDataset& response)>& on_match) const {
  Runner runner(impl_->store, query, impl_->ae_title);
  Status st = runner.Run([&] {
    DcmDataset rsp;
    rsp.putAndInsertString(DCM_QueryRetrieveLevel, LevelName(query.level));
    bool ascii = true;
    for (const auto& key : query.keys) {
      std::string value = key.is_sequence ? std::string() : runner.ValueFor(key.tag);
      ascii = ascii && IsAscii(value);
      PutValue(rsp, key, value);
    }
    if (!ascii)
      rsp.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    else if (!query.requested_charset.empty())
      rsp.putAndInsertString(DCM_SpecificCharacterSet, query.requested_charset.c_str());
    return on_match(rsp);
  });
  PACS_RETURN_IF_ERROR(st);
  return runner.stats();
}

Result<std::vector<InstanceRef>> QueryEngine::Resolve(const Query& query) const {
  bool narrowed = false;
  for (const auto& key : query.keys)
    if (!key.is_sequence && !key.value.empty() && key.value != "*") narrowed = true;
  if (!narrowed)
    return Status::InvalidArgument(
        "the identifier names no unique key (StudyInstanceUID, SeriesInstanceUID, "
        "SOPInstanceUID or PatientID): nothing to retrieve");
  Query images = query;
  images.level = QueryLevel::kImage;
  Runner runner(impl_->store, images, impl_->ae_title);
  std::vector<InstanceRef> out;
  Status st = runner.Run([&] {
    out.push_back({runner.study_uid(), runner.series_uid(), runner.sop_uid()});
    return true;
  });
  PACS_RETURN_IF_ERROR(st);
  return out;
}

std::string ConvertResponseCharset(DcmDataset& response, const std::string& requested_charset) {
  OFString current;
  response.findAndGetOFStringArray(DCM_SpecificCharacterSet, current);
  if (current != "ISO_IR 192" || requested_charset.empty() || requested_charset == "ISO_IR 192") return current.c_str();
  // Try the requester's own character set; keep UTF-8 when a value does not fit.
  DcmDataset converted(response);
  if (converted.convertCharacterSet("ISO_IR 192", requested_charset.c_str(), 0, OFTrue).bad()) return current.c_str();
  response = converted;
  return requested_charset;
}

}  // namespace pacs::dicom
