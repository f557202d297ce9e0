#include "index_records.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <unordered_map>

namespace pacs::dicom::index {
namespace {

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

bool GetString(std::string_view& in, std::string& s) {
  uint64_t len = 0;
  if (!GetVarint(in, len) || len > in.size()) return false;
  s.assign(in.data(), len);
  in.remove_prefix(len);
  return true;
}

void PutTally(std::string& out, const std::map<std::string, uint64_t>& tally) {
  PutVarint(out, tally.size());
  for (const auto& [key, count] : tally) {
    PutString(out, key);
    PutVarint(out, count);
  }
}

bool GetTally(std::string_view& in, std::map<std::string, uint64_t>& tally) {
  uint64_t n = 0;
  if (!GetVarint(in, n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string key;
    uint64_t count = 0;
    if (!GetString(in, key) || !GetVarint(in, count)) return false;
    tally[key] = count;
  }
  return true;
}

constexpr uint8_t kRecordVersion = 1;

struct TagLevel {
  uint32_t tag;
  Level level;
};

// What the index keeps per level (PS3.4 C.6.1.1 / C.6.2.1 keys plus the
// optional ones viewers commonly ask for).
const TagLevel kIndexed[] = {
    // patient
    {Tag(0x0010, 0x0010), Level::kPatient},  // PatientName
    {Tag(0x0010, 0x0020), Level::kPatient},  // PatientID
    {Tag(0x0010, 0x0021), Level::kPatient},  // IssuerOfPatientID
    {Tag(0x0010, 0x0030), Level::kPatient},  // PatientBirthDate
    {Tag(0x0010, 0x0032), Level::kPatient},  // PatientBirthTime
    {Tag(0x0010, 0x0040), Level::kPatient},  // PatientSex
    {Tag(0x0010, 0x1000), Level::kPatient},  // OtherPatientIDs
    {Tag(0x0010, 0x1001), Level::kPatient},  // OtherPatientNames
    {Tag(0x0010, 0x2160), Level::kPatient},  // EthnicGroup
    {Tag(0x0010, 0x4000), Level::kPatient},  // PatientComments
    // study
    {Tag(0x0008, 0x0020), Level::kStudy},  // StudyDate
    {Tag(0x0008, 0x0030), Level::kStudy},  // StudyTime
    {Tag(0x0008, 0x0050), Level::kStudy},  // AccessionNumber
    {Tag(0x0008, 0x0090), Level::kStudy},  // ReferringPhysicianName
    {Tag(0x0008, 0x1030), Level::kStudy},  // StudyDescription
    {Tag(0x0008, 0x1060), Level::kStudy},  // NameOfPhysiciansReadingStudy
    {Tag(0x0008, 0x1080), Level::kStudy},  // AdmittingDiagnosesDescription
    {Tag(0x0010, 0x1010), Level::kStudy},  // PatientAge
    {Tag(0x0010, 0x1020), Level::kStudy},  // PatientSize
    {Tag(0x0010, 0x1030), Level::kStudy},  // PatientWeight
    {Tag(0x0010, 0x2180), Level::kStudy},  // Occupation
    {Tag(0x0010, 0x21B0), Level::kStudy},  // AdditionalPatientHistory
    {Tag(0x0020, 0x000D), Level::kStudy},  // StudyInstanceUID
    {Tag(0x0020, 0x0010), Level::kStudy},  // StudyID
    {Tag(0x0032, 0x1032), Level::kStudy},  // RequestingPhysician
    {Tag(0x0032, 0x1060), Level::kStudy},  // RequestedProcedureDescription
    // series
    {Tag(0x0008, 0x0021), Level::kSeries},  // SeriesDate
    {Tag(0x0008, 0x0031), Level::kSeries},  // SeriesTime
    {Tag(0x0008, 0x0060), Level::kSeries},  // Modality
    {Tag(0x0008, 0x0070), Level::kSeries},  // Manufacturer
    {Tag(0x0008, 0x0080), Level::kSeries},  // InstitutionName
    {Tag(0x0008, 0x1010), Level::kSeries},  // StationName
    {Tag(0x0008, 0x103E), Level::kSeries},  // SeriesDescription
    {Tag(0x0008, 0x1050), Level::kSeries},  // PerformingPhysicianName
    {Tag(0x0008, 0x1090), Level::kSeries},  // ManufacturerModelName
    {Tag(0x0018, 0x0015), Level::kSeries},  // BodyPartExamined
    {Tag(0x0018, 0x1030), Level::kSeries},  // ProtocolName
    {Tag(0x0018, 0x5100), Level::kSeries},  // PatientPosition
    {Tag(0x0020, 0x000E), Level::kSeries},  // SeriesInstanceUID
    {Tag(0x0020, 0x0011), Level::kSeries},  // SeriesNumber
    {Tag(0x0020, 0x0052), Level::kSeries},  // FrameOfReferenceUID
    {Tag(0x0020, 0x0060), Level::kSeries},  // Laterality
    {Tag(0x0040, 0x0244), Level::kSeries},  // PerformedProcedureStepStartDate
    {Tag(0x0040, 0x0245), Level::kSeries},  // PerformedProcedureStepStartTime
    {Tag(0x0040, 0x0253), Level::kSeries},  // PerformedProcedureStepID
    // image
    {Tag(0x0008, 0x0008), Level::kImage},  // ImageType
    {Tag(0x0008, 0x0012), Level::kImage},  // InstanceCreationDate
    {Tag(0x0008, 0x0013), Level::kImage},  // InstanceCreationTime
    {Tag(0x0008, 0x0016), Level::kImage},  // SOPClassUID
    {Tag(0x0008, 0x0018), Level::kImage},  // SOPInstanceUID
    {Tag(0x0008, 0x0022), Level::kImage},  // AcquisitionDate
    {Tag(0x0008, 0x0023), Level::kImage},  // ContentDate
    {Tag(0x0008, 0x002A), Level::kImage},  // AcquisitionDateTime
    {Tag(0x0008, 0x0032), Level::kImage},  // AcquisitionTime
    {Tag(0x0008, 0x0033), Level::kImage},  // ContentTime
    {Tag(0x0018, 0x0050), Level::kImage},  // SliceThickness
    {Tag(0x0020, 0x0012), Level::kImage},  // AcquisitionNumber
    {Tag(0x0020, 0x0013), Level::kImage},  // InstanceNumber
    {Tag(0x0020, 0x0032), Level::kImage},  // ImagePositionPatient
    {Tag(0x0020, 0x0037), Level::kImage},  // ImageOrientationPatient
    {Tag(0x0020, 0x1041), Level::kImage},  // SliceLocation
    {Tag(0x0020, 0x4000), Level::kImage},  // ImageComments
    {Tag(0x0028, 0x0002), Level::kImage},  // SamplesPerPixel
    {Tag(0x0028, 0x0004), Level::kImage},  // PhotometricInterpretation
    {Tag(0x0028, 0x0008), Level::kImage},  // NumberOfFrames
    {Tag(0x0028, 0x0010), Level::kImage},  // Rows
    {Tag(0x0028, 0x0011), Level::kImage},  // Columns
    {Tag(0x0028, 0x0100), Level::kImage},  // BitsAllocated
    {Tag(0x0028, 0x0101), Level::kImage},  // BitsStored
    {Tag(0x0042, 0x0010), Level::kImage},  // DocumentTitle
};

// Answered from the records' counters and tallies.
const TagLevel kComputed[] = {
    {Tag(0x0020, 0x1200), Level::kPatient},  // NumberOfPatientRelatedStudies
    {Tag(0x0020, 0x1202), Level::kPatient},  // NumberOfPatientRelatedSeries
    {Tag(0x0020, 0x1204), Level::kPatient},  // NumberOfPatientRelatedInstances
    {Tag(0x0020, 0x1206), Level::kStudy},    // NumberOfStudyRelatedSeries
    {Tag(0x0020, 0x1208), Level::kStudy},    // NumberOfStudyRelatedInstances
    {Tag(0x0008, 0x0061), Level::kStudy},    // ModalitiesInStudy
    {Tag(0x0008, 0x0062), Level::kStudy},    // SOPClassesInStudy
    {Tag(0x0020, 0x1209), Level::kSeries},   // NumberOfSeriesRelatedInstances
};

const std::unordered_map<uint32_t, Level>& LevelTable() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<uint32_t, Level>;
    for (const auto& e : kIndexed) t->emplace(e.tag, e.level);
    for (const auto& e : kComputed) t->emplace(e.tag, e.level);
    return t;
  }();
  return *table;
}

// Appends code point `cp` as UTF-8.
void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t UpperCase(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return cp - 0x20;
  if (cp < 0xE0) return cp;
  if (cp <= 0xFE) return cp == 0xF7 ? cp : cp - 0x20;  // Latin-1, except the division sign
  if (cp == 0xFF) return 0x178;
  if (cp >= 0x100 && cp <= 0x17F) {  // Latin Extended-A: case pairs
    const bool odd_lower = (cp <= 0x137) || (cp >= 0x14A && cp <= 0x177);
    const bool even_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
    if (odd_lower && (cp & 1)) return cp - 1;
    if (even_lower && !(cp & 1)) return cp - 1;
    return cp;
  }
  if (cp == 0x3C2) return 0x3A3;                                           // final sigma
  if (cp >= 0x3B1 && cp <= 0x3C9) return cp - 0x20;                        // Greek
  if (cp >= 0x3AC && cp <= 0x3AF) return cp == 0x3AC ? 0x386 : cp - 0x25;  // accented Greek vowels
  if (cp >= 0x430 && cp <= 0x44F) return cp - 0x20;                        // Cyrillic
  if (cp >= 0x450 && cp <= 0x45F) return cp - 0x50;
  return cp;
}

std::string_view TrimNameGroup(std::string_view g) {
  while (!g.empty() && (g.back() == '^' || g.back() == ' ')) g.remove_suffix(1);
  while (!g.empty() && g.front() == ' ') g.remove_prefix(1);
  return g;
}

}  // namespace

