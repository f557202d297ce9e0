// Commits: adding and removing instances in one atomic batch, with the
// reference counts, index counts, counters and catalog entries they change.
// CommitBuilder accumulates the changes; RocksStore::ApplyCommit resolves them
// against the stored counts under the commit lock.
#include <algorithm>

#include "pacs/engine/sync_point.h"
#include "rocks_store.h"

namespace pacs::engine {
namespace {

// Pending catalog writes of one commit, layered over the database.
class RocksCatalogTxn final : public CatalogTxn {
 public:
  RocksCatalogTxn(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}
  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (auto it = pending_.find(std::string(key)); it != pending_.end()) return it->second;
    std::string value;
    auto s = db_.Get(rocksdb::ReadOptions(), cf_, key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    PACS_RETURN_IF_ERROR(FromRocks(s, "reading catalog"));
    return std::optional<std::string>(std::move(value));
  }
  void Put(std::string_view key, std::string_view value) override { pending_[std::string(key)] = std::string(value); }
  void Delete(std::string_view key) override { pending_[std::string(key)] = std::nullopt; }
  void ApplyTo(rocksdb::WriteBatch& batch) const {
    for (const auto& [key, value] : pending_) {
      if (value)
        batch.Put(cf_, key, *value);
      else
        batch.Delete(cf_, key);
    }
  }

