// RocksDB implementation of Store. Column families:
//   default    meta: schema version and counters
//   instances  SOP Instance UID -> InstanceRecord
//   headers    SHA-256 -> header bytes (zstd with a trained dictionary)
//   frames     SHA-256 -> pixel chunk bytes (integrated BlobDB)
//   refs       'h' + SHA-256 -> header reference count;
//              'f' + SHA-256 -> chunk reference count, codec, sizes
//   index      "pat/", "study/", "series/" + key -> instance count;
//              "enc/" + pixel hash + chunk hash, "encn/" + pixel hash -> counts
//   gc         chunk SHA-256 -> time (ms) its reference count reached zero
//   work       chunk SHA-256 -> deferred re-encoding job (opaque to the engine)
//   catalog    whatever the CatalogObserver (the query index) writes
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "pacs/codecs/frame_codec.h"
#include "pacs/engine/store.h"
#include "pacs/engine/sync_point.h"

namespace pacs::engine {
namespace {

constexpr char kSchemaKey[] = "meta/schema_version";
constexpr char kSchemaVersion[] = "1";

enum Cf : size_t { kDefault = 0, kInstances, kHeaders, kFrames, kRefs, kIndex, kCatalog, kGc, kWork, kCfCount };
const char* const kCfNames[kCfCount] = {"default", "instances", "headers", "frames", "refs",
                                        "index",   "catalog",   "gc",      "work"};

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}
uint64_t DecodeU64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(s[i])) << (8 * i);
  return v;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

std::string PatientKey(const InstanceRecord& r) {
  return "pat/" + r.patient_id + std::string(1, '\0') + r.issuer_of_patient_id;
}

// Counters kept in the default column family.
constexpr char kCountPatients[] = "count/patients";
constexpr char kCountStudies[] = "count/studies";
constexpr char kCountSeries[] = "count/series";
constexpr char kCountInstances[] = "count/instances";
constexpr char kCountReceived[] = "count/received_bytes";
constexpr char kCountReceivedTotal[] = "count/received_bytes_total";
constexpr char kCountChunks[] = "count/chunks";                           // referenced chunks
constexpr char kCountChunkBytes[] = "count/chunk_bytes";                  // their stored bytes
constexpr char kCountChunkRefs[] = "count/chunk_refs";                    // references to chunks
constexpr char kCountRefStoredBytes[] = "count/referenced_stored_bytes";  // stored bytes per reference
constexpr char kCountMultiEncoded[] = "count/multi_encoded";              // pixel identities with >= 2 encodings
constexpr char kCountGcChunks[] = "count/gc_chunks";                      // unreferenced chunks awaiting collection
constexpr char kCountGcBytes[] = "count/gc_bytes";
constexpr char kCountWork[] = "count/deferred_work";  // chunks awaiting re-encoding
constexpr char kCountCodecPrefix[] = "count/codec/";  // + name + "/chunks" | "/raw_bytes" | "/stored_bytes"

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The refs value of a chunk: its reference count and what is stored. Kept
// (with count 0) while the chunk awaits collection.
struct ChunkRef {
  bool exists = false;
  uint64_t count = 0;
  uint8_t codec = 0;
  uint64_t raw_size = 0;
  uint64_t stored_size = 0;

  std::string Encode() const {
    return EncodeU64(count) + std::string(1, static_cast<char>(codec)) + EncodeU64(raw_size) + EncodeU64(stored_size);
  }
  static ChunkRef Decode(std::string_view v) {
    ChunkRef r;
    r.exists = true;
    if (v.size() < 25) return r;
    r.count = DecodeU64(v.substr(0, 8));
    r.codec = static_cast<uint8_t>(v[8]);
    r.raw_size = DecodeU64(v.substr(9, 8));
    r.stored_size = DecodeU64(v.substr(17, 8));
    return r;
  }
};

std::string CodecCounterName(uint8_t codec) {
  return std::string(kCountCodecPrefix) + (codec == kChunkAsReceived
                                               ? std::string("as_received")
                                               : std::string(codecs::CodecName(static_cast<codecs::CodecId>(codec))));
}

ContentHash HashOf(std::string_view key) {
  ContentHash h{};
  std::copy(key.begin(), key.begin() + std::min(key.size(), h.size()), h.begin());
  return h;
}

class RocksStore;