void Attributes::Set(uint32_t tag, std::string value) {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), tag, [](const auto& e, uint32_t t) { return e.first < t; });
  if (it != entries_.end() && it->first == tag)
    it->second = std::move(value);
  else
    entries_.emplace(it, tag, std::move(value));
}

const std::string* Attributes::Find(uint32_t tag) const {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), tag, [](const auto& e, uint32_t t) { return e.first < t; });
  return it != entries_.end() && it->first == tag ? &it->second : nullptr;
}

void Attributes::AppendTo(std::string& out) const {
  PutVarint(out, entries_.size());
  for (const auto& [tag, value] : entries_) {
    PutVarint(out, tag);
    PutString(out, value);
  }
}

bool Attributes::ReadFrom(std::string_view& in, Attributes& out) {
  uint64_t n = 0;
  if (!GetVarint(in, n) || n > in.size()) return false;
  out.entries_.clear();
  out.entries_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t tag = 0;
    std::string value;
    if (!GetVarint(in, tag) || !GetString(in, value)) return false;
    out.entries_.emplace_back(static_cast<uint32_t>(tag), std::move(value));
  }
  return std::is_sorted(out.entries_.begin(), out.entries_.end(),
                        [](const auto& a, const auto& b) { return a.first < b.first; });
}

std::string Record::Encode() const {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  attributes.AppendTo(out);
  PutString(out, patient_key);
  PutVarint(out, studies);
  PutVarint(out, series);
  PutVarint(out, instances);
  PutTally(out, modalities);
  PutTally(out, sop_classes);
  return out;
}

