// File: store.h
// The storage engine: instances split into a header and content-addressed
// pixel chunks, reference counted, committed atomically and durably to
// RocksDB. docs/storage-format.md describes the keys and values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/engine/catalog.h"
#include "pacs/engine/chunk_store.h"
#include "pacs/engine/instance_record.h"

namespace pacs::engine {

// What to do when a SOP Instance UID arrives again with different content.
enum class DuplicatePolicy { kKeep, kReplace, kReject };
Result<DuplicatePolicy> ParseDuplicatePolicy(std::string_view name);

// How much of the data folder's file system commits leave free (serve
// --min-free-space): the larger of `bytes` and `percent` of its size.
// Commits that add data are refused below it, before RocksDB could meet a
// full disk; deletion and collection go on.
struct FreeSpaceFloor {
  uint64_t bytes = 0;
  double percent = 0;  // 0-100
};

struct StoreOptions {
  std::string path;
  FreeSpaceFloor min_free_space;
  DuplicatePolicy on_duplicate = DuplicatePolicy::kKeep;
  bool sync_writes = true;  // a C-STORE is acknowledged only once durable
  // A point-in-time view that writes nothing to the folder (for `stats` and
  // `export` of a folder no server holds). Commits fail.
  bool read_only = false;
  // The index that rides on every commit (the query index of dicom/), fixed
  // for the life of the store; null for none. Not owned: it must outlive the store.
  CatalogObserver* catalog_observer = nullptr;
  // Where pixel chunks' bytes go (serve/import --frames): "rocksdb" (in the
  // data folder, as always), "rados:POOL" (a Ceph pool that several nodes
  // share; docs/scale-out.md), or empty for what the folder records (rocksdb
  // for a new one). The choice is recorded in the folder at its first open; a
  // later open asking for another is refused.
  std::string frames;
  std::string ceph_conf;          // with rados: the cluster's ceph.conf (empty: recorded, or Ceph's default)
  std::string ceph_id;            // with rados: the client name without "client." (empty: recorded, or admin)
  int ceph_timeout_seconds = 10;  // with rados: every cluster operation fails after this, never hangs
  // With rados, for a new folder only (pacscore rebuild): take this node id
  // instead of a new random one. A folder recording another id is refused.
  std::string frames_node_id;
};

// Whether a write that adds data may go on (the free-space floor applies to
// it), or one that only frees space (deletion, collection, compaction).
enum class WriteKind { kAdds, kFrees };

// The store's view of its own writability, for health checks and metrics.
struct WriteHealthReport {
  bool read_only_after_error = false;  // a write failed; see Store::CheckWritable
  std::string reason;                  // the failed write, when read_only_after_error
  uint64_t min_free_bytes = 0;         // the floor now (FreeSpaceFloor resolved against the file system's size)
  uint64_t available_bytes = 0;        // free for us on the data folder's file system
};

// One instance ready to commit: the record plus the bytes it references.
struct InstanceWrite {
  InstanceRecord record;
  std::string header_bytes;
  // Parallel to record.chunks: stored bytes. May be empty for a chunk that
  // HasChunk() reported stored; if the frame was collected meanwhile the
  // commit fails with kBusy and the caller retries with the bytes.
  std::vector<std::string> chunk_bytes;
  // Jobs to re-encode chunks off the C-STORE path, by chunk key; kept (in the
  // same commit) only for chunks this commit stores for the first time.
  std::vector<std::pair<ContentHash, std::string>> deferred_work;
  std::string catalog_payload;  // handed to the CatalogObserver, not stored by the engine
};

enum class CommitOutcome {
  kStored,              // new instance
  kIdenticalDuplicate,  // same UID, same content: nothing added
  kKeptExisting,        // same UID, different content, policy keep
  kReplaced,            // same UID, different content, policy replace
};
const char* CommitOutcomeName(CommitOutcome outcome);

struct CommitResult {
  CommitOutcome outcome = CommitOutcome::kStored;
  std::string existing_header_hash;  // hex, set when the UID existed before
  std::string new_header_hash;       // hex
};

// Distinct pixel chunks stored with one codec.
struct CodecUsage {
  uint64_t chunks = 0;
  uint64_t raw_bytes = 0;     // their size as native pixels
  uint64_t stored_bytes = 0;  // their size as stored
};

// With frames in a pool (--frames rados:POOL): this node's share of it, from
// the folder's own counts (no listing of the pool), and the pool's totals
// (docs/scale-out.md, "What stats shows").
struct PoolShare {
  std::string pool;            // "rados:POOL"
  uint64_t chunk_objects = 0;  // chunk objects the node holds a reference on (awaiting collection included)
  uint64_t chunk_bytes = 0;    // their size in the pool, as the node last saw it
  uint64_t references = 0;     // its reference tags on them, recorded in the folder: one per object
  uint64_t references_in_flight =
      0;                          // tags of commits not yet recorded (intents; an interrupted one's until reconciled)
  uint64_t instance_objects = 0;  // its inst.<node>.<uid> objects: one per stored instance
  // The pool's totals, every node's objects (ChunkStore::ReadPoolUsage, which
  // lags writes by a few seconds); nullopt with `totals_error` when the
  // cluster did not answer.
  std::optional<ChunkStore::PoolUsage> totals;
  std::string totals_error;
};

struct StoreStats {
  uint64_t patients = 0;
  uint64_t studies = 0;
  uint64_t series = 0;
  uint64_t instances = 0;
  uint64_t received_bytes = 0;               // datasets as received, of the instances now stored
  uint64_t received_bytes_total = 0;         // all traffic committed or deduplicated, repeats included
  uint64_t chunks = 0;                       // distinct pixel chunks stored
  uint64_t chunk_bytes = 0;                  // their stored size
  uint64_t chunk_references = 0;             // references from instances to chunks (frame_references)
  uint64_t dedup_saved_bytes = 0;            // stored bytes that identical chunks would have taken again
  uint64_t frames_in_several_encodings = 0;  // decoded-pixel identities held in more than one encoding
  uint64_t chunks_awaiting_collection = 0;   // unreferenced, kept for the grace period
  uint64_t chunk_bytes_awaiting_collection = 0;
  uint64_t chunks_awaiting_reencoding = 0;      // stored raw for now, re-encoded in the background
  uint64_t pixel_raw_bytes = 0;                 // distinct chunks, as native pixels (or as received, if compressed)
  uint64_t pixel_stored_bytes = 0;              // distinct chunks, as stored
  std::map<std::string, CodecUsage> per_codec;  // by codec name ("raw", "jpegls", ...)
  uint64_t stored_bytes = 0;                    // apparent size of all files in the data folder
  uint64_t disk_usage_bytes = 0;                // allocated blocks (du)
  std::string frames_node;                      // with rados frames: this node's id (pacscore rebuild --node)
  std::optional<PoolShare> pool;                // with rados frames
};

// RocksDB's own figures, for monitoring: summed over the column families
// where RocksDB keeps them per family. Read from its properties (memory
// only, no I/O); each field names the property it comes from.
struct EngineFigures {
  uint64_t sst_bytes = 0;                 // rocksdb.total-sst-files-size (every version still referenced)
  uint64_t live_sst_bytes = 0;            // rocksdb.live-sst-files-size (the current version)
  uint64_t blob_bytes = 0;                // rocksdb.total-blob-file-size
  uint64_t live_blob_bytes = 0;           // rocksdb.live-blob-file-size
  uint64_t blob_garbage_bytes = 0;        // rocksdb.live-blob-file-garbage-size (awaiting blob GC)
  uint64_t memtable_bytes = 0;            // rocksdb.cur-size-all-mem-tables
  uint64_t pending_compaction_bytes = 0;  // rocksdb.estimate-pending-compaction-bytes
  uint64_t running_compactions = 0;       // rocksdb.num-running-compactions
  uint64_t delayed_write_rate = 0;        // rocksdb.actual-delayed-write-rate: bytes/s while writes are slowed, else 0
  bool write_stopped = false;             // rocksdb.is-write-stopped
  uint64_t write_slowdowns = 0;           // rocksdb.cfstats io_stalls.total_slowdown: times writes were slowed
  uint64_t write_stops = 0;               // rocksdb.cfstats io_stalls.total_stop: times writes were stopped
  uint64_t background_errors = 0;         // rocksdb.background-errors
};

struct DeleteSelector {
  std::string study_instance_uid;  // exactly one of the three is set
  std::string series_instance_uid;
  std::string sop_instance_uid;
  // With a study: delete nothing (and return 0) if the study is protected,
  // checked under the commit lock (retention and quota eviction set it; a
  // manual delete does not, and also removes the study's protection).
  bool keep_if_protected = false;
  // When set, receives the records of the instances deleted (the audit trail
  // names their studies and patients).
  std::vector<InstanceRecord>* removed = nullptr;
};

// One stored study as the engine sees it (retention and quotas plan with it).
struct StudyUsage {
  std::string study_instance_uid;
  std::string patient_id;
  uint64_t instances = 0;
  int64_t last_received_unix_ms = 0;  // when its latest instance arrived
  bool is_protected = false;
};

struct CollectReport {
  uint64_t candidates = 0;  // unreferenced chunks past the grace period when scanned
  uint64_t collected = 0;   // removed
  uint64_t collected_bytes = 0;
  uint64_t rescued = 0;  // re-referenced between the scan and the removal: kept
};

struct StoredChunk {
  std::string bytes;
  uint8_t codec = 0;  // how `bytes` are encoded (authoritative; may differ from the instance record's)
};

struct VerifyReport {
  uint64_t instances = 0, headers = 0, chunks = 0, references = 0;
  // With frames in a pool: chunk objects whose reference tags were read,
  // instance objects compared with the folder, objects listed (VerifyPoolListing).
  uint64_t pool_chunk_objects = 0, pool_instance_objects = 0, pool_objects_listed = 0;
  std::vector<std::string> problems;  // one line each

