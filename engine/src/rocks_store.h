// File: rocks_store.h
// The RocksDB implementation of Store, shared by its source files, one per
// concern: rocks_store.cpp (open, options, reads), commit_builder.cpp
// (commits and reference counts), collector.cpp (collection and
// verification), deferred_work.cpp (background re-encoding jobs),
// catalog_rebuild.cpp (reindex), pool_verify.cpp (verify's pool side). Also the
// retention_support.cpp (study listing, freed bytes, protection). Also the
// codecs of the stored keys and values that docs/storage-format.md lists.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/base/mutex.h"
#include "pacs/base/result.h"
#include "pacs/engine/chunk_store.h"
#include "pacs/engine/store.h"
#include "write_health.h"

namespace pacs::engine {

// Column families, in the order they are opened (the handles' order).
// `staging` came last: a folder of an older build gains it when a writer opens it.
enum Cf : size_t {
  kDefault = 0,
  kInstances,
  kHeaders,
  kFrames,
  kRefs,
  kIndex,
  kCatalog,
  kGc,
  kWork,
  kStaging,
  kCfCount
};
inline constexpr const char* kCfNames[kCfCount] = {"default", "instances", "headers", "frames", "refs",
                                                   "index",   "catalog",   "gc",      "work",   "staging"};

// Counters kept in the default column family.
inline constexpr char kCountPatients[] = "count/patients";
inline constexpr char kCountStudies[] = "count/studies";
inline constexpr char kCountSeries[] = "count/series";
inline constexpr char kCountInstances[] = "count/instances";
inline constexpr char kCountReceived[] = "count/received_bytes";
inline constexpr char kCountReceivedTotal[] = "count/received_bytes_total";
inline constexpr char kCountChunks[] = "count/chunks";                           // referenced chunks
inline constexpr char kCountChunkBytes[] = "count/chunk_bytes";                  // their stored bytes
inline constexpr char kCountChunkRefs[] = "count/chunk_refs";                    // references to chunks
inline constexpr char kCountRefStoredBytes[] = "count/referenced_stored_bytes";  // stored bytes per reference
inline constexpr char kCountMultiEncoded[] = "count/multi_encoded";              // pixel identities with >= 2 encodings
inline constexpr char kCountGcChunks[] = "count/gc_chunks";  // unreferenced chunks awaiting collection
inline constexpr char kCountGcBytes[] = "count/gc_bytes";
inline constexpr char kCountWork[] = "count/deferred_work";  // chunks awaiting re-encoding
inline constexpr char kCountCodecPrefix[] = "count/codec/";  // + name + "/chunks" | "/raw_bytes" | "/stored_bytes"
// Protected studies in the default column family: + Study Instance UID ->
// u64 time (ms since the epoch) the protection was set.
inline constexpr char kProtectPrefix[] = "protect/";
inline std::string ProtectKey(std::string_view study_uid) {
  return kProtectPrefix + std::string(study_uid);
}

Status FromRocks(const rocksdb::Status& s, const std::string& what);

// A stored key for messages: text as it is, the binary part of a hash key in hex.
std::string KeyName(std::string_view key);
// Status::Corruption naming the column family and key of a malformed value.
Status CorruptValue(Cf cf, std::string_view key, const std::string& problem);

std::string EncodeU64(uint64_t v);
// A u64 value: exactly 8 bytes, else Corruption naming `cf` and `key`.
Result<uint64_t> DecodeU64(Cf cf, std::string_view key, std::string_view value);
// A key that is a content hash (frames, headers, gc, work): exactly 32 bytes.
Result<ContentHash> DecodeHashKey(Cf cf, std::string_view key);
// The hash of a key this process built from one (32 bytes).
ContentHash HashOf(std::string_view key);

inline std::string ChunkRefKey(std::string_view chunk_key) {
  return "f" + std::string(chunk_key);
}
inline std::string HeaderRefKey(std::string_view header_key) {
  return "h" + std::string(header_key);
}
// With frames in a chunk store (rados), the default column family records
// the choice and this node's identity, and the tag of each chunk reference
// the node holds in the pool (docs/scale-out.md).
inline constexpr char kFramesBackendKey[] = "frames/backend";  // "rocksdb" | "rados:POOL"
inline constexpr char kFramesCephConfKey[] = "frames/ceph_conf";
inline constexpr char kFramesCephIdKey[] = "frames/ceph_id";
inline constexpr char kFramesNodeKey[] = "frames/node";    // 16 hex digits, fixed at creation
inline constexpr char kFramesEpochKey[] = "frames/epoch";  // u64, +1 at each writable open
inline std::string PoolTagKey(std::string_view chunk_key) {
  return "frames/tag/" + std::string(chunk_key);
}
// A pool reference being taken: + tag -> chunk key, written (synced) before
// the reference, deleted with the commit that records the tag. One left by a
// crash is released at the next open or collection.
inline std::string PoolIntentKey(std::string_view tag) {
  return "frames/intent/" + std::string(tag);
}
inline constexpr char kPoolIntentPrefix[] = "frames/intent/";
// A pool reference the collector is releasing: + chunk key (32 bytes) + tag
// -> "". Written (synced) before the put, in the batch that deletes the
// chunk's frames/tag/, so that a row without a recorded tag is one the pool
// may no longer count (a revival takes a new reference); deleted with the
// chunk's rows. One left by a crash or a failed put is finished at the next
// open or collection: the put repeated, the rows deleted if still unreferenced.
inline constexpr char kPoolReleasePrefix[] = "frames/release/";
inline std::string PoolReleaseKey(std::string_view chunk_key, std::string_view tag) {
  return kPoolReleasePrefix + std::string(chunk_key) + std::string(tag);
}
// An instance whose pool object (docs/scale-out.md, "Rebuilding a node") may
// differ from the folder: + SOP Instance UID -> "". Written with the commit
// that stores the instance (or, synced, before the pool objects of a delete
// are removed), deleted once the pool object matches the folder. One left by
// a crash or a failed pool write is settled at the next open or collection.
inline constexpr char kPoolInstanceSyncPrefix[] = "frames/isync/";
// "1" once every instance of the folder has its pool object (set at
// creation, or after the backfill of a folder from an older build).
inline constexpr char kPoolInstancesKey[] = "frames/instance_objects";
inline std::string PoolInstanceSyncKey(std::string_view sop_instance_uid) {
  return kPoolInstanceSyncPrefix + std::string(sop_instance_uid);
}
std::string PatientKey(const InstanceRecord& r);
std::string CodecCounterName(uint8_t codec);
int64_t NowMs();

// The refs value of a chunk: its reference count and what is stored. Kept
// (with count 0) while the chunk awaits collection.
struct ChunkRef {
  uint64_t count = 0;
  uint8_t codec = 0;
  uint64_t raw_size = 0;
  uint64_t stored_size = 0;

