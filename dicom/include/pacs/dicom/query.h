// File: query.h
// C-FIND (and the matching half of C-MOVE/C-GET) on the query index: parses a
// request identifier, picks the most selective index for it, filters the
// rest, and builds response identifiers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "pacs/base/result.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

enum class QueryLevel { kPatient, kStudy, kSeries, kImage };
enum class InformationModel { kPatientRoot, kStudyRoot };

// One attribute of a request identifier, value converted to UTF-8.
struct QueryKey {
  uint32_t tag = 0;
  std::string vr;  // two letters, from the identifier (dictionary VR if unknown)
  std::string value;
  bool is_sequence = false;
};

struct Query {
  InformationModel model = InformationModel::kStudyRoot;
  QueryLevel level = QueryLevel::kStudy;
  std::vector<QueryKey> keys;     // in identifier order, QueryRetrieveLevel and SpecificCharacterSet excluded
  std::string requested_charset;  // the identifier's SpecificCharacterSet ("" = default repertoire)
};

// Parses an identifier (converting its text to UTF-8 in place). Fails with
// InvalidArgument when QueryRetrieveLevel is missing or unknown, or when the
// level does not exist in the model (STUDY is the top of Study Root).
Result<Query> ParseIdentifier(DcmDataset& identifier, InformationModel model);

// A stored instance a retrieval designates.
struct InstanceRef {
  std::string study_uid;
  std::string series_uid;
  std::string sop_instance_uid;
};

// What a query run reports besides its matches.
struct QueryStats {
  std::string index_used;   // "xp", "xn", ..., "uid" or "scan:S" (full scan of a level)
  uint64_t candidates = 0;  // records read
  uint64_t matches = 0;
  bool unsupported_keys = false;  // a non-universal key the index cannot match (ignored)
};

// Thread-safe: reads only, any number of threads at once.
class QueryEngine {
 public:
  QueryEngine(const engine::Store& store, std::string retrieve_ae_title);
  ~QueryEngine();

  // Calls `on_match` with each response identifier (values in UTF-8, with
  // SpecificCharacterSet set to ISO_IR 192 when one is not ASCII) until it
  // returns false.
  Result<QueryStats> Find(const Query& query, const std::function<bool(DcmDataset& response)>& on_match) const;

  // The instances a C-MOVE / C-GET identifier designates, in study, series,
  // instance order.
  Result<std::vector<InstanceRef>> Resolve(const Query& query) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The attributes the query index holds or computes for records of `level`
// (PATIENT, STUDY, SERIES or IMAGE), in tag order: what a query at that
// level can match and return (QIDO-RS includefield=all lists these for the
// level and the levels above it).
std::vector<uint32_t> QueryableTags(QueryLevel level);

// Converts a response built by QueryEngine::Find to the character set the
// request used, when every value can be represented in it; otherwise leaves
// it in UTF-8. Returns the character set the response is in.
std::string ConvertResponseCharset(DcmDataset& response, const std::string& requested_charset);

}  // namespace pacs::dicom
