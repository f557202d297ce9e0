#include "query_executor.h"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace pacs::dicom::query {
namespace {

using index::Level;
using index::Record;
using index::Tag;

constexpr uint32_t kRetrieveAeTitle = Tag(0x0008, 0x0054);
constexpr uint32_t kInstanceAvailability = Tag(0x0008, 0x0056);

// Beyond this many entries an index is "not selective"; probing stops there.
constexpr uint64_t kProbeCap = 20000;

std::string Join(const std::map<std::string, uint64_t>& tally) {
  std::string out;
  for (const auto& [key, count] : tally) {
    if (!out.empty()) out.push_back('\\');
    out += key;
  }
  return out;
}

std::string Counter(const Record* rec, uint64_t Record::*field) {
  return rec ? std::to_string(rec->*field) : std::string();
}

Result<std::shared_ptr<const Record>> DecodeRecord(std::string_view bytes, std::string_view key) {
  auto rec = Record::Decode(bytes);
  if (!rec.ok()) return rec.status().WithContext("index record " + std::string(key));
  return std::make_shared<const Record>(std::move(*rec));
}

// The candidate an index or record entry names; empty: none.
std::string CandidateOf(const Source& source, std::string_view key, std::string_view value) {
  if (source.kind == Source::Kind::kRecords) return std::string(index::RecordId(key));
  const index::SecondaryKeyParts parts = index::ParseSecondaryKey(key);
  if (source.filter && !source.filter->Matches(parts.value)) return std::string();
  return std::string(source.ids_in_value ? value : parts.study);
}

std::vector<std::string> PrefixesOf(const Source& source) {
  std::vector<std::string> out;
  for (const auto& range : source.ranges) out.push_back(index::RangePrefix(source.family, range.value, range.exact));
  return out;
}

}  // namespace

QueryExecutor::QueryExecutor(const engine::Store& store, QueryPlan plan, const std::string& ae_title)
    : store_(store), plan_(std::move(plan)), ae_title_(ae_title), level_(plan_.level) {
  stats_.unsupported_keys = plan_.unsupported_keys;
}

Status QueryExecutor::Run(const std::function<bool()>& emit) {
  emit_ = emit;
  auto source = Choose();
  if (!source.ok()) return source.status();
  switch (level_) {
    case Level::kPatient:
      return RunPatients(**source);
    case Level::kStudy:
      return RunStudies(**source);
    case Level::kSeries:
    case Level::kImage:
      return RunSeriesOrImages(**source);
  }
  return Status::Ok();
}

// --- sources ---------------------------------------------------------------

// The most selective source: probes each (bounded by the best so far).
Result<const Source*> QueryExecutor::Choose() {
  const auto& sources = plan_.sources;
  if (sources.empty()) return Status::Internal("query plan without a source");
  if (sources.size() == 1) return sources.data();
  size_t best = 0;
  uint64_t best_count = UINT64_MAX;
  for (size_t i = 0; i < sources.size(); ++i) {
    auto n = Estimate(sources[i], std::min<uint64_t>(kProbeCap, best_count));
    if (!n.ok()) return n.status();
    if (*n < best_count) best_count = *n, best = i;
    if (best_count == 0) break;
  }
  return &sources[best];
}

Result<uint64_t> QueryExecutor::Estimate(const Source& source, uint64_t cap) {
  if (source.kind == Source::Kind::kUids || source.kind == Source::Kind::kUidLookups)
    return static_cast<uint64_t>(source.uids.size());
  uint64_t n = 0;
  for (const auto& prefix : PrefixesOf(source)) {
    Status st = store_.ScanCatalog(prefix, [&](std::string_view key, std::string_view value) {
      if (!CandidateOf(source, key, value).empty()) ++n;
      return n < cap;
    });
    PACS_RETURN_IF_ERROR(st);
    if (n >= cap) break;
  }
  return n;
}

