#include "echo_scp.h"

namespace pacs::dicom::scp {

OFCondition HandleEchoRequest(AssociationWorker& worker, T_DIMSE_C_EchoRQ& request,
                              const DcmPresentationContextInfo& info) {
  ++worker.context().counters.echo_requests;
  return worker.handleECHORequest(request, info.presentationContextID);
}

}  // namespace pacs::dicom::scp
