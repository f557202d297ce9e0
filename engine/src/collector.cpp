// The collector of unreferenced chunks, compaction, and the structural
// verification that checks what commits and the collector promise: every
// stored count equals the references, every referenced blob exists, nothing
// unreferenced outlives its grace period.
#include <rocksdb/options.h>

#include "pacs/engine/sync_point.h"
#include "rocks_store.h"

namespace pacs::engine {

Result<CollectReport> RocksStore::CollectGarbage(std::chrono::milliseconds grace) {
  if (options_.read_only) return Status::InvalidArgument("the data folder is open read-only");
  if (chunk_store_) PACS_RETURN_IF_ERROR(ReconcilePoolIntents().status());
  CollectReport report;
  const int64_t cutoff = NowMs() - grace.count();
  std::vector<std::string> candidates;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kGc]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      PACS_RETURN_IF_ERROR(DecodeHashKey(kGc, key).status());
      auto since = DecodeU64(kGc, key, it->value().ToStringView());
      if (!since.ok()) return since.status();
      if (static_cast<int64_t>(*since) <= cutoff) candidates.emplace_back(key);
    }
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning collectable chunks"));
  }
  report.candidates = candidates.size();
  // The scan ran without the commit lock: an ingest may have referenced a
  // candidate since. Under the lock, only chunks still unreferenced and
  // still listed go; the re-check is what keeps such a frame.
  PACS_TEST_SYNC_POINT("RocksStore::CollectGarbage:AfterScan");
  MutexLock lock(commit_mutex_);
  rocksdb::WriteBatch batch;
  std::map<std::string, int64_t> counters;
  // With a chunk store: the chunks' tags to release, and their markers.
  std::vector<std::pair<std::string, std::string>> releases;  // chunk key, tag
  rocksdb::WriteBatch markers;
  for (const auto& key : candidates) {
    auto ref = ReadChunkRef(HashOf(key));
    if (!ref.ok()) return ref.status();
    auto listed = ReadValue(kGc, key);
    if (!listed.ok()) return listed.status();
    bool collectable = ref->has_value() && (*ref)->count == 0 && listed->has_value();
    if (collectable) {
      auto since = DecodeU64(kGc, key, **listed);
      if (!since.ok()) return since.status();
      collectable = static_cast<int64_t>(*since) <= cutoff;
    }
    if (!collectable) {
      ++report.rescued;
      continue;
    }
    if (chunk_store_) {
      auto tag = ReadValue(kDefault, PoolTagKey(key));
      if (!tag.ok()) return tag.status();
      if (tag->has_value()) {
        markers.Put(cfs_[kDefault], PoolReleaseKey(key, **tag), "");
        markers.Delete(cfs_[kDefault], PoolTagKey(key));
        batch.Delete(cfs_[kDefault], PoolReleaseKey(key, **tag));
        releases.emplace_back(key, std::move(**tag));
      }
    }
    PACS_RETURN_IF_ERROR(DeleteCollectedChunk(key, **ref, batch, counters));
    ++report.collected;
    report.collected_bytes += (*ref)->stored_size;
  }
  if (report.collected == 0) return report;
  if (!releases.empty()) {
    // The tags go from frames/tag/ to release markers (synced) before the
    // first put. From then on a revival of such a chunk (a count-0 row
    // without a recorded tag) takes a new reference, whatever happens to
    // this collection; a crash or a failed put leaves markers, which the
    // next open or collection finishes (FinishPoolReleases).
    PACS_RETURN_IF_ERROR(WriteLocked(markers, "recording the release of pool references", WriteKind::kFrees));
    for (const auto& [key, tag] : releases) {
      PACS_RETURN_IF_ERROR(chunk_store_->Unreference(HashOf(key), tag)
                               .WithContext("releasing chunk " + ToHex(HashOf(key)) + "; kept, collected later"));
      PACS_TEST_SYNC_POINT("RocksStore::CollectGarbage:AfterRelease");
    }
  }
  PACS_RETURN_IF_ERROR(ApplyCounterDeltas(counters, batch));
  PACS_RETURN_IF_ERROR(WriteLocked(batch, "collecting unreferenced chunks", WriteKind::kFrees));
  return report;
}

Status RocksStore::DeleteCollectedChunk(const std::string& key, const ChunkRef& ref, rocksdb::WriteBatch& batch,
                                        std::map<std::string, int64_t>& counters) {
  auto listed = KeyExists(kGc, key);
  if (!listed.ok()) return listed.status();
  batch.Delete(cfs_[kFrames], key);
  batch.Delete(cfs_[kRefs], ChunkRefKey(key));
  if (*listed) {
    batch.Delete(cfs_[kGc], key);
    counters[kCountGcChunks] -= 1;
    counters[kCountGcBytes] -= static_cast<int64_t>(ref.stored_size);
  }
  auto queued = KeyExists(kWork, key);
  if (!queued.ok()) return queued.status();
  if (*queued) {
    batch.Delete(cfs_[kWork], key);
    batch.Delete(cfs_[kStaging], key);
    counters[kCountWork] -= 1;
  }
  return Status::Ok();
}

