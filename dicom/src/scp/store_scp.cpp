#include "store_scp.h"

#include <chrono>
#include <memory>

#include "audit_events.h"
#include "dataset_sink.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dimse_status.h"
#include "pacs/base/log.h"

namespace pacs::dicom::scp {
namespace {

SinkLimits LimitsOf(const ServerOptions& options, bool discard) {
  SinkLimits limits{.max_dataset_bytes = options.max_dataset_bytes,
                    .spill_threshold_bytes = options.spill_threshold_bytes,
                    .spill_dir = options.spill_dir};
  // Nothing will be stored: take no byte, DCMTK drains the dataset.
  if (discard) limits.max_dataset_bytes = 1;
  return limits;
}

}  // namespace

OFCondition HandleStoreRequest(AssociationWorker& worker, T_DIMSE_C_StoreRQ& request,
                               const DcmPresentationContextInfo& info) {
  const ScpContext& context = worker.context();
  const auto start = std::chrono::steady_clock::now();
  const auto answer = [&](uint16_t status) {
    OFCondition sent = worker.sendSTOREResponse(info.presentationContextID, request, status);
    context.counters.CountRequest(DimseService::kStore, sent.good() ? OutcomeOf(status) : DimseOutcome::kFailure);
    context.counters.store_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return sent;
  };
  // A full disk or a read-only store: refuse before receiving anything big.
  const Status ready = context.store_handler.ReadyToStore();
  DatasetSink sink(LimitsOf(context.options, !ready.ok()));
  if (ready.ok() && worker.LastDatasetBytes() > 0) {
    const uint64_t last = worker.LastDatasetBytes();
    sink.Reserve(last + last / 16 + 4096);
  }
  T_ASC_PresentationContextID pres_id = info.presentationContextID;
  OFCondition cond = worker.ReceiveDatasetInto(pres_id, sink.stream());
  worker.NoteDatasetBytes(sink.bytes());
  context.counters.store_received_bytes.Increment(sink.bytes());
  if (!sink.good() && cond.module() == OFM_dcmnet && cond.code() == DIMSEC_OUTOFRESOURCES) {
    // The dataset was read to its end and dropped: answer, and serve on.
    if (!ready.ok())
      LogError("C-STORE from " + worker.Peer() + " of " + request.AffectedSOPInstanceUID +
               " refused: " + ready.message() + "; answered A700 (Out of Resources)");
    else
      LogError("C-STORE from " + worker.Peer() + " of " + request.AffectedSOPInstanceUID +
               " refused: " + sink.problem() + " (" + std::to_string(sink.bytes()) +
               " bytes received, dropped); answered A700 (Out of Resources), nothing stored");
    return answer(STATUS_STORE_Refused_OutOfResources);
  }
  if (cond.bad()) {
    context.counters.receive_failures.Increment();
    context.counters.CountRequest(DimseService::kStore, DimseOutcome::kFailure);
    worker.TallyStore("", "", false);
    LogError("C-STORE from " + worker.Peer() + " of " + request.AffectedSOPInstanceUID +
             ": dataset could not be received (" + cond.text() + "); association aborted, nothing stored");
    return cond;
  }
  // A context accepted for C-GET's sub-operations alone carries no C-STORE of the requester's own.
  if (auto refused = worker.CheckPermitted(AccessService::kStore)) {
    auto detail = ErrorDetail(refused->error_comment);
    cond = worker.sendSTOREResponse(info.presentationContextID, request.MessageID, request.AffectedSOPClassUID,
                                    request.AffectedSOPInstanceUID, refused->code, detail.get());
    context.counters.CountRequest(DimseService::kStore, DimseOutcome::kFailure);
    return cond;
  }
  const E_TransferSyntax xfer = DcmXfer(info.acceptedTransferSyntax.c_str()).getXfer();
  auto dataset = sink.Load(xfer);
  if (!dataset.ok()) {
    LogError("C-STORE from " + worker.Peer() + " of " + request.AffectedSOPInstanceUID +
             " failed: " + dataset.status().message() + "; nothing stored");
    worker.TallyStore("", "", false);
    return answer(dataset.status().code() == StatusCode::kIOError ? STATUS_STORE_Refused_OutOfResources
                                                                  : STATUS_STORE_Error_CannotUnderstand);
  }
  const auto [study_uid, patient_id] = StudyAndPatientOf(**dataset);  // for the association's audit event
  worker.BeginStoring();
  const uint16_t status =
      context.store_handler.HandleStore(**dataset, xfer, request.AffectedSOPInstanceUID, worker.Peer());
  worker.TallyStore(study_uid, patient_id, OutcomeOf(status) != DimseOutcome::kFailure);
  return answer(status);
}

}  // namespace pacs::dicom::scp
