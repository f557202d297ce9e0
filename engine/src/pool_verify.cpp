// The pool side of verify, with frames in a chunk store (docs/scale-out.md,
// "What verify checks"). VerifyStructure reads, for every chunk the folder
// holds, the pool object's reference tags (one read each, the read that
// checked the object's existence before), and every instance object (one
// read each); VerifyPoolListing (verify --deep) lists the whole pool for
// what the folder does not know about: stray instance objects of this node,
// and tags of this node on chunk objects it does not hold.
#include <initializer_list>
#include <set>
#include <string_view>

#include "rocks_store.h"

namespace pacs::engine {
namespace {

// Chunk codecs in an instance record are a hint of how the chunk was stored
// when the record was written (re-encoding changes the pool's and the refs'
// codec, not the records; a rebuild records the pool's): left out of the
// comparison of a folder's record with its pool copy.
// One problem line from its parts (appended, not a chain of temporaries:
// these lines are built in loops over every chunk and instance).
std::string Line(std::initializer_list<std::string_view> parts) {
  std::string line;
  for (std::string_view part : parts) line += part;
  return line;
}

constexpr std::string_view kLeak = " (a leaked reference: the chunk is never removed)";

std::string EncodeWithoutCodecs(InstanceRecord record) {
  for (auto& c : record.chunks) c.codec = 0;
  return record.Encode();
}

}  // namespace

Result<std::string> RocksStore::RecordedNodeId() const {
  auto node = ReadValue(kDefault, kFramesNodeKey);
  if (!node.ok()) return node.status();
  if (!node->has_value() || (*node)->empty())
    return Status::Corruption("data folder " + options_.path + " keeps its frames in " + chunk_store_->Describe() +
                              " but records no node id (" + kFramesNodeKey + ")");
  return **node;
}

Status RocksStore::VerifyPoolReferences(const std::map<std::string, uint64_t>& held, VerifyReport& report) const {
  auto node = RecordedNodeId();
  if (!node.ok()) return node.status();
  const std::string ours = *node + ".";
  const std::string pool = chunk_store_->Describe();
  for (const auto& [key, count] : held) {
    const ContentHash hash = HashOf(key);
    const std::string what = "chunk " + ToHex(hash) + (count == 0 ? " (awaiting collection)" : "");
    auto recorded = ReadValue(kDefault, PoolTagKey(key));
    if (!recorded.ok()) return recorded.status();
    // A collection releasing the chunk's tag (it crashed or its put failed:
    // finished at the next open or collection): the object may hold the tag
    // still, or be gone.
    bool releasing = false;
    if (count == 0 && !recorded->has_value()) {
      auto pending = PoolReleasePending(key);
      if (!pending.ok()) return pending.status();
      releasing = *pending;
    }
    auto refs = chunk_store_->ReadReferences(hash);
    if (!refs.ok()) {
      if (refs.status().code() == StatusCode::kNotFound) {
        if (releasing) continue;
        report.AddProblem(count > 0 ? Line({"chunk ", ToHex(hash), " is referenced but missing from ", pool})
                                    : Line({what, " is missing from ", pool}));
        continue;
      }
      if (refs.status().code() == StatusCode::kCorruption) {
        report.AddProblem(Line({what, ": ", refs.status().ToString()}));
        continue;
      }
      return refs.status();
    }
    ++report.pool_chunk_objects;
    std::set<std::string> mine;
    for (auto& tag : refs->tags)
      if (tag.starts_with(ours)) mine.insert(std::move(tag));
    if (!recorded->has_value()) {
      if (!releasing)
        report.AddProblem(
            Line({what, ": the folder records no reference tag of this node in ", pool, " (frames/tag/ is missing)"}));
    } else if (!mine.contains(**recorded)) {
      report.AddProblem(Line({what, ": its object in ", pool, " does not hold this node's reference tag ", **recorded,
                              " (the pool does not count this node: the chunk could be removed under it)"}));
    }
    for (const auto& tag : mine) {
      if (recorded->has_value() && tag == **recorded) continue;
      // A commit in flight (or an interrupted one, released at the next
      // open) holds a tag it has not recorded yet: its intent says so.
      auto intent = KeyExists(kDefault, PoolIntentKey(tag));
      if (!intent.ok()) return intent.status();
      if (*intent) continue;
      auto release = KeyExists(kDefault, PoolReleaseKey(key, tag));  // being released by a collection
      if (!release.ok()) return release.status();
      if (*release) continue;
      report.AddProblem(Line({what, ": its object in ", pool, " holds reference tag ", tag,
                              " of this node, which the folder does not record", kLeak}));
    }
  }
  // Tags recorded for chunks the folder does not hold.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
  const std::string prefix = PoolTagKey("");
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string key = it->key().ToString().substr(prefix.size());
    if (key.size() != 32) {
      report.AddProblem("malformed pool tag key of " + std::to_string(key.size()) + " bytes");
      continue;
    }
    if (!held.contains(key))
      report.AddProblem(Line({"chunk ", ToHex(HashOf(key)), ": the folder records reference tag ",
                              it->value().ToStringView(), " in ", pool, " but does not hold the chunk"}));
  }
  return FromRocks(it->status(), "scanning pool reference tags");
}

