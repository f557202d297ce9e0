// Rebuilding the catalog (the query index that rides on commits) from the
// stored instances: built in memory from a snapshot while commits go on,
// caught up and swapped in under the commit lock in one atomic batch.
#include <map>

#include "pacs/engine/sync_point.h"
#include "rocks_store.h"

namespace pacs::engine {
namespace {

using CatalogMap = std::map<std::string, std::string, std::less<>>;

// The catalog being rebuilt, in memory. Each instance's changes are staged
// and kept only if the observer succeeds for the whole instance, so a failure
// half-way leaves no partial records behind.
class MemCatalogTxn final : public CatalogTxn {
 public:
  explicit MemCatalogTxn(CatalogMap& built) : built_(built) {}
  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (auto it = pending_.find(key); it != pending_.end()) return it->second;
    if (auto it = built_.find(key); it != built_.end()) return std::optional<std::string>(it->second);
    return std::optional<std::string>();
  }
  void Put(std::string_view key, std::string_view value) override { pending_[std::string(key)] = std::string(value); }
  void Delete(std::string_view key) override { pending_[std::string(key)] = std::nullopt; }
  void Keep() {
    for (auto& [key, value] : pending_) {
      if (value)
        built_.insert_or_assign(key, std::move(*value));
      else
        built_.erase(key);
    }
    pending_.clear();
  }

