// The Storage Commitment client behind commit_scu.h: DcmSCU for the request
// (N-ACTION) and the report on the same association; the DIMSE calls of
// dimse.h on a listening network for a report on a new association.
#include "pacs/dicom/commit_scu.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/scu.h"
#include "scu_config.h"

namespace pacs::dicom {
namespace {

constexpr uint16_t kActionRequestCommitment = 1;

std::string Get(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFString(tag, value);
  return value;
}

// A network listening on a port from construction (so that a node answering
// quickly finds it bound), which accepts one association carrying an
// N-EVENT-REPORT of the Storage Commitment Push Model.
class ReportListener {
 public:
  static Result<std::unique_ptr<ReportListener>> Bind(uint16_t port, int timeout_seconds) {
    std::unique_ptr<ReportListener> listener(new ReportListener());
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, port, timeout_seconds, &listener->network_);
    if (cond.bad()) return Status::IOError("cannot listen on port " + std::to_string(port) + ": " + cond.text());
    return listener;
  }
  ~ReportListener() {
    if (network_ != nullptr) ASC_dropNetwork(&network_);
  }
  ReportListener(const ReportListener&) = delete;
  ReportListener& operator=(const ReportListener&) = delete;

  // The Event Type ID and Event Information of the first N-EVENT-REPORT on
  // the next association, which is then released by its requester.
  Result<std::pair<uint16_t, std::unique_ptr<DcmDataset>>> Receive(int timeout_seconds) {
    T_ASC_Association* assoc = nullptr;
    OFCondition cond = ASC_receiveAssociation(network_, &assoc, ASC_MAXIMUMPDUSIZE, nullptr, nullptr, OFFalse,
                                              DUL_NOBLOCK, timeout_seconds);
    if (cond.bad()) {
      if (assoc != nullptr) ASC_destroyAssociation(&assoc);
      return Status::IOError(std::string("no association came with the report within ") +
                             std::to_string(timeout_seconds) + " s: " + cond.text());
    }
    auto result = Serve(assoc, timeout_seconds);
    ASC_dropSCPAssociation(assoc);
    ASC_destroyAssociation(&assoc);
    return result;
  }

 private:
  ReportListener() = default;

  static Result<std::pair<uint16_t, std::unique_ptr<DcmDataset>>> Serve(T_ASC_Association* assoc, int timeout_seconds) {
    // Only the Storage Commitment class; the node proposes it with itself
    // as SCP (PS3.4 J.3.3), and we accept that role.
    const int count = ASC_countPresentationContexts(assoc->params);
    for (int i = 0; i < count; ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(assoc->params, i, &pc).bad()) continue;
      std::string ts;
      for (int k = 0; k < pc.transferSyntaxCount && ts.empty(); ++k)
        if (std::string(pc.proposedTransferSyntaxes[k]) == UID_LittleEndianExplicitTransferSyntax ||
            std::string(pc.proposedTransferSyntaxes[k]) == UID_LittleEndianImplicitTransferSyntax)
          ts = pc.proposedTransferSyntaxes[k];
      if (std::string(pc.abstractSyntax) != UID_StorageCommitmentPushModelSOPClass)
        ASC_refusePresentationContext(assoc->params, pc.presentationContextID, ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
      else if (ts.empty())
        ASC_refusePresentationContext(assoc->params, pc.presentationContextID, ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
      else
        ASC_acceptPresentationContext(assoc->params, pc.presentationContextID, ts.c_str(), pc.proposedRole);
    }
    const std::string caller = assoc->params->DULparams.callingAPTitle;
    if (ASC_countAcceptedPresentationContexts(assoc->params) == 0) {
      T_ASC_RejectParameters reject = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON};
      ASC_rejectAssociation(assoc, &reject);
      return Status::InvalidArgument("the association from " + caller + " proposed no Storage Commitment context");
    }
    OFCondition cond = ASC_acknowledgeAssociation(assoc);
    if (cond.bad()) return Status::IOError("cannot accept the association from " + caller + ": " + cond.text());

    std::optional<std::pair<uint16_t, std::unique_ptr<DcmDataset>>> report;
    for (;;) {
      T_ASC_PresentationContextID pres_id = 0;
      T_DIMSE_Message message;
      std::memset(&message, 0, sizeof message);
      cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, timeout_seconds, &pres_id, &message, nullptr);
      if (cond == DUL_PEERREQUESTEDRELEASE) {
        ASC_acknowledgeRelease(assoc);
        break;
      }
      if (cond.bad()) break;
      if (message.CommandField != DIMSE_N_EVENT_REPORT_RQ) {
        ASC_abortAssociation(assoc);
        return Status::InvalidArgument("the association from " + caller + " sent a command other than N-EVENT-REPORT");
      }
      const T_DIMSE_N_EventReportRQ request = message.msg.NEventReportRQ;
      DcmDataset* received = nullptr;
      if (request.DataSetType != DIMSE_DATASET_NULL) {
        cond = DIMSE_receiveDataSetInMemory(assoc, DIMSE_NONBLOCKING, timeout_seconds, &pres_id, &received, nullptr,
                                            nullptr);
        if (cond.bad()) return Status::IOError(std::string("cannot receive the report's dataset: ") + cond.text());
      }
      std::unique_ptr<DcmDataset> information(received);
      T_DIMSE_Message response;
      std::memset(&response, 0, sizeof response);
      response.CommandField = DIMSE_N_EVENT_REPORT_RSP;
      T_DIMSE_N_EventReportRSP& rsp = response.msg.NEventReportRSP;
      rsp.MessageIDBeingRespondedTo = request.MessageID;
      rsp.DimseStatus = STATUS_Success;
      rsp.DataSetType = DIMSE_DATASET_NULL;
      rsp.EventTypeID = request.EventTypeID;
      OFStandard::strlcpy(rsp.AffectedSOPClassUID, request.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
      OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, request.AffectedSOPInstanceUID,
                          sizeof rsp.AffectedSOPInstanceUID);
      rsp.opts =
          O_NEVENTREPORT_AFFECTEDSOPCLASSUID | O_NEVENTREPORT_AFFECTEDSOPINSTANCEUID | O_NEVENTREPORT_EVENTTYPEID;
      cond = DIMSE_sendMessageUsingMemoryData(assoc, pres_id, &response, nullptr, nullptr, nullptr, nullptr);
      if (cond.bad()) return Status::IOError(std::string("cannot answer the N-EVENT-REPORT: ") + cond.text());
      if (!report) report.emplace(request.EventTypeID, std::move(information));
    }
    if (!report) return Status::IOError("the association from " + caller + " ended without an N-EVENT-REPORT");
    return std::move(*report);
  }