// Calls `visit(id, record bytes or empty)` for each distinct candidate.
Status QueryExecutor::ForEach(const Source& source, const Visit& visit) {
  stats_.index_used = source.name();
  if (source.kind == Source::Kind::kUids) {
    for (const auto& id : source.uids)
      if (!visit(id, {})) break;
    return Status::Ok();
  }
  const bool carries_record = source.kind == Source::Kind::kRecords;
  std::unordered_set<std::string> seen;
  bool go_on = true;
  for (const auto& prefix : PrefixesOf(source)) {
    Status st = store_.ScanCatalog(prefix, [&](std::string_view key, std::string_view value) {
      std::string id = CandidateOf(source, key, value);
      if (id.empty()) return true;
      if (source.may_repeat && !seen.insert(id).second) return true;
      go_on = visit(id, carries_record ? value : std::string_view());
      return go_on;
    });
    PACS_RETURN_IF_ERROR(st);
    if (!go_on) break;
  }
  return Status::Ok();
}

// The records the UIDs of a lookup source name, as key prefixes: an
// instance's record, or a series' record (series level) or instances.
Result<std::vector<std::string>> QueryExecutor::LookUpRecordPrefixes(const Source& source) {
  std::vector<std::string> out;
  const bool instances = source.family == index::kInstanceLookups;
  for (const auto& uid : source.uids) {
    auto found = store_.GetCatalog(instances ? index::InstanceLookupKey(uid) : index::SeriesLookupKey(uid));
    if (!found.ok()) return found.status();
    if (!*found) continue;
    if (instances) {
      const index::InstanceLocation where = index::DecodeInstanceLocation(**found);
      out.push_back(index::InstanceRecordKey(where.study, where.series, uid));
    } else if (level_ == Level::kSeries) {
      out.push_back(index::SeriesRecordKey(**found, uid));
    } else {
      out.push_back(index::InstancesOfSeriesPrefix(**found, uid));
    }
  }
  return out;
}

// --- levels ----------------------------------------------------------------

bool QueryExecutor::Emit() {
  ++stats_.matches;
  return emit_();
}