Result<Record> Record::Decode(std::string_view bytes) {
  Record r;
  if (bytes.empty() || static_cast<uint8_t>(bytes.front()) != kRecordVersion)
    return Status::Corruption("query index record has an unknown version (reindex needed)");
  bytes.remove_prefix(1);
  if (!Attributes::ReadFrom(bytes, r.attributes) || !GetString(bytes, r.patient_key) || !GetVarint(bytes, r.studies) ||
      !GetVarint(bytes, r.series) || !GetVarint(bytes, r.instances) || !GetTally(bytes, r.modalities) ||
      !GetTally(bytes, r.sop_classes))
    return Status::Corruption("query index record is truncated");
  return r;
}

std::optional<Level> LevelOf(uint32_t tag) {
  const auto& table = LevelTable();
  auto it = table.find(tag);
  if (it == table.end()) return std::nullopt;
  return it->second;
}

const std::vector<uint32_t>& IndexedTags() {
  static const auto* tags = [] {
    auto* t = new std::vector<uint32_t>;
    for (const auto& e : kIndexed) t->push_back(e.tag);
    std::sort(t->begin(), t->end());
    return t;
  }();
  return *tags;
}

bool IsComputedTag(uint32_t tag) {
  return std::any_of(std::begin(kComputed), std::end(kComputed), [&](const TagLevel& e) { return e.tag == tag; });
}

