// Frames in a chunk store (--frames rados:POOL): which back end a data folder
// uses, this node's reference tags, and the steps of commits, collection and
// re-encoding that touch the pool. docs/scale-out.md describes the protocol:
// the node takes one pool reference per chunk (a new tag each time its local
// count leaves "not stored"), counts locally in between, and releases the tag
// when the collector removes the chunk locally.
#include <algorithm>
#include <random>
#include <set>

#include "pacs/base/log.h"
#include "pacs/engine/sync_point.h"
#include "rocks_store.h"

namespace pacs::engine {

namespace {

Result<std::optional<std::string>> ReadDefault(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, const char* key) {
  std::string value;
  auto s = db.Get(rocksdb::ReadOptions(), cf, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  PACS_RETURN_IF_ERROR(FromRocks(s, std::string("reading ") + key));
  return std::optional<std::string>(std::move(value));
}

}  // namespace

Result<FramesSetup> OpenFrames(rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs,
                               const StoreOptions& options) {
  auto* def = cfs[kDefault];
  auto recorded = ReadDefault(db, def, kFramesBackendKey);
  if (!recorded.ok()) return recorded.status();
  std::string backend = recorded->value_or("");
  const std::string& requested = options.frames;
  if (!requested.empty() && requested != "rocksdb" && !requested.starts_with("rados:"))
    return Status::InvalidArgument("--frames " + requested + ": expected rocksdb or rados:POOL");
  rocksdb::WriteBatch batch;
  if (backend.empty()) {
    // A folder from before the choice existed holds its frames in RocksDB;
    // a new one takes the requested back end.
    auto instances = ReadDefault(db, def, kCountInstances);
    if (!instances.ok()) return instances.status();
    std::string any_ref;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), cfs[kRefs]));
    it->SeekToFirst();
    const bool used = instances->has_value() || it->Valid();
    backend = used ? "rocksdb" : (requested.empty() ? "rocksdb" : requested);
    batch.Put(def, kFramesBackendKey, backend);
    if (backend.starts_with("rados:")) {
      batch.Put(def, kFramesCephConfKey, options.ceph_conf);
      batch.Put(def, kFramesCephIdKey, options.ceph_id);
    }
  }
  if (!requested.empty() && requested != backend)
    return Status::InvalidArgument("data folder " + options.path + " keeps its frames in " + backend +
                                   ", but --frames " + requested +
                                   " was given: refused, nothing changed (a folder's frames stay where it first "
                                   "stored them; omit --frames to use " +
                                   backend + ")");
  FramesSetup setup;
  if (backend.starts_with("rados:")) {
    RadosOptions rados{.pool = backend.substr(6),
                       .conf_file = options.ceph_conf,
                       .client_id = options.ceph_id,
                       .op_timeout_seconds = options.ceph_timeout_seconds};
    if (rados.conf_file.empty()) {
      auto conf = ReadDefault(db, def, kFramesCephConfKey);
      if (!conf.ok()) return conf.status();
      rados.conf_file = conf->value_or("");
    }
    if (rados.client_id.empty()) {
      auto id = ReadDefault(db, def, kFramesCephIdKey);
      if (!id.ok()) return id.status();
      rados.client_id = id->value_or("");
    }
    auto store = OpenRadosChunkStore(rados);
    if (!store.ok())
      return store.status().WithContext("data folder " + options.path + " keeps its frames in " + backend);
    setup.chunk_store = std::move(*store);
    if (!options.read_only) {
      // The node's identity, fixed at creation, and a new epoch at each open:
      // tags "<node>.<epoch>.<n>" never repeat, even after a crash.
      auto node = ReadDefault(db, def, kFramesNodeKey);
      if (!node.ok()) return node.status();
      std::string node_id = node->value_or("");
      if (!options.frames_node_id.empty() && node_id != options.frames_node_id) {
        if (!node_id.empty())
          return Status::InvalidArgument("data folder " + options.path + " is node " + node_id + ", not node " +
                                         options.frames_node_id + ": refused, nothing changed");
        node_id = options.frames_node_id;
        batch.Put(def, kFramesNodeKey, node_id);
      }
      if (node_id.empty()) {
        std::random_device random;
        const uint64_t id = (static_cast<uint64_t>(random()) << 32) ^ random();
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id));
        node_id = hex;
        batch.Put(def, kFramesNodeKey, node_id);
      }
      auto epoch_value = ReadDefault(db, def, kFramesEpochKey);
      if (!epoch_value.ok()) return epoch_value.status();
      uint64_t epoch = 0;
      if (epoch_value->has_value()) {
        auto decoded = DecodeU64(kDefault, kFramesEpochKey, **epoch_value);
        if (!decoded.ok()) return decoded.status();
        epoch = *decoded;
      }
      // The pool keeps the node's highest epoch too: a folder restored from
      // a backup, or rebuilt (pacscore rebuild), must not reuse a tag of
      // its past (the refcount class ignores the put of a retired tag, so a
      // reused one would leak). Recorded there before any tag is taken.
      auto pool_epoch = setup.chunk_store->ReadNodeEpoch(node_id);
      if (!pool_epoch.ok())
        return pool_epoch.status().WithContext("data folder " + options.path + " (node " + node_id + ")");
      epoch = std::max(epoch, *pool_epoch) + 1;
      PACS_RETURN_IF_ERROR(setup.chunk_store->WriteNodeEpoch(node_id, epoch)
                               .WithContext("data folder " + options.path + " (node " + node_id + ")"));
      batch.Put(def, kFramesEpochKey, EncodeU64(epoch));
      setup.tag_prefix = node_id + "." + std::to_string(epoch) + ".";
      auto filled = ReadDefault(db, def, kPoolInstancesKey);
      if (!filled.ok()) return filled.status();
      if (!filled->has_value()) {
        auto instances = ReadDefault(db, def, kCountInstances);
        if (!instances.ok()) return instances.status();
        const bool any = instances->has_value() && **instances != EncodeU64(0);
        if (any)
          setup.backfill_instances = true;
        else
          batch.Put(def, kPoolInstancesKey, "1");
      }
    }
  }
  if (batch.Count() > 0 && !options.read_only) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    PACS_RETURN_IF_ERROR(FromRocks(db.Write(wo, &batch), "recording the frames back end of " + options.path));
  }
  return setup;
}

