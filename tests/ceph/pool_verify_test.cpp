// `pacscore verify` on the pool side (docs/scale-out.md, "What verify
// checks"), against the real cluster: two nodes import CT slices into one
// pool (node B one more than A); both verify clean. Then A's part of the pool
// is damaged on purpose through librados, one kind of damage at a time, and
// `verify` (or `verify --deep` for what only a listing of the pool finds)
// exits 2 naming it: A's reference tag put away from a chunk B still holds
// (the pool no longer counts A), an extra tag of A on a chunk A holds and on
// one it does not (leaks), A's instance object removed, its header
// replaced, and a stray instance object of A added. Node B stays clean
// throughout, and A is clean again once each damage is undone.
#include <gtest/gtest.h>

#include <set>

#include "ceph_test_support.h"
#include "corpus.h"
#include "pacs/engine/chunk_store.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

class PoolVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<CephPool>(TestPoolName());
    ASSERT_TRUE(pool_->error().empty()) << pool_->error();
    auto opened = engine::OpenRadosChunkStore({.pool = pool_->name(), .conf_file = CephConf()});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    rados_ = std::move(*opened);
    dir_ = MakeTempDir("pool_verify");
    a_ = dir_ / "a";
    b_ = dir_ / "b";
    for (const auto& f : LoadCorpus().files)
      if (f.path.parent_path() == CorpusDir() / "dcm_qa_ct/philips_ct_140_slices") files_.push_back(f);
    ASSERT_GE(files_.size(), 7u);
    files_.resize(7);
    Import(a_, 6);
    Import(b_, 7);
    a_node_ = tools::JsonString(StatsJson(a_), "frames_node");
    b_node_ = tools::JsonString(StatsJson(b_), "frames_node");
    ASSERT_EQ(a_node_.size(), 16u);
    ASSERT_NE(a_node_, b_node_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Import(const fs::path& data, size_t count) {
    std::vector<std::string> argv = {PacscoreBinary(),         "import",      "--data",  data.string(), "--frames",
                                     "rados:" + pool_->name(), "--ceph-conf", CephConf()};
    for (size_t i = 0; i < count; ++i) argv.push_back(files_[i].path.string());
    auto imported = RunCommand(argv);
    ASSERT_EQ(imported.exit_code, 0) << imported.output;
  }

  CommandResult Verify(const fs::path& data, bool deep = false) {
    std::vector<std::string> argv = {PacscoreBinary(), "verify", "--data", data.string()};
    if (deep) argv.push_back("--deep");
    return RunCommand(argv);
  }

  void ExpectClean(const fs::path& data, const std::string& when) {
    auto plain = Verify(data);
    EXPECT_EQ(plain.exit_code, 0) << when << ": " << plain.output;
    auto deep = Verify(data, true);
    EXPECT_EQ(deep.exit_code, 0) << when << ": " << deep.output;
  }

  // Verify of A finds exactly this damage (and --deep too); B stays clean.
  void ExpectDamage(bool plain_sees_it, const std::string& message, const std::string& when) {
    auto plain = Verify(a_);
    auto deep = Verify(a_, true);
    if (plain_sees_it) {
      EXPECT_EQ(plain.exit_code, 2) << when << ": " << plain.output;
      EXPECT_NE(plain.output.find(message), std::string::npos) << when << ": " << plain.output;
    } else {
      EXPECT_EQ(plain.exit_code, 0) << when << ": plain verify lists nothing\n" << plain.output;
    }
    EXPECT_EQ(deep.exit_code, 2) << when << ": " << deep.output;
    EXPECT_NE(deep.output.find(message), std::string::npos) << when << ": " << deep.output;
    std::printf("%s: verify%s says:\n%s", when.c_str(), plain_sees_it ? "" : " --deep", deep.output.c_str());
    auto b = Verify(b_, true);
    EXPECT_EQ(b.exit_code, 0) << when << ": node B is not damaged\n" << b.output;
  }

  // The chunk objects whose live tags include `node`'s, with that tag.
  std::map<engine::ContentHash, std::string> HeldBy(const std::string& node) {
    std::map<engine::ContentHash, std::string> held;
    auto listing = rados_->List(node);
    EXPECT_TRUE(listing.ok()) << listing.status().ToString();
    if (!listing.ok()) return held;
    for (const auto& hash : listing->chunks) {
      auto refs = rados_->ReadReferences(hash);
      EXPECT_TRUE(refs.ok()) << refs.status().ToString();
      if (!refs.ok()) continue;
      for (const auto& tag : refs->tags)
        if (tag.starts_with(node + ".")) held[hash] = tag;
    }
    return held;
  }

  std::unique_ptr<CephPool> pool_;
  std::unique_ptr<engine::ChunkStore> rados_;
  fs::path dir_;
  fs::path a_, b_;
  std::vector<SampleFile> files_;
  std::string a_node_, b_node_;
};