namespace {

// family + parts joined by NUL. Sized up front and appended piece by piece:
// `"P" + std::string(...)` made GCC 12 warn (-Wrestrict, a false positive
// of its inlined insert at -O2/-O3).
std::string JoinKey(std::string_view family, std::initializer_list<std::string_view> parts) {
  size_t size = family.size() + parts.size();
  for (std::string_view part : parts) size += part.size();
  std::string key;
  key.reserve(size);
  key.append(family);
  bool first = true;
  for (std::string_view part : parts) {
    if (!first) key.push_back('\0');
    key.append(part);
    first = false;
  }
  return key;
}

// Splits off the text up to the next NUL (all of it when there is none).
std::string_view NextPart(std::string_view& rest) {
  const size_t nul = rest.find('\0');
  const std::string_view part = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return part;
}

}  // namespace

std::string PatientKey(std::string_view pid, std::string_view issuer) {
  return JoinKey({}, {pid, issuer});
}
std::string PatientRecordKey(std::string_view patient_key) {
  return JoinKey(kPatientRecords, {patient_key});
}
std::string StudyRecordKey(std::string_view study) {
  return JoinKey(kStudyRecords, {study});
}
std::string SeriesRecordKey(std::string_view study, std::string_view series) {
  return JoinKey(kSeriesRecords, {study, series});
}
std::string InstanceRecordKey(std::string_view study, std::string_view series, std::string_view sop) {
  return JoinKey(kInstanceRecords, {study, series, sop});
}
std::string SeriesLookupKey(std::string_view series) {
  return JoinKey(kSeriesLookups, {series});
}
std::string InstanceLookupKey(std::string_view sop) {
  return JoinKey(kInstanceLookups, {sop});
}
std::string SecondaryKey(std::string_view index, std::string_view value, std::string_view study) {
  return JoinKey(index, {value, study});
}

std::string RangePrefix(std::string_view family, std::string_view value, bool exact) {
  return exact ? JoinKey(family, {value, {}}) : JoinKey(family, {value});
}
std::string RecordsOfStudyPrefix(Level level, std::string_view study) {
  return JoinKey(level == Level::kImage ? kInstanceRecords : kSeriesRecords, {study, {}});
}
std::string InstancesOfSeriesPrefix(std::string_view study, std::string_view series) {
  return JoinKey(kInstanceRecords, {study, series, {}});
}

std::string EncodeInstanceLocation(std::string_view study, std::string_view series) {
  return JoinKey({}, {study, series});
}
InstanceLocation DecodeInstanceLocation(std::string_view value) {
  InstanceLocation location;
  location.study = NextPart(value);
  location.series = value;
  return location;
}

SecondaryKeyParts ParseSecondaryKey(std::string_view key) {
  SecondaryKeyParts parts;
  if (key.size() < 2) return parts;
  key.remove_prefix(2);  // every secondary index prefix is two letters
  parts.value = key.substr(0, key.find('\0'));
  const size_t last = key.rfind('\0');
  if (last != std::string_view::npos) parts.study = key.substr(last + 1);
  return parts;
}
RecordKeyParts ParseRecordKey(std::string_view key) {
  RecordKeyParts parts;
  if (key.empty()) return parts;
  std::string_view rest = key.substr(1);
  parts.study = NextPart(rest);
  parts.series = NextPart(rest);
  parts.sop = rest;
  return parts;
}
std::string_view RecordId(std::string_view key) {
  return key.empty() ? key : key.substr(1);
}

std::string FoldCase(std::string_view utf8) {
  const std::string_view s = utf8;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 0x20 : c));
      ++i;
      continue;
    }
    // Decode one sequence; anything malformed is copied byte for byte.
    int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    bool valid = true;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!valid) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    AppendUtf8(out, UpperCase(cp));
    i += len;
  }
  return out;
}

std::string NormalizeNameGroup(std::string_view group) {
  return FoldCase(TrimNameGroup(group));
}

std::vector<std::string> NameTerms(std::string_view pn) {
  std::vector<std::string> terms;
  size_t start = 0;
  while (start <= pn.size()) {
    size_t end = pn.find('\\', start);
    if (end == std::string_view::npos) end = pn.size();
    std::string_view value = pn.substr(start, end - start);
    size_t gstart = 0;
    while (gstart <= value.size()) {
      size_t gend = value.find('=', gstart);
      if (gend == std::string_view::npos) gend = value.size();
      std::string term = NormalizeNameGroup(value.substr(gstart, gend - gstart));
      if (!term.empty() && std::find(terms.begin(), terms.end(), term) == terms.end()) terms.push_back(term);
      gstart = gend + 1;
    }
    start = end + 1;
  }
  return terms;
}

}  // namespace pacs::dicom::index
