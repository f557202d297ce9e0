// The RADOS chunk store: one object per chunk, named by its content hash,
// the codec in an xattr next to the bytes, references kept by Ceph's
// `refcount` object class inside the OSD. docs/scale-out.md describes the
// protocol and its failure cases.
#include <rados/librados.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <map>
#include <optional>
#include <vector>

#include "pacs/base/log.h"
#include "pacs/engine/chunk_store.h"
#include "pacs/engine/sync_point.h"

namespace pacs::engine {
namespace {

constexpr char kCodecXattr[] = "pacs.codec";
// The re-encoding job of a chunk created raw (Put's `job`), for a rebuild.
constexpr char kJobXattr[] = "pacs.job";
// Where Ceph 16.2's refcount class keeps an object's references
// (REFCOUNT_ATTR in cls_refcount.cc: the encoded tags held and retired). An
// object that never took a reference has no such xattr; the class removes
// an object when its last reference is put, so an object with the xattr
// holds at least one. Checked against the installed class by
// rados_chunk_store_test.
constexpr char kRefcountXattr[] = "refcount";
constexpr std::string_view kChunkPrefix = "chunk.";
// On an instance object: its encoded InstanceRecord (the data is the header).
constexpr char kRecordXattr[] = "pacs.record";
// On a node object: the highest epoch the node opened with, le64.
constexpr char kEpochXattr[] = "pacs.epoch";
// Instance objects read or removed at once (rebuild, delete of a study).
constexpr size_t kInFlight = 32;
// Reads ask for at most this much: a chunk is one frame, far below it.
constexpr uint64_t kMaxChunkBytes = 1ull << 30;
// Attempts of create-then-reference when another node's last release removes
// the object in between (each attempt recreates it).
constexpr int kPutAttempts = 5;

std::string ErrnoText(int rc) {
  return std::strerror(rc < 0 ? -rc : rc);
}

// The input of cls_refcount get/put in Ceph 16.2 (cls_refcount_ops.h, not
// packaged): ENCODE_START(1, 1) = u8 version 1, u8 compat 1, le32 length of
// what follows; then the tag as le32 length + bytes; then bool implicit_ref.
// Checked against the installed class by rados_chunk_store_test.
librados::bufferlist RefcountInput(std::string_view tag) {
  std::string body;
  const auto tag_size = static_cast<uint32_t>(tag.size());
  for (int i = 0; i < 4; ++i) body.push_back(static_cast<char>((tag_size >> (8 * i)) & 0xff));
  body.append(tag);
  body.push_back(0);  // implicit_ref = false: an object without references has none
  std::string encoded;
  encoded.push_back(1);
  encoded.push_back(1);
  const auto body_size = static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) encoded.push_back(static_cast<char>((body_size >> (8 * i)) & 0xff));
  encoded += body;
  librados::bufferlist bl;
  bl.append(encoded.data(), static_cast<unsigned>(encoded.size()));
  return bl;
}

std::optional<ContentHash> HashFromHex(std::string_view hex) {
  ContentHash hash{};
  if (hex.size() != hash.size() * 2) return std::nullopt;
  for (size_t i = 0; i < hash.size(); ++i) {
    int value = 0;
    for (int half = 0; half < 2; ++half) {
      const char c = hex[2 * i + half];
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + digit;
    }
    hash[i] = static_cast<uint8_t>(value);
  }
  return hash;
}

// An asynchronous operation's completion, released on every path.
struct CompletionRelease {
  void operator()(librados::AioCompletion* completion) const { completion->release(); }
};
using Completion = std::unique_ptr<librados::AioCompletion, CompletionRelease>;

librados::bufferlist CodecValue(uint8_t codec) {
  librados::bufferlist bl;
  const char c = static_cast<char>(codec);
  bl.append(&c, 1);
  return bl;
}

class RadosChunkStore;

// A write sent with aio_operate, waited for once.
class PendingRadosWrite final : public ChunkStore::PendingWrite {
 public:
  PendingRadosWrite(const RadosChunkStore& store, std::string oid, Completion done)
      : store_(store), oid_(std::move(oid)), done_(std::move(done)) {}
  ~PendingRadosWrite() override { (void)Wait(); }
  Status Wait() override;

 private:
  const RadosChunkStore& store_;
  const std::string oid_;
  Completion done_;
  std::optional<Status> result_;
};

class RadosChunkStore final : public ChunkStore {
 public:
  RadosChunkStore(std::unique_ptr<librados::Rados> cluster, librados::IoCtx io, RadosOptions options)
      : cluster_(std::move(cluster)), io_(std::move(io)), options_(std::move(options)) {}
  ~RadosChunkStore() override {
    io_.close();
    cluster_->shutdown();
  }