Result<CollectReport> RocksStore::Compact(std::chrono::milliseconds grace) {
  auto report = CollectGarbage(grace);
  if (!report.ok()) return report;
  PACS_RETURN_IF_ERROR(Flush());
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  // Rewrite every blob file so that the space of removed frames comes back.
  options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  options.blob_garbage_collection_age_cutoff = 1.0;
  for (auto* cf : cfs_) {
    auto s = db_->CompactRange(options, cf, nullptr, nullptr);
    NoteWriteResult(s, "compacting");
    PACS_RETURN_IF_ERROR(FromRocks(s, "compacting"));
  }
  return report;
}

Result<OrphanSweepReport> RocksStore::RemoveUnreferencedPoolObjects(std::chrono::milliseconds grace) {
  if (!chunk_store_) return OrphanSweepReport{};
  if (options_.read_only) return Status::InvalidArgument("the data folder is open read-only");
  // No commit lock: the pool's guarded removal, not this node's lock, keeps
  // an object another node (or this one) references meanwhile.
  return chunk_store_->RemoveUnreferenced(grace);
}

Result<VerifyReport> RocksStore::VerifyStructure(std::chrono::milliseconds grace) const {
  VerifyReport report;
  std::map<std::string, uint64_t> header_refs, chunk_refs;
  PACS_RETURN_IF_ERROR(ForEachInstance([&](const InstanceRecord& r) {
    ++report.instances;
    ++header_refs[std::string(AsKey(r.header_hash))];
    for (const auto& c : r.chunks) ++chunk_refs[std::string(AsKey(c.hash))];
    return true;
  }));
  auto problem = [&](std::string line) { report.AddProblem(std::move(line)); };
  // Every stored count equals the references, and every referenced blob
  // exists. A malformed stored value is a problem to report, like a wrong
  // count: verify lists what is wrong rather than stopping at the first.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kRefs]));
  std::map<std::string, uint64_t> seen_headers, seen_chunks;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    if (key.size() != 33) {
      problem("malformed reference key of " + std::to_string(key.size()) + " bytes");
      continue;
    }
    const std::string hash = key.substr(1);
    if (key[0] == 'h') {
      auto count = DecodeU64(kRefs, key, it->value().ToStringView());
      if (!count.ok()) {
        problem(count.status().ToString());
        continue;
      }
      seen_headers[hash] = *count;
    } else {
      auto ref = ChunkRef::Decode(key, it->value().ToStringView());
      if (!ref.ok()) {
        problem(ref.status().ToString());
        continue;
      }
      seen_chunks[hash] = ref->count;
    }
  }
  PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning references"));
  for (const auto& [hash, n] : header_refs) {
    ++report.headers;
    if (seen_headers[hash] != n)
      problem("header " + ToHex(HashOf(hash)) + ": stored count " + std::to_string(seen_headers[hash]) +
              ", referenced " + std::to_string(n) + " times");
    auto exists = KeyExists(kHeaders, hash);
    if (!exists.ok()) return exists.status();
    if (!*exists) problem("header " + ToHex(HashOf(hash)) + " is referenced but missing");
  }
  for (const auto& [hash, n] : seen_headers)
    if (!header_refs.contains(hash))
      problem("header " + ToHex(HashOf(hash)) + " has count " + std::to_string(n) + " but no instance uses it");
  for (const auto& [hash, n] : chunk_refs) {
    ++report.chunks;
    report.references += n;
    if (seen_chunks[hash] != n)
      problem("chunk " + ToHex(HashOf(hash)) + ": stored count " + std::to_string(seen_chunks[hash]) + ", referenced " +
              std::to_string(n) + " times");
    if (chunk_store_) continue;  // read with its reference tags below (VerifyPoolReferences)
    auto exists = KeyExists(kFrames, hash);
    if (!exists.ok()) return exists.status();
    if (!*exists) {
      exists = KeyExists(kStaging, hash);  // raw, awaiting re-encoding
      if (!exists.ok()) return exists.status();
    }
    if (!*exists) problem("chunk " + ToHex(HashOf(hash)) + " is referenced but missing");
  }
  const int64_t cutoff = NowMs() - grace.count();
  for (const auto& [hash, n] : seen_chunks) {
    if (chunk_refs.contains(hash)) continue;
    if (n != 0)
      problem("chunk " + ToHex(HashOf(hash)) + " has count " + std::to_string(n) + " but no instance uses it");
    auto listed = ReadValue(kGc, hash);
    if (!listed.ok()) return listed.status();
    if (!listed->has_value()) {
      problem("unreferenced chunk " + ToHex(HashOf(hash)) + " is not listed for collection");
      continue;
    }
    auto since = DecodeU64(kGc, hash, **listed);
    if (!since.ok())
      problem(since.status().ToString());
    else if (static_cast<int64_t>(*since) <= cutoff)
      problem("unreferenced chunk " + ToHex(HashOf(hash)) + " is past its grace period (run compact)");
  }
  if (chunk_store_) {
    PACS_RETURN_IF_ERROR(VerifyPoolReferences(seen_chunks, report));
    PACS_RETURN_IF_ERROR(VerifyPoolInstances(report));
  }
  return report;
}

}  // namespace pacs::engine