 private:
  rocksdb::DB& db_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::map<std::string, std::optional<std::string>> pending_;
};

}  // namespace

void CommitBuilder::AddInstance(const InstanceRecord& rec, const InstanceWrite* write) {
  const std::string header = std::string(AsKey(rec.header_hash));
  headers_[header] += 1;
  if (write) header_bytes_[header] = &write->header_bytes;
  for (size_t i = 0; i < rec.chunks.size(); ++i) {
    const auto& c = rec.chunks[i];
    auto& change = chunks_[std::string(AsKey(c.hash))];
    change.delta += 1;
    if (write && !write->chunk_bytes[i].empty()) change.bytes = &write->chunk_bytes[i];
    change.raw_size = c.size;
    change.codec = c.codec;
    if (c.pixel_hash != ContentHash{}) encodings_[std::string(AsKey(c.pixel_hash)) + std::string(AsKey(c.hash))] += 1;
  }
  if (write)
    for (const auto& [hash, job] : write->deferred_work) deferred_[std::string(AsKey(hash))] = &job;
  index_[PatientKey(rec)] += 1;
  index_["study/" + rec.study_instance_uid] += 1;
  index_["series/" + rec.series_instance_uid] += 1;
  counters_[kCountInstances] += 1;
  counters_[kCountReceived] += static_cast<int64_t>(rec.received_bytes);
}

void CommitBuilder::RemoveInstance(const InstanceRecord& rec) {
  headers_[std::string(AsKey(rec.header_hash))] -= 1;
  for (const auto& c : rec.chunks) {
    auto& change = chunks_[std::string(AsKey(c.hash))];
    change.delta -= 1;
    change.raw_size = c.size;
    change.codec = c.codec;
    if (c.pixel_hash != ContentHash{}) encodings_[std::string(AsKey(c.pixel_hash)) + std::string(AsKey(c.hash))] -= 1;
  }
  index_[PatientKey(rec)] -= 1;
  index_["study/" + rec.study_instance_uid] -= 1;
  index_["series/" + rec.series_instance_uid] -= 1;
  counters_[kCountInstances] -= 1;
  counters_[kCountReceived] -= static_cast<int64_t>(rec.received_bytes);
}

uint8_t CommitBuilder::StoredCodec(const ContentHash& h, uint8_t fallback) const {
  auto it = chunks_.find(std::string(AsKey(h)));
  return it == chunks_.end() ? fallback : it->second.codec;
}

Status RocksStore::ApplyCommit(CommitBuilder& builder, rocksdb::WriteBatch& batch) {
  // In this order: chunk changes add counters, encoding changes add index
  // changes, index changes add counters.
  PACS_RETURN_IF_ERROR(ApplyHeaderChanges(builder, batch));
  PACS_RETURN_IF_ERROR(ApplyChunkChanges(builder, batch));
  PACS_RETURN_IF_ERROR(ApplyIndexChanges(builder, batch));
  return ApplyCounterDeltas(builder.counters_, batch);
}

Status RocksStore::ApplyHeaderChanges(CommitBuilder& builder, rocksdb::WriteBatch& batch) {
  // Headers: stored while referenced, removed with their last reference
  // (every ingest carries its header bytes, so no race can lose one).
  for (const auto& [key, delta] : builder.headers_) {
    if (delta == 0) continue;
    const std::string ref_key = HeaderRefKey(key);
    auto before = ReadU64(kRefs, ref_key);
    if (!before.ok()) return before.status();
    const int64_t after = static_cast<int64_t>(*before) + delta;
    if (after < 0) return Status::Corruption("header reference count below zero for " + ToHex(HashOf(key)));
    if (*before == 0 && after > 0) {
      auto bytes = builder.header_bytes_.find(key);
      if (bytes == builder.header_bytes_.end())
        return Status::Internal("new header " + ToHex(HashOf(key)) + " without bytes");
      batch.Put(cfs_[kHeaders], key, *bytes->second);
    }
    if (after == 0) {
      batch.Delete(cfs_[kHeaders], key);
      batch.Delete(cfs_[kRefs], ref_key);
    } else {
      batch.Put(cfs_[kRefs], ref_key, EncodeU64(static_cast<uint64_t>(after)));
    }
  }
  return Status::Ok();
}

Status RocksStore::ApplyChunkChanges(CommitBuilder& builder, rocksdb::WriteBatch& batch) {
  auto& counters = builder.counters_;
  // Chunks: a chunk whose count reaches zero stays, listed in `gc`, until the
  // collector removes it after the grace period; a reference that arrives
  // before that revives it.
  for (auto& [key, change] : builder.chunks_) {
    if (change.delta == 0) continue;
    const ContentHash hash = HashOf(key);
    auto stored = ReadChunkRef(hash);
    if (!stored.ok()) return stored.status();
    ChunkRef ref = stored->value_or(ChunkRef{});
    const int64_t after = static_cast<int64_t>(ref.count) + change.delta;
    if (after < 0) return Status::Corruption("chunk reference count below zero for " + ToHex(hash));
    if (!stored->has_value()) {
      if (change.delta < 0) return Status::Corruption("removing a reference to unknown chunk " + ToHex(hash));
      // A restore from the pool (pacscore rebuild) brings no bytes: its
      // chunks are placed already, with the tags they hold there.
      const bool placed = chunk_store_ && builder.placements_ != nullptr && builder.placements_->entries.contains(key);
      if (!change.bytes && !placed)
        return Status::Busy("chunk " + ToHex(hash) + " was collected before this commit; retry with its bytes");
      ref.codec = change.codec;
      ref.raw_size = change.raw_size;
      ref.stored_size = change.bytes ? change.bytes->size() : 0;
      if (chunk_store_) {
        auto job = builder.deferred_.find(key);
        PACS_RETURN_IF_ERROR(PlaceNewChunk(key, change.bytes ? std::string_view(*change.bytes) : std::string_view(),
                                           change.codec, job == builder.deferred_.end() ? nullptr : job->second,
                                           builder.placements_, batch, ref, counters));
      } else if (auto job = builder.deferred_.find(key); job != builder.deferred_.end()) {
        // Re-encoded later, off the C-STORE path; the raw bytes wait in
        // `staging`, whose files are dropped whole once re-encoded.
        batch.Put(cfs_[kStaging], key, *change.bytes);
        batch.Put(cfs_[kWork], key, *job->second);
        counters[kCountWork] += 1;
      } else {
        batch.Put(cfs_[kFrames], key, *change.bytes);
      }
    } else if (ref.count == 0 && after > 0) {
      batch.Delete(cfs_[kGc], key);  // revived before collection
      counters[kCountGcChunks] -= 1;
      counters[kCountGcBytes] -= static_cast<int64_t>(ref.stored_size);
      if (chunk_store_) {
        // Without a recorded tag the collector released, or is releasing,
        // this node's reference (a crash or a failed put kept the rows):
        // the pool may not count this node any more, or have the object. A
        // new reference first, as for a new chunk, recorded in this batch.
        auto recorded = KeyExists(kDefault, PoolTagKey(key));
        if (!recorded.ok()) return recorded.status();
        if (!*recorded) {
          auto job = builder.deferred_.find(key);
          PACS_RETURN_IF_ERROR(PlaceNewChunk(key, change.bytes ? std::string_view(*change.bytes) : std::string_view(),
                                             change.codec, job == builder.deferred_.end() ? nullptr : job->second,
                                             builder.placements_, batch, ref, counters));
        }
      }
    }
    change.codec = ref.codec;  // the stored encoding wins
    const int64_t sign = (ref.count == 0 && after > 0) ? 1 : (ref.count > 0 && after == 0) ? -1 : 0;
    if (sign != 0) {
      const std::string codec = CodecCounterName(ref.codec);
      counters[kCountChunks] += sign;
      counters[kCountChunkBytes] += sign * static_cast<int64_t>(ref.stored_size);
      counters[codec + "/chunks"] += sign;
      counters[codec + "/raw_bytes"] += sign * static_cast<int64_t>(ref.raw_size);
      counters[codec + "/stored_bytes"] += sign * static_cast<int64_t>(ref.stored_size);
    }
    if (sign < 0) {
      batch.Put(cfs_[kGc], key, EncodeU64(static_cast<uint64_t>(NowMs())));
      counters[kCountGcChunks] += 1;
      counters[kCountGcBytes] += static_cast<int64_t>(ref.stored_size);
    }
    counters[kCountChunkRefs] += change.delta;
    counters[kCountRefStoredBytes] += change.delta * static_cast<int64_t>(ref.stored_size);
    ref.count = static_cast<uint64_t>(after);
    batch.Put(cfs_[kRefs], ChunkRefKey(key), ref.Encode());
  }
  return Status::Ok();
}

Status RocksStore::ApplyIndexChanges(CommitBuilder& builder, rocksdb::WriteBatch& batch) {
  // Encodings of one decoded-pixel identity.
  for (const auto& [key, delta] : builder.encodings_) {
    if (delta == 0) continue;
    const std::string enc_key = "enc/" + key;
    const std::string count_key = "encn/" + key.substr(0, 32);
    auto before = ReadU64(kIndex, enc_key);
    if (!before.ok()) return before.status();
    const int64_t after = static_cast<int64_t>(*before) + delta;
    if (after < 0) return Status::Corruption("encoding count below zero");
    if (after == 0)
      batch.Delete(cfs_[kIndex], enc_key);
    else
      batch.Put(cfs_[kIndex], enc_key, EncodeU64(static_cast<uint64_t>(after)));
    if ((*before == 0) == (after == 0)) continue;  // the set of encodings did not change
    builder.index_[count_key] += after > 0 ? 1 : -1;
  }
  auto& counters = builder.counters_;
  for (auto& [key, delta] : builder.index_) {
    if (delta == 0) continue;
    auto read = ReadU64(kIndex, key);
    if (!read.ok()) return read.status();
    const uint64_t before = *read;
    const int64_t after = static_cast<int64_t>(before) + delta;
    if (after < 0) return Status::Corruption("index count below zero for " + key);
    if (key.starts_with("encn/")) {
      if (before < 2 && after >= 2) counters[kCountMultiEncoded] += 1;
      if (before >= 2 && after < 2) counters[kCountMultiEncoded] -= 1;
    } else {
      const char* counter = key.starts_with("pat/")     ? kCountPatients
                            : key.starts_with("study/") ? kCountStudies
                                                        : kCountSeries;
      if (before == 0 && after > 0) counters[counter] += 1;
      if (before > 0 && after == 0) counters[counter] -= 1;
    }
    if (after == 0)
      batch.Delete(cfs_[kIndex], key);
    else
      batch.Put(cfs_[kIndex], key, EncodeU64(after));
  }
  return Status::Ok();
}

Result<CommitResult> RocksStore::CommitInstance(const InstanceWrite& write) {
  const InstanceRecord& rec = write.record;
  if (rec.sop_instance_uid.empty()) return Status::InvalidArgument("instance has no SOP Instance UID");
  if (write.chunk_bytes.size() != rec.chunks.size())
    return Status::InvalidArgument("chunk bytes do not match the chunk list");

  // With frames in a chunk store, new chunks go there before the lock: the
  // commit then only records their tags.
  PoolPlacements placements(this);
  if (chunk_store_) PACS_RETURN_IF_ERROR(PlaceChunks(write, placements));
  // The instance's pool object is written after the commit, started under
  // the lock (so writes of one instance reach the pool in commit order) and
  // waited for outside it.
  std::unique_ptr<ChunkStore::PendingWrite> pool_write;
  std::string marker;
  Result<CommitResult> result = Status::Internal("not committed");
  {
    MutexLock lock(commit_mutex_);
    result = CommitInstanceLocked(write, placements, pool_write, marker);
  }
  if (!result.ok() || !pool_write) return result;
  PACS_RETURN_IF_ERROR(pool_write->Wait().WithContext(
      "instance " + rec.sop_instance_uid +
      " is stored here but not yet in the pool; not acknowledged (written to the pool when it is sent again, at "
      "the next open or collection)"));
  ClearPoolInstanceMarker(rec.sop_instance_uid, marker);
  return result;
}

Result<CommitResult> RocksStore::CommitInstanceLocked(const InstanceWrite& write, PoolPlacements& placements,
                                                      std::unique_ptr<ChunkStore::PendingWrite>& pool_write,
                                                      std::string& marker) {
  const InstanceRecord& rec = write.record;
  CommitResult result;
  result.new_header_hash = ToHex(rec.header_hash);
  CommitBuilder builder;
  builder.placements_ = &placements;
  builder.AddCounter(kCountReceivedTotal, static_cast<int64_t>(rec.received_bytes));

  auto existing = GetInstance(rec.sop_instance_uid);
  if (existing.ok()) {
    result.existing_header_hash = ToHex(existing->header_hash);
    if (existing->SameContentAs(rec)) {
      result.outcome = CommitOutcome::kIdenticalDuplicate;
    } else if (options_.on_duplicate == DuplicatePolicy::kReject) {
      // The traffic still counts, though nothing of the instance is kept.
      rocksdb::WriteBatch traffic;
      PACS_RETURN_IF_ERROR(ApplyCommit(builder, traffic));
      PACS_RETURN_IF_ERROR(WriteLocked(traffic, "counting received bytes"));
      return Status::AlreadyExists(
          "SOP Instance UID " + rec.sop_instance_uid + " is already stored with different content (stored header " +
          result.existing_header_hash + ", received " + result.new_header_hash + "); rejected, nothing stored");
    } else if (options_.on_duplicate == DuplicatePolicy::kKeep) {
      result.outcome = CommitOutcome::kKeptExisting;
    } else {
      result.outcome = CommitOutcome::kReplaced;
      builder.RemoveInstance(*existing);
      builder.AddInstance(rec, &write);
    }
  } else if (existing.status().code() == StatusCode::kNotFound) {
    builder.AddInstance(rec, &write);
  } else {
    return existing.status();
  }

  rocksdb::WriteBatch batch;
  PACS_RETURN_IF_ERROR(ApplyCommit(builder, batch));
  const bool adds = result.outcome == CommitOutcome::kStored || result.outcome == CommitOutcome::kReplaced;
  InstanceRecord stored = rec;
  for (auto& c : stored.chunks) c.codec = builder.StoredCodec(c.hash, c.codec);
  if (observer_ && adds) {
    RocksCatalogTxn txn(*db_, cfs_[kCatalog]);
    if (result.outcome == CommitOutcome::kReplaced) PACS_RETURN_IF_ERROR(observer_->OnInstanceRemoved(txn, *existing));
    PACS_RETURN_IF_ERROR(observer_->OnInstanceAdded(txn, stored, write.catalog_payload));
    txn.ApplyTo(batch);
  }
  if (adds) batch.Put(cfs_[kInstances], rec.sop_instance_uid, stored.Encode());
  // With a chunk store, the instance's pool object follows the commit; the
  // marker, in the commit's batch, stands until it does.
  if (chunk_store_ && adds) {
    marker = std::to_string(++pool_write_sequence_);
    batch.Put(cfs_[kDefault], PoolInstanceSyncKey(rec.sop_instance_uid), marker);
  }
  PACS_TEST_SYNC_POINT("RocksStore::CommitInstance:BeforeWrite");
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "committing instance " + rec.sop_instance_uid));
  placements.committed = true;
  if (chunk_store_) {
    // Acknowledged only once the pool holds the instance as committed: a
    // failure here fails the C-STORE (the instance stays stored here; the
    // marker makes a repeat, the next open or collection write it).
    if (adds) {
      PACS_TEST_SYNC_POINT("RocksStore::CommitInstance:BeforePoolInstance");
      auto started =
          chunk_store_->StartWriteInstance(NodeId(), rec.sop_instance_uid, stored.Encode(), write.header_bytes);
      if (!started.ok())
        return started.status().WithContext("instance " + rec.sop_instance_uid +
                                            " is stored here but not yet in the pool; not acknowledged");
      pool_write = std::move(*started);
    } else {
      auto unsynced = PoolInstanceUnsynced(rec.sop_instance_uid);
      if (!unsynced.ok()) return unsynced.status();
      if (*unsynced) {
        auto header = GetHeader(existing->header_hash);
        if (!header.ok()) return header.status();
        PACS_RETURN_IF_ERROR(SyncPoolInstance(*existing, *header));
      }
    }
  }
  return result;
}

