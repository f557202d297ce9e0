// Instance objects in the pool, and rebuilding a node from them
// (docs/scale-out.md, "Rebuilding a node"). With frames in a chunk store,
// each committed instance's record and header are also kept in the pool as
// `inst.<node>.<SOP Instance UID>`: written after the local commit, before
// the C-STORE is acknowledged, so that the pool never holds an instance the
// node did not commit; removed before a delete's local commit, so that a
// node lost in between never comes back with it. A marker in the folder
// stands for every instance whose pool object may differ from the folder,
// and is settled at the next open or collection.
#include <algorithm>
#include <filesystem>
#include <set>

#include "pacs/base/log.h"
#include "pacs/engine/sync_point.h"
#include "rocks_store.h"

namespace pacs::engine {

Status RocksStore::SyncPoolInstance(const InstanceRecord& stored, std::string_view header) {
  PACS_RETURN_IF_ERROR(chunk_store_->WriteInstance(NodeId(), stored.sop_instance_uid, stored.Encode(), header)
                           .WithContext("instance " + stored.sop_instance_uid +
                                        " is stored here but not yet in the pool; not acknowledged (written to the "
                                        "pool when it is sent again, at the next open or collection)"));
  // Under the commit lock: no later commit of this instance is in flight,
  // so the marker can go. Not synced: a marker that comes back after a crash
  // only writes the same object again.
  rocksdb::WriteBatch batch;
  batch.Delete(cfs_[kDefault], PoolInstanceSyncKey(stored.sop_instance_uid));
  auto s = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) LogWarning("pool sync marker of instance " + stored.sop_instance_uid + " stays: " + s.ToString());
  return Status::Ok();
}

void RocksStore::ClearPoolInstanceMarker(const std::string& sop_instance_uid, const std::string& value) {
  MutexLock lock(commit_mutex_);
  auto current = ReadValue(kDefault, PoolInstanceSyncKey(sop_instance_uid));
  if (!current.ok() || !current->has_value() || **current != value) return;  // settled, or a later commit's
  rocksdb::WriteBatch batch;
  batch.Delete(cfs_[kDefault], PoolInstanceSyncKey(sop_instance_uid));
  auto s = db_->Write(rocksdb::WriteOptions(), &batch);  // not synced: a marker back after a crash rewrites the same
  if (!s.ok()) LogWarning("pool sync marker of instance " + sop_instance_uid + " stays: " + s.ToString());
}

Result<bool> RocksStore::PoolInstanceUnsynced(std::string_view sop_instance_uid) const {
  return KeyExists(kDefault, PoolInstanceSyncKey(sop_instance_uid));
}

Status RocksStore::RemovePoolInstances(const std::vector<InstanceRecord>& victims, rocksdb::WriteBatch& commit) {
  rocksdb::WriteBatch markers;
  std::vector<std::string> uids;
  for (const auto& v : victims) {
    markers.Put(cfs_[kDefault], PoolInstanceSyncKey(v.sop_instance_uid), "");
    commit.Delete(cfs_[kDefault], PoolInstanceSyncKey(v.sop_instance_uid));
    uids.push_back(v.sop_instance_uid);
  }
  PACS_RETURN_IF_ERROR(WriteLocked(markers, "recording pool objects about to be removed", WriteKind::kFrees));
  PACS_RETURN_IF_ERROR(chunk_store_->RemoveInstances(NodeId(), uids)
                           .WithContext("removing the pool objects of " + std::to_string(uids.size()) +
                                        " instance(s); nothing deleted (the removed ones are written again at the "
                                        "next open or collection)"));
  PACS_TEST_SYNC_POINT("RocksStore::DeleteInstances:AfterPoolRemove");
  return Status::Ok();
}