 private:
  CatalogMap& built_;
  std::map<std::string, std::optional<std::string>, std::less<>> pending_;
};

// A snapshot released on every path out.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB& db) : db_(db), snapshot_(db.GetSnapshot()) {}
  ~ScopedSnapshot() { db_.ReleaseSnapshot(snapshot_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB& db_;
  const rocksdb::Snapshot* snapshot_;
};

}  // namespace

Result<CatalogRebuildReport> RocksStore::RebuildCatalog(const CatalogPayloadSource& payload_of,
                                                        const std::function<void(uint64_t, uint64_t)>& progress) {
  if (!observer_) return Status::InvalidArgument("no query index to rebuild: the store was opened without one");
  if (options_.read_only)
    return Status::Unsupported("cannot rebuild the query index of " + options_.path + ": opened read-only");
  CatalogRebuildReport report;
  std::map<std::string, std::string> skipped;  // SOP Instance UID -> why
  CatalogMap built;

  // Adds one instance to `built`; `read` gives the header bytes. A failure
  // skips the instance (listed), it does not stop the rebuild.
  const auto add = [&](std::string_view key, std::string_view value, const rocksdb::ReadOptions& read) {
    ++report.instances_read;
    const std::string uid(key);
    auto rec = InstanceRecord::Decode(value);
    if (!rec.ok()) {
      skipped[uid] = "instance record does not decode: " + rec.status().ToString();
      return;
    }
    std::string header;
    auto s = db_->Get(read, cfs_[kHeaders], AsKey(rec->header_hash), &header);
    if (!s.ok()) {
      skipped[uid] = s.IsNotFound() ? "header " + ToHex(rec->header_hash) + " is missing"
                                    : FromRocks(s, "reading header " + ToHex(rec->header_hash)).ToString();
      return;
    }
    auto payload = payload_of(*rec, header);
    if (!payload.ok()) {
      skipped[uid] = payload.status().ToString();
      return;
    }
    MemCatalogTxn txn(built);
    if (Status added = observer_->OnInstanceAdded(txn, *rec, *payload); !added.ok()) {
      skipped[uid] = added.ToString();
      return;
    }
    txn.Keep();
    skipped.erase(uid);
  };
  // Takes an instance out of `built` again (removed or replaced meanwhile).
  const auto remove = [&](std::string_view key, std::string_view value) -> Status {
    skipped.erase(std::string(key));
    auto rec = InstanceRecord::Decode(value);
    if (!rec.ok()) return Status::Ok();  // it was skipped, never indexed
    MemCatalogTxn txn(built);
    PACS_RETURN_IF_ERROR(observer_->OnInstanceRemoved(txn, *rec).WithContext("rebuilt query index"));
    txn.Keep();
    return Status::Ok();
  };

  // 1. The build, from a snapshot, without the commit lock.
  const ScopedSnapshot snapshot(*db_);
  rocksdb::ReadOptions at_snapshot;
  at_snapshot.snapshot = snapshot.get();
  {
    auto total = ReadU64(kDefault, kCountInstances);
    if (!total.ok()) return total.status();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(at_snapshot, cfs_[kInstances]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      add(it->key().ToStringView(), it->value().ToStringView(), at_snapshot);
      if (progress) progress(report.instances_read, *total);
    }
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning instances"));
  }
  PACS_TEST_SYNC_POINT("RocksStore::RebuildCatalog:BeforeLock");

  // 2. Under the commit lock: fold in what commits changed since the
  // snapshot (both scans are in SOP Instance UID order), then write the
  // difference to the stored catalog in one batch.
  MutexLock lock(commit_mutex_);
  const rocksdb::ReadOptions now;
  uint64_t stored_instances = 0;
  {
    std::unique_ptr<rocksdb::Iterator> then_it(db_->NewIterator(at_snapshot, cfs_[kInstances]));
    std::unique_ptr<rocksdb::Iterator> now_it(db_->NewIterator(now, cfs_[kInstances]));
    then_it->SeekToFirst();
    now_it->SeekToFirst();
    while (then_it->Valid() || now_it->Valid()) {
      const int order = !then_it->Valid() ? 1 : !now_it->Valid() ? -1 : then_it->key().compare(now_it->key());
      if (order >= 0) ++stored_instances;  // now_it moves on
      if (order == 0 && then_it->value() == now_it->value()) {
        then_it->Next();
        now_it->Next();
        continue;
      }
      ++report.caught_up;
      if (order <= 0) {
        PACS_RETURN_IF_ERROR(remove(then_it->key().ToStringView(), then_it->value().ToStringView()));
        then_it->Next();
      }
      if (order >= 0) {
        add(now_it->key().ToStringView(), now_it->value().ToStringView(), now);
        now_it->Next();
      }
    }
    PACS_RETURN_IF_ERROR(FromRocks(then_it->status(), "scanning instances"));
    PACS_RETURN_IF_ERROR(FromRocks(now_it->status(), "scanning instances"));
  }

  rocksdb::WriteBatch batch;
  {
    std::unique_ptr<rocksdb::Iterator> stored(db_->NewIterator(now, cfs_[kCatalog]));
    stored->SeekToFirst();
    auto next = built.begin();
    while (stored->Valid() || next != built.end()) {
      const int order = !stored->Valid()      ? 1
                        : next == built.end() ? -1
                                              : stored->key().compare(rocksdb::Slice(next->first));
      if (order < 0) {
        batch.Delete(cfs_[kCatalog], stored->key());
        ++report.entries_deleted;
        stored->Next();
        continue;
      }
      if (order > 0 || stored->value() != rocksdb::Slice(next->second)) {
        batch.Put(cfs_[kCatalog], next->first, next->second);
        ++report.entries_put;
      }
      if (order == 0) stored->Next();
      ++next;
    }
    PACS_RETURN_IF_ERROR(FromRocks(stored->status(), "scanning the stored query index"));
  }
  if (batch.Count() > 0) PACS_RETURN_IF_ERROR(WriteLocked(batch, "writing the rebuilt query index"));

  report.entries = built.size();
  for (const auto& [key, value] : built) report.entry_bytes += key.size() + value.size();
  report.instances_indexed = stored_instances - skipped.size();  // `skipped` holds stored instances only
  report.skipped.reserve(skipped.size());
  for (const auto& [uid, why] : skipped) report.skipped.push_back(std::string(uid).append(": ").append(why));
  return report;
}

}  // namespace pacs::engine