  Result<PutOutcome> Put(const ContentHash& hash, uint8_t codec, std::string_view bytes, std::string_view tag,
                         std::string_view job) override {
    const std::string oid = ChunkObjectName(hash);
    for (int attempt = 0; attempt < kPutAttempts; ++attempt) {
      // 1. Create exclusively with the bytes and codec. On 16.2 the refcount
      //    class cannot take the first reference in this same operation (it
      //    reads the stored object, which does not exist yet): ENOENT.
      librados::ObjectWriteOperation create;
      create.create(true);
      librados::bufferlist data;
      data.append(bytes.data(), static_cast<unsigned>(bytes.size()));
      create.write_full(data);
      create.setxattr(kCodecXattr, CodecValue(codec));
      if (!job.empty()) {
        librados::bufferlist job_value;
        job_value.append(job.data(), static_cast<unsigned>(job.size()));
        create.setxattr(kJobXattr, job_value);
      }
      const int created = io_.operate(oid, &create);
      if (created < 0 && created != -EEXIST) return Failure("storing", oid, created);
      if (created == 0) PACS_TEST_SYNC_POINT("RadosChunkStore::Put:AfterCreate");
      // 2. Take the reference. ENOENT: another node dropped the last
      //    reference between 1 and 2 and the OSD removed the object; retry.
      const int referenced = Exec(oid, "get", tag);
      if (referenced == -ENOENT) continue;
      if (referenced < 0) {
        // The object stays unreferenced (or referenced by others); docs/scale-out.md.
        return Failure("referencing", oid, referenced);
      }
      if (created == 0) return PutOutcome{codec, bytes.size(), true};
      // Someone else's object: report what it holds.
      auto stored = Describe(oid);
      if (!stored.ok()) return stored.status();
      return *stored;
    }
    return Status::Busy("chunk object " + oid + " in " + Describe() + " was removed " + std::to_string(kPutAttempts) +
                        " times while this node stored it; nothing stored");
  }

  Status Reference(const ContentHash& hash, std::string_view tag) override {
    const std::string oid = ChunkObjectName(hash);
    const int rc = Exec(oid, "get", tag);
    if (rc == -ENOENT) return Status::NotFound("chunk object " + oid + " is not in " + Describe());
    if (rc < 0) return Failure("referencing", oid, rc);
    return Status::Ok();
  }

  Status Unreference(const ContentHash& hash, std::string_view tag) override {
    const std::string oid = ChunkObjectName(hash);
    const int rc = Exec(oid, "put", tag);
    if (rc == -EINVAL) {
      // 16.2's class answers EINVAL to a put on an object that holds no
      // reference at all (its creator died between creating it and taking
      // the first reference): this tag holds none. The object is left to
      // the sweep of unreferenced objects (RemoveUnreferenced).
      auto held = HoldsAnyReference(oid);
      if (!held.ok()) return held.status();
      if (!*held) return Status::Ok();
    }
    if (rc < 0 && rc != -ENOENT) return Failure("releasing", oid, rc);
    return Status::Ok();
  }

  Result<StoredChunkBytes> Get(const ContentHash& hash) const override {
    const std::string oid = ChunkObjectName(hash);
    // One read operation: the bytes and the codec of one object version.
    librados::ObjectReadOperation op;
    librados::bufferlist data, codec;
    int read_rc = 0, codec_rc = 0;
    op.read(0, kMaxChunkBytes, &data, &read_rc);
    op.getxattr(kCodecXattr, &codec, &codec_rc);
    const int rc = io_.operate(oid, &op, nullptr);
    if (rc == -ENOENT) return Status::NotFound("pixel chunk object " + oid + " is not in " + Describe());
    if (rc < 0) return Failure("reading", oid, rc);
    if (read_rc < 0) return Failure("reading", oid, read_rc);
    if (codec_rc < 0 || codec.length() != 1)
      return Status::Corruption("chunk object " + oid + " in " + Describe() + " has no valid " + kCodecXattr +
                                " xattr");
    StoredChunkBytes out;
    out.codec = static_cast<uint8_t>(codec.c_str()[0]);
    out.bytes.assign(data.c_str(), data.length());
    return out;
  }

