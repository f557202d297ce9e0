// File: query_planner.h (private to pacs::dicom)
// The C-FIND planner: from a parsed identifier, which index of the query
// index to read and which key ranges of it. The plan is a plain value that
// query_executor.h carries out. When a query offers several indexes, which
// is most selective depends on the data: the executor probes them.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "index_records.h"
#include "pacs/dicom/query.h"
#include "query_matching.h"

namespace pacs::dicom::query {

// The keys of an index whose first component (the indexed value) equals
// `value` (exact) or starts with it. {"", false} is the whole index.
struct KeyRange {
  std::string value;
  bool exact = false;
  bool operator==(const KeyRange&) const = default;
};

// One way to find the candidates of a query.
struct Source {
  enum class Kind {
    kUids,        // `uids` are the candidates themselves (StudyInstanceUIDs)
    kUidLookups,  // `uids` are looked up in `family` (series or instance lookups) to find their records
    kIndex,       // `ranges` of secondary index `family`; each entry names a study (or a patient)
    kRecords,     // `ranges` of record family `family`; each entry is a candidate record
  };
  Kind kind = Kind::kRecords;
  std::string_view family;  // an index::k... constant
  std::vector<std::string> uids;
  std::vector<KeyRange> ranges;
  // kIndex: an entry whose indexed value this rejects names no candidate.
  std::optional<KeyMatcher> filter;
  // kIndex: the entry's value (a patient key) names the candidate, not the
  // study UID at the end of its key.
  bool ids_in_value = false;
  // The same candidate can be found more than once: the executor skips repeats.
  bool may_repeat = false;

  // What QueryStats::index_used reports: "uid", the index ("xa"), the
  // record family read by a range ("P") or "scan:S" for a whole family.
  std::string name() const;
};

struct QueryPlan {
  index::Level level = index::Level::kStudy;
  // The non-universal keys, by the level of the record that holds them.
  std::array<std::vector<KeyMatcher>, 4> matchers;
  // A non-universal key the index cannot match (ignored).
  bool unsupported_keys = false;
  // Alternatives, the more specific first; never empty.
  std::vector<Source> sources;
  // Series and image levels: the sources give studies, and the records of
  // `level` are read study by study.
  bool per_study = false;
};

QueryPlan PlanQuery(const Query& query);

}  // namespace pacs::dicom::query