Status RocksStore::VerifyPoolInstances(VerifyReport& report) const {
  // A folder of an older build writes its instance objects at its next
  // writable open (BackfillPoolInstances): until then there are none to check.
  auto backfilled = KeyExists(kDefault, kPoolInstancesKey);
  if (!backfilled.ok()) return backfilled.status();
  if (!*backfilled) return Status::Ok();
  auto node = RecordedNodeId();
  if (!node.ok()) return node.status();
  const std::string pool = chunk_store_->Describe();
  Status failed = Status::Ok();
  PACS_RETURN_IF_ERROR(ForEachInstance([&](const InstanceRecord& rec) {
    // A marker: the object is being written or settled (a commit in flight,
    // or one a crash interrupted, settled at the next open).
    auto unsynced = PoolInstanceUnsynced(rec.sop_instance_uid);
    if (!unsynced.ok()) {
      failed = unsynced.status();
      return false;
    }
    if (*unsynced) return true;
    const std::string oid = InstanceObjectName(*node, rec.sop_instance_uid);
    auto object = chunk_store_->ReadInstance(*node, rec.sop_instance_uid);
    if (!object.ok()) {
      if (object.status().code() == StatusCode::kNotFound) {
        report.AddProblem(Line({"instance ", rec.sop_instance_uid, " has no instance object ", oid, " in ", pool,
                                " (a rebuild of this node would lose it)"}));
        return true;
      }
      if (object.status().code() == StatusCode::kCorruption) {
        report.AddProblem(Line({"instance ", rec.sop_instance_uid, ": ", object.status().ToString()}));
        return true;
      }
      failed = object.status();
      return false;
    }
    ++report.pool_instance_objects;
    auto pooled = InstanceRecord::Decode(object->record);
    if (!pooled.ok()) {
      report.AddProblem(
          Line({"instance object ", oid, " in ", pool, ": its record does not decode: ", pooled.status().ToString()}));
      return true;
    }
    if (EncodeWithoutCodecs(*pooled) != EncodeWithoutCodecs(rec))
      report.AddProblem(Line({"instance object ", oid, " in ", pool, " holds another record than the folder"}));
    const auto* header = reinterpret_cast<const uint8_t*>(object->header.data());
    if (Sha256(std::span<const uint8_t>(header, object->header.size())) != rec.header_hash)
      report.AddProblem(Line(
          {"instance object ", oid, " in ", pool, " holds another header than the folder's ", ToHex(rec.header_hash)}));
    return true;
  }));
  return failed;
}

Result<VerifyReport> RocksStore::VerifyPoolListing() const {
  VerifyReport report;
  if (!chunk_store_) return report;
  auto node = RecordedNodeId();
  if (!node.ok()) return node.status();
  const std::string ours = *node + ".";
  const std::string pool = chunk_store_->Describe();
  auto listing = chunk_store_->List(*node);
  if (!listing.ok()) return listing.status();
  report.pool_objects_listed = listing->instances.size() + listing->chunks.size() + listing->nodes.size();
  for (const auto& uid : listing->instances) {
    ++report.pool_instance_objects;
    auto local = KeyExists(kInstances, uid);
    if (!local.ok()) return local.status();
    if (*local) continue;
    // Being settled (a delete in flight, or one a crash interrupted).
    auto unsynced = PoolInstanceUnsynced(uid);
    if (!unsynced.ok()) return unsynced.status();
    if (*unsynced) continue;
    report.AddProblem(Line({"stray instance object ", InstanceObjectName(*node, uid), " in ", pool,
                            ": the folder holds no instance ", uid, " (a rebuild of this node would bring it back)"}));
  }
  for (const auto& hash : listing->chunks) {
    const std::string key(AsKey(hash));
    auto held = KeyExists(kRefs, ChunkRefKey(key));
    if (!held.ok()) return held.status();
    if (*held) continue;  // VerifyStructure checks its tags
    auto refs = chunk_store_->ReadReferences(hash);
    if (!refs.ok()) {
      if (refs.status().code() == StatusCode::kNotFound) continue;  // released meanwhile
      if (refs.status().code() == StatusCode::kCorruption) {
        report.AddProblem(Line({"chunk object ", ChunkObjectName(hash), " in ", pool, ": ", refs.status().ToString()}));
        continue;
      }
      return refs.status();
    }
    ++report.pool_chunk_objects;
    for (const auto& tag : refs->tags) {
      if (!tag.starts_with(ours)) continue;
      // A commit that took the tag since the listing: its intent, or by
      // now its recorded tag.
      auto intent = KeyExists(kDefault, PoolIntentKey(tag));
      if (!intent.ok()) return intent.status();
      auto recorded = ReadValue(kDefault, PoolTagKey(key));
      if (!recorded.ok()) return recorded.status();
      auto release = KeyExists(kDefault, PoolReleaseKey(key, tag));  // a collection releasing it
      if (!release.ok()) return release.status();
      if (*intent || *release || (recorded->has_value() && **recorded == tag)) continue;
      report.AddProblem(Line({"chunk object ", ChunkObjectName(hash), " in ", pool, " holds reference tag ", tag,
                              " of this node, which does not hold the chunk", kLeak}));
    }
  }
  return report;
}

}  // namespace pacs::engine
