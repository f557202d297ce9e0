#include "retrieval.h"

#include <cstdio>

#include "dcmtk/dcmnet/dimse.h"
#include "pacs/base/log.h"

namespace pacs::dicom::scp {

Retrieval Retrieval::Resolve(const QueryEngine& queries, const engine::Store& store, DcmDataset& identifier,
                             InformationModel model, const std::string& service, const std::string& peer) {
  Retrieval out(service, peer);
  auto query = ParseIdentifier(identifier, model);
  if (!query.ok()) {
    out.refusal_ = {STATUS_MOVE_Error_DataSetDoesNotMatchSOPClass, query.status().message()};
    return out;
  }
  auto refs = queries.Resolve(*query);
  if (!refs.ok()) {
    out.refusal_ = {static_cast<uint16_t>(refs.status().code() == StatusCode::kInvalidArgument
                                              ? STATUS_MOVE_Error_DataSetDoesNotMatchSOPClass
                                              : STATUS_MOVE_Failed_UnableToProcess),
                    refs.status().message()};
    return out;
  }
  for (const auto& ref : *refs) {
    auto rec = store.GetInstance(ref.sop_instance_uid);
    if (rec.ok())
      out.instances_.push_back(std::move(*rec));
    else
      LogWarning(service + ": indexed instance " + ref.sop_instance_uid +
                 " is not readable: " + rec.status().ToString());
  }
  if (out.instances_.empty()) {
    // Nothing stored matches: a failure the requester can see, not an empty success.
    out.refusal_ = {STATUS_MOVE_Failed_UnableToProcess, "no stored instance matches the identifier"};
    return out;
  }
  out.counts_.remaining = static_cast<uint32_t>(out.instances_.size());
  return out;
}

SubOperationResult Retrieval::Record(const Result<uint16_t>& status) {
  const engine::InstanceRecord& rec = instances_[next_++];
  --counts_.remaining;
  if (status.ok() && *status == STATUS_Success) {
    ++counts_.completed;
    return SubOperationResult::kCompleted;
  }
  if (status.ok() && IsWarningStatus(*status)) {
    ++counts_.warning;
    return SubOperationResult::kWarning;
  }
  ++counts_.failed;
  counts_.failed_uids.push_back(rec.sop_instance_uid);
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04X", status.ok() ? *status : 0);
  LogWarning(service_ + " from " + peer_ + ": sub-operation for " + rec.sop_instance_uid +
             " failed: " + (status.ok() ? "status " + std::string(hex) : status.status().ToString()));
  return SubOperationResult::kFailed;
}

void Retrieval::Cancel() {
  cancelled_ = true;
  for (size_t i = next_; i < instances_.size(); ++i) counts_.failed_uids.push_back(instances_[i].sop_instance_uid);
}

uint16_t Retrieval::FinalStatus() const {
  if (cancelled_) return STATUS_MOVE_Cancel_SubOperationsTerminatedDueToCancelIndication;
  if (counts_.failed > 0 || counts_.warning > 0) return STATUS_MOVE_Warning_SubOperationsCompleteOneOrMoreFailures;
  return STATUS_Success;
}

std::unique_ptr<DcmDataset> Retrieval::FailedIdentifier() const {
  if (counts_.failed_uids.empty()) return nullptr;
  std::string joined;
  for (const auto& uid : counts_.failed_uids) joined += (joined.empty() ? "" : "\\") + uid;
  auto identifier = std::make_unique<DcmDataset>();
  identifier->putAndInsertString(DCM_FailedSOPInstanceUIDList, joined.c_str());
  return identifier;
}

std::string Retrieval::Summary() const {
  return std::to_string(counts_.completed) + " completed, " + std::to_string(counts_.failed) + " failed, " +
         std::to_string(counts_.warning) + " warnings" + (cancelled_ ? ", cancelled" : "");
}

}  // namespace pacs::dicom::scp