  // Adds a problem; past 1000 they are counted in the last line only.
  void AddProblem(std::string line) {
    if (problems.size() < kMaxProblems) problems.push_back(std::move(line));
  }
  static constexpr size_t kMaxProblems = 1000;
};

// What RebuildCatalog did.
struct CatalogRebuildReport {
  uint64_t instances_read = 0;       // instance records visited (the build's snapshot, then the catch-up)
  uint64_t instances_indexed = 0;    // of those, now in the rebuilt catalog
  uint64_t caught_up = 0;            // instances added, replaced or removed while the build ran
  uint64_t entries = 0;              // catalog entries of the rebuilt catalog
  uint64_t entry_bytes = 0;          // their keys and values (what the build held in memory)
  uint64_t entries_put = 0;          // entries written because they were missing or different
  uint64_t entries_deleted = 0;      // stale entries removed
  std::vector<std::string> skipped;  // "<SOP Instance UID>: <why>", one per instance left out
};

// What RestoreFromPool did (pacscore rebuild).
struct PoolRestoreReport {
  std::string node;                     // the node rebuilt
  uint64_t instance_objects = 0;        // instance objects of the node in the pool
  uint64_t instances_restored = 0;      // of those, now in the data folder
  uint64_t chunks_adopted = 0;          // chunks referenced, holding a tag of the node taken over
  uint64_t chunks_referenced_anew = 0;  // chunks referenced that held no tag of the node: a new one taken
  uint64_t stale_tags_released = 0;     // other tags of the node (on chunks its instances do not use, or extra ones)
  uint64_t pool_objects_listed = 0;     // chunk objects visited
  uint64_t reencoding_queued = 0;       // frames still raw in the pool, queued for background re-encoding again
  std::vector<std::string> skipped;     // "<SOP Instance UID>: <why>", one per instance object left out
};

// The catalog payload of a stored instance from its header bytes (what ingest
// put in InstanceWrite::catalog_payload), or why it cannot be had.
using CatalogPayloadSource =
    std::function<Result<std::string>(const InstanceRecord& record, std::string_view header_bytes)>;

// Thread-safe: any number of threads may call any method. Commits are
// serialised by an internal mutex (reference counts are read-modify-write).
// A stored value that is short or malformed is reported as kCorruption
// naming its column family and key, never read as zeros.
class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  virtual ~Store() = default;