PoolPlacements::~PoolPlacements() {
  if (!entries.empty()) owner_->ReleaseUnrecorded(*this);
}

void RocksStore::ReleaseUnrecorded(const PoolPlacements& placements) {
  rocksdb::WriteBatch batch;
  for (const auto& [key, placement] : placements.entries) {
    if (placements.committed && placement.recorded) continue;  // its commit deleted the intent
    // A release that fails keeps the intent: the next open or collection
    // releases it.
    if (chunk_store_->Unreference(HashOf(key), placement.tag).ok())
      batch.Delete(cfs_[kDefault], PoolIntentKey(placement.tag));
  }
  if (batch.Count() == 0) return;
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  auto s = db_->Write(wo, &batch);
  if (!s.ok()) LogWarning("pool intents of released references stay (released again later): " + s.ToString());
}

Status RocksStore::WriteIntents(const std::vector<std::pair<std::string, std::string>>& tag_and_key) {
  if (tag_and_key.empty()) return Status::Ok();
  // Intents are written and deleted only by the commit that owns the tag (or
  // by reconciliation, for tags of an earlier process): no commit lock.
  rocksdb::WriteBatch batch;
  for (const auto& [tag, key] : tag_and_key) batch.Put(cfs_[kDefault], PoolIntentKey(tag), key);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  auto s = db_->Write(wo, &batch);
  NoteWriteResult(s, "recording pool intents");
  return FromRocks(s, "recording the intent to store frames in " + chunk_store_->Describe() + "; nothing stored");
}