// Accumulates the read-modify-write changes of one commit so that a chunk
// referenced twice, or an instance replaced by itself, is counted right.
class CommitBuilder {
 public:
  explicit CommitBuilder(RocksStore& store) : store_(store) {}
  void AddInstance(const InstanceRecord& rec, const InstanceWrite* write);
  void RemoveInstance(const InstanceRecord& rec);
  void AddCounter(const std::string& key, int64_t delta) { counters_[key] += delta; }
  Status Finish(rocksdb::WriteBatch& batch);
  // After Finish: the codec a chunk is actually stored with (an existing
  // chunk keeps the encoding it was first stored in).
  uint8_t StoredCodec(const ContentHash& h, uint8_t fallback) const {
    auto it = chunks_.find(std::string(AsKey(h)));
    return it == chunks_.end() ? fallback : it->second.codec;
  }

 private:
  struct ChunkChange {
    int64_t delta = 0;
    const std::string* bytes = nullptr;  // bytes offered by an ingest (may be absent)
    uint64_t raw_size = 0;
    uint8_t codec = 0;
  };
  RocksStore& store_;
  std::map<std::string, int64_t> headers_;  // header hash -> delta
  std::map<std::string, const std::string*> header_bytes_;
  std::map<std::string, ChunkChange> chunks_;           // chunk hash -> change
  std::map<std::string, int64_t> encodings_;            // pixel hash + chunk hash -> delta
  std::map<std::string, const std::string*> deferred_;  // chunk hash -> re-encoding job
  std::map<std::string, int64_t> index_;                // index key -> delta
  std::map<std::string, int64_t> counters_;             // counter key -> delta
};

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

class RocksStore final : public Store {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs, StoreOptions options)
      : db_(std::move(db)), cfs_(std::move(cfs)), options_(std::move(options)), observer_(options_.catalog_observer) {}
  ~RocksStore() override {
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    db_->Close();
  }

  Result<CommitResult> CommitInstance(const InstanceWrite& write) override;
  Result<InstanceRecord> GetInstance(std::string_view uid) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kInstances], uid, &value);
    if (s.IsNotFound()) return Status::NotFound("no instance " + std::string(uid));
    PACS_RETURN_IF_ERROR(FromRocks(s, "reading instance " + std::string(uid)));
    return InstanceRecord::Decode(value);
  }
  Result<std::string> GetHeader(const ContentHash& hash) const override { return GetBlob(kHeaders, hash, "header"); }
  Result<std::string> GetChunk(const ContentHash& hash) const override { return GetBlob(kFrames, hash, "pixel chunk"); }
  std::optional<uint8_t> HasChunk(const ContentHash& hash) const override {
    Status status;
    ChunkRef ref = ReadChunkRef(hash, status);
    if (!status.ok() || !ref.exists || ref.count == 0) return std::nullopt;
    return ref.codec;
  }
  Result<uint64_t> DeleteInstances(const DeleteSelector& selector) override;
  Result<CollectReport> CollectGarbage(std::chrono::milliseconds grace) override;
  Result<CollectReport> Compact(std::chrono::milliseconds grace) override;
  Result<VerifyReport> VerifyStructure(std::chrono::milliseconds grace) const override;
  Result<StoredChunk> ReadChunk(const ContentHash& hash) const override;
  Status ForEachDeferredWork(const std::function<bool(const ContentHash&, std::string_view)>& visit) const override;
  Result<bool> CompleteDeferredWork(const ContentHash& hash, uint8_t expected_codec,
                                    std::optional<std::pair<uint8_t, std::string>> reencoded) override;
  Status ForEachInstance(const std::function<bool(const InstanceRecord&)>& visit) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kInstances]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto rec = InstanceRecord::Decode(it->value().ToStringView());
      if (!rec.ok()) return rec.status().WithContext("instance " + it->key().ToString());
      if (!visit(*rec)) break;
    }
    return FromRocks(it->status(), "scanning instances");
  }
  Status Flush() override {
    if (options_.read_only) return Status::Ok();  // nothing of ours in memtables
    rocksdb::FlushOptions fo;
    fo.wait = true;
    return FromRocks(db_->Flush(fo, cfs_), "flushing memtables");
  }
  Result<StoreStats> Stats(bool flush_first) override;
  const std::string& path() const override { return options_.path; }
  Result<std::optional<std::string>> GetCatalog(std::string_view key) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kCatalog], key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    PACS_RETURN_IF_ERROR(FromRocks(s, "reading catalog"));
    return std::optional<std::string>(std::move(value));
  }
  Status ScanCatalog(std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kCatalog]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
      if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
    return FromRocks(it->status(), "scanning catalog");
  }

  // Used by CommitBuilder.
  uint64_t ReadU64(Cf cf, const std::string& key, Status& status) const {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], key, &value);
    if (s.IsNotFound()) return 0;
    if (!s.ok()) status = FromRocks(s, "reading " + key);
    return DecodeU64(value);
  }
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return cfs_[c]; }
  ChunkRef ReadChunkRef(const ContentHash& h, Status& status) const {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kRefs], "f" + std::string(AsKey(h)), &value);
    if (s.IsNotFound()) return ChunkRef{};
    if (!s.ok()) status = FromRocks(s, "reading chunk reference " + ToHex(h));
    return ChunkRef::Decode(value);
  }
  bool BlobExists(Cf c, std::string_view key) const {
    std::string value;
    return db_->Get(rocksdb::ReadOptions(), cfs_[c], key, &value).ok();
  }

 private:
  Result<std::string> GetBlob(Cf cf, const ContentHash& hash, const char* what) const {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], AsKey(hash), &value);
    if (s.IsNotFound()) return Status::NotFound(std::string(what) + " " + ToHex(hash) + " is missing");
    PACS_RETURN_IF_ERROR(FromRocks(s, std::string("reading ") + what + " " + ToHex(hash)));
    return value;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  StoreOptions options_;
  CatalogObserver* const observer_;  // from StoreOptions: fixed at open, read by commits without a lock
  std::mutex commit_mutex_;          // serialises read-modify-write of refs, index, counters and catalog
};

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