  virtual Result<CommitResult> CommitInstance(const InstanceWrite& write) = 0;
  // For a large instance, before its CommitInstance: stores the bytes of
  // write.chunk_bytes[first..] that are not stored yet (with their deferred
  // jobs) as unreferenced chunks awaiting collection, in one synced batch,
  // and empties those strings, so that memory holds one batch at a time
  // instead of the whole instance. The commit then references them (as it
  // does chunks HasChunk reported); if it never comes, the collector removes
  // them after its grace period. Refused like a commit (CheckWritable).
  virtual Status StageChunks(InstanceWrite& write, size_t first) = 0;
  virtual Result<InstanceRecord> GetInstance(std::string_view sop_instance_uid) const = 0;
  virtual Result<std::string> GetHeader(const ContentHash& hash) const = 0;
  virtual Result<std::string> GetChunk(const ContentHash& hash) const = 0;
  // The codec of a referenced chunk (reference count above zero), nullopt if
  // none: ingest skips encoding frames that are already stored. A stored
  // reference that cannot be read or decoded is an error, not "absent".
  virtual Result<std::optional<uint8_t>> HasChunk(const ContentHash& hash) const = 0;
  // Removes the selected instances in one commit; returns how many. Chunks
  // left without references are kept until CollectGarbage.
  virtual Result<uint64_t> DeleteInstances(const DeleteSelector& selector) = 0;
  // Removes chunks unreferenced for longer than `grace`.
  virtual Result<CollectReport> CollectGarbage(std::chrono::milliseconds grace) = 0;
  // CollectGarbage, then a full compaction with blob garbage collection.
  virtual Result<CollectReport> Compact(std::chrono::milliseconds grace) = 0;
  // With frames in a pool (--frames rados:POOL): removes the pool's chunk
  // objects that hold no reference of any node and were written longer than
  // `grace` ago (ChunkStore::RemoveUnreferenced); `compact` runs it after the
  // collector. With frames in RocksDB: nothing to do, an empty report.
  virtual Result<OrphanSweepReport> RemoveUnreferencedPoolObjects(std::chrono::milliseconds grace) = 0;
  // Structural checks: every referenced header and chunk exists, every stored
  // reference count equals the references the instances make, no chunk is
  // unreferenced past `grace`. Parsing and re-hashing are dicom/'s (verify --deep).
  // With frames in a pool, also the pool side, one read per chunk object and
  // per instance object the node holds (docs/scale-out.md, "What verify
  // checks"): each chunk object holds exactly the reference tag the folder
  // records for it (one missing: the chunk could be removed under this node;
  // an extra one of this node: a leak), and each instance has its instance
  // object, equal to the folder's record and header.
  virtual Result<VerifyReport> VerifyStructure(std::chrono::milliseconds grace) const = 0;
  // With frames in a pool (verify --deep): one listing of the whole pool,
  // its cost growing with every node's objects: instance objects of this
  // node that the folder does not hold, and reference tags of this node on
  // chunk objects the folder does not hold (leaks). Empty report otherwise.
  virtual Result<VerifyReport> VerifyPoolListing() const = 0;

