// File: commitment_scp.h
// Storage Commitment Push Model SCP (PS3.4 Annex J): an N-ACTION lists
// instances; each is checked (stored, header and frames re-hash to their
// keys) and the outcome goes back in an N-EVENT-REPORT, on the requester's
// association when it keeps it open, else on a new one to the configured peer.
#pragma once

#include "association_worker.h"

namespace pacs::dicom::scp {

// Answers the N-ACTION, checks the instances and sends the report (or, when
// the requester releases, leaves it to the worker's AfterAssociation job).
OFCondition HandleCommitmentRequest(AssociationWorker& worker, T_DIMSE_N_ActionRQ& request,
                                    const DcmPresentationContextInfo& info);

}  // namespace pacs::dicom::scp
