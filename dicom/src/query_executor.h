// File: query_executor.h (private to pacs::dicom)
// Carries out a QueryPlan on the catalog: reads the chosen index, loads and
// matches the records of each candidate and hands each match to a callback,
// which reads the match's values through ValueFor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "index_records.h"
#include "pacs/base/result.h"
#include "pacs/dicom/query.h"
#include "pacs/engine/store.h"
#include "query_planner.h"

namespace pacs::dicom::query {

// One run of one query. Not thread-safe: each query gets its own executor
// (they only read the store, so any number run at once).
class QueryExecutor {
 public:
  QueryExecutor(const engine::Store& store, QueryPlan plan, const std::string& ae_title);

  // Calls `emit` for each match until it returns false; during the call the
  // accessors below describe the match.
  Status Run(const std::function<bool()>& emit);

  const QueryStats& stats() const { return stats_; }

  // The value of `tag` for the current match, as the response carries it.
  std::string ValueFor(uint32_t tag);
  const std::string& study_uid() const { return current_.study_uid; }
  const std::string& series_uid() const { return current_.series_uid; }
  const std::string& sop_uid() const { return current_.sop_uid; }

 private:
  using RecordPtr = std::shared_ptr<const index::Record>;
  struct Current {
    std::string patient_key;
    RecordPtr patient, study, series, instance;
    std::string study_uid, series_uid, sop_uid;
  };
  using Visit = std::function<bool(const std::string& id, std::string_view record_bytes)>;

  // Choosing and reading a source.
  Result<const Source*> Choose();
  Result<uint64_t> Estimate(const Source& source, uint64_t cap);
  Status ForEach(const Source& source, const Visit& visit);
  Result<std::vector<std::string>> LookUpRecordPrefixes(const Source& source);

  // The levels.
  Status RunPatients(const Source& source);
  Status RunStudies(const Source& source);
  Status RunSeriesOrImages(const Source& source);
  bool VisitRecord(std::string_view key, std::string_view bytes, Status& inner);
  Result<bool> EnterStudy(const std::string& study_uid, std::string_view bytes);
  Result<bool> EnterSeries(const std::string& study_uid, const std::string& series_uid);
  bool Emit();

  // Records and values.
  std::string ValueAt(uint32_t tag, index::Level level);
  const index::Record* PatientRecord();
  Result<RecordPtr> LoadRecord(const std::string& key);
  bool MatchLevel(index::Level level);

  const engine::Store& store_;
  const QueryPlan plan_;
  const std::string& ae_title_;
  const index::Level level_;
  QueryStats stats_;
  std::function<bool()> emit_;
  Current current_;
  // Series and image runs revisit a study (and image runs a series) once per
  // record below it: each is loaded and matched once.
  std::unordered_map<std::string, std::pair<RecordPtr, bool>> study_cache_;
  std::unordered_map<std::string, std::pair<RecordPtr, bool>> series_cache_;
};

}  // namespace pacs::dicom::query
