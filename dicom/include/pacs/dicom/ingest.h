// File: ingest.h
// The one ingest pipeline behind C-STORE and `pacscore import`: parse, split,
// commit durably, report what happened in words a user can act on.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "pacs/base/result.h"
#include "pacs/dicom/background_encoder.h"
#include "pacs/dicom/pixel_codec_policy.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

struct IngestReport {
  std::string sop_instance_uid;
  std::string study_instance_uid;
  engine::CommitResult commit;
  uint64_t received_bytes = 0;
};

// Thread-safe: shared by all associations and the admin endpoint.
class Ingestor {
 public:
  // With `background`, frames are stored raw and re-encoded behind the
  // C-STORE response while its backlog is short; past that, inline.
  explicit Ingestor(engine::Store& store, PixelCodecPolicy policy = {}, BackgroundEncoder* background = nullptr)
      : store_(store), policy_(policy), background_(background) {}

  // Stores a dataset received in `xfer`. Consumes the dataset's Pixel Data.
  Result<IngestReport> IngestDataset(DcmDataset& dataset, E_TransferSyntax xfer);
  // Reads a Part 10 file (or a bare dataset) and stores it.
  Result<IngestReport> IngestFile(const std::filesystem::path& path);

  engine::Store& store() { return store_; }

 private:
  void TEST_HoldAfterCommit();

  engine::Store& store_;
  const PixelCodecPolicy policy_;
  BackgroundEncoder* const background_;
  std::atomic<uint64_t> commits_{0};  // counted only when the test hook is armed
};

}  // namespace pacs::dicom
