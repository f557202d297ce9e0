#include "audit_events.h"

#include <cstdio>
#include <map>

#include "association_worker.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "retrieval.h"

namespace pacs::dicom::scp {

audit::Peer AuditPeerOf(const T_ASC_Association* assoc) {
  if (assoc == nullptr || assoc->params == nullptr) return {};
  const DUL_ASSOCIATESERVICEPARAMETERS& dul = assoc->params->DULparams;
  std::string host = dul.callingPresentationAddress;
  // DCMTK writes "host:port" for some transports; the port says nothing about the peer.
  if (const size_t colon = host.rfind(':'); colon != std::string::npos && host.find(':') == colon) host.resize(colon);
  return {.ae = dul.callingAPTitle, .host = host};
}

std::pair<std::string, std::string> StudyAndPatientOf(DcmDataset& dataset) {
  OFString study;
  OFString patient;
  dataset.findAndGetOFStringArray(DCM_StudyInstanceUID, study);
  dataset.findAndGetOFStringArray(DCM_PatientID, patient);
  return {study.c_str(), patient.c_str()};
}

std::vector<std::pair<std::string, std::string>> AuditQueryKeys(DcmDataset& identifier) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (unsigned long i = 0; i < identifier.card(); ++i) {
    DcmElement* element = identifier.getElement(i);
    if (element == nullptr) continue;
    DcmTag tag = element->getTag();
    std::string name = tag.getTagName();
    if (name.empty() || name == DcmTag_ERROR_TagName) {
      char text[16];
      std::snprintf(text, sizeof text, "(%04X,%04X)", tag.getGroup(), tag.getElement());
      name = text;
    }
    OFString value;
    if (element->ident() == EVR_SQ)
      value = "(sequence)";
    else
      element->getOFStringArray(value);
    keys.emplace_back(std::move(name), value.c_str());
  }
  return keys;
}

audit::Outcome AuditOutcome(DimseOutcome outcome) {
  switch (outcome) {
    case DimseOutcome::kSuccess:
    case DimseOutcome::kWarning:
      return audit::Outcome::kSuccess;
    case DimseOutcome::kCancel:
      return audit::Outcome::kMinorFailure;
    case DimseOutcome::kFailure:
      break;
  }
  return audit::Outcome::kSeriousFailure;
}

RequestAudit::RequestAudit(const AssociationWorker& worker, audit::EventId id, std::string service) {
  event_.id = id;
  event_.service = std::move(service);
  event_.peer = {.ae = worker.getPeerAETitle(), .host = worker.getPeerIP()};
  event_.our_ae = worker.context().options.ae_title;
}

void RequestAudit::SetQuery(DcmDataset& identifier) {
  event_.query = AuditQueryKeys(identifier);
  // The study and patient a query names, when it names them.
  auto [study, patient] = StudyAndPatientOf(identifier);
  if (!study.empty() || !patient.empty()) event_.studies.push_back({study, patient, 0});
}

void RequestAudit::SetRetrieval(const Retrieval& retrieval, std::string destination_ae) {
  retrieval_ = &retrieval;
  event_.destination_ae = std::move(destination_ae);
}

void RequestAudit::Finish(DimseOutcome outcome) {
  if (finished_ || !audit::AuditEnabled()) return;
  finished_ = true;
  event_.outcome = AuditOutcome(outcome);
  if (event_.id == audit::EventId::kQuery) event_.counts = {{"matches", matches_}};
  if (retrieval_ != nullptr) {
    // The studies the retrieval designates, each with how many of its instances were sent.
    std::map<std::string, size_t> index;
    std::vector<audit::StudyRef> studies;
    for (const auto& record : retrieval_->instances()) {
      auto [it, added] = index.emplace(record.study_instance_uid, studies.size());
      if (added) studies.push_back({record.study_instance_uid, record.patient_id, 0});
      ++studies[it->second].instances;
    }
    event_.studies = std::move(studies);
    const SubOperations& ops = retrieval_->counts();
    event_.counts = {{"instances", retrieval_->instances().size()},
                     {"completed", ops.completed},
                     {"failed", ops.failed},
                     {"warning", ops.warning},
                     {"remaining", ops.remaining}};
    if (ops.failed > 0 && event_.outcome == audit::Outcome::kSuccess) event_.outcome = audit::Outcome::kMinorFailure;
  }
  audit::Audit(event_);
}

}  // namespace pacs::dicom::scp
