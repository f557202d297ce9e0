#include "store_scp.h"

#include <memory>

#include "dcmtk/dcmdata/dcxfer.h"
#include "pacs/base/log.h"

namespace pacs::dicom::scp {

OFCondition HandleStoreRequest(AssociationWorker& worker, T_DIMSE_C_StoreRQ& request,
                               const DcmPresentationContextInfo& info) {
  const ScpContext& context = worker.context();
  DcmDataset* received = nullptr;
  OFCondition cond = worker.receiveSTORERequest(request, info.presentationContextID, received);
  std::unique_ptr<DcmDataset> dataset(received);
  if (cond.bad() || !dataset) {
    ++context.counters.receive_failures;
    LogError("C-STORE from " + worker.Peer() + " of " + request.AffectedSOPInstanceUID +
             ": dataset could not be received (" + cond.text() + "); association aborted, nothing stored");
    return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
  }
  const E_TransferSyntax xfer = DcmXfer(info.acceptedTransferSyntax.c_str()).getXfer();
  const uint16_t status =
      context.store_handler.HandleStore(*dataset, xfer, request.AffectedSOPInstanceUID, worker.Peer());
  ++(status == STATUS_Success ? context.counters.stores_succeeded : context.counters.stores_failed);
  return worker.sendSTOREResponse(info.presentationContextID, request, status);
}

}  // namespace pacs::dicom::scp