Status RocksStore::StageChunks(InstanceWrite& write, size_t first) {
  MutexLock lock(commit_mutex_);
  rocksdb::WriteBatch batch;
  std::map<std::string, int64_t> counters;
  std::vector<size_t> staged;
  for (size_t i = first; i < write.chunk_bytes.size() && i < write.record.chunks.size(); ++i) {
    std::string& bytes = write.chunk_bytes[i];
    if (bytes.empty()) continue;
    const PixelChunk& chunk = write.record.chunks[i];
    const std::string key(AsKey(chunk.hash));
    auto stored = ReadChunkRef(chunk.hash);
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) {
      if (chunk_store_) {
        // Its tag released by the collector: the bytes stay, for the
        // commit's new reference (ApplyChunkChanges).
        auto recorded = KeyExists(kDefault, PoolTagKey(key));
        if (!recorded.ok()) return recorded.status();
        if (!*recorded) continue;
      }
      std::string().swap(bytes);  // stored already (perhaps earlier in this instance): the commit references it
      continue;
    }
    auto job = std::find_if(write.deferred_work.begin(), write.deferred_work.end(),
                            [&](const auto& entry) { return entry.first == chunk.hash; });
    ChunkRef ref;
    ref.count = 0;
    ref.codec = chunk.codec;
    ref.raw_size = chunk.size;
    ref.stored_size = bytes.size();
    if (chunk_store_) {
      PACS_RETURN_IF_ERROR(PlaceNewChunk(key, bytes, chunk.codec,
                                         job == write.deferred_work.end() ? nullptr : &job->second, nullptr, batch, ref,
                                         counters));
    } else if (job != write.deferred_work.end()) {
      batch.Put(cfs_[kStaging], key, bytes);
      batch.Put(cfs_[kWork], key, job->second);
      counters[kCountWork] += 1;
    } else {
      batch.Put(cfs_[kFrames], key, bytes);
    }
    batch.Put(cfs_[kRefs], ChunkRefKey(key), ref.Encode());
    batch.Put(cfs_[kGc], key, EncodeU64(static_cast<uint64_t>(NowMs())));
    counters[kCountGcChunks] += 1;
    counters[kCountGcBytes] += static_cast<int64_t>(ref.stored_size);
    staged.push_back(i);
  }
  if (staged.empty()) return Status::Ok();
  PACS_RETURN_IF_ERROR(ApplyCounterDeltas(counters, batch));
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "staging the frames of instance " + write.record.sop_instance_uid));
  for (size_t i : staged) std::string().swap(write.chunk_bytes[i]);
  return Status::Ok();
}

