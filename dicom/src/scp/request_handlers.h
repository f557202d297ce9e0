// File: request_handlers.h
// The narrow interfaces between the DIMSE services (store_scp, find_scp,
// move_scp, get_scp, commitment_scp) and what answers them, in the shape of Orthanc's
// IStoreRequestHandler / IFindRequestHandler: a service speaks DIMSE, its
// handler decides and returns a DIMSE status. One handler serves every
// association thread at once, so implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dimse_status.h"
#include "pacs/dicom/query.h"
#include "pacs/dicom/retrieve.h"
#include "retrieval.h"

namespace pacs::dicom::scp {

// `peer` in these calls is "AET@address" of the requester, for log lines.

class StoreRequestHandler {
 public:
  virtual ~StoreRequestHandler() = default;
  // Stores a dataset received in `xfer` (consuming its Pixel Data); returns
  // the C-STORE response status.
  virtual uint16_t HandleStore(DcmDataset& dataset, E_TransferSyntax xfer, const std::string& sop_instance_uid,
                               const std::string& peer) = 0;
  // Whether a dataset can be stored now (free space, a store read-only after
  // a write error); asked before the dataset is received. Ok by default.
  virtual Status ReadyToStore() { return Status::Ok(); }
  // An association that may send C-STOREs was accepted (or handles its
  // first) / has ended: once no sender is left, the push is over. Nothing
  // by default.
  virtual void SenderOpened() {}
  virtual void SenderClosed() {}
};

class FindRequestHandler {
 public:
  virtual ~FindRequestHandler() = default;
  // Answers a C-FIND identifier: calls `send` with each response identifier
  // until it returns false (a send failed, or the requester cancelled).
  // Returns success, or the failure status to end the C-FIND with.
  virtual DimseStatus HandleFind(DcmDataset& identifier, InformationModel model, const std::string& peer,
                                 const std::function<bool(DcmDataset& response)>& send) = 0;
};

class RetrieveRequestHandler {
 public:
  virtual ~RetrieveRequestHandler() = default;
  // The instances a C-MOVE or C-GET (`service`) identifier designates.
  virtual Retrieval HandleRetrieve(DcmDataset& identifier, InformationModel model, const std::string& service,
                                   const std::string& peer) = 0;
  // The configured C-MOVE destination a Move Destination names, or null.
  virtual const PeerAddress* FindMoveDestination(const std::string& move_destination) const = 0;
  // Where the sub-operations read the instances they send.
  virtual const engine::Store& store() const = 0;
};

// Storage Commitment (PS3.4 Annex J): whether one instance can be committed.
// Not committed until a check says so: the default is a processing failure.
struct CommitmentCheck {
  uint16_t failure_reason = 0x0110;     // 0: committed; else 0110, 0112, 0119 or 0122 (PS3.4 J.3.2.1.1.2)
  std::string problem = "not checked";  // what was wrong, for the log
  bool committed() const { return failure_reason == 0; }
  static CommitmentCheck Committed() { return {0, {}}; }
};

class CommitmentRequestHandler {
 public:
  virtual ~CommitmentRequestHandler() = default;
  // Commits an instance only when it is stored (durably: stored means its
  // commit was synced), of the requested SOP class, and its header and every
  // frame re-hash to their keys. Called off the association thread.
  virtual CommitmentCheck CheckInstance(const std::string& sop_class_uid, const std::string& sop_instance_uid) = 0;
  // The configured peer (`serve --peer`) with this AE title, where a report
  // that cannot go on the requester's association is sent; null for none.
  virtual const PeerAddress* FindCommitmentRequester(const std::string& ae_title) const = 0;
};

}  // namespace pacs::dicom::scp
