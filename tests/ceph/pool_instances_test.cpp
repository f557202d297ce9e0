// Instance objects in the pool and rebuilding a node from them, on the
// engine (docs/scale-out.md, "Rebuilding a node"): the object follows each
// commit and delete; a kill -9 after the local commit and before the pool
// write leaves no object (the C-STORE was never acknowledged) and the next
// open writes it; a kill after a delete's pool removal and before its local
// commit gets the object back at the next open; a rebuild takes over the
// node's tags, releases the stale ones, and never reuses an old epoch; a
// chunk revived after a collection stopped between its puts and its local
// batch takes a new reference.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "../engine/test_instances.h"
#include "ceph_test_support.h"
#include "pacs/engine/chunk_store.h"
#include "pacs/engine/store.h"
#include "pacs/engine/sync_point.h"

namespace pacs::engine {
namespace {

using pacs::testing::CephConf;
using pacs::testing::CephPool;
using pacs::testing::TestPoolName;
namespace fs = std::filesystem;

class PoolInstancesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<CephPool>(TestPoolName());
    ASSERT_TRUE(pool_->error().empty()) << pool_->error();
    dir_ = fs::temp_directory_path() / ("pacs_pool_instances_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string Frames() const { return "rados:" + pool_->name(); }
  void Open() {
    store_.reset();
    auto opened = Store::Open({.path = dir_.string(), .frames = Frames(), .ceph_conf = CephConf()});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
    auto stats = store_->Stats(false);
    ASSERT_TRUE(stats.ok());
    node_ = stats->frames_node;
    ASSERT_EQ(node_.size(), 16u);
  }
  // The header bytes of an instance's pool object, or "" when it has none.
  std::string PoolHeader(const std::string& sop) {
    librados::bufferlist data;
    const int rc = pool_->io().read(InstanceObjectName(node_, sop), data, 1 << 20, 0);
    return rc < 0 ? std::string() : std::string(data.c_str(), data.length());
  }
  // Runs `sync_point` in a child process that opens the folder, arms a
  // SIGKILL at the point, and runs `what` (one of the Child tests below).
  void KillChildAt(const char* test, const char* sync_point) {
    store_.reset();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::setenv("PACS_CRASH_DIR", dir_.c_str(), 1);
      ::setenv("PACS_CRASH_POOL", pool_->name().c_str(), 1);
      ::setenv("PACS_CRASH_POINT", sync_point, 1);
      const std::string filter = std::string("--gtest_filter=PoolInstancesChild.DISABLED_") + test;
      ::execl("/proc/self/exe", "pool_instances_test", filter.c_str(), "--gtest_also_run_disabled_tests",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << test << ": " << status;
  }

  std::unique_ptr<CephPool> pool_;
  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::string node_;
};

// ---- Children, run only by KillChildAt (PACS_CRASH_* set) ----

std::unique_ptr<Store> OpenCrashFolder() {
  const char* dir = std::getenv("PACS_CRASH_DIR");
  const char* pool = std::getenv("PACS_CRASH_POOL");
  const char* point = std::getenv("PACS_CRASH_POINT");
  if (!dir || !pool || !point) return nullptr;
  auto store = Store::Open({.path = dir, .frames = std::string("rados:") + pool, .ceph_conf = CephConf()});
  if (!store.ok()) return nullptr;
  SyncPoints::TEST_Set(point, [] { ::raise(SIGKILL); });
  return std::move(*store);
}

TEST(PoolInstancesChild, DISABLED_Commit) {
  auto store = OpenCrashFolder();
  ASSERT_TRUE(store);
  (void)store->CommitInstance(MakeInstance("7.2", "7", "h2", {std::string(20000, 'y')}));
  ADD_FAILURE() << "not killed";
}

TEST(PoolInstancesChild, DISABLED_Delete) {
  auto store = OpenCrashFolder();
  ASSERT_TRUE(store);
  (void)store->DeleteInstances({.sop_instance_uid = "7.1"});
  ADD_FAILURE() << "not killed";
}

// ---- The tests ----

TEST_F(PoolInstancesTest, TheInstanceObjectFollowsCommitsReplacementsAndDeletes) {
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.1", "7", "header one", {std::string(20000, 'x')})).ok());
  EXPECT_EQ(PoolHeader("7.1"), "header one");
  librados::bufferlist record;
  ASSERT_GT(pool_->io().getxattr(InstanceObjectName(node_, "7.1"), "pacs.record", record), 0);
  auto decoded = InstanceRecord::Decode(std::string_view(record.c_str(), record.length()));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->sop_instance_uid, "7.1");
  // A replacement (policy replace) rewrites it; a kept duplicate does not.
  store_.reset();
  auto replacing = Store::Open({.path = dir_.string(), .on_duplicate = DuplicatePolicy::kReplace});
  ASSERT_TRUE(replacing.ok()) << replacing.status().ToString();
  ASSERT_TRUE((*replacing)->CommitInstance(MakeInstance("7.1", "7", "header two", {std::string(20000, 'x')})).ok());
  EXPECT_EQ(PoolHeader("7.1"), "header two");
  replacing->reset();
  Open();
  auto kept = store_->CommitInstance(MakeInstance("7.1", "7", "header three", {std::string(20000, 'x')}));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->outcome, CommitOutcome::kKeptExisting);
  EXPECT_EQ(PoolHeader("7.1"), "header two");
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "7.1"}), 1u);
  EXPECT_EQ(pool_->Objects("inst.").size(), 0u);
}