Status CommitBuilder::Finish(rocksdb::WriteBatch& batch) {
  Status status;
  // Headers: stored while referenced, removed with their last reference
  // (every ingest carries its header bytes, so no race can lose one).
  for (const auto& [key, delta] : headers_) {
    if (delta == 0) continue;
    const std::string ref_key = "h" + key;
    const uint64_t before = store_.ReadU64(kRefs, ref_key, status);
    const int64_t after = static_cast<int64_t>(before) + delta;
    if (after < 0) return Status::Corruption("header reference count below zero for " + ToHex(HashOf(key)));
    if (before == 0 && after > 0) {
      auto bytes = header_bytes_.find(key);
      if (bytes == header_bytes_.end()) return Status::Internal("new header " + ToHex(HashOf(key)) + " without bytes");
      batch.Put(store_.cf(kHeaders), key, *bytes->second);
    }
    if (after == 0) {
      batch.Delete(store_.cf(kHeaders), key);
      batch.Delete(store_.cf(kRefs), ref_key);
    } else {
      batch.Put(store_.cf(kRefs), ref_key, EncodeU64(static_cast<uint64_t>(after)));
    }
  }
  // Chunks: a chunk whose count reaches zero stays, listed in `gc`, until the
  // collector removes it after the grace period; a reference that arrives
  // before that revives it.
  for (auto& [key, change] : chunks_) {
    if (change.delta == 0) continue;
    const ContentHash hash = HashOf(key);
    ChunkRef ref = store_.ReadChunkRef(hash, status);
    PACS_RETURN_IF_ERROR(status);
    const int64_t after = static_cast<int64_t>(ref.count) + change.delta;
    if (after < 0) return Status::Corruption("chunk reference count below zero for " + ToHex(hash));
    if (!ref.exists) {
      if (change.delta < 0) return Status::Corruption("removing a reference to unknown chunk " + ToHex(hash));
      if (!change.bytes)
        return Status::Busy("chunk " + ToHex(hash) + " was collected before this commit; retry with its bytes");
      batch.Put(store_.cf(kFrames), key, *change.bytes);
      if (auto job = deferred_.find(key); job != deferred_.end()) {
        batch.Put(store_.cf(kWork), key, *job->second);  // re-encoded later, off the C-STORE path
        counters_[kCountWork] += 1;
      }
      ref.exists = true;
      ref.codec = change.codec;
      ref.raw_size = change.raw_size;
      ref.stored_size = change.bytes->size();
    } else if (ref.count == 0 && after > 0) {
      batch.Delete(store_.cf(kGc), key);  // revived before collection
      counters_[kCountGcChunks] -= 1;
      counters_[kCountGcBytes] -= static_cast<int64_t>(ref.stored_size);
    }
    change.codec = ref.codec;  // the stored encoding wins
    const int64_t sign = (ref.count == 0 && after > 0) ? 1 : (ref.count > 0 && after == 0) ? -1 : 0;
    if (sign != 0) {
      const std::string codec = CodecCounterName(ref.codec);
      counters_[kCountChunks] += sign;
      counters_[kCountChunkBytes] += sign * static_cast<int64_t>(ref.stored_size);
      counters_[codec + "/chunks"] += sign;
      counters_[codec + "/raw_bytes"] += sign * static_cast<int64_t>(ref.raw_size);
      counters_[codec + "/stored_bytes"] += sign * static_cast<int64_t>(ref.stored_size);
    }
    if (sign < 0) {
      batch.Put(store_.cf(kGc), key, EncodeU64(static_cast<uint64_t>(NowMs())));
      counters_[kCountGcChunks] += 1;
      counters_[kCountGcBytes] += static_cast<int64_t>(ref.stored_size);
    }
    counters_[kCountChunkRefs] += change.delta;
    counters_[kCountRefStoredBytes] += change.delta * static_cast<int64_t>(ref.stored_size);
    ref.count = static_cast<uint64_t>(after);
    batch.Put(store_.cf(kRefs), "f" + key, ref.Encode());
  }
  // Encodings of one decoded-pixel identity.
  for (const auto& [key, delta] : encodings_) {
    if (delta == 0) continue;
    const std::string enc_key = "enc/" + key;
    const std::string count_key = "encn/" + key.substr(0, 32);
    const uint64_t before = store_.ReadU64(kIndex, enc_key, status);
    const int64_t after = static_cast<int64_t>(before) + delta;
    if (after < 0) return Status::Corruption("encoding count below zero");
    if (after == 0)
      batch.Delete(store_.cf(kIndex), enc_key);
    else
      batch.Put(store_.cf(kIndex), enc_key, EncodeU64(static_cast<uint64_t>(after)));
    if ((before == 0) == (after == 0)) continue;  // the set of encodings did not change
    index_[count_key] += after > 0 ? 1 : -1;
  }
  for (auto& [key, delta] : index_) {
    if (delta == 0) continue;
    uint64_t before = store_.ReadU64(kIndex, key, status);
    int64_t after = static_cast<int64_t>(before) + delta;
    if (after < 0) return Status::Corruption("index count below zero for " + key);
    if (key.starts_with("encn/")) {
      if (before < 2 && after >= 2) counters_[kCountMultiEncoded] += 1;
      if (before >= 2 && after < 2) counters_[kCountMultiEncoded] -= 1;
    } else {
      const char* counter = key.starts_with("pat/")     ? kCountPatients
                            : key.starts_with("study/") ? kCountStudies
                                                        : kCountSeries;
      if (before == 0 && after > 0) counters_[counter] += 1;
      if (before > 0 && after == 0) counters_[counter] -= 1;
    }
    if (after == 0)
      batch.Delete(store_.cf(kIndex), key);
    else
      batch.Put(store_.cf(kIndex), key, EncodeU64(after));
  }
  for (auto& [key, delta] : counters_) {
    if (delta == 0) continue;
    uint64_t before = store_.ReadU64(kDefault, key, status);
    batch.Put(store_.cf(kDefault), key, EncodeU64(static_cast<uint64_t>(static_cast<int64_t>(before) + delta)));
  }
  return status;
}

