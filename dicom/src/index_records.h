// File: index_records.h (private to pacs::dicom)
// The query index's records and keys in the catalog column family, shared by
// the writer (index.cpp, a CatalogObserver) and the reader (query_planner,
// query_executor). Keys are built and split only here.
// docs/conformance.md lists the attributes; this comment is the key schema:
//
//   P<pid>\0<issuer>                          patient record
//   S<study>                                  study record (patient attributes copied in)
//   E<study>\0<series>                        series record
//   I<study>\0<series>\0<sop>                 instance record
//   e<series>            -> <study>           series lookup
//   i<sop>               -> <study>\0<series> instance lookup
//   xp<pid>\0<issuer>\0<study>                studies of a patient
//   xn<folded name>\0<study> -> <patient key> PatientName, one entry per component group
//   xd<StudyDate>\0<study>                    studies by date
//   xa<AccessionNumber>\0<study>              studies by accession number
//   xm<Modality>\0<study>                     ModalitiesInStudy
//
// All text is UTF-8 (converted from the instance's SpecificCharacterSet at
// ingest); changing that or the records' encoding means a full reindex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::dicom::index {

enum class Level : uint8_t { kPatient = 0, kStudy = 1, kSeries = 2, kImage = 3 };

constexpr uint32_t Tag(uint16_t group, uint16_t element) {
  return (uint32_t{group} << 16) | element;
}

// Attribute values by tag, sorted by tag; multi-valued ones joined with '\'.
class Attributes {
 public:
  void Set(uint32_t tag, std::string value);
  const std::string* Find(uint32_t tag) const;
  const std::vector<std::pair<uint32_t, std::string>>& entries() const { return entries_; }
  void AppendTo(std::string& out) const;
  static bool ReadFrom(std::string_view& in, Attributes& out);

 private:
  std::vector<std::pair<uint32_t, std::string>> entries_;
};

// One patient, study, series or instance. Counters and the modality and SOP
// class tallies are kept where they are answered from (study, patient).
struct Record {
  Attributes attributes;
  std::string patient_key;                      // study records: the patient the study is filed under
  uint64_t studies = 0;                         // patient
  uint64_t series = 0;                          // patient, study
  uint64_t instances = 0;                       // patient, study, series
  std::map<std::string, uint64_t> modalities;   // study: Modality -> number of series
  std::map<std::string, uint64_t> sop_classes;  // study: SOP Class UID -> number of instances

  std::string Encode() const;
  static Result<Record> Decode(std::string_view bytes);
};

// The level whose record holds `tag`, for the attributes the index keeps.
std::optional<Level> LevelOf(uint32_t tag);
// Every tag the index keeps (the payload extracts these).
const std::vector<uint32_t>& IndexedTags();
// Tags whose value the index computes (counters, ModalitiesInStudy, ...).
bool IsComputedTag(uint32_t tag);

// Every key is built and split here, nowhere else: the schema above is the
// whole contract between the writer and the reader.

// The patient a study is filed under: PatientID and IssuerOfPatientID.
std::string PatientKey(std::string_view pid, std::string_view issuer);

std::string PatientRecordKey(std::string_view patient_key);
std::string StudyRecordKey(std::string_view study);
std::string SeriesRecordKey(std::string_view study, std::string_view series);
std::string InstanceRecordKey(std::string_view study, std::string_view series, std::string_view sop);
std::string SeriesLookupKey(std::string_view series);
std::string InstanceLookupKey(std::string_view sop);

// Key families: the first bytes of every key of a kind.
inline constexpr std::string_view kPatientRecords = "P";
inline constexpr std::string_view kStudyRecords = "S";
inline constexpr std::string_view kSeriesRecords = "E";
inline constexpr std::string_view kInstanceRecords = "I";
inline constexpr std::string_view kSeriesLookups = "e";
inline constexpr std::string_view kInstanceLookups = "i";
// Secondary index keys: prefix + value + '\0' + study UID.
inline constexpr std::string_view kPatientIdIndex = "xp";
inline constexpr std::string_view kNameIndex = "xn";
inline constexpr std::string_view kDateIndex = "xd";
inline constexpr std::string_view kAccessionIndex = "xa";
inline constexpr std::string_view kModalityIndex = "xm";
std::string SecondaryKey(std::string_view index, std::string_view value, std::string_view study);

// The prefix of the keys of `family` whose first component (the indexed
// value of a secondary index, the PatientID of a patient record, the study
// UID of a study record) equals `value` when `exact`, or starts with it.
// An empty non-exact value: the whole family.
std::string RangePrefix(std::string_view family, std::string_view value, bool exact);
// The series (Level::kSeries) or instance (Level::kImage) records of a study.
std::string RecordsOfStudyPrefix(Level level, std::string_view study);
// The instance records of one series.
std::string InstancesOfSeriesPrefix(std::string_view study, std::string_view series);

// Where an instance is filed: the value of its instance lookup key.
struct InstanceLocation {
  std::string_view study;
  std::string_view series;
};
std::string EncodeInstanceLocation(std::string_view study, std::string_view series);
InstanceLocation DecodeInstanceLocation(std::string_view value);

// The parts of the keys (views into the key; a missing part is empty).
struct SecondaryKeyParts {
  std::string_view value;  // the indexed value (for xp, the PatientID)
  std::string_view study;
};
SecondaryKeyParts ParseSecondaryKey(std::string_view key);
struct RecordKeyParts {
  std::string_view study;
  std::string_view series;  // series and instance records
  std::string_view sop;     // instance records
};
// A series (E) or instance (I) record key.
RecordKeyParts ParseRecordKey(std::string_view key);
// A patient (P) or study (S) record key: the patient key or the study UID.
std::string_view RecordId(std::string_view key);

// Upper-cases Latin, Greek and Cyrillic letters of a UTF-8 string: PN
// matching is case-insensitive.
std::string FoldCase(std::string_view utf8);
// PatientName index terms: each non-empty component group of each value,
// folded, trailing '^' and spaces removed.
std::vector<std::string> NameTerms(std::string_view pn);
// One PN component group or whole value normalised the same way.
std::string NormalizeNameGroup(std::string_view group);

}  // namespace pacs::dicom::index