  T_ASC_Network* network_ = nullptr;
};

// Fills `report` from the Event Information of the node's N-EVENT-REPORT.
Status ReadReport(uint16_t event_type, DcmDataset* information, CommitmentReport& report) {
  if (information == nullptr) return Status::InvalidArgument("the N-EVENT-REPORT carried no Event Information");
  const std::string transaction = Get(*information, DCM_TransactionUID);
  if (transaction != report.transaction_uid)
    return Status::InvalidArgument("the N-EVENT-REPORT is for transaction " + transaction + ", not " +
                                   report.transaction_uid);
  report.event_type = event_type;
  // By SOP Class and Instance UID: the same instance may be asked for under two classes.
  std::map<std::pair<std::string, std::string>, CommitmentOutcome*> by_uid;
  for (auto& outcome : report.instances)
    by_uid[{outcome.reference.sop_class_uid, outcome.reference.sop_instance_uid}] = &outcome;
  for (const DcmTagKey& tag : {DCM_ReferencedSOPSequence, DCM_FailedSOPSequence}) {
    DcmSequenceOfItems* sequence = nullptr;
    if (information->findAndGetSequence(tag, sequence).bad() || sequence == nullptr) continue;
    for (unsigned long i = 0; i < sequence->card(); ++i) {
      DcmItem* item = sequence->getItem(i);
      auto it = by_uid.find({Get(*item, DCM_ReferencedSOPClassUID), Get(*item, DCM_ReferencedSOPInstanceUID)});
      if (it == by_uid.end()) continue;  // not one we asked for: ignored
      CommitmentOutcome& outcome = *it->second;
      outcome.reported = true;
      outcome.committed = tag == DCM_ReferencedSOPSequence;
      Uint16 reason = 0;
      if (!outcome.committed) item->findAndGetUint16(DCM_FailureReason, reason);
      outcome.failure_reason = reason;
    }
  }
  return Status::Ok();
}

}  // namespace

bool CommitmentReport::all_committed() const {
  for (const auto& outcome : instances)
    if (!outcome.committed) return false;
  return !instances.empty();
}

std::string FailureReasonName(uint16_t reason) {
  switch (reason) {
    case 0x0110:
      return "processing failure";
    case 0x0112:
      return "no such object instance";
    case 0x0119:
      return "class/instance conflict";
    case 0x0122:
      return "referenced SOP class not supported";
    case 0x0131:
      return "duplicate transaction UID";
    case 0x0213:
      return "resource limitation";
    default:
      return "failure reason " + std::to_string(reason);
  }
}

