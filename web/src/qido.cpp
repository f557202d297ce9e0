// QIDO-RS (PS3.18 10.6): search for studies, series and instances. The
// parameters become a C-FIND query (pacs/dicom/query.h) and run on the same
// query engine, planner and matching as C-FIND: one matching engine. Its
// response identifiers become DICOM JSON, with RetrieveURL added.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcvrur.h"
#include "dicomweb_common.h"
#include "pacs/dicom/query.h"
#include "pacs/web/dicomweb.h"

namespace pacs::web {

namespace {

using dicom::QueryLevel;

constexpr uint32_t T(uint16_t group, uint16_t element) {
  return (uint32_t{group} << 16) | element;
}

// PS3.18 Tables 10.6.3-3 to -5: what each level returns without includefield
// (the attributes the index holds; TimezoneOffsetFromUTC it does not).
const std::vector<uint32_t> kStudyDefaults = {
    T(0x0008, 0x0020), T(0x0008, 0x0030), T(0x0008, 0x0050), T(0x0008, 0x0061), T(0x0008, 0x0090),
    T(0x0008, 0x1030), T(0x0010, 0x0010), T(0x0010, 0x0020), T(0x0010, 0x0030), T(0x0010, 0x0040),
    T(0x0020, 0x000D), T(0x0020, 0x0010), T(0x0020, 0x1206), T(0x0020, 0x1208)};
const std::vector<uint32_t> kSeriesDefaults = {T(0x0008, 0x0060), T(0x0008, 0x103E), T(0x0020, 0x000D),
                                               T(0x0020, 0x000E), T(0x0020, 0x0011), T(0x0020, 0x1209),
                                               T(0x0040, 0x0244), T(0x0040, 0x0245)};
const std::vector<uint32_t> kInstanceDefaults = {T(0x0008, 0x0016), T(0x0008, 0x0018), T(0x0020, 0x000D),
                                                 T(0x0020, 0x000E), T(0x0020, 0x0013), T(0x0028, 0x0010),
                                                 T(0x0028, 0x0011), T(0x0028, 0x0100), T(0x0028, 0x0008)};

// A keyword ("PatientName") or a tag ("00100010"); nested paths are not supported.
Result<DcmTag> ResolveAttribute(const std::string& name) {
  if (name.find('.') != std::string::npos)
    return Status::InvalidArgument("attribute '" + name + "': nested attributes (sequence paths) are not supported");
  if (name.size() == 8 && std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isxdigit(c); })) {
    const auto value = static_cast<uint32_t>(std::stoul(name, nullptr, 16));
    return DcmTag(static_cast<Uint16>(value >> 16), static_cast<Uint16>(value & 0xFFFF));
  }
  DcmTag tag;
  if (name.empty() || DcmTag::findTagFromName(name.c_str(), tag).bad())
    return Status::InvalidArgument("'" + name.substr(0, 100) + "' is neither a DICOM keyword nor a tag (8 hex digits)");
  return tag;
}

Result<uint64_t> ParseCount(const std::string& name, const std::string& text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size())
    return Status::InvalidArgument(name + "='" + text.substr(0, 40) + "' is not a non-negative integer");
  return value;
}

struct Search {
  QueryLevel level = QueryLevel::kStudy;
  std::string study;   // from the path
  std::string series;  // from the path
};