Result<uint64_t> RocksStore::DeleteInstances(const DeleteSelector& sel) {
  const int set = !sel.study_instance_uid.empty() + !sel.series_instance_uid.empty() + !sel.sop_instance_uid.empty();
  if (set != 1) return Status::InvalidArgument("delete needs exactly one of --study, --series, --instance");
  MutexLock lock(commit_mutex_);
  std::vector<InstanceRecord> victims;
  if (!sel.sop_instance_uid.empty()) {
    auto rec = GetInstance(sel.sop_instance_uid);
    if (rec.ok())
      victims.push_back(std::move(*rec));
    else if (rec.status().code() != StatusCode::kNotFound)
      return rec.status();
  } else {
    PACS_RETURN_IF_ERROR(ForEachInstance([&](const InstanceRecord& r) {
      if ((!sel.study_instance_uid.empty() && r.study_instance_uid == sel.study_instance_uid) ||
          (!sel.series_instance_uid.empty() && r.series_instance_uid == sel.series_instance_uid))
        victims.push_back(r);
      return true;
    }));
  }
  if (victims.empty()) return uint64_t{0};
  if (!sel.study_instance_uid.empty() && sel.keep_if_protected) {
    auto is_protected = IsStudyProtected(sel.study_instance_uid);
    if (!is_protected.ok()) return is_protected.status();
    if (*is_protected) return uint64_t{0};
  }
  CommitBuilder builder;
  rocksdb::WriteBatch batch;
  for (const auto& v : victims) builder.RemoveInstance(v);
  PACS_RETURN_IF_ERROR(ApplyCommit(builder, batch));
  if (observer_) {
    RocksCatalogTxn txn(*db_, cfs_[kCatalog]);
    for (const auto& v : victims) PACS_RETURN_IF_ERROR(observer_->OnInstanceRemoved(txn, v));
    txn.ApplyTo(batch);
  }
  for (const auto& v : victims) batch.Delete(cfs_[kInstances], v.sop_instance_uid);
  // Their pool objects go first: a node lost after this never comes back
  // with them (docs/scale-out.md, "Rebuilding a node").
  if (chunk_store_) PACS_RETURN_IF_ERROR(RemovePoolInstances(victims, batch));
  // A deleted study takes its protection with it: a study sent again later
  // starts unprotected.
  if (!sel.study_instance_uid.empty()) batch.Delete(cfs_[kDefault], ProtectKey(sel.study_instance_uid));
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "deleting instances", WriteKind::kFrees));
  const auto deleted = static_cast<uint64_t>(victims.size());
  if (sel.removed != nullptr) *sel.removed = std::move(victims);
  return deleted;
}

}  // namespace pacs::engine
