#include "archive_handlers.h"

#include "../ingest_dataset.h"
#include "dcmtk/dcmnet/dimse.h"
#include "negotiation.h"
#include "pacs/base/log.h"
#include "pacs/dicom/instance_split.h"

namespace pacs::dicom::scp {
namespace {

uint16_t StoreStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kAlreadyExists:
      return 0x0111;  // Duplicate SOP Instance
    case StatusCode::kIOError:
    case StatusCode::kBusy:
      return STATUS_STORE_Refused_OutOfResources;  // A700
    default:
      return STATUS_STORE_Error_CannotUnderstand;  // C000
  }
}

// A peer configured without host or port (it only asks) cannot be sent to.
bool Reachable(const PeerAddress& peer) {
  return !peer.host.empty() && peer.port != 0;
}

}  // namespace

uint16_t ArchiveHandlers::HandleStore(DcmDataset& dataset, E_TransferSyntax xfer, const std::string& sop_instance_uid,
                                      const std::string& peer) {
  auto report = IngestDataset(ingestor_, dataset, xfer);
  if (!report.ok()) {
    LogError("C-STORE from " + peer + " of " + sop_instance_uid + " failed: " + report.status().ToString());
    return StoreStatusFor(report.status());
  }
  if (report->commit.outcome == engine::CommitOutcome::kKeptExisting)
    LogWarning("C-STORE from " + peer + ": SOP Instance " + report->sop_instance_uid +
               " already stored with different content (stored header " + report->commit.existing_header_hash +
               ", received " + report->commit.new_header_hash + "); kept the stored one");
  else if (report->commit.outcome == engine::CommitOutcome::kReplaced)
    LogWarning("C-STORE from " + peer + ": SOP Instance " + report->sop_instance_uid + " replaced (old header " +
               report->commit.existing_header_hash + ", new " + report->commit.new_header_hash + ")");
  return STATUS_Success;
}

DimseStatus ArchiveHandlers::HandleFind(DcmDataset& identifier, InformationModel model, const std::string& peer,
                                        const std::function<bool(DcmDataset& response)>& send) {
  auto query = ParseIdentifier(identifier, model);
  if (!query.ok()) {
    LogWarning("C-FIND from " + peer + " refused: " + query.status().message());
    return {STATUS_FIND_Error_DataSetDoesNotMatchSOPClass, query.status().message()};
  }
  auto stats = queries_.Find(*query, [&](DcmDataset& response) {
    ConvertResponseCharset(response, query->requested_charset);
    return send(response);
  });
  if (!stats.ok()) {
    LogError("C-FIND from " + peer + " failed: " + stats.status().ToString());
    return {STATUS_FIND_Failed_UnableToProcess, stats.status().message()};
  }
  Log(LogLevel::kDebug, "C-FIND from " + peer + ": " + std::to_string(stats->matches) + " matches of " +
                            std::to_string(stats->candidates) + " records read, index " + stats->index_used);
  return {};
}

Retrieval ArchiveHandlers::HandleRetrieve(DcmDataset& identifier, InformationModel model, const std::string& service,
                                          const std::string& peer) {
  return Retrieval::Resolve(queries_, ingestor_.store(), identifier, model, service, peer);
}

const PeerAddress* ArchiveHandlers::FindMoveDestination(const std::string& move_destination) const {
  for (const auto& peer : options_.peers)
    if (peer.ae_title == move_destination && Reachable(peer)) return &peer;
  for (const auto& peer : options_.peers)
    if (peer.name == move_destination && Reachable(peer)) return &peer;
  return nullptr;
}

CommitmentCheck ArchiveHandlers::CheckInstance(const std::string& sop_class_uid, const std::string& sop_instance_uid) {
  // Failure Reasons of PS3.4 J.3.2.1.1.2.
  constexpr uint16_t kProcessingFailure = 0x0110;
  constexpr uint16_t kNoSuchObjectInstance = 0x0112;
  constexpr uint16_t kClassInstanceConflict = 0x0119;
  constexpr uint16_t kSopClassNotSupported = 0x0122;
  if (!IsStorageSopClass(sop_class_uid))
    return {kSopClassNotSupported, "SOP class " + sop_class_uid + " is not a storage SOP class we accept"};
  const engine::Store& store = ingestor_.store();
  auto record = store.GetInstance(sop_instance_uid);
  if (!record.ok()) {
    if (record.status().code() == StatusCode::kNotFound) return {kNoSuchObjectInstance, "not stored"};
    return {kProcessingFailure, "cannot read its record: " + record.status().ToString()};
  }
  if (record->sop_class_uid != sop_class_uid)
    return {kClassInstanceConflict, "stored as SOP class " + record->sop_class_uid + ", requested as " + sop_class_uid};
  Status deep = VerifyInstanceDeep(store, *record);
  if (!deep.ok()) return {kProcessingFailure, "stored copy is damaged: " + deep.ToString()};
  return CommitmentCheck::Committed();
}

const PeerAddress* ArchiveHandlers::FindCommitmentRequester(const std::string& ae_title) const {
  for (const auto& peer : options_.peers)
    if (peer.ae_title == ae_title && Reachable(peer)) return &peer;
  return nullptr;
}

}  // namespace pacs::dicom::scp