  Result<bool> Has(const ContentHash& hash) const override {
    const std::string oid = ChunkObjectName(hash);
    uint64_t size = 0;
    time_t mtime = 0;
    const int rc = const_cast<librados::IoCtx&>(io_).stat(oid, &size, &mtime);
    if (rc == -ENOENT) return false;
    if (rc < 0) return Failure("checking", oid, rc);
    return true;
  }

  Result<bool> ReplaceIfCodec(const ContentHash& hash, uint8_t expected_codec, uint8_t codec,
                              std::string_view bytes) override {
    const std::string oid = ChunkObjectName(hash);
    // The comparison and the writes are one atomic operation on the OSD;
    // write_full keeps the refcount xattr.
    librados::ObjectWriteOperation op;
    op.cmpxattr(kCodecXattr, LIBRADOS_CMPXATTR_OP_EQ, CodecValue(expected_codec));
    librados::bufferlist data;
    data.append(bytes.data(), static_cast<unsigned>(bytes.size()));
    op.write_full(data);
    op.setxattr(kCodecXattr, CodecValue(codec));
    const int rc = io_.operate(oid, &op);
    if (rc == -ECANCELED || rc == -ENOENT || rc == -ENODATA) return false;
    if (rc < 0) return Failure("re-encoding", oid, rc);
    return true;
  }