Result<uint64_t> RocksStore::ReconcilePoolInstances() {
  MutexLock lock(commit_mutex_);
  std::vector<std::string> uids;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    for (it->Seek(kPoolInstanceSyncPrefix); it->Valid() && it->key().starts_with(kPoolInstanceSyncPrefix); it->Next())
      uids.push_back(it->key().ToString().substr(sizeof(kPoolInstanceSyncPrefix) - 1));
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning pool sync markers"));
  }
  for (const auto& uid : uids) {
    auto rec = GetInstance(uid);
    if (rec.ok()) {
      auto header = GetHeader(rec->header_hash);
      if (!header.ok()) return header.status();
      PACS_RETURN_IF_ERROR(SyncPoolInstance(*rec, *header));
      continue;
    }
    if (rec.status().code() != StatusCode::kNotFound) return rec.status();
    PACS_RETURN_IF_ERROR(chunk_store_->RemoveInstances(NodeId(), {uid}));
    rocksdb::WriteBatch batch;
    batch.Delete(cfs_[kDefault], PoolInstanceSyncKey(uid));
    PACS_RETURN_IF_ERROR(WriteLocked(batch, "removing a pool sync marker", WriteKind::kFrees));
  }
  if (!uids.empty())
    LogInfo("brought the pool objects of " + std::to_string(uids.size()) + " instance(s) in line with " +
            options_.path);
  return uids.size();
}

Status RocksStore::BackfillPoolInstances() {
  MutexLock lock(commit_mutex_);
  uint64_t written = 0;
  Status failed = Status::Ok();
  PACS_RETURN_IF_ERROR(ForEachInstance([&](const InstanceRecord& rec) {
    auto header = GetHeader(rec.header_hash);
    failed = header.ok() ? chunk_store_->WriteInstance(NodeId(), rec.sop_instance_uid, rec.Encode(), *header)
                         : header.status();
    ++written;
    return failed.ok();
  }));
  PACS_RETURN_IF_ERROR(failed.WithContext("writing the pool objects of the instances " + options_.path +
                                          " stored before this build (written again at the next open)"));
  rocksdb::WriteBatch batch;
  batch.Put(cfs_[kDefault], kPoolInstancesKey, "1");
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "recording the instance objects in the pool"));
  LogInfo("wrote the pool objects of " + std::to_string(written) + " instance(s) of " + options_.path +
          " stored before this build, so that it can be rebuilt from " + chunk_store_->Describe());
  return Status::Ok();
}

namespace {

// One instance object read back, checked against itself.
struct RestoredInstance {
  InstanceRecord record;
  std::string header;
};

// Instances committed per local batch during a restore.
constexpr size_t kRestoreBatch = 256;

}  // namespace

