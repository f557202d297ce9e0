// RocksDB implementation of Store: opening the folder, the column family
// options, the reads, and the codecs of stored keys and values. Column
// families (docs/storage-format.md has the layouts):
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
//   staging    chunk SHA-256 -> raw frame bytes while its job is pending
//              (integrated BlobDB; files dropped whole once re-encoded)
//   catalog    whatever the CatalogObserver (the query index) writes
#include "rocks_store.h"

#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "pacs/codecs/frame_codec.h"

namespace pacs::engine {
namespace {

constexpr char kSchemaKey[] = "meta/schema_version";
constexpr char kSchemaVersion[] = "1";

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
    case kStaging:
      // Raw frames awaiting re-encoding: each is deleted once its encoding
      // lands in `frames`, so its blob file holds nothing but garbage once
      // the batch it came with is encoded, and is deleted whole after the
      // tables referring to it are compacted (ReleaseStagingSpace). No
      // garbage collection: rewriting raw frames would cost what we save.
      o.enable_blob_files = true;
      o.min_blob_size = 1024;
      o.blob_file_size = 64ull << 20;
      o.blob_compression_type = rocksdb::kNoCompression;
      o.enable_blob_garbage_collection = false;
      o.compression = rocksdb::kNoCompression;
      break;
    default:
      o.compression = rocksdb::kLZ4Compression;
      break;
  }
  return o;
}

std::string HexOf(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (char c : bytes) {
    hex.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    hex.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return hex;
}

}  // namespace

// ---- Codecs of stored keys and values ----

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

std::string KeyName(std::string_view key) {
  const auto printable = [](char c) { return c >= 0x20 && c < 0x7f; };
  if (std::all_of(key.begin(), key.end(), printable)) return std::string(key);
  // Binary keys are a short text prefix ("f", "enc/", ...) and whole hashes.
  const size_t prefix = key.size() % 32;
  return std::string(key.substr(0, prefix)) + HexOf(key.substr(prefix));
}

Status CorruptValue(Cf cf, std::string_view key, const std::string& problem) {
  return Status::Corruption("column family " + std::string(kCfNames[cf]) + ", key " + KeyName(key) + ": " + problem);
}

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

Result<uint64_t> DecodeU64(Cf cf, std::string_view key, std::string_view value) {
  if (value.size() != 8)
    return CorruptValue(cf, key, "stored value is " + std::to_string(value.size()) + " bytes, expected a u64 of 8");
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(value[i])) << (8 * i);
  return v;
}

Result<ContentHash> DecodeHashKey(Cf cf, std::string_view key) {
  if (key.size() != ContentHash{}.size())
    return CorruptValue(cf, key, "key is " + std::to_string(key.size()) + " bytes, expected a 32-byte hash");
  return HashOf(key);
}

ContentHash HashOf(std::string_view key) {
  ContentHash h{};
  std::copy(key.begin(), key.begin() + std::min(key.size(), h.size()), h.begin());
  return h;
}

std::string PatientKey(const InstanceRecord& r) {
  return "pat/" + r.patient_id + std::string(1, '\0') + r.issuer_of_patient_id;
}

