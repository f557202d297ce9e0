// Deferred work: chunks stored raw on the C-STORE path, each with a
// re-encoding job in the `work` column family (written in the commit that
// first stores the chunk, so a restart resumes it). The jobs are opaque to the
// engine; dicom/ runs them and hands back the re-encoded bytes. The raw bytes
// wait in `staging`; completing a job moves the chunk to `frames`.
#include <rocksdb/options.h>

#include "pacs/engine/sync_point.h"
#include "rocks_store.h"

namespace pacs::engine {

Status RocksStore::ForEachDeferredWork(const std::function<bool(const ContentHash&, std::string_view)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kWork]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto hash = DecodeHashKey(kWork, it->key().ToStringView());
    if (!hash.ok()) return hash.status();
    if (!visit(*hash, it->value().ToStringView())) break;
  }
  return FromRocks(it->status(), "scanning deferred work");
}

Result<bool> RocksStore::CompleteDeferredWork(const ContentHash& hash, uint8_t expected_codec,
                                              std::optional<std::pair<uint8_t, std::string>> reencoded) {
  PACS_TEST_SYNC_POINT("RocksStore::CompleteDeferredWork:Begin");
  if (chunk_store_) return CompletePoolWork(hash, expected_codec, std::move(reencoded));
  const std::string key(AsKey(hash));
  MutexLock lock(commit_mutex_);
  auto queued = KeyExists(kWork, key);
  if (!queued.ok()) return queued.status();
  if (!*queued) return false;  // done or collected
  rocksdb::WriteBatch batch;
  batch.Delete(cfs_[kWork], key);
  // The staged raw bytes leave `staging` in this batch, whatever happens:
  // replaced by their encoding, or moved to `frames` as they are. (A folder
  // written before `staging` existed has them in `frames` already.)
  batch.Delete(cfs_[kStaging], key);
  std::map<std::string, int64_t> counters{{kCountWork, -1}};
  auto stored = ReadChunkRef(hash);
  if (!stored.ok()) return stored.status();
  bool replaced = false;
  if (reencoded && stored->has_value() && (*stored)->codec == expected_codec && !reencoded->second.empty()) {
    ChunkRef ref = **stored;
    const int64_t delta = static_cast<int64_t>(reencoded->second.size()) - static_cast<int64_t>(ref.stored_size);
    if (ref.count > 0) {
      const std::string from = CodecCounterName(ref.codec), to = CodecCounterName(reencoded->first);
      counters[from + "/chunks"] -= 1;
      counters[from + "/raw_bytes"] -= static_cast<int64_t>(ref.raw_size);
      counters[from + "/stored_bytes"] -= static_cast<int64_t>(ref.stored_size);
      counters[to + "/chunks"] += 1;
      counters[to + "/raw_bytes"] += static_cast<int64_t>(ref.raw_size);
      counters[to + "/stored_bytes"] += static_cast<int64_t>(reencoded->second.size());
      counters[kCountChunkBytes] += delta;
      counters[kCountRefStoredBytes] += delta * static_cast<int64_t>(ref.count);
    } else {
      counters[kCountGcBytes] += delta;
    }
    batch.Put(cfs_[kFrames], key, reencoded->second);
    ref.codec = reencoded->first;
    ref.stored_size = reencoded->second.size();
    batch.Put(cfs_[kRefs], ChunkRefKey(key), ref.Encode());
    replaced = true;
  } else {
    std::string staged;
    auto read = db_->Get(rocksdb::ReadOptions(), cfs_[kStaging], key, &staged);
    if (read.ok())
      batch.Put(cfs_[kFrames], key, staged);  // kept raw: no codec shrinks it
    else if (!read.IsNotFound())
      return FromRocks(read, "reading staged chunk " + ToHex(hash) + "; its job stays queued");
  }
  PACS_RETURN_IF_ERROR(ApplyCounterDeltas(counters, batch));
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "storing a re-encoded chunk"));
  return replaced;
}

Status RocksStore::ReleaseStagingSpace() {
  if (options_.read_only) return Status::Ok();
  // Flushing every column family lets the write-ahead log files (which hold
  // the raw frames too) be deleted; a staged frame deleted while still in the
  // memtable never reaches a blob file at all.
  PACS_RETURN_IF_ERROR(Flush());
  // Staging's tables hold keys and blob references only: compacting them to
  // the bottom drops the deleted frames' references and tombstones, and a
  // blob file left with no live frame is deleted whole. Blob contents are not
  // read or rewritten.
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  auto s = db_->CompactRange(options, cfs_[kStaging], nullptr, nullptr);
  NoteWriteResult(s, "compacting the staging area");
  return FromRocks(s, "compacting the staging area");
}

}  // namespace pacs::engine
