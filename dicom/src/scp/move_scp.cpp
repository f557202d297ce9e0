#include "move_scp.h"

#include <memory>

#include "audit_events.h"
#include "pacs/base/log.h"
#include "store_association.h"

namespace pacs::dicom::scp {

OFCondition HandleMoveRequest(AssociationWorker& worker, T_DIMSE_C_MoveRQ& request,
                              const DcmPresentationContextInfo& info) {
  const ScpContext& context = worker.context();
  RequestAudit audit_event(worker, audit::EventId::kInstancesTransferred, "C-MOVE");  // written by count()
  auto count = [&](DimseOutcome outcome) {
    context.counters.CountRequest(DimseService::kMove, outcome);
    audit_event.Finish(outcome);
  };
  const T_ASC_PresentationContextID pres_id = info.presentationContextID;
  DcmDataset* received = nullptr;
  OFString destination;
  OFCondition cond = worker.receiveMOVERequest(request, pres_id, received, destination);
  std::unique_ptr<DcmDataset> identifier(received);
  if (cond.bad() || !identifier) {
    LogError("C-MOVE from " + worker.Peer() + ": identifier could not be received (" + cond.text() + ")");
    count(DimseOutcome::kFailure);
    return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
  }
  const std::string sop_class = request.AffectedSOPClassUID;
  if (auto refused = worker.CheckPermitted(AccessService::kMove)) {
    auto detail = ErrorDetail(refused->error_comment);
    count(DimseOutcome::kFailure);
    return worker.sendMOVEResponse(pres_id, request.MessageID, sop_class, nullptr, refused->code, detail.get());
  }
  const PeerAddress* peer = context.retrieve_handler.FindMoveDestination(destination);
  if (peer == nullptr) {
    LogWarning("C-MOVE from " + worker.Peer() + " refused: move destination '" + destination +
               "' is not configured (serve --peer NAME=AET@HOST:PORT)");
    auto detail = ErrorDetail("unknown move destination " + std::string(destination));
    count(DimseOutcome::kFailure);
    return worker.sendMOVEResponse(pres_id, request.MessageID, sop_class, nullptr,
                                   STATUS_MOVE_Refused_MoveDestinationUnknown, detail.get());
  }
  Retrieval retrieval =
      context.retrieve_handler.HandleRetrieve(*identifier, ModelOf(sop_class), "C-MOVE", worker.Peer());
  audit_event.SetRetrieval(retrieval, peer->ae_title);
  if (retrieval.refused()) {
    LogWarning("C-MOVE from " + worker.Peer() + " to " + peer->ae_title +
               " refused: " + retrieval.refusal().error_comment);
    auto detail = ErrorDetail(retrieval.refusal().error_comment);
    count(OutcomeOf(retrieval.refusal().code));
    return worker.sendMOVEResponse(pres_id, request.MessageID, sop_class, nullptr, retrieval.refusal().code,
                                   detail.get());
  }
  auto destination_association = StoreAssociation::Open(*peer, context.options.ae_title, retrieval.instances(),
                                                        context.retrieve_handler.store(), context.tls_requestor);
  if (!destination_association.ok()) {
    LogWarning("C-MOVE from " + worker.Peer() + ": " + destination_association.status().ToString() + "; nothing sent");
    auto detail = ErrorDetail(destination_association.status().message());
    count(DimseOutcome::kFailure);
    return worker.sendMOVEResponse(pres_id, request.MessageID, sop_class, nullptr,
                                   STATUS_MOVE_Refused_OutOfResourcesSubOperations, detail.get(), 0, 0,
                                   SubOperations::Clamp(retrieval.counts().remaining), 0);
  }
  const MoveOriginator originator{worker.getPeerAETitle(), request.MessageID};
  CStoreSender& sender = (*destination_association)->sender();
  // Instances are built (decoded, re-encoded) on worker threads ahead of
  // the sender and come back in order; leaving this scope stops them.
  auto prefetch = sender.Prefetch(retrieval.instances(),
                                  {context.options.retrieval_threads, context.options.retrieval_buffer_bytes});
  while (retrieval.HasNext()) {
    CountSubOperation(context.counters, DimseService::kMove,
                      retrieval.Record(sender.Send(retrieval.Next(), prefetch->Next(), &originator)));
    if (!retrieval.HasNext()) break;
    const SubOperations& ops = retrieval.counts();
    cond = worker.sendMOVEResponse(pres_id, request.MessageID, sop_class, nullptr,
                                   STATUS_MOVE_Pending_SubOperationsAreContinuing, nullptr,
                                   SubOperations::Clamp(ops.remaining), SubOperations::Clamp(ops.completed),
                                   SubOperations::Clamp(ops.failed), SubOperations::Clamp(ops.warning));
    if (cond.bad()) {
      count(DimseOutcome::kFailure);
      return cond;
    }
    if (worker.checkForCANCEL(pres_id, request.MessageID).good()) retrieval.Cancel();
  }
  const uint64_t queue_peak = prefetch->peak_bytes();
  const size_t threads = prefetch->threads();
  prefetch.reset();                  // the workers end before the association they build for
  destination_association->reset();  // release the destination association before the final response
  LogInfo("C-MOVE from " + worker.Peer() + " to " + peer->ae_title + ": " + retrieval.Summary() + "; built ahead on " +
          std::to_string(threads) + " thread(s), at most " + std::to_string(queue_peak) + " bytes held");
  const SubOperations& ops = retrieval.counts();
  auto failed = retrieval.FailedIdentifier();
  cond = worker.sendMOVEResponse(pres_id, request.MessageID, sop_class, failed.get(), retrieval.FinalStatus(), nullptr,
                                 SubOperations::Clamp(ops.remaining), SubOperations::Clamp(ops.completed),
                                 SubOperations::Clamp(ops.failed), SubOperations::Clamp(ops.warning));
  count(cond.good() ? OutcomeOf(retrieval.FinalStatus()) : DimseOutcome::kFailure);
  return cond;
}

}  // namespace pacs::dicom::scp
