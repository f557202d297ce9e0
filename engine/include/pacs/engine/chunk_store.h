// File: chunk_store.h
// Where the bytes of pixel chunks live when they are not in the data folder's
// RocksDB: a content-addressed object store shared by several nodes (Ceph
// RADOS; docs/scale-out.md). The node's own reference counts, instance
// records and catalog stay in its data folder (Store); a ChunkStore keeps the
// bytes with their codec, and one reference per holder `tag`, so that nodes
// sharing it store each chunk once and the last holder's release removes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pacs/base/result.h"
#include "pacs/engine/content_hash.h"

namespace pacs::engine {

// A chunk's bytes and the codec they are stored in, read in one operation.
struct StoredChunkBytes {
  std::string bytes;
  uint8_t codec = 0;
};

// What a Put left stored: the codec and size of the stored object, which are
// another node's when it stored the chunk first.
struct PutOutcome {
  uint8_t codec = 0;
  uint64_t stored_size = 0;
  bool created = false;  // this call created the object
};

// What a sweep of objects without any reference did (RemoveUnreferenced).
struct OrphanSweepReport {
  uint64_t examined = 0;              // chunk objects listed
  uint64_t unreferenced = 0;          // of those, holding no reference at all
  uint64_t removed = 0;               // unreferenced past the grace period, removed
  uint64_t removed_bytes = 0;         // their sizes
  uint64_t kept_young = 0;            // unreferenced, but younger than the grace period
  uint64_t referenced_meanwhile = 0;  // took a reference before the guarded removal: kept
};

// Thread-safe: any number of threads may call any method. Every method
// returns once the store acknowledged it (durable there), or an error within
// the store's configured timeouts; it never waits forever.
class ChunkStore {
 public:
  virtual ~ChunkStore() = default;

  // Stores `bytes` under `hash` unless a chunk is stored there already (then
  // its bytes and codec are kept), and takes a reference for `tag`. A tag
  // names one holder: taking it twice is one reference.
  virtual Result<PutOutcome> Put(const ContentHash& hash, uint8_t codec, std::string_view bytes,
                                 std::string_view tag) = 0;
  // Takes a reference for `tag` on a stored chunk; NotFound if none is stored.
  virtual Status Reference(const ContentHash& hash, std::string_view tag) = 0;
  // Drops `tag`'s reference; the last one removes the chunk. Dropping a tag
  // that holds none, or a chunk that is gone, is not an error.
  virtual Status Unreference(const ContentHash& hash, std::string_view tag) = 0;
  // The bytes and codec, read consistently in one operation; NotFound if absent.
  virtual Result<StoredChunkBytes> Get(const ContentHash& hash) const = 0;
  virtual Result<bool> Has(const ContentHash& hash) const = 0;
  // Replaces the bytes and codec atomically, only if the chunk is stored with
  // `expected_codec`; false (nothing changed) if it is not, or is gone.
  virtual Result<bool> ReplaceIfCodec(const ContentHash& hash, uint8_t expected_codec, uint8_t codec,
                                      std::string_view bytes) = 0;
  // Removes chunk objects that hold no reference at all (not one tag, ever)
  // and were last written longer than `grace` ago: what a node killed
  // between creating a chunk object and taking its first reference leaves.
  // The removal of each is one atomic operation guarded on the object still
  // holding no reference, so an object that gains one meanwhile stays.
  virtual Result<OrphanSweepReport> RemoveUnreferenced(std::chrono::milliseconds grace) = 0;
  // For messages and the data folder's record: "rados:POOL".
  virtual std::string Describe() const = 0;
};

// How to reach a RADOS pool (serve/import --frames rados:POOL --ceph-conf FILE --ceph-id NAME).
struct RadosOptions {
  std::string pool;
  std::string conf_file;        // empty: Ceph's default search
  std::string client_id;        // empty: "admin"
  int op_timeout_seconds = 10;  // rados_osd_op_timeout, rados_mon_op_timeout, client_mount_timeout
};

// Connects to the cluster and opens the pool: an error naming the
// configuration, the pool and what failed (unreachable within the timeout, no
// such pool) otherwise.
Result<std::unique_ptr<ChunkStore>> OpenRadosChunkStore(const RadosOptions& options);

// The object name of a chunk in the pool.
std::string ChunkObjectName(const ContentHash& hash);

}  // namespace pacs::engine
