// File: find_scp.h
// C-FIND SCP: streams the matches of the find handler as pending responses,
// looking for a C-CANCEL between them.
#pragma once

#include "association_worker.h"

namespace pacs::dicom::scp {

// Receives the identifier, streams one pending response per match and ends
// with the handler's status (or Cancel, when the requester cancelled).
OFCondition HandleFindRequest(AssociationWorker& worker, T_DIMSE_C_FindRQ& request,
                              const DcmPresentationContextInfo& info);

}  // namespace pacs::dicom::scp
