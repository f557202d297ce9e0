#include "pacs/dicom/index.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcspchrs.h"
#include "index_records.h"
#include "pacs/dicom/instance_split.h"

namespace pacs::dicom {
namespace {

using index::Level;
using index::Record;
using index::Tag;

// VRs whose values SpecificCharacterSet applies to.
bool IsTextVr(DcmEVR vr) {
  return vr == EVR_SH || vr == EVR_LO || vr == EVR_ST || vr == EVR_LT || vr == EVR_UT || vr == EVR_PN || vr == EVR_UC;
}

const char* DelimitersFor(DcmEVR vr) {
  if (vr == EVR_PN) return "\\^=";
  if (vr == EVR_SH || vr == EVR_LO || vr == EVR_UC) return "\\";
  return "";
}

class IndexWriter final : public engine::CatalogObserver {
 public:
  Status OnInstanceAdded(engine::CatalogTxn& txn, const engine::InstanceRecord& record,
                         std::string_view payload) override;
  Status OnInstanceRemoved(engine::CatalogTxn& txn, const engine::InstanceRecord& record) override;
};

Result<std::optional<Record>> Load(engine::CatalogTxn& txn, const std::string& key) {
  auto bytes = txn.Get(key);
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return std::optional<Record>();
  auto rec = Record::Decode(**bytes);
  if (!rec.ok()) return rec.status().WithContext("index record " + key);
  return std::optional<Record>(std::move(*rec));
}

const std::string& Value(const index::Attributes& a, uint32_t tag) {
  static const std::string kEmpty;
  const std::string* v = a.Find(tag);
  return v ? *v : kEmpty;
}

// Secondary index entries that point at a study (all but ModalitiesInStudy,
// which follows the study's series).
struct StudyIndexEntry {
  std::string key;
  std::string value;
};
std::vector<StudyIndexEntry> StudyIndexEntries(const Record& study, const std::string& study_uid) {
  std::vector<StudyIndexEntry> out;
  const auto& a = study.attributes;
  const std::string pid = Value(a, Tag(0x0010, 0x0020)), issuer = Value(a, Tag(0x0010, 0x0021));
  out.push_back({index::SecondaryKey(index::kPatientIdIndex, index::PatientKey(pid, issuer), study_uid), ""});
  for (const auto& term : index::NameTerms(Value(a, Tag(0x0010, 0x0010))))
    out.push_back({index::SecondaryKey(index::kNameIndex, term, study_uid), study.patient_key});
  out.push_back({index::SecondaryKey(index::kDateIndex, Value(a, Tag(0x0008, 0x0020)), study_uid), ""});
  const std::string& accession = Value(a, Tag(0x0008, 0x0050));
  if (!accession.empty()) out.push_back({index::SecondaryKey(index::kAccessionIndex, accession, study_uid), ""});
  return out;
}

// Builds the attributes of each level from an instance's payload; falls back
// to the identifying UIDs of the engine's record when the payload is empty.
Status SplitPayload(const engine::InstanceRecord& record, std::string_view payload, index::Attributes (&levels)[4]) {
  index::Attributes all;
  if (!payload.empty() && !index::Attributes::ReadFrom(payload, all))
    return Status::Corruption("catalog payload of " + record.sop_instance_uid + " does not decode");
  for (const auto& [tag, value] : all.entries())
    if (auto level = index::LevelOf(tag)) levels[static_cast<int>(*level)].Set(tag, value);
  // The engine's identifiers are authoritative (they key every record).
  levels[0].Set(Tag(0x0010, 0x0020), record.patient_id);
  levels[0].Set(Tag(0x0010, 0x0021), record.issuer_of_patient_id);
  levels[1].Set(Tag(0x0020, 0x000D), record.study_instance_uid);
  levels[2].Set(Tag(0x0020, 0x000E), record.series_instance_uid);
  levels[3].Set(Tag(0x0008, 0x0018), record.sop_instance_uid);
  levels[3].Set(Tag(0x0008, 0x0016), record.sop_class_uid);
  return Status::Ok();
}

Status IndexWriter::OnInstanceAdded(engine::CatalogTxn& txn, const engine::InstanceRecord& record,
                                    std::string_view payload) {
  index::Attributes levels[4];
  PACS_RETURN_IF_ERROR(SplitPayload(record, payload, levels));
  const std::string& study_uid = record.study_instance_uid;
  const std::string& series_uid = record.series_instance_uid;
  const std::string instance_key = index::InstanceRecordKey(study_uid, series_uid, record.sop_instance_uid);

  // A stale entry for this SOP Instance (another study or series) goes first.
  auto existing = txn.Get(index::InstanceLookupKey(record.sop_instance_uid));
  if (!existing.ok()) return existing.status();
  if (*existing) PACS_RETURN_IF_ERROR(OnInstanceRemoved(txn, record));

  const std::string study_key = index::StudyRecordKey(study_uid);
  auto study = Load(txn, study_key);
  if (!study.ok()) return study.status();
  const bool new_study = !*study;
  if (new_study) {
    Record s;
    s.attributes = levels[1];
    for (const auto& [tag, value] : levels[0].entries()) s.attributes.Set(tag, value);
    s.patient_key = index::PatientKey(record.patient_id, record.issuer_of_patient_id);
    for (const auto& e : StudyIndexEntries(s, study_uid)) txn.Put(e.key, e.value);
    *study = std::move(s);
  }
  const std::string patient_key = index::PatientRecordKey((*study)->patient_key);
  auto patient = Load(txn, patient_key);
  if (!patient.ok()) return patient.status();
  if (!*patient) {
    Record p;
    p.attributes = levels[0];
    *patient = std::move(p);
  }

  const std::string series_key = index::SeriesRecordKey(study_uid, series_uid);
  auto series = Load(txn, series_key);
  if (!series.ok()) return series.status();
  if (!*series) {
    Record e;
    e.attributes = levels[2];
    const std::string& modality = Value(e.attributes, Tag(0x0008, 0x0060));
    if (!modality.empty() && (*study)->modalities[modality]++ == 0)
      txn.Put(index::SecondaryKey(index::kModalityIndex, modality, study_uid), "");
    (*study)->series += 1;
    (*patient)->series += 1;
    txn.Put(index::SeriesLookupKey(series_uid), study_uid);
    *series = std::move(e);
  }
  if (new_study) (*patient)->studies += 1;

  (*series)->instances += 1;
  (*study)->instances += 1;
  (*study)->sop_classes[record.sop_class_uid] += 1;
  (*patient)->instances += 1;

  Record instance;
  instance.attributes = std::move(levels[3]);
  txn.Put(instance_key, instance.Encode());
  txn.Put(index::InstanceLookupKey(record.sop_instance_uid), index::EncodeInstanceLocation(study_uid, series_uid));
  txn.Put(series_key, (*series)->Encode());
  txn.Put(study_key, (*study)->Encode());
  txn.Put(patient_key, (*patient)->Encode());
  return Status::Ok();
}

Status IndexWriter::OnInstanceRemoved(engine::CatalogTxn& txn, const engine::InstanceRecord& record) {
  const std::string lookup_key = index::InstanceLookupKey(record.sop_instance_uid);
  auto where = txn.Get(lookup_key);
  if (!where.ok()) return where.status();
  if (!*where) return Status::Ok();  // never indexed (stored before the index existed)
  const index::InstanceLocation location = index::DecodeInstanceLocation(**where);
  const std::string study_uid(location.study), series_uid(location.series);

  const std::string study_key = index::StudyRecordKey(study_uid);
  const std::string series_key = index::SeriesRecordKey(study_uid, series_uid);
  auto study = Load(txn, study_key);
  auto series = Load(txn, series_key);
  if (!study.ok()) return study.status();
  if (!series.ok()) return series.status();
  if (!*study || !*series)
    return Status::Corruption("query index has instance " + record.sop_instance_uid + " without its study or series");
  const std::string patient_key = index::PatientRecordKey((*study)->patient_key);
  auto patient = Load(txn, patient_key);
  if (!patient.ok()) return patient.status();
  if (!*patient) return Status::Corruption("query index has study " + study_uid + " without its patient");

  auto decrement = [](uint64_t& n) { n = n > 0 ? n - 1 : 0; };
  txn.Delete(index::InstanceRecordKey(study_uid, series_uid, record.sop_instance_uid));
  txn.Delete(lookup_key);
  decrement((*series)->instances);
  decrement((*study)->instances);
  decrement((*patient)->instances);
  if (auto it = (*study)->sop_classes.find(record.sop_class_uid); it != (*study)->sop_classes.end())
    if (--it->second == 0) (*study)->sop_classes.erase(it);

  if ((*series)->instances == 0) {
    txn.Delete(series_key);
    txn.Delete(index::SeriesLookupKey(series_uid));
    decrement((*study)->series);
    decrement((*patient)->series);
    const std::string& modality = Value((*series)->attributes, Tag(0x0008, 0x0060));
    if (auto it = (*study)->modalities.find(modality); !modality.empty() && it != (*study)->modalities.end()) {
      if (--it->second == 0) {
        (*study)->modalities.erase(it);
        txn.Delete(index::SecondaryKey(index::kModalityIndex, modality, study_uid));
      }
    }
  } else {
    txn.Put(series_key, (*series)->Encode());
  }

  if ((*study)->instances == 0) {
    for (const auto& e : StudyIndexEntries(**study, study_uid)) txn.Delete(e.key);
    for (const auto& [modality, count] : (*study)->modalities)
      txn.Delete(index::SecondaryKey(index::kModalityIndex, modality, study_uid));
    txn.Delete(study_key);
    decrement((*patient)->studies);
  } else {
    txn.Put(study_key, (*study)->Encode());
  }

  if ((*patient)->studies == 0)
    txn.Delete(patient_key);
  else
    txn.Put(patient_key, (*patient)->Encode());
  return Status::Ok();
}

}  // namespace

std::string BuildCatalogPayload(DcmItem& dataset) {
  DcmSpecificCharacterSet converter;
  OFString charset;
  dataset.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  // ASCII and UTF-8 need no conversion; anything else goes through iconv.
  const bool convert = !charset.empty() && charset != "ISO_IR 192" && charset != "ISO_IR 6" &&
                       converter.selectCharacterSet(charset, "ISO_IR 192").good();
  index::Attributes attributes;
  for (uint32_t tag : index::IndexedTags()) {
    DcmElement* element = nullptr;
    if (dataset
            .findAndGetElement(DcmTagKey(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF)), element,
                               OFFalse)
            .bad() ||
        element == nullptr)
      continue;
    OFString value;
    if (element->getOFStringArray(value, OFTrue).bad()) continue;
    if (convert && IsTextVr(element->ident())) {
      OFString utf8;
      if (converter.convertString(value, utf8, DelimitersFor(element->ident())).good()) value = utf8;
    }
    attributes.Set(tag, std::string(value.c_str(), value.length()));
  }
  std::string out;
  attributes.AppendTo(out);
  return out;
}

engine::CatalogObserver& IndexObserver() {
  static IndexWriter writer;
  return writer;
}

Result<engine::CatalogRebuildReport> RebuildIndex(engine::Store& store,
                                                  const std::function<void(uint64_t, uint64_t)>& progress) {
  return store.RebuildCatalog(
      [](const engine::InstanceRecord& record, std::string_view header_bytes) -> Result<std::string> {
        DcmDataset dataset;
        PACS_RETURN_IF_ERROR(DecodeStoredHeader(header_bytes, record, dataset));
        return BuildCatalogPayload(dataset);
      },
      progress);
}

}  // namespace pacs::dicom