Status QueryExecutor::RunPatients(const Source& source) {
  Status inner;
  Status st = ForEach(source, [&](const std::string& patient_key, std::string_view bytes) {
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

Status QueryExecutor::RunStudies(const Source& source) {
  Status inner;
  Status st = ForEach(source, [&](const std::string& study_uid, std::string_view bytes) {
    auto ok = EnterStudy(study_uid, bytes);
    if (!ok.ok()) return inner = ok.status(), false;
    return *ok ? Emit() : true;
  });
  PACS_RETURN_IF_ERROR(st);
  return inner;
}

// Series and image levels: the records of the level named by UID, those of
// the candidate studies, or all of them.
Status QueryExecutor::RunSeriesOrImages(const Source& source) {
  Status inner;
  auto scan = [&](const std::string& prefix) {
    return store_.ScanCatalog(
        prefix, [&](std::string_view key, std::string_view bytes) { return VisitRecord(key, bytes, inner); });
  };
  if (plan_.per_study) {
    Status scan_status;
    Status st = ForEach(source, [&](const std::string& study_uid, std::string_view bytes) {
      auto ok = EnterStudy(study_uid, bytes);
      if (!ok.ok()) return inner = ok.status(), false;
      if (!*ok) return true;
      scan_status = scan(index::RecordsOfStudyPrefix(level_, study_uid));
      return scan_status.ok() && inner.ok();
    });
    PACS_RETURN_IF_ERROR(st);
    PACS_RETURN_IF_ERROR(scan_status);
    return inner;
  }
  stats_.index_used = source.name();
  std::vector<std::string> prefixes;
  if (source.kind == Source::Kind::kUidLookups) {
    auto found = LookUpRecordPrefixes(source);
    if (!found.ok()) return found.status();
    prefixes = std::move(*found);
  } else {
    prefixes = PrefixesOf(source);
  }
  for (const auto& prefix : prefixes) {
    PACS_RETURN_IF_ERROR(scan(prefix));
    PACS_RETURN_IF_ERROR(inner);
  }
  return Status::Ok();
}

// Handles one series or instance record; false stops the run.
bool QueryExecutor::VisitRecord(std::string_view key, std::string_view bytes, Status& inner) {
  const index::RecordKeyParts parts = index::ParseRecordKey(key);
  const std::string study_uid(parts.study), series_uid(parts.series);
  auto ok = EnterStudy(study_uid, {});
  if (!ok.ok()) return inner = ok.status(), false;
  if (!*ok) return true;
  if (level_ == Level::kImage) {
    auto series_ok = EnterSeries(study_uid, series_uid);
    if (!series_ok.ok()) return inner = series_ok.status(), false;
    if (!*series_ok) return true;
  }
  ++stats_.candidates;
  auto rec = DecodeRecord(bytes, key);
  if (!rec.ok()) return inner = rec.status(), false;
  current_.series_uid = series_uid;
  if (level_ == Level::kSeries) {
    current_.series = *rec;
  } else {
    current_.sop_uid = std::string(parts.sop);
    current_.instance = *rec;
  }
  if (!MatchLevel(level_)) return true;
  return Emit();
}

// Loads a study into current_ and checks the study- and patient-level keys.
Result<bool> QueryExecutor::EnterStudy(const std::string& study_uid, std::string_view bytes) {
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
    if (level_ == Level::kStudy) return ok;
    cached = study_cache_.emplace(study_uid, std::make_pair(current_.study, ok)).first;
  }
  current_ = {};
  current_.study_uid = study_uid;
  current_.study = cached->second.first;
  if (current_.study) current_.patient_key = current_.study->patient_key;
  return cached->second.second;
}

// Image level: loads the series of the current instance into current_ and
// checks the series-level keys.
Result<bool> QueryExecutor::EnterSeries(const std::string& study_uid, const std::string& series_uid) {
  auto cached = series_cache_.find(series_uid);
  if (cached == series_cache_.end()) {
    auto rec = LoadRecord(index::SeriesRecordKey(study_uid, series_uid));
    if (!rec.ok()) return rec.status();
    current_.series = *rec;
    const bool match = current_.series && MatchLevel(Level::kSeries);
    cached = series_cache_.emplace(series_uid, std::make_pair(current_.series, match)).first;
  }
  if (!cached->second.second) return false;
  current_.series_uid = series_uid;
  current_.series = cached->second.first;
  return true;
}

// --- records and values ------------------------------------------------------

std::string QueryExecutor::ValueFor(uint32_t tag) {
  if (tag == kRetrieveAeTitle) return ae_title_;
  if (tag == kInstanceAvailability) return "ONLINE";
  auto level = index::LevelOf(tag);
  if (!level || *level > level_) return {};
  return ValueAt(tag, *level);
}

std::string QueryExecutor::ValueAt(uint32_t tag, Level level) {
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

const Record* QueryExecutor::PatientRecord() {
  if (!current_.patient && !current_.patient_key.empty()) {
    auto loaded = LoadRecord(index::PatientRecordKey(current_.patient_key));
    if (loaded.ok() && *loaded) current_.patient = *loaded;
  }
  return current_.patient.get();
}

Result<QueryExecutor::RecordPtr> QueryExecutor::LoadRecord(const std::string& key) {
  auto bytes = store_.GetCatalog(key);
  if (!bytes.ok()) return bytes.status();
  ++stats_.candidates;
  if (!*bytes) return RecordPtr();
  return DecodeRecord(**bytes, key);
}

bool QueryExecutor::MatchLevel(Level level) {
  return std::ranges::all_of(plan_.matchers[static_cast<int>(level)],
                             [&](const auto& m) { return m.Matches(ValueAt(m.tag(), level)); });
}

}  // namespace pacs::dicom::query