std::string CodecCounterName(uint8_t codec) {
  return std::string(kCountCodecPrefix) + (codec == kChunkAsReceived
                                               ? std::string("as_received")
                                               : std::string(codecs::CodecName(static_cast<codecs::CodecId>(codec))));
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ChunkRef::Encode() const {
  return EncodeU64(count) + std::string(1, static_cast<char>(codec)) + EncodeU64(raw_size) + EncodeU64(stored_size);
}

Result<ChunkRef> ChunkRef::Decode(std::string_view key, std::string_view value) {
  if (value.size() != kEncodedSize)
    return CorruptValue(
        kRefs, key,
        "chunk reference is " + std::to_string(value.size()) + " bytes, expected " + std::to_string(kEncodedSize));
  ChunkRef r;
  // The sizes were checked above: these decodes cannot fail.
  r.count = *DecodeU64(kRefs, key, value.substr(0, 8));
  r.codec = static_cast<uint8_t>(value[8]);
  r.raw_size = *DecodeU64(kRefs, key, value.substr(9, 8));
  r.stored_size = *DecodeU64(kRefs, key, value.substr(17, 8));
  return r;
}

// ---- Open ----

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
  // Every commit writes the small column families too, which never fill a
  // memtable on their own: without a bound the write-ahead log (raw frames
  // included) is kept until ~2 GB. Past this, RocksDB flushes the column
  // families that pin the oldest log file.
  db_options.max_total_wal_size = 128ull << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kCfCount; ++i) descriptors.emplace_back(kCfNames[i], CfOptions(static_cast<Cf>(i)));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  // RocksDB's own LOG at INFO grows with every flush; it is part of the folder
  // we measure, and its warnings are what an operator needs: they go to our
  // log, and no LOG file is written (write_health.h says why).
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  if (!options.read_only) db_options.info_log = std::make_shared<RocksLogger>(options.path);
  // Background errors (a flush or compaction meeting a full disk) put the
  // store read-only instead of surfacing as a failed commit later.
  auto health = std::make_shared<WriteHealthState>();
  if (!options.read_only)
    db_options.listeners.push_back(std::make_shared<BackgroundErrorListener>(health, options.path));
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
  auto frames = OpenFrames(*db, handles, options);
  if (!frames.ok()) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    return frames.status();
  }
  const bool reconcile = frames->chunk_store != nullptr && !options.read_only;
  const bool backfill = frames->backfill_instances;
  auto store = std::make_unique<RocksStore>(std::move(db), std::move(handles), options, std::move(health),
                                            std::move(frames->chunk_store), std::move(frames->tag_prefix));
  if (reconcile) PACS_RETURN_IF_ERROR(store->ReconcilePoolIntents().status());
  if (backfill) PACS_RETURN_IF_ERROR(store->BackfillPoolInstances());
  return std::unique_ptr<Store>(std::move(store));
}

RocksStore::RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs,
                       StoreOptions options, std::shared_ptr<WriteHealthState> health,
                       std::unique_ptr<ChunkStore> chunk_store, std::string tag_prefix)
    : db_(std::move(db)),
      cfs_(std::move(cfs)),
      options_(std::move(options)),
      observer_(options_.catalog_observer),
      health_(std::move(health)),
      chunk_store_(std::move(chunk_store)),
      tag_prefix_(std::move(tag_prefix)) {}

RocksStore::~RocksStore() {
  for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
  db_->Close();
}

// ---- Reads ----

Result<std::optional<std::string>> RocksStore::ReadValue(Cf cf, std::string_view key,
                                                         const rocksdb::ReadOptions& options) const {
  std::string value;
  auto s = db_->Get(options, cfs_[cf], key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  // The message is built only on failure: this read is on every commit's path.
  if (!s.ok()) return FromRocks(s, "reading " + KeyName(key) + " in column family " + kCfNames[cf]);
  return std::optional<std::string>(std::move(value));
}

Result<bool> RocksStore::KeyExists(Cf cf, std::string_view key) const {
  auto value = ReadValue(cf, key);
  if (!value.ok()) return value.status();
  return value->has_value();
}

Result<uint64_t> RocksStore::ReadU64(Cf cf, std::string_view key) const {
  auto value = ReadValue(cf, key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return uint64_t{0};
  return DecodeU64(cf, key, **value);
}

Result<std::optional<ChunkRef>> RocksStore::ReadChunkRef(const ContentHash& hash) const {
  const std::string key = ChunkRefKey(AsKey(hash));
  auto value = ReadValue(kRefs, key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<ChunkRef>();
  auto ref = ChunkRef::Decode(key, **value);
  if (!ref.ok()) return ref.status();
  return std::optional<ChunkRef>(*ref);
}

Result<std::string> RocksStore::GetBlob(Cf cf, const ContentHash& hash, const char* what) const {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], AsKey(hash), &value);
  if (s.IsNotFound()) return Status::NotFound(std::string(what) + " " + ToHex(hash) + " is missing");
  PACS_RETURN_IF_ERROR(FromRocks(s, std::string("reading ") + what + " " + ToHex(hash)));
  return value;
}

Result<InstanceRecord> RocksStore::GetInstance(std::string_view uid) const {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kInstances], uid, &value);
  if (s.IsNotFound()) return Status::NotFound("no instance " + std::string(uid));
  PACS_RETURN_IF_ERROR(FromRocks(s, "reading instance " + std::string(uid)));
  auto rec = InstanceRecord::Decode(value);
  if (!rec.ok()) return rec.status().WithContext("column family instances, key " + KeyName(uid));
  return rec;
}