Result<uint64_t> RocksStore::ReconcilePoolIntents() {
  std::vector<std::pair<std::string, std::string>> stale;  // tag, chunk key
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    for (it->Seek(kPoolIntentPrefix); it->Valid() && it->key().starts_with(kPoolIntentPrefix); it->Next()) {
      std::string tag = it->key().ToString().substr(sizeof(kPoolIntentPrefix) - 1);
      if (tag.starts_with(tag_prefix_)) continue;  // this process's: a commit in flight
      if (it->value().size() != 32) return CorruptValue(kDefault, it->key().ToStringView(), "not a chunk key");
      stale.emplace_back(std::move(tag), it->value().ToString());
    }
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning pool intents"));
  }
  uint64_t released = 0;
  rocksdb::WriteBatch batch;
  for (const auto& [tag, key] : stale) {
    auto recorded = ReadValue(kDefault, PoolTagKey(key));
    if (!recorded.ok()) return recorded.status();
    if (recorded->has_value() && **recorded == tag) {
      batch.Delete(cfs_[kDefault], PoolIntentKey(tag));  // committed: the reference is the node's
      continue;
    }
    PACS_RETURN_IF_ERROR(
        chunk_store_->Unreference(HashOf(key), tag).WithContext("releasing an unrecorded pool reference"));
    batch.Delete(cfs_[kDefault], PoolIntentKey(tag));
    ++released;
  }
  if (batch.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync_writes;
    PACS_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "removing reconciled pool intents"));
  }
  if (released > 0)
    LogInfo("released " + std::to_string(released) + " pool reference(s) that an interrupted commit took in " +
            chunk_store_->Describe());
  PACS_RETURN_IF_ERROR(FinishPoolReleases().status());
  PACS_RETURN_IF_ERROR(ReconcilePoolInstances().status());
  return released;
}

std::string RocksStore::NewPoolTag() {
  return tag_prefix_ + std::to_string(next_tag_.fetch_add(1));
}

Status RocksStore::PlaceChunks(const InstanceWrite& write, PoolPlacements& placements) {
  for (size_t i = 0; i < write.chunk_bytes.size() && i < write.record.chunks.size(); ++i) {
    const std::string& bytes = write.chunk_bytes[i];
    if (bytes.empty()) continue;
    const PixelChunk& chunk = write.record.chunks[i];
    const std::string key(AsKey(chunk.hash));
    if (placements.entries.contains(key)) continue;
    auto stored = ReadChunkRef(chunk.hash);
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) {
      // This node holds a reference already, unless the collector released
      // (or is releasing) the chunk's tag: then a new one, as for a new chunk.
      auto recorded = KeyExists(kDefault, PoolTagKey(key));
      if (!recorded.ok()) return recorded.status();
      if (*recorded) continue;
    }
    PoolPlacement placement;
    placement.tag = NewPoolTag();
    placements.entries.emplace(key, std::move(placement));
  }
  // The intents first (one synced write), then the references.
  std::vector<std::pair<std::string, std::string>> intents;
  for (const auto& [key, placement] : placements.entries) intents.emplace_back(placement.tag, key);
  if (auto s = WriteIntents(intents); !s.ok()) {
    placements.entries.clear();  // nothing taken
    return s;
  }
  for (size_t i = 0; i < write.chunk_bytes.size() && i < write.record.chunks.size(); ++i) {
    const PixelChunk& chunk = write.record.chunks[i];
    auto it = placements.entries.find(std::string(AsKey(chunk.hash)));
    if (it == placements.entries.end() || it->second.outcome.stored_size != 0 || it->second.outcome.created) continue;
    auto job = std::find_if(write.deferred_work.begin(), write.deferred_work.end(),
                            [&](const auto& entry) { return entry.first == chunk.hash; });
    auto put = chunk_store_->Put(chunk.hash, chunk.codec, write.chunk_bytes[i], it->second.tag,
                                 job == write.deferred_work.end() ? std::string_view() : job->second);
    if (!put.ok())
      return put.status().WithContext("storing frame " + std::to_string(i) + " of instance " +
                                      write.record.sop_instance_uid + "; rejected, nothing stored");
    it->second.outcome = *put;
    PACS_TEST_SYNC_POINT("RocksStore::PlaceChunks:AfterPut");
  }
  return Status::Ok();
}

