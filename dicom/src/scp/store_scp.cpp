#include "store_scp.h"

#include <chrono>
#include <memory>

#include "audit_events.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "pacs/base/log.h"
#include "pacs/dicom/instance_split.h"

namespace pacs::dicom::scp {

OFCondition HandleStoreRequest(AssociationWorker& worker, T_DIMSE_C_StoreRQ& request,
                               const DcmPresentationContextInfo& info) {
  const ScpContext& context = worker.context();
  const auto start = std::chrono::steady_clock::now();
  DcmDataset* received = nullptr;
  OFCondition cond = worker.receiveSTORERequest(request, info.presentationContextID, received);
  std::unique_ptr<DcmDataset> dataset(received);
  if (cond.bad() || !dataset) {
    context.counters.receive_failures.Increment();
    context.counters.CountRequest(DimseService::kStore, DimseOutcome::kFailure);
    worker.TallyStore("", "", false);
    LogError("C-STORE from " + worker.Peer() + " of " + request.AffectedSOPInstanceUID +
             ": dataset could not be received (" + cond.text() + "); association aborted, nothing stored");
    return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
  }
  const E_TransferSyntax xfer = DcmXfer(info.acceptedTransferSyntax.c_str()).getXfer();
  // Measured before the handler, which takes the Pixel Data out of the dataset.
  context.counters.store_received_bytes.Increment(EncodedDatasetSize(*dataset, xfer));
  const auto [study_uid, patient_id] = StudyAndPatientOf(*dataset);  // for the association's audit event
  const uint16_t status =
      context.store_handler.HandleStore(*dataset, xfer, request.AffectedSOPInstanceUID, worker.Peer());
  cond = worker.sendSTOREResponse(info.presentationContextID, request, status);
  context.counters.CountRequest(DimseService::kStore, cond.good() ? OutcomeOf(status) : DimseOutcome::kFailure);
  worker.TallyStore(study_uid, patient_id, OutcomeOf(status) != DimseOutcome::kFailure);
  context.counters.store_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return cond;
}

}  // namespace pacs::dicom::scp
