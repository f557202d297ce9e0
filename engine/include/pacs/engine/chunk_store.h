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
#include <vector>

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
  // names one holder: taking it twice is one reference. `job` (may be
  // empty): the re-encoding job of bytes stored raw for now, kept with the
  // object when this call creates it, so that a node rebuilt from the store
  // queues it again (ChunkReferences::job).
  virtual Result<PutOutcome> Put(const ContentHash& hash, uint8_t codec, std::string_view bytes, std::string_view tag,
                                 std::string_view job) = 0;
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

  // ---- What a node keeps in the store besides chunks (docs/scale-out.md,
  // "Rebuilding a node"): per node, an epoch counter and one object per
  // stored instance (its record and header), so that a lost node can be
  // rebuilt from the store alone. ----
  // The tags that hold references on a chunk, with its codec and size, read
  // in one operation; NotFound if it is not stored.
  struct ChunkReferences {
    std::vector<std::string> tags;
    uint8_t codec = 0;
    uint64_t stored_size = 0;
    // The job its creator gave Put (empty: none). It stays after the bytes
    // are re-encoded: it is pending only while `codec` is still the codec
    // the chunk was created with.
    std::string job;
  };
  virtual Result<ChunkReferences> ReadReferences(const ContentHash& hash) const = 0;
  // The highest epoch `node` recorded (0: none), and recording a new one.
  virtual Result<uint64_t> ReadNodeEpoch(std::string_view node) const = 0;
  virtual Status WriteNodeEpoch(std::string_view node, uint64_t epoch) = 0;
  // Writes (replaces) the object of instance `sop_instance_uid` of `node`:
  // the encoded InstanceRecord and the header bytes, in one operation.
  virtual Status WriteInstance(std::string_view node, std::string_view sop_instance_uid, std::string_view record,
                               std::string_view header) = 0;
  // A write in flight: Wait() returns once the store acknowledged it, or
  // its error (also within the timeouts). Destroying it waits too.
  class PendingWrite {
   public:
    virtual ~PendingWrite() = default;
    virtual Status Wait() = 0;
  };
  // WriteInstance, returning once the write is sent. Writes this ChunkStore
  // starts on one object are applied in the order they were started (one
  // RADOS client's operations on one object are ordered), so a caller can
  // start them under a lock and wait outside it.
  virtual Result<std::unique_ptr<PendingWrite>> StartWriteInstance(std::string_view node,
                                                                   std::string_view sop_instance_uid,
                                                                   std::string_view record,
                                                                   std::string_view header) = 0;
  // Removes the objects of these instances (absent ones are not an error),
  // all in flight at once; the first failure, after all were tried.
  virtual Status RemoveInstances(std::string_view node, const std::vector<std::string>& sop_instance_uids) = 0;
  struct InstanceObject {
    std::string record;  // InstanceRecord::Encode()
    std::string header;
  };
  virtual Result<InstanceObject> ReadInstance(std::string_view node, std::string_view sop_instance_uid) const = 0;
  // Every instance UID of `node` with an object in the store, and every
  // chunk hash stored, from one listing of the store (its cost grows with
  // the whole store, not with the node).
  struct Listing {
    std::vector<std::string> instances;
    std::vector<ContentHash> chunks;
    std::vector<std::string> nodes;  // every node with a node object (NodeObjectName)
  };
  virtual Result<Listing> List(std::string_view node) const = 0;

  // The pool's totals: every node's objects of every kind, from the
  // cluster's pool statistics (one request; the cluster updates them every
  // few seconds, so they lag writes by that much).
  struct PoolUsage {
    uint64_t objects = 0;
    uint64_t bytes = 0;  // the objects' data (xattrs not counted)
  };
  virtual Result<PoolUsage> ReadPoolUsage() const = 0;
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
// The object names of a node's epoch record and of one of its instances.
std::string NodeObjectName(std::string_view node);
std::string InstanceObjectName(std::string_view node, std::string_view sop_instance_uid);

// The reply of Ceph 16.2's `refcount.read` (cls_refcount_read_ret: u8
// version, u8 compat, le32 length, then a list of strings as le32 count and
// le32 length + bytes each): the tags, or Corruption naming what is wrong.
// Bytes from the cluster: checked, never trusted (fuzz/pool_records).
Result<std::vector<std::string>> DecodeRefcountReadReply(std::string_view bytes);

}  // namespace pacs::engine