  static constexpr size_t kEncodedSize = 25;
  std::string Encode() const;
  // Exactly kEncodedSize bytes, else Corruption naming the refs key.
  static Result<ChunkRef> Decode(std::string_view key, std::string_view value);
};

// A chunk stored in the chunk store before the commit lock was taken, with
// the reference tag it holds there.
struct PoolPlacement {
  std::string tag;
  PutOutcome outcome;
  bool recorded = false;  // the commit recorded the tag
};

// The placements of one commit. Whatever the commit did not record (another
// commit stored the chunk meanwhile, the instance was a duplicate, or the
// commit failed) is released from the chunk store when this goes out of
// scope, outside the commit lock.
class RocksStore;
class PoolPlacements {
 public:
  explicit PoolPlacements(RocksStore* owner) : owner_(owner) {}
  PoolPlacements(const PoolPlacements&) = delete;
  PoolPlacements& operator=(const PoolPlacements&) = delete;
  ~PoolPlacements();
  std::map<std::string, PoolPlacement> entries;  // by chunk key
  bool committed = false;                        // the local batch holding the tags was written

 private:
  RocksStore* owner_;
};

// The chunk store a data folder's frames are in, resolved at open against
// what the folder records (chunk_placement.cpp): null for rocksdb.
struct FramesSetup {
  std::unique_ptr<ChunkStore> chunk_store;
  std::string tag_prefix;
  // The folder holds instances stored before instance objects existed: the
  // open writes their objects (BackfillPoolInstances).
  bool backfill_instances = false;
};
Result<FramesSetup> OpenFrames(rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs,
                               const StoreOptions& options);

// The read-modify-write changes of one commit, accumulated before any stored
// count is read, so that a chunk referenced twice, or an instance replaced by
// itself, is counted right. RocksStore::ApplyCommit resolves them against the
// stored counts under the commit lock. Not shared between threads.
class CommitBuilder {
 public:
  // `write` carries the bytes of an ingest; null when re-adding without bytes.
  void AddInstance(const InstanceRecord& rec, const InstanceWrite* write);
  void RemoveInstance(const InstanceRecord& rec);
  void AddCounter(const std::string& key, int64_t delta) { counters_[key] += delta; }
  // After ApplyCommit: the codec a chunk is actually stored with (an existing
  // chunk keeps the encoding it was first stored in).
  uint8_t StoredCodec(const ContentHash& h, uint8_t fallback) const;