  // A chunk's bytes with the codec they are stored in, read consistently.
  virtual Result<StoredChunk> ReadChunk(const ContentHash& hash) const = 0;
  // Deferred re-encoding: visits the pending jobs; completing one either
  // replaces the chunk's bytes (only if it is still stored in
  // `expected_codec`) or, with nullopt, just drops the job. Returns whether
  // the bytes were replaced.
  virtual Status ForEachDeferredWork(const std::function<bool(const ContentHash&, std::string_view)>& visit) const = 0;
  virtual Result<bool> CompleteDeferredWork(const ContentHash& hash, uint8_t expected_codec,
                                            std::optional<std::pair<uint8_t, std::string>> reencoded) = 0;
  // Returns the disk space of raw frames whose re-encoding completed: flushes
  // the memtables (so the write-ahead log can go) and compacts the staging
  // column family, whose files then hold no live frame and are deleted whole.
  // Cheap (staging's tables hold keys and blob references only); meant for
  // when the deferred work runs dry.
  virtual Status ReleaseStagingSpace() = 0;
  // Visits every instance in SOP Instance UID order until `visit` returns false.
  virtual Status ForEachInstance(const std::function<bool(const InstanceRecord&)>& visit) const = 0;
  // Flushes memtables so that stored_bytes reflects the data folder.
  virtual Status Flush() = 0;
  virtual Result<StoreStats> Stats(bool flush_first) = 0;
  // Cheap enough for every metrics scrape (no flush, no file walk).
  virtual Result<EngineFigures> ReadEngineFigures() const = 0;
  virtual const std::string& path() const = 0;

