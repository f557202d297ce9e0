#include "association_worker.h"

#include "audit_events.h"
#include "commitment_scp.h"
#include "echo_scp.h"
#include "find_scp.h"
#include "get_scp.h"
#include "move_scp.h"
#include "pacs/base/log.h"
#include "store_scp.h"

namespace pacs::dicom::scp {

namespace {

// The label of a refusal reason in pacscore_associations_refused_total.
const char* RefusalLabel(DcmRefuseReasonType reason) {
  switch (reason) {
    case DCMSCP_TOO_MANY_ASSOCIATIONS:
      return "too_many_associations";
    case DCMSCP_BAD_APPLICATION_CONTEXT_NAME:
      return "application_context";
    case DCMSCP_CALLING_HOST_NOT_ALLOWED:
      return "calling_host";
    case DCMSCP_CALLED_AE_TITLE_NOT_RECOGNIZED:
      return "called_ae_title";
    case DCMSCP_CALLING_AE_TITLE_NOT_RECOGNIZED:
      return "calling_ae_title";
    case DCMSCP_FORCED:
      return "forced";
    case DCMSCP_NO_IMPLEMENTATION_CLASS_UID:
      return "no_implementation_class_uid";
    case DCMSCP_NO_PRESENTATION_CONTEXTS:
      return "no_presentation_contexts";
    case DCMSCP_CANNOT_FORK:  // not in a thread pool
    case DCMSCP_INTERNAL_ERROR:
      break;
  }
  return "internal_error";
}

}  // namespace

OFCondition AssociationWorker::run(T_ASC_Association* assoc) {
  assoc_ = assoc;
  acknowledged_ = false;
  OFCondition cond = DcmThreadSCP::run(assoc);
  if (acknowledged_) context_.counters.associations_open.Add(-1);
  acknowledged_ = false;
  assoc_ = nullptr;
  if (!store_tally_.empty()) AuditStores();
  std::vector<std::function<void()>> jobs;
  jobs.swap(after_association_);
  for (auto& job : jobs) job();
  return cond;
}

bool AssociationWorker::DataWaiting() const {
  return assoc_ != nullptr && ASC_dataWaiting(assoc_, 0);
}

OFCondition AssociationWorker::Dispatch(T_DIMSE_Message& message, T_ASC_PresentationContextID pres_id) {
  DcmPresentationContextInfo info;
  getPresentationContextInfo(assoc_, pres_id, info);
  return handleIncomingCommand(&message, info);
}

std::string AssociationWorker::Peer() const {
  return std::string(getPeerAETitle()) + "@" + getPeerIP();
}

std::vector<StorageContext> AssociationWorker::AcceptedStorageContexts() const {
  if (assoc_ == nullptr) return {};
  return scp::AcceptedStorageContexts(assoc_->params);
}

OFCondition AssociationWorker::negotiateAssociation() {
  if (assoc_ == nullptr) return DIMSE_ILLEGALASSOCIATION;
  return NegotiatePresentationContexts(assoc_->params);
}

OFCondition AssociationWorker::handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) {
  switch (msg->CommandField) {
    case DIMSE_C_STORE_RQ:
      return HandleStoreRequest(*this, msg->msg.CStoreRQ, info);
    case DIMSE_C_FIND_RQ:
      return HandleFindRequest(*this, msg->msg.CFindRQ, info);
    case DIMSE_C_MOVE_RQ:
      return HandleMoveRequest(*this, msg->msg.CMoveRQ, info);
    case DIMSE_C_GET_RQ:
      return HandleGetRequest(*this, msg->msg.CGetRQ, info);
    case DIMSE_C_ECHO_RQ:
      return HandleEchoRequest(*this, msg->msg.CEchoRQ, info);
    case DIMSE_N_ACTION_RQ:
      return HandleCommitmentRequest(*this, msg->msg.NActionRQ, info);
    default:
      return DcmThreadSCP::handleIncomingCommand(msg, info);  // DCMTK refuses what we do not serve
  }
}

void AssociationWorker::AuditStores() {
  audit::Audit({.id = audit::EventId::kInstancesTransferred,
                .action = audit::Action::kCreate,
                .outcome = store_tally_.outcome(),
                .service = "C-STORE",
                .peer = audit_peer_,
                .our_ae = context_.options.ae_title,
                .studies = store_tally_.studies(),
                .counts = {{"stored", store_tally_.succeeded()}, {"failed", store_tally_.failed()}}});
  store_tally_ = {};
}

void AssociationWorker::refuseAssociation(DcmRefuseReasonType reason) {
  context_.counters.CountRefusal(RefusalLabel(reason));
  audit::SecurityAlert(audit::EventType::kNodeAuthentication, AuditPeerOf(assoc_), "DICOM association",
                       std::string("association refused: ") + RefusalLabel(reason));
  DcmThreadSCP::refuseAssociation(reason);
}

void AssociationWorker::notifyAssociationAcknowledge() {
  context_.counters.associations.Increment();
  context_.counters.associations_open.Add(1);
  acknowledged_ = true;
  audit_peer_ = AuditPeerOf(assoc_);
  LogInfo("association from " + Peer() + " accepted");
}

}  // namespace pacs::dicom::scp
