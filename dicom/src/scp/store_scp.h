// File: store_scp.h
// C-STORE SCP: receives the dataset, lets the store handler keep it, and
// answers only once the handler has (the instance is durable by then).
#pragma once

#include "association_worker.h"

namespace pacs::dicom::scp {

// Receives the dataset and answers with the status its handler gives.
OFCondition HandleStoreRequest(AssociationWorker& worker, T_DIMSE_C_StoreRQ& request,
                               const DcmPresentationContextInfo& info);

}  // namespace pacs::dicom::scp
