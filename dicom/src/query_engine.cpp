// C-FIND's DICOM side: parses request identifiers and builds response
// identifiers. Which index to read is query_planner's; reading it and
// matching query_executor's.
#include <algorithm>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcvr.h"
#include "index_records.h"
#include "pacs/dicom/query.h"
#include "query_executor.h"
#include "query_planner.h"

namespace pacs::dicom {
namespace {

using index::Tag;

constexpr uint32_t kSpecificCharacterSet = Tag(0x0008, 0x0005);
constexpr uint32_t kQueryRetrieveLevel = Tag(0x0008, 0x0052);

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
  std::string name(level);
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
  q.requested_charset = charset;
  if (!charset.empty() && charset != "ISO_IR 192") {
    OFCondition cond = identifier.convertToUTF8();
    if (cond.bad())
      return Status::InvalidArgument("identifier text cannot be converted from SpecificCharacterSet '" +
                                     std::string(charset) + "' to UTF-8: " + cond.text());
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
  query::QueryExecutor runner(impl_->store, query::PlanQuery(query), impl_->ae_title);
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
  query::QueryExecutor runner(impl_->store, query::PlanQuery(images), impl_->ae_title);
  std::vector<InstanceRef> out;
  Status st = runner.Run([&] {
    out.push_back({runner.study_uid(), runner.series_uid(), runner.sop_uid()});
    return true;
  });
  PACS_RETURN_IF_ERROR(st);
  return out;
}

std::vector<uint32_t> QueryableTags(QueryLevel level) {
  const index::Level wanted = level == QueryLevel::kPatient  ? index::Level::kPatient
                              : level == QueryLevel::kStudy  ? index::Level::kStudy
                              : level == QueryLevel::kSeries ? index::Level::kSeries
                                                             : index::Level::kImage;
  std::vector<uint32_t> tags;
  for (const uint32_t tag : index::IndexedTags())
    if (index::LevelOf(tag) == wanted) tags.push_back(tag);
  for (const uint32_t tag : {Tag(0x0020, 0x1200), Tag(0x0020, 0x1202), Tag(0x0020, 0x1204), Tag(0x0020, 0x1206),
                             Tag(0x0020, 0x1208), Tag(0x0008, 0x0061), Tag(0x0008, 0x0062), Tag(0x0020, 0x1209)})
    if (index::IsComputedTag(tag) && index::LevelOf(tag) == wanted) tags.push_back(tag);
  std::sort(tags.begin(), tags.end());
  return tags;
}

std::string ConvertResponseCharset(DcmDataset& response, const std::string& requested_charset) {
  OFString current;
  response.findAndGetOFStringArray(DCM_SpecificCharacterSet, current);
  if (current != "ISO_IR 192" || requested_charset.empty() || requested_charset == "ISO_IR 192") return current;
  // Try the requester's own character set; keep UTF-8 when a value does not fit.
  DcmDataset converted(response);
  if (converted.convertCharacterSet("ISO_IR 192", requested_charset, 0, OFTrue).bad()) return current;
  response = converted;
  return requested_charset;
}

}  // namespace pacs::dicom