Status RocksStore::PlaceNewChunk(const std::string& key, std::string_view bytes, uint8_t codec, const std::string* job,
                                 PoolPlacements* placements, rocksdb::WriteBatch& batch, ChunkRef& ref,
                                 std::map<std::string, int64_t>& counters) {
  PoolPlacement* placement = nullptr;
  PoolPlacement now;
  if (placements != nullptr)
    if (auto it = placements->entries.find(key); it != placements->entries.end()) placement = &it->second;
  if (placement == nullptr) {
    // Not placed before the lock (a chunk collected meanwhile, or staging):
    // placed now, under the lock.
    now.tag = NewPoolTag();
    PACS_RETURN_IF_ERROR(WriteIntents({{now.tag, key}}));
    if (bytes.empty()) {
      // A revival without the bytes (staged before the collector released
      // the chunk's tag): a new reference, if the pool still has the object.
      auto referenced = chunk_store_->Reference(HashOf(key), now.tag);
      if (referenced.code() == StatusCode::kNotFound)
        return Status::Busy("chunk " + ToHex(HashOf(key)) + " was collected before this commit; retry with its bytes");
      PACS_RETURN_IF_ERROR(referenced.WithContext("referencing a frame; rejected, nothing stored"));
      now.outcome.codec = ref.codec;
      now.outcome.stored_size = ref.stored_size;
    } else {
      auto put = chunk_store_->Put(HashOf(key), codec, bytes, now.tag, job == nullptr ? std::string_view() : *job);
      if (!put.ok()) return put.status().WithContext("storing a frame; rejected, nothing stored");
      now.outcome = *put;
    }
    placement = &now;
  }
  placement->recorded = true;
  batch.Put(cfs_[kDefault], PoolTagKey(key), placement->tag);
  batch.Delete(cfs_[kDefault], PoolIntentKey(placement->tag));
  ref.codec = placement->outcome.codec;
  ref.stored_size = placement->outcome.stored_size;
  // The job re-encodes the bytes as given; another node's encoding stays.
  if (job != nullptr && placement->outcome.codec == codec) {
    auto queued = KeyExists(kWork, key);  // a revived chunk may have its job still
    if (!queued.ok()) return queued.status();
    if (!*queued) {
      batch.Put(cfs_[kWork], key, *job);
      counters[kCountWork] += 1;
    }
  }
  return Status::Ok();
}