 private:
  friend class RocksStore;
  struct ChunkChange {
    int64_t delta = 0;
    const std::string* bytes = nullptr;  // bytes offered by an ingest (may be absent)
    uint64_t raw_size = 0;
    uint8_t codec = 0;
  };
  std::map<std::string, int64_t> headers_;  // header hash -> delta
  std::map<std::string, const std::string*> header_bytes_;
  std::map<std::string, ChunkChange> chunks_;           // chunk hash -> change
  std::map<std::string, int64_t> encodings_;            // pixel hash + chunk hash -> delta
  std::map<std::string, const std::string*> deferred_;  // chunk hash -> re-encoding job
  std::map<std::string, int64_t> index_;                // index key -> delta
  std::map<std::string, int64_t> counters_;             // counter key -> delta
  PoolPlacements* placements_ = nullptr;                // with a chunk store: chunks stored before the lock
};

// Thread-safe, as Store says. Reads take no lock: RocksDB is thread-safe and
// each read is a consistent view of one key (ReadChunk: of two, by snapshot).
// commit_mutex_ serialises the read-modify-write of the stored counts
// (refs, index, counters, catalog, work): every write of a batch goes through
// WriteLocked, and every step that reads a count it then rewrites REQUIRES it.
class RocksStore final : public Store {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs, StoreOptions options,
             std::shared_ptr<WriteHealthState> health, std::unique_ptr<ChunkStore> chunk_store = nullptr,
             std::string tag_prefix = {});
  ~RocksStore() override;

  // Reads (rocks_store.cpp).
  Result<InstanceRecord> GetInstance(std::string_view uid) const override;
  Result<std::string> GetHeader(const ContentHash& hash) const override;
  Result<std::string> GetChunk(const ContentHash& hash) const override;
  Result<std::optional<uint8_t>> HasChunk(const ContentHash& hash) const override;
  Result<StoredChunk> ReadChunk(const ContentHash& hash) const override;
  Status ForEachInstance(const std::function<bool(const InstanceRecord&)>& visit) const override;
  Status Flush() override;
  Result<StoreStats> Stats(bool flush_first) override;
  Result<EngineFigures> ReadEngineFigures() const override;
  const std::string& path() const override { return options_.path; }
  // A full disk (write_health.cpp).
  Status CheckWritable(WriteKind kind) override EXCLUDES(resume_mutex_) { return CheckRoom(kind, 0); }
  WriteHealthReport WriteHealth() const override;
  Result<std::optional<std::string>> GetCatalog(std::string_view key) const override;
  Status ScanCatalog(std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& visit) const override;

  // Releases the references of intents left by an earlier process (a crash
  // between taking a pool reference and the commit recording it); returns
  // how many were released. At open and at each collection.
  Result<uint64_t> ReconcilePoolIntents() EXCLUDES(commit_mutex_);
  // Finishes the releases an interrupted collection left (kPoolReleasePrefix):
  // each put again, the chunk's rows deleted if still unreferenced and
  // without a new tag; returns how many chunks it collected. Called by
  // ReconcilePoolIntents.
  Result<uint64_t> FinishPoolReleases() EXCLUDES(commit_mutex_);
  // Makes the pool objects of the instances with a sync marker match the
  // folder (rewritten from it, or removed); returns how many (pool_instances.cpp).
  Result<uint64_t> ReconcilePoolInstances() EXCLUDES(commit_mutex_);
  // Writes the pool object of every instance, then records kPoolInstancesKey
  // (a folder from before instance objects, at its first open by this build).
  Status BackfillPoolInstances() EXCLUDES(commit_mutex_);
  // RestoreNodeFromPool's work on the new folder, from the pool's listing (pool_instances.cpp).
  Status RestoreFromPool(const ChunkStore::Listing& listing, const std::function<void(uint64_t, uint64_t)>& progress,
                         PoolRestoreReport& report) EXCLUDES(commit_mutex_);

  // Commits (commit_builder.cpp).
  Result<CommitResult> CommitInstance(const InstanceWrite& write) override EXCLUDES(commit_mutex_);
  Status StageChunks(InstanceWrite& write, size_t first) override EXCLUDES(commit_mutex_);
  Result<uint64_t> DeleteInstances(const DeleteSelector& selector) override EXCLUDES(commit_mutex_);

