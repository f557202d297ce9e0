// File: move_scp.h
// C-MOVE SCP: the instances of a Retrieval go out as C-STORE sub-operations
// on a new association to the configured destination.
#pragma once

#include "association_worker.h"

namespace pacs::dicom::scp {

// Opens an association to the Move Destination, sends each instance of the
// retrieval on it and reports the counts after every sub-operation.
OFCondition HandleMoveRequest(AssociationWorker& worker, T_DIMSE_C_MoveRQ& request,
                              const DcmPresentationContextInfo& info);

}  // namespace pacs::dicom::scp