Result<std::string> RocksStore::GetHeader(const ContentHash& hash) const {
  return GetBlob(kHeaders, hash, "header");
}

rocksdb::Status RocksStore::GetChunkBytes(const rocksdb::ReadOptions& options, std::string_view key,
                                          std::string* bytes) const {
  auto s = db_->Get(options, cfs_[kFrames], key, bytes);
  if (s.IsNotFound()) s = db_->Get(options, cfs_[kStaging], key, bytes);
  return s;
}

Result<std::string> RocksStore::GetChunk(const ContentHash& hash) const {
  if (chunk_store_) {
    auto stored = chunk_store_->Get(hash);
    if (!stored.ok()) return stored.status();
    return std::move(stored->bytes);
  }
  // One snapshot for both column families: a completing job moves the bytes
  // from one to the other in one batch.
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  std::string bytes;
  auto s = GetChunkBytes(ro, AsKey(hash), &bytes);
  db_->ReleaseSnapshot(snapshot);
  if (s.IsNotFound()) return Status::NotFound("pixel chunk " + ToHex(hash) + " is missing");
  PACS_RETURN_IF_ERROR(FromRocks(s, "reading pixel chunk " + ToHex(hash)));
  return bytes;
}

Result<std::optional<uint8_t>> RocksStore::HasChunk(const ContentHash& hash) const {
  auto ref = ReadChunkRef(hash);
  if (!ref.ok()) return ref.status();
  if (!ref->has_value() || (*ref)->count == 0) return std::optional<uint8_t>();
  return std::optional<uint8_t>((*ref)->codec);
}

Result<StoredChunk> RocksStore::ReadChunk(const ContentHash& hash) const {
  if (chunk_store_) {
    // The pool keeps the codec with the bytes: one read gives both.
    auto stored = chunk_store_->Get(hash);
    if (!stored.ok()) return stored.status();
    return StoredChunk{std::move(stored->bytes), stored->codec};
  }
  // One snapshot for the reference and the bytes: a background re-encoding
  // replaces both at once.
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  const std::string ref_key = ChunkRefKey(AsKey(hash));
  std::string ref_value, bytes;
  auto s_ref = db_->Get(ro, cfs_[kRefs], ref_key, &ref_value);
  auto s_bytes = GetChunkBytes(ro, AsKey(hash), &bytes);
  db_->ReleaseSnapshot(snapshot);
  if (s_bytes.IsNotFound() || s_ref.IsNotFound()) return Status::NotFound("pixel chunk " + ToHex(hash) + " is missing");
  PACS_RETURN_IF_ERROR(FromRocks(s_ref, "reading chunk reference " + ToHex(hash)));
  PACS_RETURN_IF_ERROR(FromRocks(s_bytes, "reading pixel chunk " + ToHex(hash)));
  auto ref = ChunkRef::Decode(ref_key, ref_value);
  if (!ref.ok()) return ref.status();
  return StoredChunk{std::move(bytes), ref->codec};
}

Status RocksStore::ForEachInstance(const std::function<bool(const InstanceRecord&)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kInstances]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto rec = InstanceRecord::Decode(it->value().ToStringView());
    if (!rec.ok()) return rec.status().WithContext("instance " + it->key().ToString());
    if (!visit(*rec)) break;
  }
  return FromRocks(it->status(), "scanning instances");
}