TEST_F(PoolInstancesTest, KilledAfterTheLocalCommitBeforeThePoolWrite) {
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.1", "7", "h1", {std::string(20000, 'x')})).ok());
  KillChildAt("Commit", "RocksStore::CommitInstance:BeforePoolInstance");
  // Never acknowledged, and not in the pool: a rebuild now would not bring it back.
  EXPECT_EQ(pool_->Objects("inst.").size(), 1u);
  EXPECT_EQ(PoolHeader("7.2"), "");
  // The node survived: its next open writes the object of what it committed.
  Open();
  EXPECT_TRUE(store_->GetInstance("7.2").ok());
  EXPECT_EQ(PoolHeader("7.2"), "h2");
}

TEST_F(PoolInstancesTest, KilledAfterADeletesPoolRemovalBeforeItsLocalCommit) {
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.1", "7", "h1", {std::string(20000, 'x')})).ok());
  KillChildAt("Delete", "RocksStore::DeleteInstances:AfterPoolRemove");
  EXPECT_EQ(PoolHeader("7.1"), "") << "removed from the pool before the local commit";
  // The delete never happened here: the next open writes the object again.
  Open();
  EXPECT_TRUE(store_->GetInstance("7.1").ok());
  EXPECT_EQ(PoolHeader("7.1"), "h1");
}