Result<uint64_t> RocksStore::FinishPoolReleases() {
  MutexLock lock(commit_mutex_);
  std::vector<std::pair<std::string, std::string>> markers;  // chunk key, tag
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    for (it->Seek(kPoolReleasePrefix); it->Valid() && it->key().starts_with(kPoolReleasePrefix); it->Next()) {
      const std::string rest = it->key().ToString().substr(sizeof(kPoolReleasePrefix) - 1);
      if (rest.size() <= 32) return CorruptValue(kDefault, it->key().ToStringView(), "not a chunk key and a tag");
      markers.emplace_back(rest.substr(0, 32), rest.substr(32));
    }
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning pool releases"));
  }
  if (markers.empty()) return uint64_t{0};
  // The put again (the class ignores the put of a retired tag), then the
  // rows, unless a commit revived the chunk meanwhile (it recorded a new tag).
  for (const auto& [key, tag] : markers)
    PACS_RETURN_IF_ERROR(chunk_store_->Unreference(HashOf(key), tag)
                             .WithContext("finishing the release of chunk " + ToHex(HashOf(key)) +
                                          " by an interrupted collection; kept, released later"));
  rocksdb::WriteBatch batch;
  std::map<std::string, int64_t> counters;
  std::set<std::string> collected;
  for (const auto& [key, tag] : markers) {
    batch.Delete(cfs_[kDefault], PoolReleaseKey(key, tag));
    if (collected.contains(key)) continue;
    auto ref = ReadChunkRef(HashOf(key));
    if (!ref.ok()) return ref.status();
    auto recorded = KeyExists(kDefault, PoolTagKey(key));
    if (!recorded.ok()) return recorded.status();
    if (!ref->has_value() || (*ref)->count != 0 || *recorded) continue;
    PACS_RETURN_IF_ERROR(DeleteCollectedChunk(key, **ref, batch, counters));
    collected.insert(key);
  }
  PACS_RETURN_IF_ERROR(ApplyCounterDeltas(counters, batch));
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "finishing an interrupted collection", WriteKind::kFrees));
  LogInfo("finished the release of " + std::to_string(markers.size()) + " pool reference(s) in " +
          chunk_store_->Describe() + " that an interrupted collection began; collected " +
          std::to_string(collected.size()) + " chunk(s)");
  return static_cast<uint64_t>(collected.size());
}

Result<bool> RocksStore::PoolReleasePending(std::string_view chunk_key) const {
  const std::string prefix = PoolReleaseKey(chunk_key, "");
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
  it->Seek(prefix);
  const bool pending = it->Valid() && it->key().starts_with(prefix);
  PACS_RETURN_IF_ERROR(FromRocks(it->status(), "reading pool releases"));
  return pending;
}

Result<bool> RocksStore::CompletePoolWork(const ContentHash& hash, uint8_t expected_codec,
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
    // The pool's bytes are replaced only if it still holds them in the
    // expected codec (another node may have re-encoded them first).
    auto swapped = chunk_store_->ReplaceIfCodec(hash, expected_codec, reencoded->first, reencoded->second);
    if (!swapped.ok()) return swapped.status().WithContext("the job stays queued");
    ChunkRef ref = **stored;
    uint8_t codec = reencoded->first;
    uint64_t size = reencoded->second.size();
    if (!*swapped) {
      // Someone else's encoding is there now: adopt what the pool holds.
      auto now = chunk_store_->Get(hash);
      if (!now.ok()) return now.status().WithContext("the job stays queued");
      codec = now->codec;
      size = now->bytes.size();
    }
    const int64_t delta = static_cast<int64_t>(size) - static_cast<int64_t>(ref.stored_size);
    if (ref.count > 0) {
      const std::string from = CodecCounterName(ref.codec), to = CodecCounterName(codec);
      counters[from + "/chunks"] -= 1;
      counters[from + "/raw_bytes"] -= static_cast<int64_t>(ref.raw_size);
      counters[from + "/stored_bytes"] -= static_cast<int64_t>(ref.stored_size);
      counters[to + "/chunks"] += 1;
      counters[to + "/raw_bytes"] += static_cast<int64_t>(ref.raw_size);
      counters[to + "/stored_bytes"] += static_cast<int64_t>(size);
      counters[kCountChunkBytes] += delta;
      counters[kCountRefStoredBytes] += delta * static_cast<int64_t>(ref.count);
    } else {
      counters[kCountGcBytes] += delta;
    }
    ref.codec = codec;
    ref.stored_size = size;
    batch.Put(cfs_[kRefs], ChunkRefKey(key), ref.Encode());
    replaced = *swapped;
  }
  PACS_RETURN_IF_ERROR(ApplyCounterDeltas(counters, batch));
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "storing a re-encoded chunk"));
  return replaced;
}

}  // namespace pacs::engine