Status RocksStore::RestoreFromPool(const ChunkStore::Listing& listing,
                                   const std::function<void(uint64_t, uint64_t)>& progress, PoolRestoreReport& report) {
  const std::string node = NodeId();
  report.node = node;
  report.instance_objects = listing.instances.size();
  // 1. The instance objects: each one's record must decode, name the object's
  //    instance, and match its header's hash; the others are listed and left out.
  std::vector<RestoredInstance> instances;
  std::map<std::string, std::vector<size_t>> users;  // chunk key -> instances using it
  for (const auto& uid : listing.instances) {
    auto object = chunk_store_->ReadInstance(node, uid);
    if (!object.ok()) {
      if (object.status().code() == StatusCode::kCorruption || object.status().code() == StatusCode::kNotFound) {
        report.skipped.push_back(uid + ": " + object.status().ToString());
        continue;
      }
      return object.status().WithContext("rebuild stopped");
    }
    auto rec = InstanceRecord::Decode(object->record);
    if (!rec.ok()) {
      report.skipped.push_back(uid + ": its record in the pool does not decode: " + rec.status().ToString());
      continue;
    }
    if (rec->sop_instance_uid != uid) {
      report.skipped.push_back(uid + ": its record in the pool names instance " + rec->sop_instance_uid);
      continue;
    }
    const auto* header_bytes = reinterpret_cast<const uint8_t*>(object->header.data());
    if (Sha256(std::span<const uint8_t>(header_bytes, object->header.size())) != rec->header_hash) {
      report.skipped.push_back(uid + ": its header in the pool does not match the record's hash " +
                               ToHex(rec->header_hash));
      continue;
    }
    for (const auto& c : rec->chunks) users[std::string(AsKey(c.hash))].push_back(instances.size());
    instances.push_back({std::move(*rec), std::move(object->header)});
  }

  // 2. Every chunk object: the node's tags. A chunk its instances use keeps
  //    one of them (adopted: the reference the lost node held), or takes a
  //    new one; every other tag of the node is released, so that nothing the
  //    lost node held leaks and no chunk counts it twice.
  const std::string ours = node + ".";
  std::map<std::string, PoolPlacement> placed;  // chunk key -> adopted or new tag, codec, size
  std::map<std::string, std::string> jobs;      // chunk key -> the re-encoding job its creator left
  for (const auto& hash : listing.chunks) {
    ++report.pool_objects_listed;
    auto refs = chunk_store_->ReadReferences(hash);
    if (!refs.ok()) {
      if (refs.status().code() == StatusCode::kNotFound) continue;  // another node's last release
      return refs.status().WithContext("rebuild stopped");
    }
    std::vector<std::string> tags;
    for (auto& tag : refs->tags)
      if (tag.starts_with(ours)) tags.push_back(std::move(tag));
    std::sort(tags.begin(), tags.end());
    const std::string key(AsKey(hash));
    const bool used = users.contains(key);
    size_t keep = 0;
    if (used) {
      PoolPlacement placement;
      placement.outcome = {.codec = refs->codec, .stored_size = refs->stored_size, .created = false};
      if (!tags.empty()) {
        placement.tag = tags.front();
        keep = 1;
        ++report.chunks_adopted;
      } else {
        placement.tag = NewPoolTag();
        Status referenced = chunk_store_->Reference(hash, placement.tag);
        if (referenced.code() == StatusCode::kNotFound) continue;  // gone meanwhile: its instances are left out
        PACS_RETURN_IF_ERROR(referenced.WithContext("rebuild stopped"));
        ++report.chunks_referenced_anew;
      }
      placed.emplace(key, std::move(placement));
      if (!refs->job.empty()) jobs.emplace(key, std::move(refs->job));
    }
    for (size_t i = keep; i < tags.size(); ++i) {
      PACS_RETURN_IF_ERROR(chunk_store_->Unreference(hash, tags[i]).WithContext("rebuild stopped"));
      ++report.stale_tags_released;
    }
  }
  std::vector<bool> complete(instances.size(), true);
  for (const auto& [key, which] : users) {
    if (placed.contains(key)) continue;
    for (size_t i : which) {
      if (!complete[i]) continue;
      complete[i] = false;
      report.skipped.push_back(instances[i].record.sop_instance_uid + ": frame chunk " + ToHex(HashOf(key)) +
                               " is not in " + chunk_store_->Describe());
    }
  }

  // 3. The folder: the instances committed as an ingest would, in batches,
  //    their chunks placed with the tags of step 2 (no bytes move).
  std::vector<size_t> order;
  for (size_t i = 0; i < instances.size(); ++i)
    if (complete[i]) order.push_back(i);
  for (size_t begin = 0; begin < order.size(); begin += kRestoreBatch) {
    const size_t end = std::min(order.size(), begin + kRestoreBatch);
    std::vector<InstanceWrite> writes;
    writes.reserve(end - begin);
    PoolPlacements placements(this);
    for (size_t k = begin; k < end; ++k) {
      RestoredInstance& r = instances[order[k]];
      InstanceWrite write;
      write.record = r.record;
      write.header_bytes = std::move(r.header);
      write.chunk_bytes.resize(write.record.chunks.size());
      for (const auto& c : write.record.chunks) {
        const std::string key(AsKey(c.hash));
        // Frames still raw when the node was lost: their job is queued
        // again if the pool holds the chunk as the record stored it (the
        // commit keeps a job only then: PlaceNewChunk), so that this node's
        // encoder replaces them in the pool.
        if (auto job = jobs.find(key); job != jobs.end()) write.deferred_work.emplace_back(c.hash, job->second);
        auto it = placed.find(key);
        if (it != placed.end() && !placements.entries.contains(key)) {
          auto ref = ReadChunkRef(c.hash);
          if (!ref.ok()) return ref.status();
          if (!ref->has_value()) placements.entries.emplace(key, it->second);
        }
      }
      writes.push_back(std::move(write));
    }
    MutexLock lock(commit_mutex_);
    CommitBuilder builder;
    builder.placements_ = &placements;
    for (const auto& write : writes) {
      builder.AddInstance(write.record, &write);
      builder.AddCounter(kCountReceivedTotal, static_cast<int64_t>(write.record.received_bytes));
    }
    rocksdb::WriteBatch batch;
    PACS_RETURN_IF_ERROR(ApplyCommit(builder, batch));
    for (const auto& write : writes) {
      InstanceRecord stored = write.record;
      for (auto& c : stored.chunks) c.codec = builder.StoredCodec(c.hash, c.codec);
      batch.Put(cfs_[kInstances], stored.sop_instance_uid, stored.Encode());
    }
    PACS_RETURN_IF_ERROR(WriteLocked(batch, "restoring instances from " + chunk_store_->Describe()));
    placements.committed = true;
    report.instances_restored += writes.size();
    if (progress) progress(report.instances_restored, order.size());
  }
  auto queued = ReadU64(kDefault, kCountWork);
  if (!queued.ok()) return queued.status();
  report.reencoding_queued = *queued;
  return Status::Ok();
}