TEST_F(PoolInstancesTest, RebuildTakesOverTheTagsReleasesStaleOnesAndNeverReusesAnEpoch) {
  const std::string shared(20000, 's'), gone(20000, 'g');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.1", "7", "h1", {shared})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.2", "7", "h2", {shared, gone})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("8.1", "8", "h3", {gone})).ok());
  // Study 8 deleted, not collected, and 7.2 too: `gone` awaits collection,
  // held in the pool by this node's tag only.
  ASSERT_EQ(*store_->DeleteInstances({.study_instance_uid = "8"}), 1u);
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "7.2"}), 1u);
  EXPECT_EQ(pool_->Objects("chunk.").size(), 2u);
  const std::string node = node_;
  store_.reset();
  fs::remove_all(dir_);  // the node is lost

  auto unknown = RestoreNodeFromPool(
      {.path = dir_.string(), .frames = Frames(), .ceph_conf = CephConf(), .frames_node_id = "feedfeedfeedfeed"}, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find(node), std::string::npos) << unknown.status().ToString();
  EXPECT_FALSE(fs::exists(dir_));

  auto restored = RestoreNodeFromPool(
      {.path = dir_.string(), .frames = Frames(), .ceph_conf = CephConf(), .frames_node_id = node}, {});
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->report.instances_restored, 1u);
  EXPECT_EQ(restored->report.chunks_adopted, 1u);
  EXPECT_EQ(restored->report.stale_tags_released, 1u);
  EXPECT_TRUE(restored->report.skipped.empty());
  EXPECT_EQ(pool_->Objects("chunk.").size(), 1u) << "the collected-to-be frame is released, not leaked";
  store_ = std::move(restored->store);
  auto rec = store_->GetInstance("7.1");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(*store_->GetChunk(rec->chunks[0].hash), shared);
  EXPECT_EQ(*store_->GetHeader(rec->header_hash), "h1");
  auto v = store_->VerifyStructure(std::chrono::milliseconds(0));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->problems.empty()) << v->problems.front();

  // The rebuilt node's tags are of a new epoch: a new chunk, then
  // everything deleted and collected, leaves the pool empty (a reused,
  // retired tag would be ignored by the refcount class and leak).
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("9.1", "9", "h9", {gone})).ok());
  ASSERT_EQ(*store_->DeleteInstances({.study_instance_uid = "7"}), 1u);
  ASSERT_EQ(*store_->DeleteInstances({.study_instance_uid = "9"}), 1u);
  ASSERT_TRUE(store_->CollectGarbage(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(pool_->Objects("chunk.").size(), 0u);
  EXPECT_EQ(pool_->Objects("inst.").size(), 0u);
}

// Frames stored raw for background re-encoding when the node was lost: the
// job went to the pool with the chunk object (xattr pacs.job), so the rebuilt
// node queues it again, and completing it replaces the pool's bytes. A chunk
// re-encoded before the loss, and one stored without a job, are not queued.
TEST_F(PoolInstancesTest, RawFramesAwaitingReencodingAreQueuedAgainByRebuild) {
  const std::string pending(20000, 'p'), done(20000, 'd'), kept_raw(20000, 'k');
  auto first = MakeInstance("7.1", "7", "h1", {pending, kept_raw});
  first.deferred_work.emplace_back(first.record.chunks[0].hash, "job of the pending frame");
  auto second = MakeInstance("7.2", "7", "h2", {done});
  second.deferred_work.emplace_back(second.record.chunks[0].hash, "job of the done frame");
  ASSERT_TRUE(store_->CommitInstance(first).ok());
  ASSERT_TRUE(store_->CommitInstance(second).ok());
  const ContentHash pending_hash = first.record.chunks[0].hash, done_hash = second.record.chunks[0].hash;
  auto completed = store_->CompleteDeferredWork(done_hash, 0, std::make_pair(uint8_t{1}, std::string("encoded done")));
  ASSERT_TRUE(completed.ok() && *completed) << completed.status().ToString();
  librados::bufferlist job;
  ASSERT_GT(pool_->io().getxattr(ChunkObjectName(pending_hash), "pacs.job", job), 0);
  EXPECT_EQ(std::string(job.c_str(), job.length()), "job of the pending frame");
  auto before = store_->Stats(false);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->chunks_awaiting_reencoding, 1u);
  const std::string node = node_;
  store_.reset();
  fs::remove_all(dir_);  // lost with its job

  auto restored = RestoreNodeFromPool(
      {.path = dir_.string(), .frames = Frames(), .ceph_conf = CephConf(), .frames_node_id = node}, {});
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->report.instances_restored, 2u);
  EXPECT_EQ(restored->report.reencoding_queued, 1u);
  store_ = std::move(restored->store);
  std::map<ContentHash, std::string> jobs;
  ASSERT_TRUE(store_
                  ->ForEachDeferredWork([&](const ContentHash& hash, std::string_view text) {
                    jobs.emplace(hash, std::string(text));
                    return true;
                  })
                  .ok());
  EXPECT_EQ(jobs, (std::map<ContentHash, std::string>{{pending_hash, "job of the pending frame"}}));
  auto after = store_->Stats(false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->chunks_awaiting_reencoding, 1u);
  auto v = store_->VerifyStructure(std::chrono::milliseconds(0));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->problems.empty()) << v->problems.front();

  // The rebuilt node's encoder completes it: the pool's bytes are replaced.
  completed = store_->CompleteDeferredWork(pending_hash, 0, std::make_pair(uint8_t{1}, std::string("encoded")));
  ASSERT_TRUE(completed.ok() && *completed) << completed.status().ToString();
  auto chunk = store_->ReadChunk(pending_hash);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->codec, 1);
  EXPECT_EQ(chunk->bytes, "encoded");
  librados::bufferlist bytes;
  ASSERT_GT(pool_->io().read(ChunkObjectName(pending_hash), bytes, 1 << 20, 0), 0);
  EXPECT_EQ(std::string(bytes.c_str(), bytes.length()), "encoded");
  after = store_->Stats(false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->chunks_awaiting_reencoding, 0u);
  v = store_->VerifyStructure(std::chrono::milliseconds(0));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->problems.empty()) << v->problems.front();
}

