#include "find_scp.h"

#include <memory>

#include "audit_events.h"
#include "pacs/base/log.h"

namespace pacs::dicom::scp {

OFCondition HandleFindRequest(AssociationWorker& worker, T_DIMSE_C_FindRQ& request,
                              const DcmPresentationContextInfo& info) {
  const ScpContext& context = worker.context();
  RequestAudit audit_event(worker, audit::EventId::kQuery, "C-FIND");  // written by count(), on every way out
  auto count = [&](DimseOutcome outcome) {
    context.counters.CountRequest(DimseService::kFind, outcome);
    audit_event.Finish(outcome);
  };
  const T_ASC_PresentationContextID pres_id = info.presentationContextID;
  DcmDataset* received = nullptr;
  OFCondition cond = worker.receiveFINDRequest(request, pres_id, received);
  std::unique_ptr<DcmDataset> identifier(received);
  if (cond.bad() || !identifier) {
    LogError("C-FIND from " + worker.Peer() + ": identifier could not be received (" + cond.text() + ")");
    count(DimseOutcome::kFailure);
    return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
  }
  const std::string sop_class = request.AffectedSOPClassUID;
  if (auto refused = worker.CheckPermitted(AccessService::kFind)) {
    auto detail = ErrorDetail(refused->error_comment);
    count(DimseOutcome::kFailure);
    return worker.sendFINDResponse(pres_id, request.MessageID, sop_class, nullptr, refused->code, detail.get());
  }
  bool cancelled = false;
  uint64_t sent = 0;
  OFCondition send_cond = EC_Normal;
  const DimseStatus status =
      context.find_handler.HandleFind(*identifier, ModelOf(sop_class), worker.Peer(), [&](DcmDataset& response) {
        send_cond = worker.sendFINDResponse(pres_id, request.MessageID, sop_class, &response,
                                            STATUS_FIND_Pending_MatchesAreContinuing);
        if (send_cond.bad()) return false;
        // C-CANCEL arrives between responses; looking costs a poll of the socket.
        if (++sent % 16 == 0 && worker.checkForCANCEL(pres_id, request.MessageID).good()) {
          cancelled = true;
          return false;
        }
        return true;
      });
  audit_event.SetQuery(*identifier);  // after HandleFind, which converted its values to UTF-8
  audit_event.SetMatches(sent);
  if (send_cond.bad()) {
    LogError("C-FIND from " + worker.Peer() + ": sending a response failed (" + send_cond.text() + ")");
    count(DimseOutcome::kFailure);
    return send_cond;
  }
  if (!status.ok()) {
    auto detail = ErrorDetail(status.error_comment);
    count(DimseOutcome::kFailure);
    return worker.sendFINDResponse(pres_id, request.MessageID, sop_class, nullptr, status.code, detail.get());
  }
  const uint16_t final_status = cancelled ? STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest : STATUS_Success;
  cond = worker.sendFINDResponse(pres_id, request.MessageID, sop_class, nullptr, final_status);
  count(cond.good() ? OutcomeOf(final_status) : DimseOutcome::kFailure);
  return cond;
}

}  // namespace pacs::dicom::scp
