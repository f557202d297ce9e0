// File: store_association.h
// The association a C-MOVE opens to its destination to carry its C-STORE
// sub-operations (sent by the CStoreSender). Not thread-safe: one per C-MOVE,
// on the thread serving it; released when destroyed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/dicom/retrieve.h"
#include "pacs/engine/store.h"
#include "store_sender.h"

class DcmTransportLayer;

namespace pacs::dicom::scp {

class StoreAssociation {
 public:
  // Proposes, for each SOP class of `records`, each syntax of
  // RetrievalSyntaxes in a context of its own. Fails when the peer cannot be
  // reached or rejects the association. A peer marked tls is reached over
  // `tls` (ScpContext::tls_requestor), which must then be given.
  static Result<std::unique_ptr<StoreAssociation>> Open(const PeerAddress& peer, const std::string& calling_ae,
                                                        const std::vector<engine::InstanceRecord>& records,
                                                        const engine::Store& store, DcmTransportLayer* tls = nullptr);
  ~StoreAssociation();
  StoreAssociation(const StoreAssociation&) = delete;
  StoreAssociation& operator=(const StoreAssociation&) = delete;

  CStoreSender& sender();

 private:
  StoreAssociation();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pacs::dicom::scp