Result<PoolRestore> RestoreNodeFromPool(const StoreOptions& options,
                                        const std::function<void(uint64_t, uint64_t)>& progress) {
  namespace fs = std::filesystem;
  if (!options.frames.starts_with("rados:"))
    return Status::InvalidArgument("rebuild needs --frames rados:POOL: a node is rebuilt from its pool");
  if (options.frames_node_id.empty())
    return Status::InvalidArgument(
        "rebuild needs --node: the id of the lost node (its log and `pacscore stats` name "
        "it; the pool's node.<id> objects list every node)");
  std::error_code ec;
  if (fs::exists(options.path, ec) && !fs::is_empty(options.path, ec))
    return Status::InvalidArgument("rebuild writes a new data folder, but " + options.path +
                                   " is not empty: refused, nothing changed");
  RadosOptions rados{.pool = options.frames.substr(6),
                     .conf_file = options.ceph_conf,
                     .client_id = options.ceph_id,
                     .op_timeout_seconds = options.ceph_timeout_seconds};
  ChunkStore::Listing listing;
  {
    auto pool = OpenRadosChunkStore(rados);
    if (!pool.ok()) return pool.status().WithContext("rebuild of " + options.path + "; nothing created");
    auto epoch = (*pool)->ReadNodeEpoch(options.frames_node_id);
    if (!epoch.ok()) return epoch.status().WithContext("rebuild of " + options.path + "; nothing created");
    auto listed = (*pool)->List(options.frames_node_id);
    if (!listed.ok()) return listed.status().WithContext("rebuild of " + options.path + "; nothing created");
    if (*epoch == 0 && listed->instances.empty()) {
      std::sort(listed->nodes.begin(), listed->nodes.end());
      std::string known;
      for (const auto& n : listed->nodes) known += (known.empty() ? "" : ", ") + n;
      return Status::NotFound(
          (*pool)->Describe() + " holds nothing of node " + options.frames_node_id + " (no " +
          NodeObjectName(options.frames_node_id) + ", no " + InstanceObjectName(options.frames_node_id, "*") +
          " object; nodes it knows: " + (known.empty() ? std::string("none") : known) + "); nothing created");
    }
    listing = std::move(*listed);
  }
  auto opened = Store::Open(options);
  if (!opened.ok()) return opened.status().WithContext("rebuild of " + options.path);
  PoolRestore restore;
  restore.store = std::move(*opened);
  auto& rocks = static_cast<RocksStore&>(*restore.store);
  PACS_RETURN_IF_ERROR(rocks.RestoreFromPool(listing, progress, restore.report)
                           .WithContext("rebuild of " + options.path +
                                        " did not finish; remove the folder and run it again (the pool is left "
                                        "as a new run expects it)"));
  return restore;
}

}  // namespace pacs::engine