Result<std::vector<CommitmentReference>> ReadCommitmentReferences(const std::vector<std::string>& files) {
  std::vector<CommitmentReference> references;
  for (const auto& file : files) {
    DcmFileFormat format;
    // The UIDs are near the start: stop before Pixel Data.
    OFCondition cond = format.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                               ERM_autoDetect, DCM_PixelData);
    if (cond.bad()) return Status::InvalidArgument(file + ": not a DICOM file DCMTK can read (" + cond.text() + ")");
    CommitmentReference reference{file, Get(*format.getDataset(), DCM_SOPClassUID),
                                  Get(*format.getDataset(), DCM_SOPInstanceUID)};
    if (reference.sop_class_uid.empty() || reference.sop_instance_uid.empty())
      return Status::InvalidArgument(file + ": no SOP Class UID or SOP Instance UID");
    references.push_back(std::move(reference));
  }
  return references;
}

Result<CommitmentReport> RequestCommitment(const CommitmentRequestOptions& options,
                                           const std::vector<CommitmentReference>& references) {
  const ScuPeer& peer = options.peer;
  const std::string peer_name = peer.called_aet + "@" + peer.host + ":" + std::to_string(peer.port);
  if (references.empty()) return Status::InvalidArgument("no instances to commit");
  std::unique_ptr<ReportListener> listener;
  if (options.listen_port != 0) {
    auto bound = ReportListener::Bind(options.listen_port, options.timeout_seconds);
    if (!bound.ok()) return bound.status();
    listener = std::move(*bound);
  }

  CommitmentReport report;
  char uid[100];
  report.transaction_uid = dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  report.on_new_association = listener != nullptr;
  for (const auto& reference : references) report.instances.push_back({reference});
  DcmDataset action_information;
  action_information.putAndInsertString(DCM_TransactionUID, report.transaction_uid.c_str());
  for (const auto& reference : references) {
    DcmItem* item = nullptr;
    if (action_information.findOrCreateSequenceItem(DCM_ReferencedSOPSequence, item, -2).bad() || item == nullptr)
      return Status::Internal("cannot build the Referenced SOP Sequence");
    item->putAndInsertString(DCM_ReferencedSOPClassUID, reference.sop_class_uid.c_str());
    item->putAndInsertString(DCM_ReferencedSOPInstanceUID, reference.sop_instance_uid.c_str());
  }

  DcmSCU scu;
  ConfigureScu(scu, peer);
  scu.setDIMSETimeout(static_cast<Uint32>(options.timeout_seconds));
  OFCondition cond = scu.addPresentationContext(UID_StorageCommitmentPushModelSOPClass, PlainSyntaxes());
  if (cond.good()) cond = scu.initNetwork();
  if (cond.good()) cond = scu.negotiateAssociation();
  if (cond.bad()) return Status::IOError("cannot open an association to " + peer_name + ": " + cond.text());
  const T_ASC_PresentationContextID pres_id =
      scu.findAnyPresentationContextID(UID_StorageCommitmentPushModelSOPClass, UID_LittleEndianExplicitTransferSyntax);
  if (pres_id == 0) {
    scu.releaseAssociation();
    return Status::Unsupported(peer_name + " does not accept the Storage Commitment Push Model SOP class");
  }
  const auto start = std::chrono::steady_clock::now();
  Uint16 action_status = 0;
  cond = scu.sendACTIONRequest(pres_id, UID_StorageCommitmentPushModelSOPInstance, kActionRequestCommitment,
                               &action_information, action_status);
  if (cond.bad()) {
    scu.abortAssociation();
    return Status::IOError("N-ACTION to " + peer_name + " failed: " + cond.text());
  }
  if (action_status != STATUS_Success) {
    scu.releaseAssociation();
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04X", action_status);
    return Status::Unsupported(peer_name + " refused the commitment request with status " + hex);
  }

  uint16_t event_type = 0;
  std::unique_ptr<DcmDataset> information;
  if (listener) {
    scu.releaseAssociation();
    auto received = listener->Receive(options.timeout_seconds);
    if (!received.ok()) return received.status().WithContext("waiting for the report of " + peer_name);
    event_type = received->first;
    information = std::move(received->second);
  } else {
    DcmDataset* received = nullptr;
    Uint16 event_type_id = 0;
    cond = scu.handleEVENTREPORTRequest(received, event_type_id, options.timeout_seconds);
    information.reset(received);
    if (cond.bad()) {
      scu.abortAssociation();
      return Status::IOError("no N-EVENT-REPORT from " + peer_name + " on the association: " + cond.text());
    }
    event_type = event_type_id;
    scu.releaseAssociation();
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PACS_RETURN_IF_ERROR(ReadReport(event_type, information.get(), report));
  return report;
}

}  // namespace pacs::dicom