Result<CommitResult> RocksStore::CommitInstance(const InstanceWrite& write) {
  const InstanceRecord& rec = write.record;
  if (rec.sop_instance_uid.empty()) return Status::InvalidArgument("instance has no SOP Instance UID");
  if (write.chunk_bytes.size() != rec.chunks.size())
    return Status::InvalidArgument("chunk bytes do not match the chunk list");

  std::lock_guard lock(commit_mutex_);
  CommitResult result;
  result.new_header_hash = ToHex(rec.header_hash);
  CommitBuilder builder(*this);
  builder.AddCounter(kCountReceivedTotal, static_cast<int64_t>(rec.received_bytes));

  auto existing = GetInstance(rec.sop_instance_uid);
  if (existing.ok()) {
    result.existing_header_hash = ToHex(existing->header_hash);
    if (existing->SameContentAs(rec)) {
      result.outcome = CommitOutcome::kIdenticalDuplicate;
    } else if (options_.on_duplicate == DuplicatePolicy::kReject) {
      // The traffic still counts, though nothing of the instance is kept.
      rocksdb::WriteBatch traffic;
      PACS_RETURN_IF_ERROR(builder.Finish(traffic));
      rocksdb::WriteOptions wo;
      wo.sync = options_.sync_writes;
      PACS_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &traffic), "counting received bytes"));
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
  PACS_RETURN_IF_ERROR(builder.Finish(batch));
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
  PACS_TEST_SYNC_POINT("RocksStore::CommitInstance:BeforeWrite");
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  PACS_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "committing instance " + rec.sop_instance_uid));
  return result;
}