// A folder of an older build: instances, but no instance objects and no
// record that they were written.
std::string ForgetInstanceObjects(const fs::path& data) {
  std::vector<std::string> names;
  auto s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data.string(), &names);
  if (!s.ok()) return s.ToString();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::Open(rocksdb::DBOptions(), data.string(), descriptors, &handles, &raw);
  if (!s.ok()) return s.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  s = db->Delete(rocksdb::WriteOptions(), handles[0], "frames/instance_objects");
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
  return s.ok() ? "" : s.ToString();
}

TEST_F(PoolInstancesTest, AFolderOfAnOlderBuildWritesItsInstanceObjectsAtOpen) {
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.1", "7", "h1", {std::string(20000, 'x')})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.2", "7", "h2", {std::string(20000, 'y')})).ok());
  store_.reset();
  for (const auto& name : pool_->Objects("inst.")) ASSERT_EQ(pool_->io().remove(name), 0);
  ASSERT_EQ(ForgetInstanceObjects(dir_), "");
  Open();
  EXPECT_EQ(PoolHeader("7.1"), "h1");
  EXPECT_EQ(PoolHeader("7.2"), "h2");
  // Once: the next open writes nothing.
  for (const auto& name : pool_->Objects("inst.")) ASSERT_EQ(pool_->io().remove(name), 0);
  Open();
  EXPECT_EQ(pool_->Objects("inst.").size(), 0u);
}

// A collection that stops after some of its puts (as a failed put stops
// it; here its sync point throws), then the same frames committed again in
// the same process, before the next collection: each chunk it had begun to
// release is revived with a new reference (recorded; the pool counts the
// node again, also on the objects the puts removed), verify is clean while
// the release markers are there, and the next collection finishes them.
struct StopTheCollection {};

