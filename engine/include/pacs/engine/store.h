// File: store.h
// The storage engine: instances split into a header and content-addressed
// pixel chunks, reference counted, committed atomically and durably to
// RocksDB. docs/storage-format.md describes the keys and values.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/engine/catalog.h"
#include "pacs/engine/instance_record.h"

namespace pacs::engine {

// What to do when a SOP Instance UID arrives again with different content.
enum class DuplicatePolicy { kKeep, kReplace, kReject };
Result<DuplicatePolicy> ParseDuplicatePolicy(std::string_view name);

struct StoreOptions {
  std::string path;
  DuplicatePolicy on_duplicate = DuplicatePolicy::kKeep;
  bool sync_writes = true;  // a C-STORE is acknowledged only once durable
  // A point-in-time view that writes nothing to the folder (for `stats` and
  // `export` of a folder no server holds). Commits fail.
  bool read_only = false;
};

// One instance ready to commit: the record plus the bytes it references.
struct InstanceWrite {
  InstanceRecord record;
  std::string header_bytes;
  std::vector<std::string> chunk_bytes;  // parallel to record.chunks: stored bytes
  std::string catalog_payload;           // handed to the CatalogObserver, not stored by the engine
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

struct StoreStats {
  uint64_t patients = 0;
  uint64_t studies = 0;
  uint64_t series = 0;
  uint64_t instances = 0;
  uint64_t received_bytes = 0;        // datasets as received, of the instances now stored
  uint64_t received_bytes_total = 0;  // all traffic committed or deduplicated, repeats included
  uint64_t chunks = 0;                // distinct pixel chunks stored
  uint64_t chunk_bytes = 0;           // their stored size
  uint64_t pixel_raw_bytes = 0;       // distinct chunks, as native pixels (or as received, if compressed)
  uint64_t pixel_stored_bytes = 0;    // distinct chunks, as stored
  std::map<std::string, CodecUsage> per_codec;  // by codec name ("raw", "jpegls", ...)
  uint64_t stored_bytes = 0;          // apparent size of all files in the data folder
  uint64_t disk_usage_bytes = 0;      // allocated blocks (du)
};

// Thread-safe: any number of threads may call any method. Commits are
// serialised by an internal mutex (reference counts are read-modify-write).
class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  virtual ~Store() = default;

  virtual Result<CommitResult> CommitInstance(const InstanceWrite& write) = 0;
  virtual Result<InstanceRecord> GetInstance(std::string_view sop_instance_uid) const = 0;
  virtual Result<std::string> GetHeader(const ContentHash& hash) const = 0;
  virtual Result<std::string> GetChunk(const ContentHash& hash) const = 0;
  // Visits every instance in SOP Instance UID order until `visit` returns false.
  virtual Status ForEachInstance(const std::function<bool(const InstanceRecord&)>& visit) const = 0;
  // Flushes memtables so that stored_bytes reflects the data folder.
  virtual Status Flush() = 0;
  virtual Result<StoreStats> Stats(bool flush_first) = 0;
  virtual const std::string& path() const = 0;

  // Installs the index that rides on every commit (before any commit; not owned).
  virtual void SetCatalogObserver(CatalogObserver* observer) = 0;
  virtual Result<std::optional<std::string>> GetCatalog(std::string_view key) const = 0;
  // Visits catalog entries with keys starting with `prefix`, in key order, until `visit` returns false.
  virtual Status ScanCatalog(std::string_view prefix,
                             const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;
};

// True when RocksDB reports the folder locked by another process.
bool IsLockedByAnotherProcess(const Status& status);

}  // namespace pacs::engine