// The query the request's parameters make, or a 400's message.
Result<dicom::Query> BuildQuery(const Request& request, const Search& search, uint64_t& limit, uint64_t& offset) {
  dicom::Query query;
  query.model = dicom::InformationModel::kStudyRoot;
  query.level = search.level;
  std::map<uint32_t, dicom::QueryKey> keys;
  auto add_key = [&](const DcmTag& tag, const std::string& value) {
    dicom::QueryKey key;
    key.tag = (uint32_t{tag.getGroup()} << 16) | tag.getElement();
    key.vr = DcmVR(tag.getEVR()).getVRName();
    key.is_sequence = tag.getEVR() == EVR_SQ;
    key.value = value;
    auto [it, inserted] = keys.emplace(key.tag, key);
    if (!inserted && !value.empty()) it->second.value = value;
  };
  auto add_return = [&](uint32_t tag) {
    add_key(DcmTag(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF)), "");
  };
  limit = UINT64_MAX;
  offset = 0;
  bool all_fields = false;
  for (const auto& [name, value] : request.query) {
    if (name == "limit") {
      auto parsed = ParseCount(name, value);
      if (!parsed.ok()) return parsed.status();
      limit = *parsed;
    } else if (name == "offset") {
      auto parsed = ParseCount(name, value);
      if (!parsed.ok()) return parsed.status();
      offset = *parsed;
    } else if (name == "fuzzymatching") {
      // Names always match case-insensitively, as in C-FIND (docs/conformance.md).
      if (value != "true" && value != "false")
        return Status::InvalidArgument("fuzzymatching='" + value.substr(0, 40) + "' is neither true nor false");
    } else if (name == "includefield") {
      size_t start = 0;
      while (start <= value.size()) {
        size_t end = value.find(',', start);
        if (end == std::string::npos) end = value.size();
        const std::string field = value.substr(start, end - start);
        start = end + 1;
        if (field.empty()) continue;
        if (field == "all") {
          all_fields = true;
          continue;
        }
        auto tag = ResolveAttribute(field);
        if (!tag.ok()) return tag.status().WithContext("includefield");
        add_key(*tag, "");
      }
    } else {
      auto tag = ResolveAttribute(name);
      if (!tag.ok()) return tag.status().WithContext("search parameter");
      if (tag->getEVR() == EVR_SQ)
        return Status::InvalidArgument("search parameter " + name + ": a sequence cannot be matched");
      std::string match = value;
      // UID lists are comma-separated in QIDO, backslash-separated in C-FIND.
      if (tag->getEVR() == EVR_UI) std::replace(match.begin(), match.end(), ',', '\\');
      if (match.empty()) {
        add_key(*tag, "");
      } else {
        add_key(*tag, match);
      }
    }
  }
  const std::vector<uint32_t>& defaults = search.level == QueryLevel::kStudy    ? kStudyDefaults
                                          : search.level == QueryLevel::kSeries ? kSeriesDefaults
                                                                                : kInstanceDefaults;
  for (const uint32_t tag : defaults) add_return(tag);
  // /series and /instances without a study in the path also answer which study.
  if (search.level != QueryLevel::kStudy && search.study.empty())
    for (const uint32_t tag : kStudyDefaults) add_return(tag);
  if (search.level == QueryLevel::kImage && search.series.empty())
    for (const uint32_t tag : kSeriesDefaults) add_return(tag);
  if (all_fields) {
    for (QueryLevel level : {QueryLevel::kPatient, QueryLevel::kStudy, QueryLevel::kSeries, QueryLevel::kImage}) {
      if (static_cast<int>(level) > static_cast<int>(search.level)) break;
      for (const uint32_t tag : dicom::QueryableTags(level)) add_return(tag);
    }
  }
  if (!search.study.empty()) add_key(DcmTag(DCM_StudyInstanceUID), search.study);
  if (!search.series.empty()) add_key(DcmTag(DCM_SeriesInstanceUID), search.series);
  for (auto& [tag, key] : keys) query.keys.push_back(std::move(key));
  return query;
}

std::string Get(DcmDataset& dataset, const DcmTagKey& tag) {
  OFString value;
  dataset.findAndGetOFString(tag, value);
  return std::string(value);
}

Response RunSearch(const Request& request, const DicomWebContext& context, Search search) {
  std::string bad_accept;
  if (!AcceptsDicomJson(request, bad_accept))
    return bad_accept.empty() ? Response::Error(406, "QIDO-RS answers application/dicom+json only")
                              : Response::Error(400, bad_accept);
  search.study = request.Param("study");
  search.series = request.Param("series");
  if (!search.study.empty() && !IsValidUid(search.study))
    return Response::Error(400, "'" + search.study.substr(0, 80) + "' is not a valid Study Instance UID");
  if (!search.series.empty() && !IsValidUid(search.series))
    return Response::Error(400, "'" + search.series.substr(0, 80) + "' is not a valid Series Instance UID");
  uint64_t limit = 0;
  uint64_t offset = 0;
  auto query = BuildQuery(request, search, limit, offset);
  if (!query.ok()) return Response::Error(400, query.status().message());

  std::string json = "[";
  uint64_t seen = 0;
  uint64_t written = 0;
  bool more = false;
  Status failed;
  auto stats = context.query().Find(*query, [&](DcmDataset& match) {
    if (seen++ < offset) return true;
    if (written == limit) {
      more = true;
      return false;
    }
    std::string uri = "/studies/" + Get(match, DCM_StudyInstanceUID);
    if (search.level != QueryLevel::kStudy) uri += "/series/" + Get(match, DCM_SeriesInstanceUID);
    if (search.level == QueryLevel::kImage) uri += "/instances/" + Get(match, DCM_SOPInstanceUID);
    match.putAndInsertOFStringArray(DCM_RetrieveURL, context.Uri(uri));
    match.putAndInsertString(DCM_InstanceAvailability, "ONLINE");
    auto object = DatasetToJson(match);
    if (!object.ok()) {
      failed = object.status();
      return false;
    }
    json += (written++ == 0 ? "" : ",") + *object;
    return true;
  });
  if (!stats.ok()) return Response::Error(500, "search failed: " + stats.status().message());
  if (!failed.ok()) return Response::Error(500, failed.message());
  json += "]";
  Response response = DicomJsonResponse(request, std::move(json));
  if (more) response.With("Warning", "299 pacscore \"There are additional results that can be requested\"");
  if (stats->unsupported_keys)
    response.With("Warning", "299 pacscore \"Some search keys are not indexed and were ignored\"");
  return response;
}

}  // namespace

void RegisterQidoRoutes(Router& router, DicomWebContext& context) {
  const std::string& root = context.options().root;
  auto route = [&](const std::string& path, QueryLevel level) {
    router.Add("GET", root + path,
               [&context, level](const Request& request) { return RunSearch(request, context, {.level = level}); });
  };
  route("/studies", QueryLevel::kStudy);
  route("/series", QueryLevel::kSeries);
  route("/instances", QueryLevel::kImage);
  route("/studies/{study}/series", QueryLevel::kSeries);
  route("/studies/{study}/instances", QueryLevel::kImage);
  route("/studies/{study}/series/{series}/instances", QueryLevel::kImage);
}

}  // namespace pacs::web
