// File: echo_scp.h
// C-ECHO SCP: Verification needs no handler; the request is counted and
// DCMTK answers it.
#pragma once

#include "association_worker.h"

namespace pacs::dicom::scp {

OFCondition HandleEchoRequest(AssociationWorker& worker, T_DIMSE_C_EchoRQ& request,
                              const DcmPresentationContextInfo& info);

}  // namespace pacs::dicom::scp