Result<StoreStats> RocksStore::Stats(bool flush_first) {
  if (flush_first && !options_.read_only) {
    PACS_RETURN_IF_ERROR(Flush());
    // A flush may start a compaction that rewrites files; measure the folder
    // once that has settled so the answer does not depend on timing (bounded: 30 s).
    for (int i = 0; i < 3000; ++i) {
      uint64_t pending = 0, running = 0, flushes = 0;
      db_->GetIntProperty(rocksdb::DB::Properties::kCompactionPending, &pending);
      db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &running);
      db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningFlushes, &flushes);
      if (pending == 0 && running == 0 && flushes == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  StoreStats st;
  Status status;
  st.patients = ReadU64(kDefault, kCountPatients, status);
  st.studies = ReadU64(kDefault, kCountStudies, status);
  st.series = ReadU64(kDefault, kCountSeries, status);
  st.instances = ReadU64(kDefault, kCountInstances, status);
  st.received_bytes = ReadU64(kDefault, kCountReceived, status);
  st.received_bytes_total = ReadU64(kDefault, kCountReceivedTotal, status);
  st.chunks = ReadU64(kDefault, kCountChunks, status);
  st.chunk_bytes = ReadU64(kDefault, kCountChunkBytes, status);
  st.chunk_references = ReadU64(kDefault, kCountChunkRefs, status);
  const uint64_t referenced_bytes = ReadU64(kDefault, kCountRefStoredBytes, status);
  st.dedup_saved_bytes = referenced_bytes > st.chunk_bytes ? referenced_bytes - st.chunk_bytes : 0;
  st.frames_in_several_encodings = ReadU64(kDefault, kCountMultiEncoded, status);
  st.chunks_awaiting_collection = ReadU64(kDefault, kCountGcChunks, status);
  st.chunk_bytes_awaiting_collection = ReadU64(kDefault, kCountGcBytes, status);
  st.chunks_awaiting_reencoding = ReadU64(kDefault, kCountWork, status);
  PACS_RETURN_IF_ERROR(status);
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    for (it->Seek(kCountCodecPrefix); it->Valid() && it->key().starts_with(kCountCodecPrefix); it->Next()) {
      std::string rest = it->key().ToString().substr(sizeof(kCountCodecPrefix) - 1);
      const auto slash = rest.find('/');
      if (slash == std::string::npos) continue;
      auto& usage = st.per_codec[rest.substr(0, slash)];
      const std::string field = rest.substr(slash + 1);
      const uint64_t v = DecodeU64(it->value().ToStringView());
      if (field == "chunks")
        usage.chunks = v;
      else if (field == "raw_bytes")
        usage.raw_bytes = v;
      else if (field == "stored_bytes")
        usage.stored_bytes = v;
    }
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "reading codec counters"));
    for (auto it2 = st.per_codec.begin(); it2 != st.per_codec.end();) {
      if (it2->second.chunks == 0)
        it2 = st.per_codec.erase(it2);  // all such chunks were deleted
      else {
        st.pixel_raw_bytes += it2->second.raw_bytes;
        st.pixel_stored_bytes += it2->second.stored_bytes;
        ++it2;
      }
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(options_.path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat sb {};
    // admin.port is the running server's address, not stored data.
    if (it->path().filename() == "admin.port") continue;
    if (it->is_regular_file(ec) && ::stat(it->path().c_str(), &sb) == 0) {
      st.stored_bytes += static_cast<uint64_t>(sb.st_size);
      st.disk_usage_bytes += static_cast<uint64_t>(sb.st_blocks) * 512;
    }
  }
  return st;
}