  // Retention, quotas and protection (retention_support.cpp).
  Result<std::vector<StudyUsage>> ListStudies() const override;
  Result<std::vector<uint64_t>> CumulativeBytesFreed(const std::vector<std::string>& study_uids) const override;
  Result<uint64_t> ReferencedChunkBytes() const override;
  Result<bool> HasStudy(std::string_view study_instance_uid) const override;
  Status SetStudyProtected(std::string_view study_instance_uid, bool protect) override EXCLUDES(commit_mutex_);
  Result<bool> IsStudyProtected(std::string_view study_instance_uid) const override;
  Result<std::vector<std::string>> ProtectedStudies() const override;

  // Collection and verification (collector.cpp).
  Result<CollectReport> CollectGarbage(std::chrono::milliseconds grace) override EXCLUDES(commit_mutex_);
  Result<CollectReport> Compact(std::chrono::milliseconds grace) override EXCLUDES(commit_mutex_);
  Result<OrphanSweepReport> RemoveUnreferencedPoolObjects(std::chrono::milliseconds grace) override;
  Result<VerifyReport> VerifyStructure(std::chrono::milliseconds grace) const override;
  // The pool side of verify (pool_verify.cpp).
  Result<VerifyReport> VerifyPoolListing() const override;

  // Rebuilding the catalog (catalog_rebuild.cpp).
  Result<CatalogRebuildReport> RebuildCatalog(const CatalogPayloadSource& payload_of,
                                              const std::function<void(uint64_t, uint64_t)>& progress) override
      EXCLUDES(commit_mutex_);

  // Deferred work (deferred_work.cpp).
  Status ForEachDeferredWork(const std::function<bool(const ContentHash&, std::string_view)>& visit) const override;
  Result<bool> CompleteDeferredWork(const ContentHash& hash, uint8_t expected_codec,
                                    std::optional<std::pair<uint8_t, std::string>> reencoded) override
      EXCLUDES(commit_mutex_);
  Status ReleaseStagingSpace() override;

 private:
  friend class PoolPlacements;
  // Shared reads (rocks_store.cpp). A missing key is not an error; a value
  // that cannot be decoded is Corruption.
  Result<std::optional<std::string>> ReadValue(Cf cf, std::string_view key,
                                               const rocksdb::ReadOptions& options = {}) const;
  Result<bool> KeyExists(Cf cf, std::string_view key) const;
  Result<uint64_t> ReadU64(Cf cf, std::string_view key) const;  // 0 when absent
  Result<std::optional<ChunkRef>> ReadChunkRef(const ContentHash& hash) const;
  Result<std::string> GetBlob(Cf cf, const ContentHash& hash, const char* what) const;
  // A chunk's bytes: in `frames`, or in `staging` while it awaits re-encoding.
  // NotFound when neither has it.
  rocksdb::Status GetChunkBytes(const rocksdb::ReadOptions& options, std::string_view key, std::string* bytes) const;

  // Writes `batch` (synced unless StoreOptions::sync_writes is off), once
  // CheckWritable(kind) allows it; a failed write puts the store read-only.
  Status WriteLocked(rocksdb::WriteBatch& batch, const std::string& what, WriteKind kind = WriteKind::kAdds)
      REQUIRES(commit_mutex_);
  // CheckWritable for a write of `write_bytes`: the floor must hold after it
  // (write_health.cpp).
  Status CheckRoom(WriteKind kind, uint64_t write_bytes) EXCLUDES(resume_mutex_);
  // The free-space floor on a file system of `capacity` bytes (write_health.cpp).
  uint64_t MinFreeBytes(uint64_t capacity) const;
  // Puts the store read-only when `status` is a write error (write_health.cpp).
  void NoteWriteResult(const rocksdb::Status& status, const std::string& what);
  // Adds each delta to its u64 counter in the default column family.
  Status ApplyCounterDeltas(const std::map<std::string, int64_t>& deltas, rocksdb::WriteBatch& batch)
      REQUIRES(commit_mutex_);

  // Resolving a CommitBuilder against the stored counts (commit_builder.cpp).
  Status ApplyCommit(CommitBuilder& builder, rocksdb::WriteBatch& batch) REQUIRES(commit_mutex_);
  Status ApplyHeaderChanges(CommitBuilder& builder, rocksdb::WriteBatch& batch) REQUIRES(commit_mutex_);
  Status ApplyChunkChanges(CommitBuilder& builder, rocksdb::WriteBatch& batch) REQUIRES(commit_mutex_);
  Status ApplyIndexChanges(CommitBuilder& builder, rocksdb::WriteBatch& batch) REQUIRES(commit_mutex_);

