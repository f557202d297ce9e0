#include "get_scp.h"

#include <cstring>
#include <memory>

#include "audit_events.h"
#include "pacs/base/log.h"
#include "store_sender.h"

namespace pacs::dicom::scp {
namespace {

// The requester's own association, as the C-STORE sender sees it.
class RequesterChannel final : public DimseChannel {
 public:
  explicit RequesterChannel(AssociationWorker& worker) : worker_(worker) {}
  OFCondition SendMessage(T_ASC_PresentationContextID pres_id, T_DIMSE_Message& message, DcmDataset* dataset) override {
    return worker_.sendDIMSEMessage(pres_id, &message, dataset);
  }
  OFCondition ReceiveCommand(T_ASC_PresentationContextID& pres_id, T_DIMSE_Message& message) override {
    DcmDataset* detail = nullptr;
    OFCondition cond = worker_.receiveDIMSECommand(&pres_id, &message, &detail);
    delete detail;
    return cond;
  }

 private:
  AssociationWorker& worker_;
};

// DcmSCP has no sendGETResponse: the C-GET-RSP is built here.
OFCondition SendGetResponse(AssociationWorker& worker, T_ASC_PresentationContextID pres_id,
                            const T_DIMSE_C_GetRQ& request, uint16_t status, const SubOperations* counts,
                            DcmDataset* identifier, DcmDataset* detail) {
  T_DIMSE_Message rsp;
  std::memset(&rsp, 0, sizeof rsp);
  rsp.CommandField = DIMSE_C_GET_RSP;
  T_DIMSE_C_GetRSP& get = rsp.msg.CGetRSP;
  get.MessageIDBeingRespondedTo = request.MessageID;
  OFStandard::strlcpy(get.AffectedSOPClassUID, request.AffectedSOPClassUID, sizeof get.AffectedSOPClassUID);
  get.DimseStatus = status;
  get.DataSetType = identifier ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
  get.opts = O_GET_AFFECTEDSOPCLASSUID;
  if (counts != nullptr) {
    get.NumberOfRemainingSubOperations = SubOperations::Clamp(counts->remaining);
    get.NumberOfCompletedSubOperations = SubOperations::Clamp(counts->completed);
    get.NumberOfFailedSubOperations = SubOperations::Clamp(counts->failed);
    get.NumberOfWarningSubOperations = SubOperations::Clamp(counts->warning);
    get.opts |= O_GET_NUMBEROFREMAININGSUBOPERATIONS | O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS |
                O_GET_NUMBEROFFAILEDSUBOPERATIONS | O_GET_NUMBEROFWARNINGSUBOPERATIONS;
  }
  return worker.sendDIMSEMessage(pres_id, &rsp, identifier, detail);
}

}  // namespace

OFCondition HandleGetRequest(AssociationWorker& worker, T_DIMSE_C_GetRQ& request,
                             const DcmPresentationContextInfo& info) {
  const ScpContext& context = worker.context();
  RequestAudit audit_event(worker, audit::EventId::kInstancesTransferred, "C-GET");  // written by count()
  auto count = [&](DimseOutcome outcome) {
    context.counters.CountRequest(DimseService::kGet, outcome);
    audit_event.Finish(outcome);
  };
  T_ASC_PresentationContextID pres_id = info.presentationContextID;
  DcmDataset* received = nullptr;
  OFCondition cond = worker.receiveDIMSEDataset(&pres_id, &received);
  std::unique_ptr<DcmDataset> identifier(received);
  if (cond.bad() || !identifier) {
    LogError("C-GET from " + worker.Peer() + ": identifier could not be received (" + cond.text() + ")");
    count(DimseOutcome::kFailure);
    return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
  }
  const std::string sop_class = request.AffectedSOPClassUID;
  if (auto refused = worker.CheckPermitted(AccessService::kGet)) {
    auto detail = ErrorDetail(refused->error_comment);
    count(DimseOutcome::kFailure);
    return SendGetResponse(worker, pres_id, request, refused->code, nullptr, nullptr, detail.get());
  }
  Retrieval retrieval =
      context.retrieve_handler.HandleRetrieve(*identifier, ModelOf(sop_class), "C-GET", worker.Peer());
  audit_event.SetRetrieval(retrieval);
  if (retrieval.refused()) {
    LogWarning("C-GET from " + worker.Peer() + " refused: " + retrieval.refusal().error_comment);
    auto detail = ErrorDetail(retrieval.refusal().error_comment);
    count(OutcomeOf(retrieval.refusal().code));
    return SendGetResponse(worker, pres_id, request, retrieval.refusal().code, nullptr, nullptr, detail.get());
  }
  RequesterChannel channel(worker);
  // Sub-operations are numbered on from the C-GET request's own message ID.
  CStoreSender sender(channel, worker.AcceptedStorageContexts(), context.retrieve_handler.store(),
                      CStoreSender::SyntaxChoice::kAnyAccepted, "the requester",
                      static_cast<uint16_t>(request.MessageID + 1));
  // Instances are built (decoded, re-encoded) on worker threads ahead of
  // the sender and come back in order; leaving this scope stops them.
  auto prefetch = sender.Prefetch(retrieval.instances(),
                                  {context.options.retrieval_threads, context.options.retrieval_buffer_bytes});
  while (retrieval.HasNext()) {
    const Result<uint16_t> status = sender.Send(retrieval.Next(), prefetch->Next());
    CountSubOperation(context.counters, DimseService::kGet, retrieval.Record(status));
    // The association failed under a sub-operation: nothing more can be said on it.
    if (!status.ok() && status.status().code() == StatusCode::kIOError) {
      count(DimseOutcome::kFailure);
      return DIMSE_RECEIVEFAILED;
    }
    if (!retrieval.HasNext()) break;
    const SubOperations& ops = retrieval.counts();
    cond = SendGetResponse(worker, pres_id, request, STATUS_GET_Pending_SubOperationsAreContinuing, &ops, nullptr,
                           nullptr);
    if (cond.bad()) {
      count(DimseOutcome::kFailure);
      return cond;
    }
    if (worker.checkForCANCEL(pres_id, request.MessageID).good()) retrieval.Cancel();
  }
  const uint64_t queue_peak = prefetch->peak_bytes();
  const size_t threads = prefetch->threads();
  prefetch.reset();  // a cancelled retrieval stops building at once
  LogInfo("C-GET from " + worker.Peer() + ": " + retrieval.Summary() + "; built ahead on " + std::to_string(threads) +
          " thread(s), at most " + std::to_string(queue_peak) + " bytes held");
  auto failed = retrieval.FailedIdentifier();
  cond = SendGetResponse(worker, pres_id, request, retrieval.FinalStatus(), &retrieval.counts(), failed.get(), nullptr);
  count(cond.good() ? OutcomeOf(retrieval.FinalStatus()) : DimseOutcome::kFailure);
  return cond;
}

}  // namespace pacs::dicom::scp
