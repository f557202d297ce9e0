// File: audit_events.h
// The audit events of the DIMSE services (pacs/base/audit.h), built from
// what DCMTK hands them: the peer of an association, the keys of a C-FIND
// identifier, the studies of a retrieval. Each service writes one event per
// request through a RequestAudit; C-STOREs are tallied per association and
// written when it ends (AssociationWorker).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmnet/assoc.h"
#include "pacs/base/audit.h"
#include "pacs/dicom/dicom_server.h"

namespace pacs::dicom::scp {

class AssociationWorker;
class Retrieval;

// The calling AE title and address of an association request (read or not).
audit::Peer AuditPeerOf(const T_ASC_Association* assoc);
// StudyInstanceUID and PatientID of a dataset ("" when absent).
std::pair<std::string, std::string> StudyAndPatientOf(DcmDataset& dataset);
// The keys of a query identifier, keyword (or tag) and value as sent.
std::vector<std::pair<std::string, std::string>> AuditQueryKeys(DcmDataset& identifier);
// A request's outcome as PS3.15 reports it.
audit::Outcome AuditOutcome(DimseOutcome outcome);

// The audit event of one C-FIND, C-MOVE or C-GET, written once by Finish()
// (which each service's count() calls on every way out). One request, its thread.
class RequestAudit {
 public:
  RequestAudit(const AssociationWorker& worker, audit::EventId id, std::string service);
  void SetQuery(DcmDataset& identifier);
  void SetMatches(uint64_t matches) { matches_ = matches; }
  // The retrieval whose instances and counts the event reports; must outlive Finish().
  void SetRetrieval(const Retrieval& retrieval, std::string destination_ae = "");
  void Finish(DimseOutcome outcome);

 private:
  audit::Event event_;
  const Retrieval* retrieval_ = nullptr;
  uint64_t matches_ = 0;
  bool finished_ = false;
};

}  // namespace pacs::dicom::scp
