// One suite, both places for frames: the engine's Store with its frames in
// the data folder's RocksDB and in a RADOS pool (the development cluster)
// behaves the same through the Store interface: commits, reads with the
// codec, deduplication, deletion and collection, background re-encoding that
// replaces bytes only if the codec is still the expected one. Then what only
// RADOS has: two nodes (two data folders) on one pool store a chunk once and
// keep it until both have collected it; the back end is recorded in the
// folder and a mismatched open is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

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

fs::path FolderFor(const std::string& what) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name() + "_" + what;
  for (char& c : name)
    if (c == '/') c = '_';
  fs::path dir = fs::temp_directory_path() / ("pacs_backends_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  return dir;
}

struct RocksFrames {
  static constexpr bool kRados = false;
};
struct RadosFrames {
  static constexpr bool kRados = true;
};

template <typename Backend>
class StoreBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FolderFor("node");
    if (Backend::kRados) {
      pool_ = std::make_unique<CephPool>(TestPoolName());
      ASSERT_TRUE(pool_->error().empty()) << pool_->error();
    }
    Open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Open() {
    store_.reset();
    StoreOptions options{.path = dir_.string()};
    if (Backend::kRados) {
      options.frames = "rados:" + pool_->name();
      options.ceph_conf = CephConf();
    }
    auto opened = Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }
  // Chunk objects in the pool (RADOS), or chunks stored (RocksDB).
  uint64_t StoredChunks() {
    if (Backend::kRados) return pool_->Objects("chunk.").size();
    auto st = store_->Stats(false);
    return st.ok() ? st->chunks + st->chunks_awaiting_collection : ~0ull;
  }

  fs::path dir_;
  std::unique_ptr<CephPool> pool_;
  std::unique_ptr<Store> store_;
};

using Backends = ::testing::Types<RocksFrames, RadosFrames>;
TYPED_TEST_SUITE(StoreBackendTest, Backends);

TYPED_TEST(StoreBackendTest, CommitReadDeduplicateDeleteCollect) {
  const std::string a(30000, 'a'), b(30000, 'b');
  auto first = this->store_->CommitInstance(MakeInstance("1.1", "9", "h1", {a, b}));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(this->store_->CommitInstance(MakeInstance("1.2", "9", "h2", {a})).ok());
  EXPECT_EQ(this->StoredChunks(), 2u) << "a frame shared by two instances is stored once";
  auto rec = this->store_->GetInstance("1.1");
  ASSERT_TRUE(rec.ok());
  auto chunk = this->store_->ReadChunk(rec->chunks[1].hash);
  ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
  EXPECT_EQ(chunk->bytes, b);
  EXPECT_EQ(chunk->codec, 0);
  EXPECT_EQ(*this->store_->GetChunk(rec->chunks[0].hash), a);
  EXPECT_EQ(this->store_->HasChunk(rec->chunks[0].hash)->value_or(99), 0);

  this->Open();  // the choice and the references survive a reopen
  EXPECT_EQ(*this->store_->GetChunk(rec->chunks[1].hash), b);
  EXPECT_EQ(*this->store_->DeleteInstances({.sop_instance_uid = "1.1"}), 1u);
  auto collected = this->store_->CollectGarbage(std::chrono::milliseconds(0));
  ASSERT_TRUE(collected.ok()) << collected.status().ToString();
  EXPECT_EQ(collected->collected, 1u) << "b went; a is still used by 1.2";
  EXPECT_EQ(this->StoredChunks(), 1u);
  EXPECT_EQ(*this->store_->GetChunk(rec->chunks[0].hash), a);
  auto verify = this->store_->VerifyStructure(std::chrono::milliseconds(0));
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->problems.empty()) << verify->problems.front();
  EXPECT_EQ(*this->store_->DeleteInstances({.study_instance_uid = "9"}), 1u);
  ASSERT_TRUE(this->store_->CollectGarbage(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(this->StoredChunks(), 0u);
}

TYPED_TEST(StoreBackendTest, DeferredReencodingReplacesOnlyTheExpectedCodec) {
  const std::string raw(40000, 'r');
  auto w = MakeInstance("2.1", "8", "h", {raw});
  w.deferred_work.emplace_back(w.record.chunks[0].hash, "job");
  ASSERT_TRUE(this->store_->CommitInstance(w).ok());
  std::vector<ContentHash> jobs;
  ASSERT_TRUE(this->store_
                  ->ForEachDeferredWork([&](const ContentHash& h, std::string_view job) {
                    EXPECT_EQ(job, "job");
                    jobs.push_back(h);
                    return true;
                  })
                  .ok());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(this->store_->ReadChunk(jobs[0])->bytes, raw) << "raw until re-encoded";
  auto stale = this->store_->CompleteDeferredWork(jobs[0], 5, std::make_pair(uint8_t{3}, std::string("x")));
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  EXPECT_FALSE(*stale) << "the stored codec is not 5: nothing replaced";
  EXPECT_EQ(this->store_->ReadChunk(jobs[0])->bytes, raw);

  auto w2 = MakeInstance("2.2", "8", "h2", {std::string(40000, 's')});
  w2.deferred_work.emplace_back(w2.record.chunks[0].hash, "job2");
  ASSERT_TRUE(this->store_->CommitInstance(w2).ok());
  auto done = this->store_->CompleteDeferredWork(w2.record.chunks[0].hash, 0,
                                                 std::make_pair(uint8_t{3}, std::string("encoded")));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(*done);
  auto chunk = this->store_->ReadChunk(w2.record.chunks[0].hash);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->bytes, "encoded");
  EXPECT_EQ(chunk->codec, 3);
  auto st = this->store_->Stats(false);
  EXPECT_EQ(st->chunks_awaiting_reencoding, 0u);
  EXPECT_EQ(st->per_codec["raw"].chunks, 1u);
  auto verify = this->store_->VerifyStructure(std::chrono::milliseconds(0));
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->problems.empty()) << verify->problems.front();
}