TEST_F(PoolInstancesTest, ChunksOfAStoppedCollectionRevivedBeforeTheNextTakeANewReference) {
  std::vector<std::string> frames;
  for (int i = 0; i < 6; ++i) frames.push_back(std::string(20000 + i, static_cast<char>('a' + i)));
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("8.1", "8", "header", frames)).ok());
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "8.1"}), 1u);
  int passes = 0;
  SyncPoints::TEST_Set("RocksStore::CollectGarbage:AfterRelease", [&passes] {
    if (++passes == 2) throw StopTheCollection{};
  });
  EXPECT_THROW((void)store_->CollectGarbage(std::chrono::milliseconds(0)), StopTheCollection);
  SyncPoints::TEST_ClearAll();
  EXPECT_EQ(pool_->Objects("chunk.").size(), 4u) << "two puts removed their objects (the node's last tags)";

  ASSERT_TRUE(store_->CommitInstance(MakeInstance("8.1", "8", "header", frames)).ok());
  auto rados = OpenRadosChunkStore({.pool = pool_->name(), .conf_file = CephConf()});
  ASSERT_TRUE(rados.ok()) << rados.status().ToString();
  auto tags_of = [&](const std::string& frame) {
    const auto hash = Sha256(std::span(reinterpret_cast<const uint8_t*>(frame.data()), frame.size()));
    auto refs = (*rados)->ReadReferences(hash);
    EXPECT_TRUE(refs.ok()) << refs.status().ToString();
    auto bytes = (*rados)->Get(hash);
    EXPECT_TRUE(bytes.ok() && bytes->bytes == frame) << "frame " << frame.size();
    return refs.ok() ? refs->tags : std::vector<std::string>();
  };
  size_t with_two = 0;
  for (const auto& frame : frames) {
    const auto tags = tags_of(frame);
    ASSERT_FALSE(tags.empty()) << "frame " << frame.size() << ": the pool does not count the node";
    for (const auto& tag : tags) EXPECT_TRUE(tag.starts_with(node_ + ".")) << tag;
    with_two += tags.size() == 2 ? 1 : 0;  // the new tag, and the old one still being released
  }
  EXPECT_EQ(with_two, 4u);
  auto clean = [&](const char* when) {
    auto verify = store_->VerifyStructure(std::chrono::hours(1));
    ASSERT_TRUE(verify.ok()) << verify.status().ToString();
    EXPECT_TRUE(verify->problems.empty()) << when << ": " << verify->problems.front();
    auto listed = store_->VerifyPoolListing();
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    EXPECT_TRUE(listed->problems.empty()) << when << ": " << listed->problems.front();
  };
  clean("revived, the release markers still there");

  // The next collection finishes the releases: one tag each, the new one.
  auto collected = store_->CollectGarbage(std::chrono::milliseconds(0));
  ASSERT_TRUE(collected.ok()) << collected.status().ToString();
  EXPECT_EQ(collected->collected, 0u);
  for (const auto& frame : frames) EXPECT_EQ(tags_of(frame).size(), 1u) << "frame " << frame.size();
  clean("after the next collection");
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "8.1"}), 1u);
  collected = store_->CollectGarbage(std::chrono::milliseconds(0));
  ASSERT_TRUE(collected.ok()) << collected.status().ToString();
  EXPECT_EQ(collected->collected, 6u);
  EXPECT_EQ(pool_->Objects("chunk.").size(), 0u);
  clean("after delete and collection");
}

TEST_F(PoolInstancesTest, RefcountReadReplyDecodesAndRefusesBadBytes) {
  // Against the installed class: the tags it holds, as read.
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("7.1", "7", "h1", {std::string(20000, 'x')})).ok());
  auto rados = OpenRadosChunkStore({.pool = pool_->name(), .conf_file = CephConf()});
  ASSERT_TRUE(rados.ok());
  auto rec = store_->GetInstance("7.1");
  ASSERT_TRUE(rec.ok());
  auto refs = (*rados)->ReadReferences(rec->chunks[0].hash);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->tags.size(), 1u);
  EXPECT_TRUE(refs->tags[0].starts_with(node_ + ".")) << refs->tags[0];
  EXPECT_EQ(refs->stored_size, 20000u);
  // Crafted replies.
  const std::string two_tags(
      "\x01\x01\x0f\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00"
      "a\x02\x00\x00\x00"
      "bc",
      21);
  auto ok = DecodeRefcountReadReply(two_tags);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, (std::vector<std::string>{"a", "bc"}));
  for (const std::string& bad : {std::string("\x01\x01\x00", 3), two_tags.substr(0, 20),
                                 std::string("\x01\x02\x04\x00\x00\x00\x00\x00\x00\x00", 10),
                                 std::string("\x01\x01\x04\x00\x00\x00\xff\xff\xff\xff", 10)}) {
    auto refused = DecodeRefcountReadReply(bad);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  }
}

}  // namespace
}  // namespace pacs::engine