Result<uint64_t> RocksStore::DeleteInstances(const DeleteSelector& sel) {
  const int set = !sel.study_instance_uid.empty() + !sel.series_instance_uid.empty() + !sel.sop_instance_uid.empty();
  if (set != 1) return Status::InvalidArgument("delete needs exactly one of --study, --series, --instance");
  std::lock_guard lock(commit_mutex_);
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
  CommitBuilder builder(*this);
  rocksdb::WriteBatch batch;
  for (const auto& v : victims) builder.RemoveInstance(v);
  PACS_RETURN_IF_ERROR(builder.Finish(batch));
  if (observer_) {
    RocksCatalogTxn txn(*db_, cfs_[kCatalog]);
    for (const auto& v : victims) PACS_RETURN_IF_ERROR(observer_->OnInstanceRemoved(txn, v));
    txn.ApplyTo(batch);
  }
  for (const auto& v : victims) batch.Delete(cfs_[kInstances], v.sop_instance_uid);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  PACS_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "deleting instances"));
  return static_cast<uint64_t>(victims.size());
}

Result<CollectReport> RocksStore::CollectGarbage(std::chrono::milliseconds grace) {
  if (options_.read_only) return Status::InvalidArgument("the data folder is open read-only");
  CollectReport report;
  const int64_t cutoff = NowMs() - grace.count();
  std::vector<std::string> candidates;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kGc]));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (static_cast<int64_t>(DecodeU64(it->value().ToStringView())) <= cutoff)
        candidates.push_back(it->key().ToString());
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning collectable chunks"));
  }
  report.candidates = candidates.size();
  // The scan ran without the commit lock: an ingest may have referenced a
  // candidate since. Under the lock, only chunks still unreferenced and
  // still listed go; the re-check is what keeps such a frame.
  PACS_TEST_SYNC_POINT("RocksStore::CollectGarbage:AfterScan");
  std::lock_guard lock(commit_mutex_);
  rocksdb::WriteBatch batch;
  Status status;
  int64_t bytes = 0;
  uint64_t work_dropped = 0;
  for (const auto& key : candidates) {
    ChunkRef ref = ReadChunkRef(HashOf(key), status);
    PACS_RETURN_IF_ERROR(status);
    std::string since;
    const bool listed = db_->Get(rocksdb::ReadOptions(), cfs_[kGc], key, &since).ok();
    if (!ref.exists || ref.count != 0 || !listed || static_cast<int64_t>(DecodeU64(since)) > cutoff) {
      ++report.rescued;
      continue;
    }
    batch.Delete(cfs_[kFrames], key);
    batch.Delete(cfs_[kRefs], "f" + key);
    batch.Delete(cfs_[kGc], key);
    if (std::string job; db_->Get(rocksdb::ReadOptions(), cfs_[kWork], key, &job).ok()) {
      batch.Delete(cfs_[kWork], key);
      ++work_dropped;
    }
    ++report.collected;
    bytes += static_cast<int64_t>(ref.stored_size);
  }
  report.collected_bytes = static_cast<uint64_t>(bytes);
  if (report.collected == 0) return report;
  const uint64_t gc_chunks = ReadU64(kDefault, kCountGcChunks, status);
  const uint64_t gc_bytes = ReadU64(kDefault, kCountGcBytes, status);
  PACS_RETURN_IF_ERROR(status);
  batch.Put(cfs_[kDefault], kCountGcChunks, EncodeU64(gc_chunks - report.collected));
  batch.Put(cfs_[kDefault], kCountGcBytes, EncodeU64(gc_bytes - report.collected_bytes));
  if (work_dropped > 0) {
    const uint64_t work = ReadU64(kDefault, kCountWork, status);
    batch.Put(cfs_[kDefault], kCountWork, EncodeU64(work - work_dropped));
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  PACS_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "collecting unreferenced chunks"));
  return report;
}

Result<StoredChunk> RocksStore::ReadChunk(const ContentHash& hash) const {
  // One snapshot for the reference and the bytes: a background re-encoding
  // replaces both at once.
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  std::string ref_value, bytes;
  auto s_ref = db_->Get(ro, cfs_[kRefs], "f" + std::string(AsKey(hash)), &ref_value);
  auto s_bytes = db_->Get(ro, cfs_[kFrames], AsKey(hash), &bytes);
  db_->ReleaseSnapshot(snapshot);
  if (s_bytes.IsNotFound() || s_ref.IsNotFound()) return Status::NotFound("pixel chunk " + ToHex(hash) + " is missing");
  PACS_RETURN_IF_ERROR(FromRocks(s_ref, "reading chunk reference " + ToHex(hash)));
  PACS_RETURN_IF_ERROR(FromRocks(s_bytes, "reading pixel chunk " + ToHex(hash)));
  return StoredChunk{std::move(bytes), ChunkRef::Decode(ref_value).codec};
}

