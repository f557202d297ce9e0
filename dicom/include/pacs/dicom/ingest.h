// File: ingest.h
// The one ingest pipeline behind C-STORE and `pacscore import`: parse, split,
// commit durably, report what happened in words a user can act on. DCMTK
// types stay out of it: C-STORE's entry point, which takes a DCMTK dataset,
// is IngestDataset() in dicom/src/ingest_dataset.h.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/dicom/background_encoder.h"
#include "pacs/dicom/pixel_codec_policy.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

struct IngestReport {
  std::string sop_instance_uid;
  std::string study_instance_uid;
  std::string patient_id;  // for the audit trail
  engine::CommitResult commit;
  uint64_t received_bytes = 0;
};

// Thread-safe: shared by all associations and the admin endpoint.
class Ingestor {
 public:
  // With `background`, frames are stored raw and re-encoded behind the
  // C-STORE response while a core is free for it and its backlog is short;
  // when ingest alone keeps every core busy, they are encoded inline (the
  // raw round trip through `staging` would cost more CPU than it saves).
  explicit Ingestor(engine::Store& store, PixelCodecPolicy policy = {}, BackgroundEncoder* background = nullptr)
      : store_(store), policy_(policy), background_(background) {}

  // Reads a Part 10 file (or a bare dataset) and stores it.
  Result<IngestReport> IngestFile(const std::filesystem::path& path);
  // Stores a dataset made of the given attributes, as if it had arrived in
  // Explicit VR Little Endian: each keyword (such as "PatientName") is looked
  // up in DCMTK's data dictionary and its value given as DICOM text
  // (multiple values separated by '\'); a keyword given twice keeps its
  // last value. A keyword the dictionary does not know, or a value its
  // element cannot hold (a sequence), rejects the whole dataset with nothing
  // stored. For synthetic archives (bench/index_generate) and tests.
  Result<IngestReport> IngestAttributes(const std::vector<std::pair<std::string, std::string>>& keyword_values);

  engine::Store& store() { return store_; }

  // The storing associations open, or the most that were open within the
  // last `window` (kRecentSendersWindow unless set; for tests): the last
  // associations of a push end a little apart, and the datasets of its tail
  // are encoded at ingest like the rest rather than staged for the pool.
  unsigned RecentSenders();
  static constexpr std::chrono::milliseconds kRecentSendersWindow{250};
  void SetRecentSendersWindow(std::chrono::milliseconds window) { senders_window_ns_ = Nanos(window); }

  // A DICOM association that may store opened / ended (the server calls
  // these once each per such association): the background encoder releases
  // the staging space as soon as the last sender has left.
  // Without a background encoder nothing is staged, and they do nothing.
  void SenderOpened() {
    if (background_ != nullptr) background_->SenderOpened();
  }
  void SenderClosed() {
    if (background_ != nullptr) background_->SenderClosed();
  }

  // A storage quota with QuotaAction::kRefuse (retention.h): once the
  // referenced stored bytes reach `quota_bytes`, an instance of a study not
  // yet stored is refused (Busy: C-STORE status A700) before anything is
  // encoded. 0 (the default): no quota. Set before serving.
  void RefuseNewStudiesOverQuota(uint64_t quota_bytes) { refuse_over_quota_bytes_ = quota_bytes; }

 private:
  // The pipeline behind IngestDataset() (dicom/src/ingest_dataset.h), which
  // needs the policy, the encoder and the test hook below.
  friend class DatasetIngest;

  void TEST_HoldAfterCommit();

  engine::Store& store_;
  const PixelCodecPolicy policy_;
  BackgroundEncoder* const background_;
  std::atomic<uint64_t> commits_{0};
  std::atomic<unsigned> ingesting_{0};  // datasets being split and committed right now
  // RecentSenders(): the most seen at once, and when (steady clock, ns).
  // A heuristic: races between ingest threads only blur it.
  std::atomic<unsigned> peak_senders_{0};
  std::atomic<int64_t> peak_senders_at_ns_{0};
  std::atomic<int64_t> senders_window_ns_{Nanos(kRecentSendersWindow)};
  static int64_t Nanos(std::chrono::nanoseconds d) { return d.count(); }
  std::atomic<uint64_t> refuse_over_quota_bytes_{0};  // counted only when the test hook is armed
};

}  // namespace pacs::dicom