  Result<OrphanSweepReport> RemoveUnreferenced(std::chrono::milliseconds grace) override {
    OrphanSweepReport report;
    const auto now = std::chrono::system_clock::now();
    try {
      for (auto it = io_.nobjects_begin(); it != io_.nobjects_end(); ++it) {
        const std::string oid = it->get_oid();
        if (!IsChunkObjectName(oid)) continue;
        ++report.examined;
        // The size, the last write and whether any reference was ever taken,
        // in one read (getxattrs, unlike getxattr, does not fail the
        // operation when the xattr is absent).
        librados::ObjectReadOperation look;
        std::map<std::string, librados::bufferlist> xattrs;
        uint64_t size = 0;
        struct timespec mtime {};
        int stat_rc = 0, xattrs_rc = 0;
        look.stat2(&size, &mtime, &stat_rc);
        look.getxattrs(&xattrs, &xattrs_rc);
        const int rc = io_.operate(oid, &look, nullptr);
        if (rc == -ENOENT) continue;  // removed meanwhile (its last reference was put)
        if (rc < 0) return Failure("looking at", oid, rc);
        if (stat_rc < 0) return Failure("looking at", oid, stat_rc);
        if (xattrs_rc < 0) return Failure("reading the xattrs of", oid, xattrs_rc);
        if (auto refs = xattrs.find(kRefcountXattr); refs != xattrs.end() && refs->second.length() > 0)
          continue;  // holds references: the nodes' business
        ++report.unreferenced;
        const auto written =
            std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(mtime.tv_sec) + std::chrono::nanoseconds(mtime.tv_nsec)));
        if (now - written < grace) {
          ++report.kept_young;
          continue;
        }
        PACS_TEST_SYNC_POINT("RadosChunkStore::RemoveUnreferenced:BeforeRemove");
        // Removed only if it still holds no reference: the comparison and the
        // removal are one operation on the OSD. The OSD compares a missing
        // xattr as an empty value; a held reference is never empty.
        librados::ObjectWriteOperation remove;
        remove.cmpxattr(kRefcountXattr, LIBRADOS_CMPXATTR_OP_EQ, librados::bufferlist());
        remove.remove();
        const int removed = io_.operate(oid, &remove);
        if (removed == -ECANCELED) {
          ++report.referenced_meanwhile;
          continue;
        }
        if (removed == -ENOENT) continue;
        if (removed < 0) return Failure("removing unreferenced", oid, removed);
        ++report.removed;
        report.removed_bytes += size;
      }
    } catch (const std::exception& e) {
      // librados's object iterator throws when listing fails.
      return Status::IOError("listing the chunk objects of " + Describe() + " failed: " + e.what() + "; removed " +
                             std::to_string(report.removed) + " unreferenced objects before that");
    }
    if (report.removed > 0 || report.referenced_meanwhile > 0)
      LogInfo("removed " + std::to_string(report.removed) + " chunk object(s) (" +
              std::to_string(report.removed_bytes) + " bytes) that held no reference from " + Describe() + "; kept " +
              std::to_string(report.referenced_meanwhile) + " that took a reference meanwhile and " +
              std::to_string(report.kept_young) + " younger than the grace period");
    return report;
  }

  std::string Describe() const override { return "rados:" + options_.pool; }

  Result<ChunkReferences> ReadReferences(const ContentHash& hash) const override {
    const std::string oid = ChunkObjectName(hash);
    // cls_refcount_read_op: ENCODE_START(1, 1), bool implicit_ref = false.
    librados::bufferlist in;
    const char input[] = {1, 1, 1, 0, 0, 0, 0};
    in.append(input, sizeof input);
    librados::bufferlist out;
    std::map<std::string, librados::bufferlist> xattrs;
    uint64_t size = 0;
    int exec_rc = 0, stat_rc = 0, xattrs_rc = 0;
    librados::ObjectReadOperation op;
    op.exec("refcount", "read", in, &out, &exec_rc);
    op.stat(&size, nullptr, &stat_rc);
    // getxattrs, unlike getxattr, does not fail the operation when the
    // (optional) job xattr is absent.
    op.getxattrs(&xattrs, &xattrs_rc);
    const int rc = io_.operate(oid, &op, nullptr);
    if (rc == -ENOENT) return Status::NotFound("chunk object " + oid + " is not in " + Describe());
    if (rc < 0) return Failure("reading the references of", oid, rc);
    if (exec_rc < 0) return Failure("reading the references of", oid, exec_rc);
    if (xattrs_rc < 0) return Failure("reading the xattrs of", oid, xattrs_rc);
    auto codec = xattrs.find(kCodecXattr);
    if (codec == xattrs.end() || codec->second.length() != 1)
      return Status::Corruption("chunk object " + oid + " in " + Describe() + " has no valid " + kCodecXattr +
                                " xattr");
    auto tags = DecodeRefcountReadReply(std::string_view(out.c_str(), out.length()));
    if (!tags.ok()) return tags.status().WithContext("chunk object " + oid + " in " + Describe());
    ChunkReferences refs{std::move(*tags), static_cast<uint8_t>(codec->second.c_str()[0]), size, {}};
    if (auto job = xattrs.find(kJobXattr); job != xattrs.end())
      refs.job.assign(job->second.c_str(), job->second.length());
    return refs;
  }

  Result<uint64_t> ReadNodeEpoch(std::string_view node) const override {
    const std::string oid = NodeObjectName(node);
    librados::bufferlist value;
    const int rc = io_.getxattr(oid, kEpochXattr, value);
    if (rc == -ENOENT || rc == -ENODATA) return uint64_t{0};
    if (rc < 0) return Failure("reading", oid, rc);
    if (value.length() != 8)
      return Status::Corruption("node object " + oid + " in " + Describe() + " has a " +
                                std::to_string(value.length()) + "-byte " + kEpochXattr + ", not 8");
    uint64_t epoch = 0;
    for (int i = 0; i < 8; ++i) epoch |= static_cast<uint64_t>(static_cast<uint8_t>(value.c_str()[i])) << (8 * i);
    return epoch;
  }

  Status WriteNodeEpoch(std::string_view node, uint64_t epoch) override {
    const std::string oid = NodeObjectName(node);
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((epoch >> (8 * i)) & 0xff);
    librados::bufferlist value;
    value.append(bytes, sizeof bytes);
    librados::ObjectWriteOperation op;
    op.create(false);
    op.setxattr(kEpochXattr, value);
    const int rc = io_.operate(oid, &op);
    if (rc < 0) return Failure("writing", oid, rc);
    return Status::Ok();
  }

  Status WriteInstance(std::string_view node, std::string_view sop_instance_uid, std::string_view record,
                       std::string_view header) override {
    auto pending = StartWriteInstance(node, sop_instance_uid, record, header);
    if (!pending.ok()) return pending.status();
    return (*pending)->Wait();
  }

  Result<std::unique_ptr<PendingWrite>> StartWriteInstance(std::string_view node, std::string_view sop_instance_uid,
                                                           std::string_view record, std::string_view header) override {
    std::string oid = InstanceObjectName(node, sop_instance_uid);
    // One operation: a reader sees the old record and header or the new ones.
    librados::ObjectWriteOperation op;
    librados::bufferlist data, record_value;
    data.append(header.data(), static_cast<unsigned>(header.size()));
    record_value.append(record.data(), static_cast<unsigned>(record.size()));
    op.write_full(data);
    op.setxattr(kRecordXattr, record_value);
    Completion done(librados::Rados::aio_create_completion());
    const int rc = io_.aio_operate(oid, done.get(), &op);
    if (rc < 0) return Failure("writing", oid, rc);
    return std::unique_ptr<PendingWrite>(new PendingRadosWrite(*this, std::move(oid), std::move(done)));
  }

  Status RemoveInstances(std::string_view node, const std::vector<std::string>& sop_instance_uids) override {
    Status first = Status::Ok();
    for (size_t begin = 0; begin < sop_instance_uids.size(); begin += kInFlight) {
      const size_t end = std::min(sop_instance_uids.size(), begin + kInFlight);
      std::vector<std::pair<std::string, Completion>> pending;
      for (size_t i = begin; i < end; ++i) {
        std::string oid = InstanceObjectName(node, sop_instance_uids[i]);
        Completion done(librados::Rados::aio_create_completion());
        const int rc = io_.aio_remove(oid, done.get());
        if (rc < 0) {
          if (first.ok()) first = Failure("removing", oid, rc);
          continue;
        }
        pending.emplace_back(std::move(oid), std::move(done));
      }
      for (auto& [oid, done] : pending) {
        done->wait_for_complete();
        const int rc = done->get_return_value();
        if (rc < 0 && rc != -ENOENT && first.ok()) first = Failure("removing", oid, rc);
      }
    }
    return first;
  }

  Result<InstanceObject> ReadInstance(std::string_view node, std::string_view sop_instance_uid) const override {
    const std::string oid = InstanceObjectName(node, sop_instance_uid);
    librados::ObjectReadOperation op;
    librados::bufferlist data, record;
    int read_rc = 0, record_rc = 0;
    op.read(0, kMaxChunkBytes, &data, &read_rc);
    op.getxattr(kRecordXattr, &record, &record_rc);
    const int rc = io_.operate(oid, &op, nullptr);
    if (rc == -ENOENT) return Status::NotFound("instance object " + oid + " is not in " + Describe());
    if (rc < 0) return Failure("reading", oid, rc);
    if (read_rc < 0) return Failure("reading", oid, read_rc);
    if (record_rc < 0)
      return Status::Corruption("instance object " + oid + " in " + Describe() + " has no " + kRecordXattr + " xattr");
    return InstanceObject{std::string(record.c_str(), record.length()), std::string(data.c_str(), data.length())};
  }

  Result<PoolUsage> ReadPoolUsage() const override {
    std::list<std::string> pools{options_.pool};
    librados::stats_map stats;
    const int rc = cluster_->get_pool_stats(pools, stats);
    if (rc < 0)
      return Status::IOError("reading the statistics of " + Describe() + " failed: " + ErrnoText(rc) +
                             (rc == -ETIMEDOUT ? " (the cluster did not answer within " +
                                                     std::to_string(options_.op_timeout_seconds) + " s)"
                                               : std::string()));
    auto it = stats.find(options_.pool);
    if (it == stats.end()) return Status::NotFound("the cluster has no statistics of " + Describe());
    return PoolUsage{.objects = it->second.num_objects, .bytes = it->second.num_bytes};
  }

  Result<Listing> List(std::string_view node) const override {
    Listing listing;
    const std::string instance_prefix = InstanceObjectName(node, "");
    try {
      for (auto it = io_.nobjects_begin(); it != io_.nobjects_end(); ++it) {
        const std::string& oid = it->get_oid();
        if (oid.starts_with(instance_prefix)) {
          listing.instances.push_back(oid.substr(instance_prefix.size()));
        } else if (oid.starts_with("node.")) {
          listing.nodes.push_back(oid.substr(5));
        } else if (oid.starts_with("chunk.") && oid.size() == 6 + 64) {
          auto hash = HashFromHex(std::string_view(oid).substr(6));
          if (hash) listing.chunks.push_back(*hash);
        }
      }
    } catch (const std::exception& e) {
      // librados's listing iterator throws on a failed listing request.
      return Status::IOError("listing the objects of " + Describe() + " failed: " + e.what());
    }
    return listing;
  }

 private:
  int Exec(const std::string& oid, const char* method, std::string_view tag) {
    librados::ObjectWriteOperation op;
    librados::bufferlist in = RefcountInput(tag);
    op.exec("refcount", method, in);
    return io_.operate(oid, &op);
  }

  // Whether the object holds any reference (the refcount class's xattr is
  // there and not empty); false when the object is gone.
  Result<bool> HoldsAnyReference(const std::string& oid) const {
    librados::ObjectReadOperation op;
    std::map<std::string, librados::bufferlist> xattrs;
    int xattrs_rc = 0;
    op.getxattrs(&xattrs, &xattrs_rc);
    const int rc = io_.operate(oid, &op, nullptr);
    if (rc == -ENOENT) return false;
    if (rc < 0) return Failure("reading the xattrs of", oid, rc);
    if (xattrs_rc < 0) return Failure("reading the xattrs of", oid, xattrs_rc);
    auto refs = xattrs.find(kRefcountXattr);
    return refs != xattrs.end() && refs->second.length() > 0;
  }

  static bool IsChunkObjectName(std::string_view oid) {
    if (!oid.starts_with(kChunkPrefix) || oid.size() != kChunkPrefix.size() + 64) return false;
    for (char c : oid.substr(kChunkPrefix.size()))
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
  }

  Result<PutOutcome> Describe(const std::string& oid) const {
    librados::ObjectReadOperation op;
    librados::bufferlist codec;
    uint64_t size = 0;
    int stat_rc = 0, codec_rc = 0;
    op.stat(&size, nullptr, &stat_rc);
    op.getxattr(kCodecXattr, &codec, &codec_rc);
    const int rc = io_.operate(oid, &op, nullptr);
    if (rc < 0) return Failure("reading the codec of", oid, rc);
    if (codec_rc < 0 || codec.length() != 1)
      return Status::Corruption("chunk object " + oid + " in " + Describe() + " has no valid " + kCodecXattr +
                                " xattr");
    return PutOutcome{static_cast<uint8_t>(codec.c_str()[0]), size, false};
  }

  friend class PendingRadosWrite;
  Status Failure(const char* what, const std::string& oid, int rc) const {
    const bool timed_out = rc == -ETIMEDOUT;
    return Status::IOError(
        std::string(what) + " chunk object " + oid + " in " + Describe() + " failed: " + ErrnoText(rc) +
        (timed_out ? " (the cluster did not answer within " + std::to_string(options_.op_timeout_seconds) + " s)"
                   : std::string()));
  }

  const std::unique_ptr<librados::Rados> cluster_;
  // librados's IoCtx is thread-safe; operate() is not const in its API.
  mutable librados::IoCtx io_;
  const RadosOptions options_;
};