Status RocksStore::ForEachDeferredWork(const std::function<bool(const ContentHash&, std::string_view)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kWork]));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    if (!visit(HashOf(it->key().ToStringView()), it->value().ToStringView())) break;
  return FromRocks(it->status(), "scanning deferred work");
}

Result<bool> RocksStore::CompleteDeferredWork(const ContentHash& hash, uint8_t expected_codec,
                                              std::optional<std::pair<uint8_t, std::string>> reencoded) {
  const std::string key(AsKey(hash));
  std::lock_guard lock(commit_mutex_);
  rocksdb::WriteBatch batch;
  Status status;
  std::string job;
  if (!db_->Get(rocksdb::ReadOptions(), cfs_[kWork], key, &job).ok()) return false;  // done or collected
  batch.Delete(cfs_[kWork], key);
  std::map<std::string, int64_t> counters{{kCountWork, -1}};
  ChunkRef ref = ReadChunkRef(hash, status);
  PACS_RETURN_IF_ERROR(status);
  bool replaced = false;
  if (reencoded && ref.exists && ref.codec == expected_codec && !reencoded->second.empty()) {
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
    batch.Put(cfs_[kRefs], "f" + key, ref.Encode());
    replaced = true;
  }
  for (const auto& [name, delta] : counters) {
    if (delta == 0) continue;
    const uint64_t before = ReadU64(kDefault, name, status);
    batch.Put(cfs_[kDefault], name, EncodeU64(static_cast<uint64_t>(static_cast<int64_t>(before) + delta)));
  }
  PACS_RETURN_IF_ERROR(status);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  PACS_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "storing a re-encoded chunk"));
  return replaced;
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
  for (auto* cf : cfs_) PACS_RETURN_IF_ERROR(FromRocks(db_->CompactRange(options, cf, nullptr, nullptr), "compacting"));
  return report;
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
  auto problem = [&](std::string line) {
    if (report.problems.size() < 1000) report.problems.push_back(std::move(line));
  };
  // Every stored count equals the references, and every referenced blob exists.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kRefs]));
  std::map<std::string, uint64_t> seen_headers, seen_chunks;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    if (key.size() != 33) {
      problem("malformed reference key of " + std::to_string(key.size()) + " bytes");
      continue;
    }
    const std::string hash = key.substr(1);
    if (key[0] == 'h')
      seen_headers[hash] = DecodeU64(it->value().ToStringView());
    else
      seen_chunks[hash] = ChunkRef::Decode(it->value().ToStringView()).count;
  }
  PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning references"));
  for (const auto& [hash, n] : header_refs) {
    ++report.headers;
    if (seen_headers[hash] != n)
      problem("header " + ToHex(HashOf(hash)) + ": stored count " + std::to_string(seen_headers[hash]) +
              ", referenced " + std::to_string(n) + " times");
    if (!BlobExists(kHeaders, hash)) problem("header " + ToHex(HashOf(hash)) + " is referenced but missing");
  }
  for (const auto& [hash, n] : seen_headers)
    if (!header_refs.count(hash))
      problem("header " + ToHex(HashOf(hash)) + " has count " + std::to_string(n) + " but no instance uses it");
  for (const auto& [hash, n] : chunk_refs) {
    ++report.chunks;
    report.references += n;
    if (seen_chunks[hash] != n)
      problem("chunk " + ToHex(HashOf(hash)) + ": stored count " + std::to_string(seen_chunks[hash]) + ", referenced " +
              std::to_string(n) + " times");
    if (!BlobExists(kFrames, hash)) problem("chunk " + ToHex(HashOf(hash)) + " is referenced but missing");
  }
  const int64_t cutoff = NowMs() - grace.count();
  for (const auto& [hash, n] : seen_chunks) {
    if (chunk_refs.count(hash)) continue;
    if (n != 0)
      problem("chunk " + ToHex(HashOf(hash)) + " has count " + std::to_string(n) + " but no instance uses it");
    std::string since;
    if (!db_->Get(rocksdb::ReadOptions(), cfs_[kGc], hash, &since).ok())
      problem("unreferenced chunk " + ToHex(HashOf(hash)) + " is not listed for collection");
    else if (static_cast<int64_t>(DecodeU64(since)) <= cutoff)
      problem("unreferenced chunk " + ToHex(HashOf(hash)) + " is past its grace period (run compact)");
  }
  return report;
}

