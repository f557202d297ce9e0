#include "association_worker.h"

#include "dcmtk/dcmdata/dcuid.h"

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

// Whether the requester may send us C-STOREs: a storage presentation
// context accepted in the default or SCU role. (A C-GET requester's storage
// contexts are accepted in the SCP role: it receives, it does not send.)
bool AcceptsStoresFromRequester(T_ASC_Association* assoc) {
  if (assoc == nullptr || assoc->params == nullptr) return false;
  const int count = ASC_countPresentationContexts(assoc->params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext context;
    if (ASC_getPresentationContext(assoc->params, i, &context).bad()) continue;
    if (context.resultReason == ASC_P_ACCEPTANCE && context.acceptedRole != ASC_SC_ROLE_SCP &&
        dcmIsaStorageSOPClassUID(context.abstractSyntax, ESSC_All))
      return true;
  }
  return false;
}

}  // namespace

OFCondition AssociationWorker::ReceiveDatasetInto(T_ASC_PresentationContextID& pres_id, DcmOutputStream& sink) {
  if (assoc_ == nullptr) return DIMSE_ILLEGALASSOCIATION;
  return DIMSE_receiveDataSetInFile(assoc_, getDIMSEBlockingMode(), static_cast<int>(getDIMSETimeout()), &pres_id,
                                    &sink, nullptr, nullptr);
}

OFCondition AssociationWorker::run(T_ASC_Association* assoc) {
  assoc_ = assoc;
  acknowledged_ = false;
  OFCondition cond = DcmThreadSCP::run(assoc);
  if (observer_ != nullptr) observer_->OnEnded();
  if (acknowledged_) context_.counters.associations_open.Add(-1);
  acknowledged_ = false;
  grant_.reset();  // frees the calling AE's association slot
  refusal_.reset();
  assoc_ = nullptr;
  if (!store_tally_.empty()) AuditStores();
  std::vector<std::function<void()>> jobs;
  jobs.swap(after_association_);
  for (auto& job : jobs) job();
  storing_ = false;
  return cond;
}

void AssociationWorker::BeginStoring() {
  if (storing_) return;
  storing_ = true;
  StoreRequestHandler& handler = context_.store_handler;
  handler.SenderOpened();
  AfterAssociation([&handler] { handler.SenderClosed(); });
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

void AssociationWorker::notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& desired_action) {
  grant_.reset();
  refusal_.reset();
  AccessRequest request{params.DULparams.callingAPTitle, params.DULparams.calledAPTitle,
                        params.DULparams.callingPresentationAddress};
  auto decision = context_.access.DecideAssociation(request);
  if (auto* grant = std::get_if<AssociationGrant>(&decision)) {
    grant_ = std::move(*grant);
    return;
  }
  refusal_ = std::get<AssociationRefusal>(std::move(decision));
  desired_action = DCMSCP_ACTION_REFUSE_ASSOCIATION;  // DCMTK then calls refuseAssociation()
}

OFCondition AssociationWorker::negotiateAssociation() {
  if (assoc_ == nullptr || !grant_) return DIMSE_ILLEGALASSOCIATION;
  std::string refused;
  OFCondition cond = NegotiatePresentationContexts(
      assoc_->params, [this](AccessService service) { return grant_->Permits(service); }, refused);
  if (cond.bad() || refused.empty()) return cond;
  if (ASC_countAcceptedPresentationContexts(assoc_->params) == 0)
    refusal_ = context_.access.RefuseForServices(*grant_, refused);  // sent instead of "no presentation contexts"
  else
    AccessControl::NoteRefusedContexts(*grant_, refused);
  return cond;
}

OFCondition AssociationWorker::SendEchoRefusal(T_DIMSE_C_EchoRQ& request, T_ASC_PresentationContextID pres_id,
                                               uint16_t status) {
  if (assoc_ == nullptr) return DIMSE_ILLEGALASSOCIATION;
  return DIMSE_sendEchoResponse(assoc_, pres_id, &request, status, nullptr);
}

std::optional<DimseStatus> AssociationWorker::CheckPermitted(AccessService service) {
  if (!grant_) return DimseStatus{0x0124, "not authorized"};  // no association being served: cannot happen
  return context_.access.CheckRequest(*grant_, service);
}

OFCondition AssociationWorker::handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) {
  if (observer_ == nullptr) return HandleCommand(msg, info);
  observer_->OnRequestStart();
  OFCondition cond = HandleCommand(msg, info);
  observer_->OnRequestEnd();
  return cond;
}

OFCondition AssociationWorker::HandleCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) {
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
  if (refusal_ && assoc_ != nullptr) {  // decided, logged and counted by access control
    T_ASC_RejectParameters reject{refusal_->result, refusal_->source, refusal_->reason};
    ASC_rejectAssociation(assoc_, &reject);
    refusal_.reset();
    return;
  }
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
  if (observer_ != nullptr) observer_->OnAcknowledged(Peer());
  // A sender from now on, before its first dataset arrives: the datasets of
  // associations opened together are all encoded at ingest (ingest.cpp).
  if (AcceptsStoresFromRequester(assoc_)) BeginStoring();
}

}  // namespace pacs::dicom::scp