  // ---- A full disk ----
  // Ok when a write of `kind` may be tried now. Refused (IOError, with the
  // free bytes, the floor and "nothing stored") when a write adding data
  // would leave less than StoreOptions::min_free_space free, or while the
  // store is read-only after a write error. Any failed RocksDB write (or
  // background flush / compaction) puts the store read-only: reads go on,
  // writes are refused without reaching RocksDB. Once the free space is
  // back above the floor, the next check resumes RocksDB (DB::Resume, at
  // most once per second) and leaves read-only mode. Every commit, deletion
  // and deferred-work write checks it itself; callers check early to skip
  // work (ingest before encoding, the background encoder before a job).
  virtual Status CheckWritable(WriteKind kind) = 0;
  virtual WriteHealthReport WriteHealth() const = 0;

  // Rebuilds the catalog from the stored instances with the store's
  // CatalogObserver, for folders written before the index existed or with a
  // damaged one. The new catalog is built in memory from a snapshot without
  // the commit lock (commits go on); then, under the lock, the instances
  // committed or removed since the snapshot are folded in and the difference
  // between the rebuilt and the stored catalog is written in one synced batch:
  // readers see the old catalog or the new one, never a mix. An instance whose
  // record, header or payload cannot be read is skipped and listed, not fatal.
  // `progress` (may be empty) is called after each instance of the build with
  // the number read and the instance count. InvalidArgument without an
  // observer; Unsupported on a read-only store.
  virtual Result<CatalogRebuildReport> RebuildCatalog(
      const CatalogPayloadSource& payload_of, const std::function<void(uint64_t read, uint64_t total)>& progress) = 0;

  // ---- Retention, quotas and protection ----
  // Every stored study with its instance count, latest receive time and
  // protection, in Study Instance UID order (one scan of the instances).
  virtual Result<std::vector<StudyUsage>> ListStudies() const = 0;
  // What deleting `study_uids` in this order would really free: entry i is
  // the stored bytes of the chunks whose every reference comes from
  // studies[0..i] (chunks shared with any other study free nothing). One
  // scan of the instances; a point-in-time estimate, taken without the lock.
  virtual Result<std::vector<uint64_t>> CumulativeBytesFreed(const std::vector<std::string>& study_uids) const = 0;
  // count/chunk_bytes: the stored bytes of the chunks instances reference
  // (what a storage quota limits). One read.
  virtual Result<uint64_t> ReferencedChunkBytes() const = 0;
  // Whether at least one instance of the study is stored. One read.
  virtual Result<bool> HasStudy(std::string_view study_instance_uid) const = 0;
  // Marks a stored study never to be deleted by retention or quota eviction
  // (NotFound when no instance of it is stored), or removes the mark.
  virtual Status SetStudyProtected(std::string_view study_instance_uid, bool protect) = 0;
  virtual Result<bool> IsStudyProtected(std::string_view study_instance_uid) const = 0;
  virtual Result<std::vector<std::string>> ProtectedStudies() const = 0;

  virtual Result<std::optional<std::string>> GetCatalog(std::string_view key) const = 0;
  // Visits catalog entries with keys starting with `prefix`, in key order, until `visit` returns false.
  virtual Status ScanCatalog(std::string_view prefix,
                             const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;
};

// pacscore rebuild: re-creates a lost node's data folder from the objects it
// keeps in its RADOS pool (docs/scale-out.md, "Rebuilding a node"): its
// instances, headers, reference counts and chunk references (the node's
// tags adopted, extra ones released). `options` names the folder (absent or
// empty), `frames` = "rados:POOL", the cluster, `frames_node_id` the node and
// the catalog observer. Returns the open store, whose query index the caller
// then rebuilds (RebuildCatalog). NotFound, with nothing created, when the
// pool holds nothing of the node. `progress` (may be empty): instances
// restored, of how many.
struct PoolRestore {
  std::unique_ptr<Store> store;
  PoolRestoreReport report;
};
Result<PoolRestore> RestoreNodeFromPool(const StoreOptions& options,
                                        const std::function<void(uint64_t done, uint64_t total)>& progress);

// True when RocksDB reports the folder locked by another process.
bool IsLockedByAnotherProcess(const Status& status);

}  // namespace pacs::engine