// ---- RADOS only: two nodes, one pool ----

class TwoNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<CephPool>(TestPoolName());
    ASSERT_TRUE(pool_->error().empty()) << pool_->error();
    for (int n = 0; n < 2; ++n) {
      dirs_[n] = FolderFor(std::string(1, static_cast<char>('a' + n)));
      auto opened = Store::Open({.path = dirs_[n].string(), .frames = Frames(), .ceph_conf = CephConf()});
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      nodes_[n] = std::move(*opened);
    }
  }
  void TearDown() override {
    for (int n = 0; n < 2; ++n) {
      nodes_[n].reset();
      fs::remove_all(dirs_[n]);
    }
  }
  std::string Frames() const { return "rados:" + pool_->name(); }

  std::unique_ptr<CephPool> pool_;
  fs::path dirs_[2];
  std::unique_ptr<Store> nodes_[2];
};

TEST_F(TwoNodesTest, OneCopyKeptUntilBothNodesCollect) {
  std::vector<std::string> frames;
  for (int i = 0; i < 5; ++i) frames.push_back(std::string(50000, static_cast<char>('a' + i)));
  for (auto& node : nodes_) ASSERT_TRUE(node->CommitInstance(MakeInstance("3.1", "7", "h", frames)).ok());
  uint64_t bytes = 0;
  EXPECT_EQ(pool_->Objects("chunk.", &bytes).size(), 5u);
  EXPECT_EQ(bytes, 5u * 50000u);
  ASSERT_EQ(*nodes_[0]->DeleteInstances({.study_instance_uid = "7"}), 1u);
  ASSERT_TRUE(nodes_[0]->CollectGarbage(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(pool_->Objects("chunk.").size(), 5u) << "node B still uses them";
  auto rec = nodes_[1]->GetInstance("3.1");
  ASSERT_TRUE(rec.ok());
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(*nodes_[1]->GetChunk(rec->chunks[i].hash), frames[i]);
  // Node A stores them again: a new tag of A (the old one is retired).
  ASSERT_TRUE(nodes_[0]->CommitInstance(MakeInstance("3.1", "7", "h", frames)).ok());
  ASSERT_EQ(*nodes_[1]->DeleteInstances({.study_instance_uid = "7"}), 1u);
  ASSERT_TRUE(nodes_[1]->CollectGarbage(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(pool_->Objects("chunk.").size(), 5u) << "node A references them again";
  ASSERT_EQ(*nodes_[0]->DeleteInstances({.study_instance_uid = "7"}), 1u);
  ASSERT_TRUE(nodes_[0]->CollectGarbage(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(pool_->Objects("chunk.").size(), 0u) << "no node uses them";
}

TEST_F(TwoNodesTest, BothNodesStoringTheSameNewSeriesAtOnceStoreOneCopy) {
  constexpr int kInstances = 20;
  auto push = [&](int n) {
    for (int i = 0; i < kInstances; ++i) {
      auto r = nodes_[n]->CommitInstance(MakeInstance("4." + std::to_string(i), "6", "h" + std::to_string(i),
                                                      {std::string(20000, static_cast<char>('A' + i))}));
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    }
  };
  std::thread a(push, 0), b(push, 1);
  a.join();
  b.join();
  EXPECT_EQ(pool_->Objects("chunk.").size(), static_cast<size_t>(kInstances));
  for (auto& node : nodes_) {
    auto v = node->VerifyStructure(std::chrono::milliseconds(0));
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->problems.empty()) << v->problems.front();
  }
  ASSERT_EQ(*nodes_[0]->DeleteInstances({.study_instance_uid = "6"}), static_cast<uint64_t>(kInstances));
  ASSERT_TRUE(nodes_[0]->CollectGarbage(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(pool_->Objects("chunk.").size(), static_cast<size_t>(kInstances)) << "node B's references hold";
  ASSERT_EQ(*nodes_[1]->DeleteInstances({.study_instance_uid = "6"}), static_cast<uint64_t>(kInstances));
  ASSERT_TRUE(nodes_[1]->CollectGarbage(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(pool_->Objects("chunk.").size(), 0u) << "every reference was released exactly once";
}

TEST_F(TwoNodesTest, TheFramesChoiceIsRecordedAndAMismatchRefused) {
  nodes_[0].reset();
  auto rocks = Store::Open({.path = dirs_[0].string(), .frames = "rocksdb"});
  ASSERT_FALSE(rocks.ok());
  EXPECT_EQ(rocks.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rocks.status().message().find("keeps its frames in " + Frames()), std::string::npos)
      << rocks.status().ToString();
  // Without --frames (maintenance commands): the recorded pool and conf.
  auto recorded = Store::Open({.path = dirs_[0].string()});
  ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  recorded->reset();
  // A RocksDB folder refuses a pool.
  const fs::path plain = FolderFor("plain");
  ASSERT_TRUE(Store::Open({.path = plain.string()}).ok());
  auto pool = Store::Open({.path = plain.string(), .frames = Frames(), .ceph_conf = CephConf()});
  ASSERT_FALSE(pool.ok());
  EXPECT_NE(pool.status().message().find("keeps its frames in rocksdb"), std::string::npos) << pool.status().ToString();
  fs::remove_all(plain);
}

// ---- kill -9 between the pool reference and the local commit ----

std::vector<std::string> CrashFrames() {
  return {std::string(30000, '1'), std::string(30000, '2')};
}

// Run only as the child of the test below (PACS_CRASH_* set): commits an
// instance of two frames and is killed with SIGKILL right after its Nth pool
// reference, before the local commit.
TEST(PoolCrashChild, DISABLED_CommitKilledAfterTheReference) {
  const char* dir = std::getenv("PACS_CRASH_DIR");
  const char* pool = std::getenv("PACS_CRASH_POOL");
  const char* after = std::getenv("PACS_CRASH_AFTER_PUT");
  ASSERT_TRUE(dir && pool && after);
  auto store = Store::Open({.path = dir, .frames = std::string("rados:") + pool, .ceph_conf = CephConf()});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  static std::atomic<int> puts{0};
  static int kill_at = 0;
  kill_at = std::atoi(after);
  SyncPoints::TEST_Set("RocksStore::PlaceChunks:AfterPut", [] {
    if (++puts == kill_at) ::raise(SIGKILL);
  });
  (void)(*store)->CommitInstance(MakeInstance("5.1", "5", "h", CrashFrames()));
  ADD_FAILURE() << "not killed";
}

TEST_F(TwoNodesTest, KilledBetweenThePoolReferenceAndTheCommitLeaksNothing) {
  // Node B holds the second frame already: the crash must not take it away.
  const auto frames = CrashFrames();
  ASSERT_TRUE(nodes_[1]->CommitInstance(MakeInstance("5.9", "4", "hb", {frames[1]})).ok());
  nodes_[0].reset();
  for (int kill_at : {1, 2}) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::setenv("PACS_CRASH_DIR", dirs_[0].c_str(), 1);
      ::setenv("PACS_CRASH_POOL", pool_->name().c_str(), 1);
      ::setenv("PACS_CRASH_AFTER_PUT", std::to_string(kill_at).c_str(), 1);
      ::execl("/proc/self/exe", "store_backends_test", "--gtest_filter=PoolCrashChild.*",
              "--gtest_also_run_disabled_tests", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "kill at put " << kill_at << ": " << status;
    // The first frame's object exists, held only by the dead commit's tag.
    EXPECT_EQ(pool_->Objects("chunk.").size(), 2u) << "kill at put " << kill_at;
    // Reopening node A reconciles: its unrecorded reference is released.
    auto reopened = Store::Open({.path = dirs_[0].string(), .frames = Frames(), .ceph_conf = CephConf()});
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    EXPECT_EQ((*reopened)->GetInstance("5.1").status().code(), StatusCode::kNotFound) << "never acknowledged";
    EXPECT_EQ(pool_->Objects("chunk.").size(), 1u) << "kill at put " << kill_at << ": only B's frame is left";
    auto v = (*reopened)->VerifyStructure(std::chrono::milliseconds(0));
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->problems.empty()) << v->problems.front();
  }
  auto rec = nodes_[1]->GetInstance("5.9");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(*nodes_[1]->GetChunk(rec->chunks[0].hash), frames[1]);
  // And a commit that completes still works after the reconciliation.
  auto node_a = Store::Open({.path = dirs_[0].string(), .frames = Frames(), .ceph_conf = CephConf()});
  ASSERT_TRUE(node_a.ok());
  ASSERT_TRUE((*node_a)->CommitInstance(MakeInstance("5.1", "5", "h", frames)).ok());
  EXPECT_EQ(pool_->Objects("chunk.").size(), 2u);
}

}  // namespace
}  // namespace pacs::engine
