// File: retrieval.h
// One C-MOVE or C-GET: the stored instances its identifier designates and
// the count of its sub-operations. Both services step through it as an
// iterator: Next() is the instance to send, Record() counts how that went,
// Cancel() ends it early. Not thread-safe: one per request, on its thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dimse_status.h"
#include "pacs/base/result.h"
#include "pacs/dicom/query.h"
#include "pacs/engine/store.h"

namespace pacs::dicom::scp {

// Sub-operation counts of one C-MOVE / C-GET.
struct SubOperations {
  uint32_t remaining = 0;
  uint32_t completed = 0;
  uint32_t failed = 0;
  uint32_t warning = 0;
  std::vector<std::string> failed_uids;  // SOP Instance UIDs that failed or were cancelled
  // The counts of a C-MOVE/C-GET response are 16 bits wide; larger
  // retrievals report 65535.
  static uint16_t Clamp(uint32_t n) { return static_cast<uint16_t>(n > 0xFFFF ? 0xFFFF : n); }
};

enum class SubOperationResult { kCompleted, kWarning, kFailed };

class Retrieval {
 public:
  // Resolves a C-MOVE / C-GET identifier to the stored instances. `service`
  // ("C-MOVE") and `peer` ("AET@address") name the request in log lines.
  // A refused retrieval (bad identifier, nothing stored matches) has no
  // sub-operations; answer it with refusal().
  static Retrieval Resolve(const QueryEngine& queries, const engine::Store& store, DcmDataset& identifier,
                           InformationModel model, const std::string& service, const std::string& peer);

  bool refused() const { return !refusal_.ok(); }
  const DimseStatus& refusal() const { return refusal_; }

  const std::vector<engine::InstanceRecord>& instances() const { return instances_; }
  bool HasNext() const { return !cancelled_ && next_ < instances_.size(); }
  // The instance of the next sub-operation. Requires HasNext().
  const engine::InstanceRecord& Next() const { return instances_[next_]; }
  // Counts the outcome of the sub-operation for Next() (the peer's C-STORE
  // status, or why nothing was sent) and moves on; logs a failure.
  SubOperationResult Record(const Result<uint16_t>& status);
  // Ends the retrieval on a C-CANCEL: the instances not sent yet stay
  // remaining and are listed as failed.
  void Cancel();

  bool cancelled() const { return cancelled_; }
  const SubOperations& counts() const { return counts_; }
  // The status of the final response: cancelled, warning when any
  // sub-operation failed or warned, else success.
  uint16_t FinalStatus() const;
  // The final response's identifier: the Failed SOP Instance UID List, or
  // null when nothing failed.
  std::unique_ptr<DcmDataset> FailedIdentifier() const;
  // "3 completed, 1 failed, 0 warnings[, cancelled]"
  std::string Summary() const;

 private:
  Retrieval(std::string service, std::string peer) : service_(std::move(service)), peer_(std::move(peer)) {}

  std::string service_;
  std::string peer_;
  DimseStatus refusal_;
  std::vector<engine::InstanceRecord> instances_;
  size_t next_ = 0;
  bool cancelled_ = false;
  SubOperations counts_;
};

}  // namespace pacs::dicom::scp
