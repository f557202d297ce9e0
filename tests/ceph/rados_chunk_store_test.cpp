// The RADOS chunk store against the real development cluster: the refcount
// class's 16.2 input encoding and behaviour, one object per chunk whatever
// the number of holders, the create-then-reference race with another node's
// last release, atomic re-encoding, the sweep of objects that never took a
// reference (guarded against one taken meanwhile), and clear errors for a
// missing pool or an unreachable cluster.
#include "pacs/engine/chunk_store.h"

#include <chrono>
#include <fstream>
#include <thread>

#include "ceph_test_support.h"
#include "pacs/engine/sync_point.h"

namespace pacs::engine {
namespace {

using pacs::testing::CephConf;
using pacs::testing::CephPool;
using pacs::testing::TestPoolName;

ContentHash HashOf(const std::string& bytes) {
  return Sha256(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

class RadosChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<CephPool>(TestPoolName());
    ASSERT_TRUE(pool_->error().empty()) << pool_->error();
    auto opened = OpenRadosChunkStore({.pool = pool_->name(), .conf_file = CephConf()});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }
  size_t ChunkObjects(uint64_t* bytes = nullptr) { return pool_->Objects("chunk.", bytes).size(); }

  std::unique_ptr<CephPool> pool_;
  std::unique_ptr<ChunkStore> store_;
};

TEST_F(RadosChunkStoreTest, PutStoresBytesAndCodecReadInOneGet) {
  const std::string bytes(70000, 'q');
  const ContentHash hash = HashOf(bytes);
  auto put = store_->Put(hash, 3, bytes, "nodeA.1.0", "");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(put->created);
  EXPECT_EQ(put->codec, 3);
  auto got = store_->Get(hash);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, bytes);
  EXPECT_EQ(got->codec, 3);
  EXPECT_TRUE(*store_->Has(hash));
  uint64_t stored = 0;
  EXPECT_EQ(ChunkObjects(&stored), 1u);
  EXPECT_EQ(stored, bytes.size());
  EXPECT_EQ(ChunkObjectName(hash), "chunk." + ToHex(hash));
  const ContentHash absent = HashOf("absent");
  EXPECT_EQ(store_->Get(absent).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(*store_->Has(absent));
  EXPECT_EQ(store_->Reference(absent, "nodeA.1.1").code(), StatusCode::kNotFound);
}

// The hand-encoded refcount input against the installed class: a reference
// per tag, the object removed with the last, a repeated put of a retired tag
// ignored.
TEST_F(RadosChunkStoreTest, RefcountClassKeepsOneReferencePerTagAndRemovesWithTheLast) {
  const std::string bytes = "frame bytes";
  const ContentHash hash = HashOf(bytes);
  ASSERT_TRUE(store_->Put(hash, 0, bytes, "A.1.0", "").ok());
  auto second = store_->Put(hash, 1, "other bytes, ignored", "B.1.0", "");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->codec, 0) << "the first node's object and codec stay";
  EXPECT_EQ(second->stored_size, bytes.size());
  ASSERT_TRUE(store_->Reference(hash, "A.1.0").ok());  // the same tag again: still one reference
  ASSERT_TRUE(store_->Unreference(hash, "A.1.0").ok());
  EXPECT_TRUE(*store_->Has(hash)) << "B still holds it";
  ASSERT_TRUE(store_->Unreference(hash, "A.1.0").ok());  // retired: ignored
  EXPECT_EQ(store_->Get(hash)->bytes, bytes);
  ASSERT_TRUE(store_->Unreference(hash, "B.1.0").ok());
  EXPECT_FALSE(*store_->Has(hash)) << "the OSD removes the object with its last reference";
  EXPECT_EQ(ChunkObjects(), 0u);
  EXPECT_TRUE(store_->Unreference(hash, "B.1.0").ok()) << "a chunk that is gone is not an error";
}

// Several nodes store the same new chunk at once: one object, every tag a
// reference, gone after the last release.
TEST_F(RadosChunkStoreTest, ConcurrentPutsOfOneNewChunkStoreOneCopy) {
  const std::string bytes(200000, 'c');
  const ContentHash hash = HashOf(bytes);
  constexpr int kNodes = 6;
  std::vector<std::thread> threads;
  std::vector<Status> results(kNodes);
  for (int n = 0; n < kNodes; ++n)
    threads.emplace_back([&, n] {
      auto put = store_->Put(hash, 0, bytes, "node" + std::to_string(n) + ".1.0", "");
      results[n] = put.ok() ? Status::Ok() : put.status();
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.ToString();
  uint64_t stored = 0;
  EXPECT_EQ(ChunkObjects(&stored), 1u);
  EXPECT_EQ(stored, bytes.size());
  for (int n = 0; n < kNodes - 1; ++n) ASSERT_TRUE(store_->Unreference(hash, "node" + std::to_string(n) + ".1.0").ok());
  EXPECT_EQ(store_->Get(hash)->bytes, bytes);
  ASSERT_TRUE(store_->Unreference(hash, "node" + std::to_string(kNodes - 1) + ".1.0").ok());
  EXPECT_EQ(ChunkObjects(), 0u);
}

// A node stores a chunk while another drops the last reference to it: the
// create finds the object (EEXIST), the release removes it, the reference
// then finds none (ENOENT) and the put recreates it. Whatever the order, the
// storing node ends with the bytes stored and referenced.
TEST_F(RadosChunkStoreTest, PutRacingTheLastReleaseEndsStoredAndReferenced) {
  for (int round = 0; round < 30; ++round) {
    const std::string bytes = "race " + std::to_string(round) + std::string(5000, 'r');
    const ContentHash hash = HashOf(bytes);
    ASSERT_TRUE(store_->Put(hash, 0, bytes, "B.1." + std::to_string(round), "").ok());
    std::thread release([&] { EXPECT_TRUE(store_->Unreference(hash, "B.1." + std::to_string(round)).ok()); });
    auto put = store_->Put(hash, 0, bytes, "A.1." + std::to_string(round), "");
    release.join();
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    auto got = store_->Get(hash);
    ASSERT_TRUE(got.ok()) << "round " << round << ": " << got.status().ToString();
    EXPECT_EQ(got->bytes, bytes);
    ASSERT_TRUE(store_->Unreference(hash, "A.1." + std::to_string(round)).ok());
    EXPECT_FALSE(*store_->Has(hash)) << "round " << round << ": A's was the last reference";
  }
}

TEST_F(RadosChunkStoreTest, ReplaceIfCodecIsAtomicAndKeepsReferences) {
  const std::string raw(10000, 'r');
  const ContentHash hash = HashOf(raw);
  ASSERT_TRUE(store_->Put(hash, 0, raw, "A.1.0", "").ok());
  auto wrong = store_->ReplaceIfCodec(hash, 2, 3, "encoded");
  ASSERT_TRUE(wrong.ok()) << wrong.status().ToString();
  EXPECT_FALSE(*wrong);
  EXPECT_EQ(store_->Get(hash)->bytes, raw);
  auto right = store_->ReplaceIfCodec(hash, 0, 3, "encoded");
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_TRUE(*right);
  auto got = store_->Get(hash);
  EXPECT_EQ(got->bytes, "encoded");
  EXPECT_EQ(got->codec, 3);
  EXPECT_FALSE(*store_->ReplaceIfCodec(hash, 0, 4, "again")) << "it is no longer raw";
  EXPECT_FALSE(*store_->ReplaceIfCodec(HashOf("gone"), 0, 4, "x")) << "absent: nothing to replace";
  ASSERT_TRUE(store_->Unreference(hash, "A.1.0").ok());
  EXPECT_EQ(ChunkObjects(), 0u) << "the reference survived the rewrite";
}

// What a node killed between creating a chunk object (step 1) and taking
// its first reference (step 2) leaves: the object with its bytes and codec
// and no refcount xattr at all.
void CreateWithoutReference(librados::IoCtx& io, const ContentHash& hash, const std::string& bytes) {
  librados::ObjectWriteOperation create;
  create.create(true);
  librados::bufferlist data, codec;
  data.append(bytes.data(), static_cast<unsigned>(bytes.size()));
  codec.append("\0", 1);
  create.write_full(data);
  create.setxattr("pacs.codec", codec);
  ASSERT_EQ(io.operate(ChunkObjectName(hash), &create), 0);
}

bool ObjectExists(librados::IoCtx& io, const std::string& oid) {
  uint64_t size = 0;
  time_t mtime = 0;
  return io.stat(oid, &size, &mtime) == 0;
}

TEST_F(RadosChunkStoreTest, SweepRemovesOnlyObjectsWithoutAnyReferencePastTheGrace) {
  const std::string orphan_bytes(40000, 'o'), held_bytes(50000, 'h');
  const ContentHash orphan = HashOf(orphan_bytes), held = HashOf(held_bytes);
  CreateWithoutReference(pool_->io(), orphan, orphan_bytes);
  ASSERT_TRUE(store_->Put(held, 0, held_bytes, "nodeA.1.0", "").ok());
  // Not a chunk object: never the sweep's business, referenced or not.
  librados::bufferlist other;
  other.append("x");
  ASSERT_EQ(pool_->io().write_full("instance.1.2.3", other), 0);
  // The class keeps references in the xattr the sweep compares ("refcount").
  librados::bufferlist refs;
  ASSERT_GT(pool_->io().getxattr(ChunkObjectName(held), "refcount", refs), 0)
      << "the installed refcount class keeps its references elsewhere: the sweep's guard would not see them";

  // The dead creator's intent is released at its restart: a put on an
  // object without any reference (the class answers EINVAL) is "this tag
  // holds none", not an error, and leaves the object to the sweep.
  auto released = store_->Unreference(orphan, "deadnode.1.0");
  EXPECT_TRUE(released.ok()) << released.ToString();
  EXPECT_TRUE(ObjectExists(pool_->io(), ChunkObjectName(orphan)));

  auto young = store_->RemoveUnreferenced(std::chrono::hours(1));
  ASSERT_TRUE(young.ok()) << young.status().ToString();
  EXPECT_EQ(young->examined, 2u);
  EXPECT_EQ(young->unreferenced, 1u);
  EXPECT_EQ(young->kept_young, 1u);
  EXPECT_EQ(young->removed, 0u);
  EXPECT_TRUE(ObjectExists(pool_->io(), ChunkObjectName(orphan))) << "younger than the grace period: kept";

  auto swept = store_->RemoveUnreferenced(std::chrono::milliseconds(0));
  ASSERT_TRUE(swept.ok()) << swept.status().ToString();
  EXPECT_EQ(swept->removed, 1u);
  EXPECT_EQ(swept->removed_bytes, orphan_bytes.size());
  EXPECT_FALSE(ObjectExists(pool_->io(), ChunkObjectName(orphan)));
  auto kept = store_->Get(held);
  ASSERT_TRUE(kept.ok()) << "a referenced object is never removed: " << kept.status().ToString();
  EXPECT_EQ(kept->bytes, held_bytes);
  EXPECT_TRUE(ObjectExists(pool_->io(), "instance.1.2.3"));
  // Its reference still works as before: the last put removes it.
  ASSERT_TRUE(store_->Unreference(held, "nodeA.1.0").ok());
  EXPECT_EQ(ChunkObjects(), 0u);
  pool_->io().remove("instance.1.2.3");
}

TEST_F(RadosChunkStoreTest, SweepKeepsAnObjectThatTakesAReferenceBeforeTheRemoval) {
  const std::string bytes(30000, 'r');
  const ContentHash hash = HashOf(bytes);
  CreateWithoutReference(pool_->io(), hash, bytes);
  // Another node finishes its step 2 between the sweep's look and its removal.
  Status referenced = Status::IOError("not run");
  SyncPoints::TEST_Set("RadosChunkStore::RemoveUnreferenced:BeforeRemove",
                       [&] { referenced = store_->Reference(hash, "nodeB.1.0"); });
  auto swept = store_->RemoveUnreferenced(std::chrono::milliseconds(0));
  SyncPoints::TEST_ClearAll();
  ASSERT_TRUE(swept.ok()) << swept.status().ToString();
  ASSERT_TRUE(referenced.ok()) << referenced.ToString();
  EXPECT_EQ(swept->unreferenced, 1u);
  EXPECT_EQ(swept->referenced_meanwhile, 1u);
  EXPECT_EQ(swept->removed, 0u);
  auto got = store_->Get(hash);
  ASSERT_TRUE(got.ok()) << "the guarded removal kept it: " << got.status().ToString();
  EXPECT_EQ(got->bytes, bytes);
  // Referenced now: later sweeps leave it, and its holder's release removes it.
  auto again = store_->RemoveUnreferenced(std::chrono::milliseconds(0));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unreferenced, 0u);
  EXPECT_EQ(ChunkObjects(), 1u);
  ASSERT_TRUE(store_->Unreference(hash, "nodeB.1.0").ok());
  EXPECT_EQ(ChunkObjects(), 0u);
}

TEST(RadosChunkStoreOpenTest, MissingPoolIsAClearError) {
  ASSERT_FALSE(CephConf().empty()) << "PACS_CEPH_CONF is not set: run through ctest (fixture ceph_cluster)";
  auto opened = OpenRadosChunkStore({.pool = "no_such_pool", .conf_file = CephConf()});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kNotFound);
  EXPECT_NE(opened.status().message().find("pool no_such_pool does not exist"), std::string::npos)
      << opened.status().ToString();
}

TEST(RadosChunkStoreOpenTest, UnreachableClusterFailsWithinTheTimeout) {
  // A monitor address nobody listens on.
  const std::string conf = ::testing::TempDir() + "/unreachable-ceph.conf";
  {
    std::ofstream out(conf);
    out << "[global]\nfsid = 00000000-0000-0000-0000-000000000001\nmon_host = 127.0.0.1:1\n"
        << "auth_client_required = none\nauth_cluster_required = none\nauth_service_required = none\n";
  }
  const auto start = std::chrono::steady_clock::now();
  auto opened = OpenRadosChunkStore({.pool = "p", .conf_file = conf, .op_timeout_seconds = 3});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kIOError);
  EXPECT_NE(opened.status().message().find("cannot reach the Ceph cluster"), std::string::npos)
      << opened.status().ToString();
  EXPECT_LT(took, std::chrono::seconds(15)) << "bounded by client_mount_timeout";
}

}  // namespace
}  // namespace pacs::engine