rocksdb::ColumnFamilyOptions CfOptions(Cf cf) {
  rocksdb::ColumnFamilyOptions o;
  switch (cf) {
    case kHeaders:
      // Headers of one series are nearly identical: a trained zstd dictionary pays.
      o.compression = rocksdb::kZSTD;
      o.compression_opts.max_dict_bytes = 16 * 1024;
      o.compression_opts.zstd_max_train_bytes = 100 * 16 * 1024;
      o.bottommost_compression = rocksdb::kZSTD;
      o.bottommost_compression_opts = o.compression_opts;
      o.bottommost_compression_opts.enabled = true;
      break;
    case kFrames:
      o.enable_blob_files = true;
      o.min_blob_size = 1024;
      o.blob_file_size = 256ull << 20;
      o.blob_compression_type = rocksdb::kNoCompression;
      o.enable_blob_garbage_collection = true;
      o.blob_garbage_collection_age_cutoff = 0.25;
      o.compression = rocksdb::kNoCompression;
      break;
    default:
      o.compression = rocksdb::kLZ4Compression;
      break;
  }
  return o;
}

}  // namespace

Result<DuplicatePolicy> ParseDuplicatePolicy(std::string_view name) {
  if (name == "keep") return DuplicatePolicy::kKeep;
  if (name == "replace") return DuplicatePolicy::kReplace;
  if (name == "reject") return DuplicatePolicy::kReject;
  return Status::InvalidArgument("--on-duplicate must be keep, replace or reject, not '" + std::string(name) + "'");
}

const char* CommitOutcomeName(CommitOutcome outcome) {
  switch (outcome) {
    case CommitOutcome::kStored:
      return "stored";
    case CommitOutcome::kIdenticalDuplicate:
      return "identical duplicate";
    case CommitOutcome::kKeptExisting:
      return "kept existing";
    case CommitOutcome::kReplaced:
      return "replaced";
  }
  return "unknown";
}

bool IsLockedByAnotherProcess(const Status& status) {
  return status.message().find("lock") != std::string::npos &&
         (status.message().find("Resource temporarily unavailable") != std::string::npos ||
          status.message().find("No locks available") != std::string::npos ||
          status.message().find("lock hold by current process") != std::string::npos);
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::error_code ec;
  if (!options.read_only) std::filesystem::create_directories(options.path, ec);
  if (ec) return Status::IOError("cannot create data folder " + options.path + ": " + ec.message());

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 5;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kCfCount; ++i) descriptors.emplace_back(kCfNames[i], CfOptions(static_cast<Cf>(i)));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  // RocksDB's own LOG at INFO grows with every flush; it is part of the folder
  // we measure, and its warnings are what an operator needs.
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  rocksdb::Status s;
  if (options.read_only) {
    if (!std::filesystem::exists(std::filesystem::path(options.path) / "CURRENT"))
      return Status::NotFound("no pacscore data in " + options.path);
    s = rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors, &handles, &raw);
  } else {
    s = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  }
  PACS_RETURN_IF_ERROR(FromRocks(s, "opening data folder " + options.path));
  std::unique_ptr<rocksdb::DB> db(raw);

  std::string version;
  s = db->Get(rocksdb::ReadOptions(), handles[kDefault], kSchemaKey, &version);
  if (s.IsNotFound() && options.read_only) {
    s = rocksdb::Status::OK();  // an empty folder: nothing was ever committed
  } else if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db->Put(wo, handles[kDefault], kSchemaKey, kSchemaVersion);
  } else if (s.ok() && version != kSchemaVersion) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    return Status::Unsupported("data folder " + options.path + " has schema version " + version +
                               ", this build reads version " + kSchemaVersion);
  }
  if (!s.ok()) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    return FromRocks(s, "reading schema version");
  }
  return std::unique_ptr<Store>(new RocksStore(std::move(db), std::move(handles), options));
}

}  // namespace pacs::engine
