#include "echo_scp.h"

namespace pacs::dicom::scp {

OFCondition HandleEchoRequest(AssociationWorker& worker, T_DIMSE_C_EchoRQ& request,
                              const DcmPresentationContextInfo& info) {
  if (auto refused = worker.CheckPermitted(AccessService::kEcho)) {
    worker.context().counters.CountRequest(DimseService::kEcho, DimseOutcome::kFailure);
    return worker.SendEchoRefusal(request, info.presentationContextID, refused->code);
  }
  OFCondition cond = worker.handleECHORequest(request, info.presentationContextID);
  worker.context().counters.CountRequest(DimseService::kEcho,
                                         cond.good() ? DimseOutcome::kSuccess : DimseOutcome::kFailure);
  return cond;
}

}  // namespace pacs::dicom::scp