Status RocksStore::Flush() {
  if (options_.read_only) return Status::Ok();  // nothing of ours in memtables
  // A flush frees memory and lets the write-ahead log go; it is refused only
  // while the store is read-only (then RocksDB holds the memtables).
  PACS_RETURN_IF_ERROR(CheckWritable(WriteKind::kFrees));
  rocksdb::FlushOptions fo;
  fo.wait = true;
  auto s = db_->Flush(fo, cfs_);
  NoteWriteResult(s, "flushing memtables");
  return FromRocks(s, "flushing memtables");
}

Result<std::optional<std::string>> RocksStore::GetCatalog(std::string_view key) const {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kCatalog], key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  PACS_RETURN_IF_ERROR(FromRocks(s, "reading catalog"));
  return std::optional<std::string>(std::move(value));
}

Status RocksStore::ScanCatalog(std::string_view prefix,
                               const std::function<bool(std::string_view, std::string_view)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kCatalog]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
  return FromRocks(it->status(), "scanning catalog");
}

Result<StoreStats> RocksStore::Stats(bool flush_first) {
  // Read-only after a write error: the figures as they are, without a flush.
  if (flush_first && !options_.read_only && !health_->read_only()) {
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
  uint64_t referenced_bytes = 0;
  const std::pair<uint64_t*, const char*> counters[] = {
      {&st.patients, kCountPatients},
      {&st.studies, kCountStudies},
      {&st.series, kCountSeries},
      {&st.instances, kCountInstances},
      {&st.received_bytes, kCountReceived},
      {&st.received_bytes_total, kCountReceivedTotal},
      {&st.chunks, kCountChunks},
      {&st.chunk_bytes, kCountChunkBytes},
      {&st.chunk_references, kCountChunkRefs},
      {&referenced_bytes, kCountRefStoredBytes},
      {&st.frames_in_several_encodings, kCountMultiEncoded},
      {&st.chunks_awaiting_collection, kCountGcChunks},
      {&st.chunk_bytes_awaiting_collection, kCountGcBytes},
      {&st.chunks_awaiting_reencoding, kCountWork},
  };
  for (const auto& [field, key] : counters) {
    auto value = ReadU64(kDefault, key);
    if (!value.ok()) return value.status();
    *field = *value;
  }
  st.dedup_saved_bytes = referenced_bytes > st.chunk_bytes ? referenced_bytes - st.chunk_bytes : 0;
  auto node = ReadValue(kDefault, kFramesNodeKey);
  if (!node.ok()) return node.status();
  st.frames_node = node->value_or("");
  if (chunk_store_) {
    // Every refs row of a rados folder (referenced, or awaiting collection)
    // holds one pool reference, its tag recorded as frames/tag/<hash>.
    PoolShare share;
    share.pool = chunk_store_->Describe();
    share.chunk_objects = st.chunks + st.chunks_awaiting_collection;
    share.chunk_bytes = st.chunk_bytes + st.chunk_bytes_awaiting_collection;
    share.references = share.chunk_objects;
    share.instance_objects = st.instances;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    for (it->Seek(kPoolIntentPrefix); it->Valid() && it->key().starts_with(kPoolIntentPrefix); it->Next())
      ++share.references_in_flight;
    PACS_RETURN_IF_ERROR(FromRocks(it->status(), "counting pool intents"));
    auto totals = chunk_store_->ReadPoolUsage();
    if (totals.ok())
      share.totals = *totals;
    else
      share.totals_error = totals.status().ToString();
    st.pool = std::move(share);
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    for (it->Seek(kCountCodecPrefix); it->Valid() && it->key().starts_with(kCountCodecPrefix); it->Next()) {
      std::string rest = it->key().ToString().substr(sizeof(kCountCodecPrefix) - 1);
      const auto slash = rest.find('/');
      if (slash == std::string::npos) continue;
      auto& usage = st.per_codec[rest.substr(0, slash)];
      const std::string field = rest.substr(slash + 1);
      auto v = DecodeU64(kDefault, it->key().ToStringView(), it->value().ToStringView());
      if (!v.ok()) return v.status();
      if (field == "chunks")
        usage.chunks = *v;
      else if (field == "raw_bytes")
        usage.raw_bytes = *v;
      else if (field == "stored_bytes")
        usage.stored_bytes = *v;
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
    // C-STORE datasets being received (dicom/'s spill files), not stored data.
    if (it->path().filename() == "incoming") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && ::stat(it->path().c_str(), &sb) == 0) {
      st.stored_bytes += static_cast<uint64_t>(sb.st_size);
      st.disk_usage_bytes += static_cast<uint64_t>(sb.st_blocks) * 512;
    }
  }
  return st;
}

Result<EngineFigures> RocksStore::ReadEngineFigures() const {
  EngineFigures figures;
  // Per-column-family properties, summed.
  const std::pair<uint64_t*, const std::string*> summed[] = {
      {&figures.sst_bytes, &rocksdb::DB::Properties::kTotalSstFilesSize},
      {&figures.live_sst_bytes, &rocksdb::DB::Properties::kLiveSstFilesSize},
      {&figures.blob_bytes, &rocksdb::DB::Properties::kTotalBlobFileSize},
      {&figures.live_blob_bytes, &rocksdb::DB::Properties::kLiveBlobFileSize},
      {&figures.blob_garbage_bytes, &rocksdb::DB::Properties::kLiveBlobFileGarbageSize},
      {&figures.memtable_bytes, &rocksdb::DB::Properties::kCurSizeAllMemTables},
      {&figures.pending_compaction_bytes, &rocksdb::DB::Properties::kEstimatePendingCompactionBytes},
  };
  for (const auto& [field, property] : summed) {
    if (!db_->GetAggregatedIntProperty(*property, field))
      return Status::Internal("RocksDB did not answer the property " + *property + " of " + options_.path);
  }
  // Database-wide ones.
  const std::pair<uint64_t*, const std::string*> whole[] = {
      {&figures.running_compactions, &rocksdb::DB::Properties::kNumRunningCompactions},
      {&figures.delayed_write_rate, &rocksdb::DB::Properties::kActualDelayedWriteRate},
      {&figures.background_errors, &rocksdb::DB::Properties::kBackgroundErrors},
  };
  for (const auto& [field, property] : whole) {
    if (!db_->GetIntProperty(*property, field))
      return Status::Internal("RocksDB did not answer the property " + *property + " of " + options_.path);
  }
  uint64_t stopped = 0;
  if (!db_->GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &stopped))
    return Status::Internal("RocksDB did not answer the property " + rocksdb::DB::Properties::kIsWriteStopped);
  figures.write_stopped = stopped != 0;
  // Stall counts are in each family's cfstats map, as decimal text.
  for (rocksdb::ColumnFamilyHandle* cf : cfs_) {
    std::map<std::string, std::string> stats;
    if (!db_->GetMapProperty(cf, rocksdb::DB::Properties::kCFStats, &stats)) continue;
    for (const auto& [key, field] : {std::pair{"io_stalls.total_slowdown", &figures.write_slowdowns},
                                     std::pair{"io_stalls.total_stop", &figures.write_stops}}) {
      auto it = stats.find(key);
      if (it != stats.end()) *field += std::strtoull(it->second.c_str(), nullptr, 10);
    }
  }
  return figures;
}

// ---- Writes shared by the commit, collection and deferred-work paths ----

Status RocksStore::WriteLocked(rocksdb::WriteBatch& batch, const std::string& what, WriteKind kind) {
  PACS_RETURN_IF_ERROR(CheckRoom(kind, batch.GetDataSize()).WithContext(what));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  auto s = db_->Write(wo, &batch);
  NoteWriteResult(s, what);
  return FromRocks(s, what);
}

Status RocksStore::ApplyCounterDeltas(const std::map<std::string, int64_t>& deltas, rocksdb::WriteBatch& batch) {
  for (const auto& [key, delta] : deltas) {
    if (delta == 0) continue;
    auto before = ReadU64(kDefault, key);
    if (!before.ok()) return before.status();
    batch.Put(cfs_[kDefault], key, EncodeU64(static_cast<uint64_t>(static_cast<int64_t>(*before) + delta)));
  }
  return Status::Ok();
}

}  // namespace pacs::engine