Status PendingRadosWrite::Wait() {
  if (!result_) {
    done_->wait_for_complete();
    const int rc = done_->get_return_value();
    result_ = rc < 0 ? store_.Failure("writing", oid_, rc) : Status::Ok();
  }
  return *result_;
}

}  // namespace

std::string ChunkObjectName(const ContentHash& hash) {
  return "chunk." + ToHex(hash);
}

Result<std::unique_ptr<ChunkStore>> OpenRadosChunkStore(const RadosOptions& options) {
  const std::string id = options.client_id.empty() ? "admin" : options.client_id;
  const std::string where =
      "Ceph cluster (configuration " +
      (options.conf_file.empty() ? std::string("from Ceph's default search") : options.conf_file) + ", client." + id +
      ")";
  if (options.pool.empty()) return Status::InvalidArgument("--frames rados:POOL needs a pool name");
  auto cluster = std::make_unique<librados::Rados>();
  int rc = cluster->init(id.c_str());
  if (rc < 0) return Status::IOError("cannot set up a client of the " + where + ": " + ErrnoText(rc));
  rc = cluster->conf_read_file(options.conf_file.empty() ? nullptr : options.conf_file.c_str());
  if (rc < 0) {
    cluster->shutdown();
    return Status::InvalidArgument("cannot read the " + where + ": " + ErrnoText(rc));
  }
  // Both op timeouts default to 0 (wait forever) and the mount to 300 s: a
  // lost cluster must fail a C-STORE, not hang it.
  const std::string timeout = std::to_string(options.op_timeout_seconds);
  for (const char* key : {"rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"})
    cluster->conf_set(key, timeout.c_str());
  rc = cluster->connect();
  if (rc < 0) {
    cluster->shutdown();
    return Status::IOError("cannot reach the " + where + " within " + timeout + " s: " + ErrnoText(rc));
  }
  librados::IoCtx io;
  rc = cluster->ioctx_create(options.pool.c_str(), io);
  if (rc == -ENOENT) {
    cluster->shutdown();
    return Status::NotFound("pool " + options.pool + " does not exist in the " + where +
                            " (create it: ceph osd pool create " + options.pool + ")");
  }
  if (rc < 0) {
    cluster->shutdown();
    return Status::IOError("cannot open pool " + options.pool + " in the " + where + ": " + ErrnoText(rc));
  }
  return std::unique_ptr<ChunkStore>(new RadosChunkStore(std::move(cluster), std::move(io), options));
}

}  // namespace pacs::engine
