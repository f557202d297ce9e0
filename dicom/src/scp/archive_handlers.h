// File: archive_handlers.h
// The archive behind the DIMSE services: C-STORE goes through the ingest
// pipeline, C-FIND reads the query index, C-MOVE and C-GET resolve to stored
// instances and send to the configured destinations; Storage Commitment
// re-checks stored instances (VerifyInstanceDeep). Thread-safe: it holds
// no state of its own (Ingestor and QueryEngine are thread-safe).
#pragma once

#include "pacs/dicom/dicom_server.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/query.h"
#include "request_handlers.h"

namespace pacs::dicom::scp {

class ArchiveHandlers final : public StoreRequestHandler,
                              public FindRequestHandler,
                              public RetrieveRequestHandler,
                              public CommitmentRequestHandler {
 public:
  ArchiveHandlers(Ingestor& ingestor, const QueryEngine& queries, const ServerOptions& options)
      : ingestor_(ingestor), queries_(queries), options_(options) {}

  uint16_t HandleStore(DcmDataset& dataset, E_TransferSyntax xfer, const std::string& sop_instance_uid,
                       const std::string& peer) override;
  Status ReadyToStore() override { return ingestor_.store().CheckWritable(engine::WriteKind::kAdds); }
  void SenderOpened() override { ingestor_.SenderOpened(); }
  void SenderClosed() override { ingestor_.SenderClosed(); }
  DimseStatus HandleFind(DcmDataset& identifier, InformationModel model, const std::string& peer,
                         const std::function<bool(DcmDataset& response)>& send) override;
  Retrieval HandleRetrieve(DcmDataset& identifier, InformationModel model, const std::string& service,
                           const std::string& peer) override;
  // By AE title first, then by the name given to `serve --peer`.
  const PeerAddress* FindMoveDestination(const std::string& move_destination) const override;
  const engine::Store& store() const override { return ingestor_.store(); }
  CommitmentCheck CheckInstance(const std::string& sop_class_uid, const std::string& sop_instance_uid) override;
  // By AE title only: the report goes back to the AE that asked.
  const PeerAddress* FindCommitmentRequester(const std::string& ae_title) const override;

 private:
  Ingestor& ingestor_;
  const QueryEngine& queries_;
  const ServerOptions& options_;
};

}  // namespace pacs::dicom::scp
