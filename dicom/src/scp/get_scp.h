// File: get_scp.h
// C-GET SCP: the instances of a Retrieval go back as C-STORE sub-operations
// on the association the request came on.
#pragma once

#include "association_worker.h"

namespace pacs::dicom::scp {

// Sends each instance of the retrieval on the requester's own storage contexts
// and reports the counts after every sub-operation.
OFCondition HandleGetRequest(AssociationWorker& worker, T_DIMSE_C_GetRQ& request,
                             const DcmPresentationContextInfo& info);

}  // namespace pacs::dicom::scp
