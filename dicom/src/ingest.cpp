#include "pacs/dicom/ingest.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>
#include <unordered_map>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdicent.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "ingest_dataset.h"
#include "pacs/base/mutex.h"
#include "pacs/base/thread_annotations.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/retention.h"
#include "pacs/engine/sync_point.h"

namespace pacs::dicom {

// Reaches the Ingestor's private state for IngestDataset().
class DatasetIngest {
 public:
  static Result<IngestReport> Run(Ingestor& ingestor, DcmDataset& dataset, E_TransferSyntax xfer);
};

Result<IngestReport> IngestDataset(Ingestor& ingestor, DcmDataset& dataset, E_TransferSyntax xfer) {
  return DatasetIngest::Run(ingestor, dataset, xfer);
}

Result<IngestReport> DatasetIngest::Run(Ingestor& ingestor, DcmDataset& dataset, E_TransferSyntax xfer) {
  engine::Store& store = ingestor.store_;
  BackgroundEncoder* const background = ingestor.background_;
  // Frames waiting for the background encoder beyond which ingest encodes
  // inline again: the sender then slows down instead of the backlog growing.
  constexpr uint64_t kMaxBacklog = 2048;
  // A full disk or a read-only store: refuse before encoding anything.
  PACS_RETURN_IF_ERROR(store.CheckWritable(engine::WriteKind::kAdds));
  if (const uint64_t quota = ingestor.refuse_over_quota_bytes_.load(); quota > 0) {
    OFString study;
    dataset.findAndGetOFString(DCM_StudyInstanceUID, study);
    PACS_RETURN_IF_ERROR(CheckQuotaForNewStudy(store, quota, std::string(study.c_str(), study.length())));
  }
  // Counted while this dataset is split and committed.
  struct Ingesting {
    std::atomic<unsigned>& count;
    const unsigned now;
    explicit Ingesting(std::atomic<unsigned>& c) : count(c), now(++c) {}
    ~Ingesting() { --count; }
  } ingesting(ingestor.ingesting_);
  PixelCodecPolicy policy = ingestor.policy_;
  // Frames go raw to `staging` for the pool only while a core would idle
  // otherwise: staging, flushing, reading back and compacting a raw frame
  // costs more CPU than encoding it (measured: 3.3 vs 2.4 CPU s for the CT
  // series over 4 associations on 2 cores). When the datasets being
  // ingested and the frames the pool holds already fill the pool's cores,
  // this dataset's frames are encoded here, before the commit. The storing
  // associations open count too, from their acceptance: between two datasets
  // an association is not ingesting, but its next dataset is on the way; and
  // so do those that ended within the last 250 ms (the tail of a push). So a
  // push over as many associations as cores stages nothing, and its data is
  // at rest (encoded, and no raw frame in the write-ahead log) as soon as it
  // is acknowledged.
  static const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned senders = std::max(ingesting.now, ingestor.RecentSenders());
  policy.background =
      background != nullptr && background->backlog() < kMaxBacklog && senders + background->frames_in_hand() < cores;
  // A large instance goes to the store in batches as it is split (memory per
  // association stays near one batch, docs/operations.md "Resource limits").
  policy.stage = [&store](engine::InstanceWrite& write, size_t first) { return store.StageChunks(write, first); };
  auto split = SplitInstance(dataset, xfer, policy, &store);
  if (!split.ok()) return split.status().WithContext("rejected, nothing stored");
  PACS_TEST_SYNC_POINT("Ingestor::IngestDataset:AfterSplit");
  split->catalog_payload = BuildCatalogPayload(dataset);  // the split leaves the dataset as it was
  IngestReport report;
  report.sop_instance_uid = split->record.sop_instance_uid;
  report.study_instance_uid = split->record.study_instance_uid;
  report.patient_id = split->record.patient_id;
  report.received_bytes = split->record.received_bytes;
  auto commit = store.CommitInstance(*split);
  if (!commit.ok() && commit.status().code() == StatusCode::kBusy) {
    // A frame we skipped as already stored was collected meanwhile: split
    // again with every frame's bytes.
    auto full = SplitInstance(dataset, xfer, policy, nullptr);
    if (!full.ok()) return full.status().WithContext("rejected, nothing stored");
    full->catalog_payload = split->catalog_payload;
    commit = store.CommitInstance(*full);
  }
  if (!commit.ok()) return commit.status().WithContext("SOP Instance " + report.sop_instance_uid);
  report.commit = *commit;
  if (policy.background)
    background->Notify();
  else if (background != nullptr)
    background->NoteActivity();
  ingestor.TEST_HoldAfterCommit();
  return report;
}

unsigned Ingestor::RecentSenders() {
  const unsigned open = background_ != nullptr ? background_->senders() : 0;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  const unsigned peak = peak_senders_.load();
  if (open >= peak || now - peak_senders_at_ns_.load() > senders_window_ns_.load()) {
    peak_senders_.store(open);
    peak_senders_at_ns_.store(now);
    return open;
  }
  return peak;
}

void Ingestor::TEST_HoldAfterCommit() {
  // Test-only hook for the crash test: PACS_TEST_HOLD_AFTER_COMMIT=N makes
  // the N-th commit of this process stop here, durable but unanswered,
  // after touching PACS_TEST_HOLD_MARKER, until the process is killed.
  static const long hold_at = [] {
    const char* v = std::getenv("PACS_TEST_HOLD_AFTER_COMMIT");
    return v ? std::atol(v) : 0L;
  }();
  if (hold_at <= 0 || ++commits_ != static_cast<uint64_t>(hold_at)) return;
  if (const char* marker = std::getenv("PACS_TEST_HOLD_MARKER")) std::ofstream(marker) << "held\n";
  std::this_thread::sleep_for(std::chrono::hours(1));
}

Result<IngestReport> Ingestor::IngestFile(const std::filesystem::path& path) {
  DcmFileFormat file;
  OFCondition cond = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (cond.bad()) return Status::InvalidArgument(std::string("not readable as DICOM: ") + cond.text());
  DcmDataset& dataset = *file.getDataset();
  if (dataset.loadAllDataIntoMemory().bad()) return Status::InvalidArgument("dataset cannot be read completely");
  E_TransferSyntax xfer = dataset.getOriginalXfer();
  if (xfer == EXS_Unknown) return Status::Unsupported("transfer syntax unknown to DCMTK");
  return IngestDataset(*this, dataset, xfer);
}

namespace {

// DCMTK looks a keyword up by scanning its whole dictionary, which made
// index_generate about 20 times slower than building its datasets from
// DCM_* constants; so each keyword is looked up once per process.
// Thread-safe: mutex_ guards tags_.
class KeywordTagCache {
 public:
  // The tag named `keyword`, with its dictionary VR; nullopt when DCMTK's
  // dictionary has no such keyword.
  std::optional<DcmTag> Find(const std::string& keyword) EXCLUDES(mutex_) {
    {
      ReaderLock lock(mutex_);
      if (auto it = tags_.find(keyword); it != tags_.end()) return it->second;
    }
    const DcmDataDictionary& dictionary = dcmDataDict.rdlock();
    const DcmDictEntry* entry = dictionary.findEntry(keyword.c_str());
    std::optional<DcmTag> tag;
    if (entry != nullptr) tag.emplace(entry->getKey(), entry->getVR());
    dcmDataDict.rdunlock();
    // Only hits are kept, so the cache is bounded by the dictionary.
    if (tag) {
      WriterLock lock(mutex_);
      tags_.emplace(keyword, *tag);
    }
    return tag;
  }

 private:
  SharedMutex mutex_;
  std::unordered_map<std::string, DcmTag> tags_ GUARDED_BY(mutex_);
};

KeywordTagCache& KeywordTags() {
  static KeywordTagCache cache;
  return cache;
}

}  // namespace

Result<IngestReport> Ingestor::IngestAttributes(
    const std::vector<std::pair<std::string, std::string>>& keyword_values) {
  DcmDataset dataset;
  for (const auto& [keyword, value] : keyword_values) {
    const std::optional<DcmTag> tag = KeywordTags().Find(keyword);
    if (!tag)
      return Status::InvalidArgument("unknown attribute keyword \"" + keyword +
                                     "\" (not in DCMTK's data dictionary); rejected, nothing stored");
    OFCondition cond = dataset.putAndInsertString(*tag, value.data(), static_cast<Uint32>(value.size()));
    if (cond.bad()) {
      std::string message = "attribute " + keyword + " ";
      message += tag->toString();
      message += " cannot hold \"" + value + "\": ";
      message += cond.text();
      message += "; rejected, nothing stored";
      return Status::InvalidArgument(std::move(message));
    }
  }
  return IngestDataset(*this, dataset, EXS_LittleEndianExplicit);
}

}  // namespace pacs::dicom
