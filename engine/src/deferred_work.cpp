// Deferred work: chunks stored raw on the C-STORE path, each with a
// re-encoding job in the `work` column family (written in the commit that
// first stores the chunk, so a restart resumes it). The jobs are opaque to the
// engine; dicom/ runs them and hands back the re-encoded bytes.
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
  const std::string key(AsKey(hash));
  MutexLock lock(commit_mutex_);
  auto queued = KeyExists(kWork, key);
  if (!queued.ok()) return queued.status();
  if (!*queued) return false;  // done or collected
  rocksdb::WriteBatch batch;
  batch.Delete(cfs_[kWork], key);
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
  }
  PACS_RETURN_IF_ERROR(ApplyCounterDeltas(counters, batch));
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "storing a re-encoded chunk"));
  return replaced;
}

}  // namespace pacs::engine