TEST_F(PoolVerifyTest, ReferenceTagsMissingOrLeakedAreNamed) {
  ExpectClean(a_, "fresh node A");
  ExpectClean(b_, "fresh node B");
  auto plain = Verify(a_);
  EXPECT_NE(plain.output.find("pool: reference tags of 6 chunk objects and 6 instance objects compared"),
            std::string::npos)
      << plain.output;

  const auto held_by_a = HeldBy(a_node_);
  const auto held_by_b = HeldBy(b_node_);
  ASSERT_EQ(held_by_a.size(), 6u);
  ASSERT_EQ(held_by_b.size(), 7u);
  const auto& [shared, a_tag] = *held_by_a.begin();
  engine::ContentHash only_b{};
  for (const auto& [hash, tag] : held_by_b)
    if (!held_by_a.contains(hash)) only_b = hash;
  ASSERT_NE(only_b, engine::ContentHash{});

  // 1. A tag of A on a chunk only B holds: a leak that only the listing of
  //    --deep finds.
  const std::string leaked_tag = a_node_ + ".999999.1";
  ASSERT_TRUE(rados_->Reference(only_b, leaked_tag).ok());
  ExpectDamage(false,
               "holds reference tag " + leaked_tag + " of this node, which does not hold the chunk (a leaked reference",
               "a tag of A on a chunk A does not hold");
  ASSERT_TRUE(rados_->Unreference(only_b, leaked_tag).ok());
  ExpectClean(a_, "the leaked tag released");

  // 2. A second tag of A on a chunk A holds: a leak too.
  const std::string extra_tag = a_node_ + ".999999.2";
  ASSERT_TRUE(rados_->Reference(shared, extra_tag).ok());
  ExpectDamage(true, "holds reference tag " + extra_tag + " of this node, which the folder does not record",
               "an extra tag of A on a chunk A holds");
  ASSERT_TRUE(rados_->Unreference(shared, extra_tag).ok());
  ExpectClean(a_, "the extra tag released");

  // 3. A's own tag put away from a chunk B still holds: the object stays,
  //    but the pool no longer counts A (B's release would remove it under
  //    A). The refcount class remembers retired tags: this cannot be undone.
  ASSERT_TRUE(rados_->Unreference(shared, a_tag).ok());
  ExpectDamage(true, "does not hold this node's reference tag " + a_tag, "A's tag put away");
}

TEST_F(PoolVerifyTest, MissingChangedAndStrayInstanceObjectsAreNamed) {
  ExpectClean(a_, "fresh node A");
  const std::string uid = files_[0].sop_instance_uid;
  auto object = rados_->ReadInstance(a_node_, uid);
  ASSERT_TRUE(object.ok()) << object.status().ToString();

  // 3. A's instance object removed: a rebuild of A would lose the instance.
  ASSERT_TRUE(rados_->RemoveInstances(a_node_, {uid}).ok());
  ExpectDamage(true, "instance " + uid + " has no instance object inst." + a_node_ + "." + uid,
               "A's instance object removed");
  // 4. Back, but with another header.
  ASSERT_TRUE(rados_->WriteInstance(a_node_, uid, object->record, object->header + "x").ok());
  ExpectDamage(true,
               "instance object inst." + a_node_ + "." + uid + " in rados:" + pool_->name() +
                   " holds another header than the folder's",
               "A's instance object with another header");
  ASSERT_TRUE(rados_->WriteInstance(a_node_, uid, object->record, object->header).ok());
  ExpectClean(a_, "A's instance object restored");

  // 5. A stray instance object of A (an instance the folder does not hold):
  //    a rebuild would bring it back. Only the listing of --deep sees it.
  ASSERT_TRUE(rados_->WriteInstance(a_node_, "1.2.3.4.5.999", object->record, object->header).ok());
  ExpectDamage(false, "stray instance object inst." + a_node_ + ".1.2.3.4.5.999", "a stray instance object of A");
  ASSERT_TRUE(rados_->RemoveInstances(a_node_, {"1.2.3.4.5.999"}).ok());
  ExpectClean(a_, "the stray instance object removed");
  ExpectClean(b_, "node B at the end");
}

}  // namespace
}  // namespace pacs::testing