  // Frames in a chunk store (chunk_placement.cpp). A new reference tag of this node.
  std::string NewPoolTag();
  // Before the commit lock: stores the new chunks of `write` (those with bytes
  // that this node holds no reference to) in the chunk store, each with a new tag.
  Status PlaceChunks(const InstanceWrite& write, PoolPlacements& placements) EXCLUDES(commit_mutex_);
  // A chunk new to this node, under the lock: its bytes are in the chunk
  // store (placed before the lock, or now), `batch` records the tag (and the
  // re-encoding job if the pool holds the bytes as given), `ref` takes the
  // pool's codec and size.
  Status PlaceNewChunk(const std::string& key, std::string_view bytes, uint8_t codec, const std::string* job,
                       PoolPlacements* placements, rocksdb::WriteBatch& batch, ChunkRef& ref,
                       std::map<std::string, int64_t>& counters) REQUIRES(commit_mutex_);
  // Releases what a commit placed but did not record, and their intents.
  void ReleaseUnrecorded(const PoolPlacements& placements);
  // Writes the intents of pool references about to be taken (synced).
  Status WriteIntents(const std::vector<std::pair<std::string, std::string>>& tag_and_key);
  // Deletes the rows of a chunk being collected (count 0), with its counters.
  Status DeleteCollectedChunk(const std::string& key, const ChunkRef& ref, rocksdb::WriteBatch& batch,
                              std::map<std::string, int64_t>& counters) REQUIRES(commit_mutex_);
  // Whether the collector is releasing a tag of this chunk (a marker under kPoolReleasePrefix).
  Result<bool> PoolReleasePending(std::string_view chunk_key) const;
  // The pool object of an instance just committed (or with a sync marker):
  // written from `stored` and `header`, then the marker deleted (pool_instances.cpp).
  Status SyncPoolInstance(const InstanceRecord& stored, std::string_view header) REQUIRES(commit_mutex_);
  // The body of CommitInstance under the lock; with a chunk store, starts
  // the pool write of the instance it stores (`pool_write`, `marker`: the
  // value of its sync marker).
  Result<CommitResult> CommitInstanceLocked(const InstanceWrite& write, PoolPlacements& placements,
                                            std::unique_ptr<ChunkStore::PendingWrite>& pool_write, std::string& marker)
      REQUIRES(commit_mutex_);
  // Deletes the instance's sync marker if it still has `value` (no later
  // commit of the instance put its own); takes the lock (pool_instances.cpp).
  void ClearPoolInstanceMarker(const std::string& sop_instance_uid, const std::string& value) EXCLUDES(commit_mutex_);
  // Whether the instance has a sync marker.
  Result<bool> PoolInstanceUnsynced(std::string_view sop_instance_uid) const;
  // Before a delete's local commit: sync markers (synced), then the pool
  // objects removed. The commit deletes the markers.
  Status RemovePoolInstances(const std::vector<InstanceRecord>& victims, rocksdb::WriteBatch& commit)
      REQUIRES(commit_mutex_);
  // This node's id (the part of tag_prefix_ before its first dot).
  std::string NodeId() const { return tag_prefix_.substr(0, tag_prefix_.find('.')); }
  // The pool side of VerifyStructure (pool_verify.cpp): the reference tags
  // of `held` (refs rows: chunk key -> count), and the instance objects.
  Status VerifyPoolReferences(const std::map<std::string, uint64_t>& held, VerifyReport& report) const;
  Status VerifyPoolInstances(VerifyReport& report) const;
  // The node id the folder records (also when open read-only, when
  // tag_prefix_ is empty).
  Result<std::string> RecordedNodeId() const;
  Result<bool> CompletePoolWork(const ContentHash& hash, uint8_t expected_codec,
                                std::optional<std::pair<uint8_t, std::string>> reencoded) EXCLUDES(commit_mutex_);

  const std::unique_ptr<rocksdb::DB> db_;
  const std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  const StoreOptions options_;
  // From StoreOptions::catalog_observer: fixed at open, so commits read it
  // without a lock. Not owned.
  CatalogObserver* const observer_;
  Mutex commit_mutex_;
  // Read-only mode after a write error; shared with the EventListener that
  // RocksDB reports background errors to.
  const std::shared_ptr<WriteHealthState> health_;
  Mutex resume_mutex_;  // one DB::Resume at a time
  // Where the frames' bytes are when not in `frames`/`staging` (--frames
  // rados); null for the embedded RocksDB. Thread-safe itself.
  const std::unique_ptr<ChunkStore> chunk_store_;
  const std::string tag_prefix_;  // "<node>.<epoch>."
  std::atomic<uint64_t> next_tag_{0};
  uint64_t pool_write_sequence_ GUARDED_BY(commit_mutex_) = 0;  // values of sync markers
};

}  // namespace pacs::engine
