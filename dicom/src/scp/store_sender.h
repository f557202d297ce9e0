// File: store_sender.h
// The one C-STORE sender of retrieval: builds a stored instance in a syntax
// the association accepted and sends it as a C-STORE sub-operation, either
// on the C-GET requester's own association or on the association a C-MOVE
// opens to its destination. Not thread-safe: one per association in use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmnet/dimse.h"
#include "negotiation.h"
#include "pacs/base/result.h"
#include "pacs/dicom/prefetch.h"
#include "pacs/engine/store.h"

namespace pacs::dicom::scp {

// The two DIMSE calls a C-STORE request needs, on whichever association
// carries it (DcmSCP and DcmSCU each keep theirs protected).
class DimseChannel {
 public:
  virtual ~DimseChannel() = default;
  virtual OFCondition SendMessage(T_ASC_PresentationContextID pres_id, T_DIMSE_Message& message,
                                  DcmDataset* dataset) = 0;
  // Receives a command; a status detail that comes with it is dropped.
  virtual OFCondition ReceiveCommand(T_ASC_PresentationContextID& pres_id, T_DIMSE_Message& message) = 0;
};

// The C-MOVE request a C-STORE sub-operation belongs to.
struct MoveOriginator {
  std::string ae_title;
  uint16_t message_id = 0;
};

// One instance built in the syntax of an accepted context, ready to send.
struct PreparedStore {
  StorageContext context;
  std::unique_ptr<DcmFileFormat> file;
  uint64_t held_bytes = 0;  // what it holds in memory (BuiltInstance::held_bytes)
};

class CStoreSender {
 public:
  // Which accepted contexts an instance may go out on.
  enum class SyntaxChoice {
    // C-GET: the requester proposed the contexts; any accepted syntax the
    // transcoder can write serves.
    kAnyAccepted,
    // C-MOVE: we proposed each instance's RetrievalSyntaxes; only those
    // serve it (never a syntax proposed for another instance of its class).
    kOwnProposals,
  };

  // `peer` names the receiving side in errors; message IDs count up from
  // `first_message_id`, one per request sent.
  CStoreSender(DimseChannel& channel, std::vector<StorageContext> accepted, const engine::Store& store,
               SyntaxChoice choice, std::string peer, uint16_t first_message_id);

  // Sends one instance and waits for its response. Returns the peer's
  // C-STORE status (0 success, Bxxx warning, else failure); Unsupported when
  // no accepted context fits the instance; IOError when the association
  // failed on the way.
  Result<uint16_t> Send(const engine::InstanceRecord& record, const MoveOriginator* originator = nullptr) {
    return Send(record, Prepare(record), originator);
  }
  // The same with the instance already built (or the error its build ended
  // in, which is returned as the sub-operation's outcome: nothing is sent).
  Result<uint16_t> Send(const engine::InstanceRecord& record, Result<PreparedStore> prepared,
                        const MoveOriginator* originator = nullptr);

  // Chooses the context and builds the instance in its syntax (decoding and
  // re-encoding frames as needed). Thread-safe: it only reads.
  Result<PreparedStore> Prepare(const engine::InstanceRecord& record) const;

  // Builds `records` in order on worker threads ahead of the sender
  // (prefetch.h). `records` must outlive the queue.
  std::unique_ptr<OrderedPrefetcher<PreparedStore>> Prefetch(const std::vector<engine::InstanceRecord>& records,
                                                             const PrefetchOptions& options) const;

 private:
  Result<StorageContext> ContextFor(const engine::InstanceRecord& record) const;

  DimseChannel& channel_;
  const std::vector<StorageContext> accepted_;
  const engine::Store& store_;
  const SyntaxChoice choice_;
  const std::string peer_;
  uint16_t next_message_id_;
};

}  // namespace pacs::dicom::scp
