#include "pacs/engine/store.h"
#include "pacs/engine/sync_point.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <filesystem>

#include "test_instances.h"

namespace pacs::engine {
namespace {

// A fresh RocksDB folder per test (RocksDB's DBTestBase in miniature).
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("pacs_store_test_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen(DuplicatePolicy::kKeep);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(DuplicatePolicy policy, CatalogObserver* observer = nullptr) {
    store_.reset();
    auto opened = Store::Open({.path = dir_.string(), .on_duplicate = policy, .catalog_observer = observer});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, CommitThenReadBack) {
  auto w = MakeInstance("1.1", "9", "header", {std::string(5000, 'a'), std::string(5000, 'b')});
  auto r = store_->CommitInstance(w);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, CommitOutcome::kStored);
  auto rec = store_->GetInstance("1.1");
  ASSERT_TRUE(rec.ok());
  ASSERT_EQ(rec->chunks.size(), 2u);
  auto chunk = store_->GetChunk(rec->chunks[1].hash);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(*chunk, std::string(5000, 'b'));
  EXPECT_EQ(*store_->GetHeader(rec->header_hash), "header");
  EXPECT_EQ(store_->GetInstance("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, SharedFramesAreStoredOnceAndCountsSurviveReopen) {
  std::string frame(8000, 'x');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {frame, frame})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.2", "9", "h2", {frame})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("2.1", "8", "h3", {std::string(10, 'y')})).ok());
  Reopen(DuplicatePolicy::kKeep);
  auto st = store_->Stats(true);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->instances, 3u);
  EXPECT_EQ(st->studies, 2u);
  EXPECT_EQ(st->series, 2u);
  EXPECT_EQ(st->patients, 1u);
  EXPECT_EQ(st->chunks, 2u);
  EXPECT_EQ(st->chunk_bytes, 8010u);
  EXPECT_GT(st->stored_bytes, 0u);
}

TEST_F(StoreTest, EngineFiguresSeeMemtablesThenSstAndBlobFilesAfterAFlush) {
  auto empty = store_->ReadEngineFigures();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->blob_bytes, 0u);
  EXPECT_FALSE(empty->write_stopped);
  EXPECT_EQ(empty->delayed_write_rate, 0u);
  EXPECT_EQ(empty->write_stops, 0u);
  EXPECT_EQ(empty->background_errors, 0u);
  // Frames of 1 KiB and more go to blob files (the frames family's min_blob_size).
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE(store_
                    ->CommitInstance(MakeInstance("1." + std::to_string(i), "9", "header " + std::to_string(i),
                                                  {std::string(64 * 1024, static_cast<char>('a' + i))}))
                    .ok());
  auto written = store_->ReadEngineFigures();
  ASSERT_TRUE(written.ok());
  EXPECT_GT(written->memtable_bytes, empty->memtable_bytes);
  ASSERT_TRUE(store_->Flush().ok());
  auto flushed = store_->ReadEngineFigures();
  ASSERT_TRUE(flushed.ok());
  EXPECT_GT(flushed->sst_bytes, empty->sst_bytes);
  EXPECT_GE(flushed->sst_bytes, flushed->live_sst_bytes);
  EXPECT_GT(flushed->live_sst_bytes, 0u);
  // 8 distinct 64 KiB frames, compressed or not, take more than a few KiB of blobs.
  EXPECT_GT(flushed->blob_bytes, 8u * 1024);
  EXPECT_EQ(flushed->live_blob_bytes, flushed->blob_bytes);
  EXPECT_EQ(flushed->blob_garbage_bytes, 0u);
}

TEST_F(StoreTest, DuplicatePolicies) {
  auto first = MakeInstance("1.1", "9", "h1", {std::string(3000, 'a')});
  auto changed = MakeInstance("1.1", "9", "h1-corrected", {std::string(3000, 'a')});
  ASSERT_TRUE(store_->CommitInstance(first).ok());
  auto again = store_->CommitInstance(first);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, CommitOutcome::kIdenticalDuplicate);
  auto kept = store_->CommitInstance(changed);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->outcome, CommitOutcome::kKeptExisting);
  EXPECT_EQ(*store_->GetHeader(store_->GetInstance("1.1")->header_hash), "h1");

  Reopen(DuplicatePolicy::kReject);
  auto rejected = store_->CommitInstance(changed);
  EXPECT_EQ(rejected.status().code(), StatusCode::kAlreadyExists);

  Reopen(DuplicatePolicy::kReplace);
  auto replaced = store_->CommitInstance(changed);
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->outcome, CommitOutcome::kReplaced);
  auto rec = store_->GetInstance("1.1");
  EXPECT_EQ(*store_->GetHeader(rec->header_hash), "h1-corrected");
  // The old header lost its only reference and is gone.
  EXPECT_EQ(store_->GetHeader(first.record.header_hash).status().code(), StatusCode::kNotFound);
  auto st = store_->Stats(false);
  EXPECT_EQ(st->instances, 1u);
  EXPECT_EQ(st->chunks, 1u);
  EXPECT_EQ(st->received_bytes, changed.record.received_bytes);
  EXPECT_EQ(st->received_bytes_total, 2 * first.record.received_bytes + 3 * changed.record.received_bytes);
}

TEST_F(StoreTest, SecondOpenOfSameFolderIsReportedAsLocked) {
  auto second = Store::Open({.path = dir_.string()});
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(IsLockedByAnotherProcess(second.status())) << second.status().ToString();
}

}  // namespace
}  // namespace pacs::engine

namespace pacs::engine {
namespace {

// Records what it is told and writes one catalog key per instance.
class RecordingObserver : public CatalogObserver {
 public:
  Status OnInstanceAdded(CatalogTxn& txn, const InstanceRecord& rec, std::string_view payload) override {
    auto before = txn.Get("count");
    if (!before.ok()) return before.status();
    int n = before->has_value() ? std::stoi(**before) : 0;
    txn.Put("count", std::to_string(n + 1));
    txn.Put("i/" + rec.sop_instance_uid, std::string(payload));
    return Status::Ok();
  }
  Status OnInstanceRemoved(CatalogTxn& txn, const InstanceRecord& rec) override {
    ++removed;
    auto before = txn.Get("count");
    if (!before.ok()) return before.status();
    txn.Put("count", std::to_string(std::stoi(before->value()) - 1));
    txn.Delete("i/" + rec.sop_instance_uid);
    return Status::Ok();
  }
  int removed = 0;
};

TEST_F(StoreTest, CatalogObserverWritesInTheSameCommit) {
  RecordingObserver observer;
  Reopen(DuplicatePolicy::kReplace, &observer);
  auto a = MakeInstance("1.1", "9", "h1", {std::string(2000, 'a')});
  a.catalog_payload = "first";
  auto b = MakeInstance("1.2", "9", "h2", {std::string(2000, 'b')});
  b.catalog_payload = "second";
  ASSERT_TRUE(store_->CommitInstance(a).ok());
  ASSERT_TRUE(store_->CommitInstance(b).ok());
  ASSERT_TRUE(store_->CommitInstance(a).ok());  // identical: the observer is not called again
  EXPECT_EQ(store_->GetCatalog("count")->value(), "2");
  auto a2 = MakeInstance("1.1", "9", "h1-new", {std::string(2000, 'a')});
  a2.catalog_payload = "replaced";
  ASSERT_TRUE(store_->CommitInstance(a2).ok());
  EXPECT_EQ(observer.removed, 1);
  EXPECT_EQ(store_->GetCatalog("count")->value(), "2");
  std::vector<std::string> seen;
  ASSERT_TRUE(store_
                  ->ScanCatalog("i/",
                                [&](std::string_view k, std::string_view v) {
                                  seen.push_back(std::string(k) + "=" + std::string(v));
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"i/1.1=replaced", "i/1.2=second"}));
}

}  // namespace
}  // namespace pacs::engine

namespace pacs::engine {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

void ExpectClean(Store& store, milliseconds grace = hours(1)) {
  auto report = store.VerifyStructure(grace);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const auto& p : report->problems) ADD_FAILURE() << p;
}

TEST_F(StoreTest, DeletedFramesWaitForTheGracePeriodThenGo) {
  const std::string shared(6000, 's');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {shared})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.2", "8", "h2", {shared, std::string(5000, 'u')})).ok());
  ExpectClean(*store_);
  const ContentHash shared_key = store_->GetInstance("1.1")->chunks[0].hash;
  EXPECT_EQ(*store_->HasChunk(shared_key), std::optional<uint8_t>(0));

  ASSERT_EQ(*store_->DeleteInstances({.study_instance_uid = "9"}), 1u);
  EXPECT_TRUE(store_->HasChunk(shared_key)->has_value()) << "still referenced by 1.2";
  ExpectClean(*store_);
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "1.2"}), 1u);
  EXPECT_FALSE(store_->HasChunk(shared_key)->has_value());
  auto st = store_->Stats(false);
  EXPECT_EQ(st->instances, 0u);
  EXPECT_EQ(st->chunks, 0u);
  EXPECT_EQ(st->chunks_awaiting_collection, 2u);
  EXPECT_EQ(st->chunk_bytes_awaiting_collection, 11000u);
  ExpectClean(*store_);  // within the grace period: not a problem
  auto past = store_->VerifyStructure(milliseconds(0));
  EXPECT_EQ(past->problems.size(), 2u) << "past the grace period, uncollected chunks are reported";

  auto kept = store_->CollectGarbage(hours(1));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->collected, 0u);
  EXPECT_TRUE(store_->GetChunk(shared_key).ok());
  auto gone = store_->Compact(milliseconds(0));
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  EXPECT_EQ(gone->collected, 2u);
  EXPECT_EQ(gone->collected_bytes, 11000u);
  EXPECT_EQ(store_->GetChunk(shared_key).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Stats(false)->chunks_awaiting_collection, 0u);
  ExpectClean(*store_, milliseconds(0));
}

TEST_F(StoreTest, ReferenceBeforeCollectionRevivesTheFrame) {
  const std::string frame(4000, 'r');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {frame})).ok());
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "1.1"}), 1u);
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.2", "9", "h2", {frame})).ok());
  auto st = store_->Stats(false);
  EXPECT_EQ(st->chunks, 1u);
  EXPECT_EQ(st->chunks_awaiting_collection, 0u);
  EXPECT_EQ(store_->CollectGarbage(milliseconds(0))->collected, 0u);
  EXPECT_TRUE(store_->GetChunk(store_->GetInstance("1.2")->chunks[0].hash).ok());
  ExpectClean(*store_, milliseconds(0));
}

// The race of the issue: the collector scans the unreferenced frames without
// the commit lock; an ingest references one of them before the collector
// removes it. The sync point runs that ingest exactly in that window.
// Protection: CollectGarbage re-reads each candidate's reference count under
// the commit lock and keeps any that is referenced again. Remove that
// re-check (delete every scanned candidate) and this test fails: the frame of
// instance 2.1 is gone, GetChunk returns NotFound and VerifyStructure reports
// "chunk ... is referenced but missing".
TEST_F(StoreTest, CollectorNeverRemovesAFrameReferencedAfterItsScan) {
  const std::string frame(7000, 'z');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {frame})).ok());
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "1.1"}), 1u);
  bool ingested = false;
  SyncPoints::TEST_Set("RocksStore::CollectGarbage:AfterScan",
                       [&] { ingested = store_->CommitInstance(MakeInstance("2.1", "7", "h2", {frame})).ok(); });
  auto report = store_->CollectGarbage(milliseconds(0));
  SyncPoints::TEST_ClearAll();
  ASSERT_TRUE(ingested);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->candidates, 1u);
  EXPECT_EQ(report->rescued, 1u);
  EXPECT_EQ(report->collected, 0u);
  auto chunk = store_->GetChunk(store_->GetInstance("2.1")->chunks[0].hash);
  ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
  EXPECT_EQ(*chunk, frame);
  ExpectClean(*store_, milliseconds(0));
}

// The other side: an ingest that skipped a frame's bytes because HasChunk()
// said it was stored must not commit a reference to a frame collected in the
// meantime. The sync point collects just before the commit writes.
TEST_F(StoreTest, IngestWithoutBytesOfACollectedFrameIsRefusedNotLost) {
  const std::string frame(7000, 'q');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {frame})).ok());
  auto without_bytes = MakeInstance("2.1", "7", "h2", {frame});
  ASSERT_TRUE(store_->HasChunk(without_bytes.record.chunks[0].hash)->has_value());
  without_bytes.chunk_bytes[0].clear();  // what ingest does for a frame already stored
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "1.1"}), 1u);
  ASSERT_EQ(store_->CollectGarbage(milliseconds(0))->collected, 1u);
  auto refused = store_->CommitInstance(without_bytes);
  EXPECT_EQ(refused.status().code(), StatusCode::kBusy) << refused.status().ToString();
  EXPECT_EQ(store_->GetInstance("2.1").status().code(), StatusCode::kNotFound) << "nothing half-committed";
  // The retry with the bytes succeeds.
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("2.1", "7", "h2", {frame})).ok());
  ExpectClean(*store_, milliseconds(0));
}

TEST_F(StoreTest, DedupStatsCountReferencesAndSavings) {
  const std::string frame(9000, 'd');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {frame, frame})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.2", "9", "h2", {frame})).ok());
  auto st = store_->Stats(false);
  EXPECT_EQ(st->chunks, 1u);
  EXPECT_EQ(st->chunk_references, 3u);
  EXPECT_EQ(st->dedup_saved_bytes, 18000u);
}

}  // namespace
}  // namespace pacs::engine

namespace pacs::engine {
namespace {

TEST_F(StoreTest, DeferredReencodingReplacesOnlyWhatIsStillRaw) {
  auto w = MakeInstance("1.1", "9", "h1", {std::string(8000, 'a'), std::string(8000, 'b')});
  w.deferred_work.emplace_back(w.record.chunks[0].hash, "job-a");
  w.deferred_work.emplace_back(w.record.chunks[1].hash, "job-b");
  ASSERT_TRUE(store_->CommitInstance(w).ok());
  std::vector<std::string> jobs;
  ASSERT_TRUE(store_
                  ->ForEachDeferredWork([&](const ContentHash&, std::string_view job) {
                    jobs.emplace_back(job);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(jobs.size(), 2u);
  EXPECT_EQ(store_->Stats(false)->chunks_awaiting_reencoding, 2u);

  auto done = store_->CompleteDeferredWork(w.record.chunks[0].hash, 0, std::make_pair(uint8_t{1}, std::string("tiny")));
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(*done);
  auto chunk = store_->ReadChunk(w.record.chunks[0].hash);
  EXPECT_EQ(chunk->bytes, "tiny");
  EXPECT_EQ(chunk->codec, 1);
  // A job whose chunk is no longer in the expected codec only goes away.
  auto stale = store_->CompleteDeferredWork(w.record.chunks[1].hash, 2, std::make_pair(uint8_t{1}, std::string("x")));
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale);
  EXPECT_EQ(store_->ReadChunk(w.record.chunks[1].hash)->bytes, std::string(8000, 'b'));
  auto st = store_->Stats(false);
  EXPECT_EQ(st->chunks_awaiting_reencoding, 0u);
  EXPECT_EQ(st->chunk_bytes, 8004u);
  EXPECT_EQ(st->per_codec["jpegls"].chunks, 1u);
  EXPECT_EQ(st->per_codec["raw"].chunks, 1u);
  ExpectClean(*store_);
  // A frame stored again later is not queued again.
  auto again = MakeInstance("1.2", "9", "h2", {std::string(8000, 'a')});
  again.deferred_work.emplace_back(again.record.chunks[0].hash, "job-a-again");
  ASSERT_TRUE(store_->CommitInstance(again).ok());
  EXPECT_EQ(store_->Stats(false)->chunks_awaiting_reencoding, 0u);
}

}  // namespace
}  // namespace pacs::engine

namespace pacs::engine {
namespace {

// A stored value that is short or malformed must come back as kCorruption
// naming its column family and key, never as zeros (which would, for
// example, make a referenced chunk look absent, or restart a counter).
// Each test writes the bad value with RocksDB directly into the closed
// store's folder, then asks the public API.
class StoredValueCorruptionTest : public StoreTest {
 protected:
  void PutRaw(const std::string& column_family, std::string_view key, std::string_view value) {
    store_.reset();
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_.string(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_.string(), descriptors, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const auto it = std::find(names.begin(), names.end(), column_family);
    ASSERT_NE(it, names.end()) << column_family;
    rocksdb::WriteOptions wo;
    wo.sync = true;
    const auto put = db->Put(wo, handles[it - names.begin()], key, value);
    for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
    ASSERT_TRUE(put.ok()) << put.ToString();
    ASSERT_TRUE(db->Close().ok());
    db.reset();
    Reopen(DuplicatePolicy::kKeep);
  }
  static void ExpectCorruption(const Status& status, const std::string& column_family, const std::string& key) {
    EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
    EXPECT_NE(status.message().find("column family " + column_family), std::string::npos) << status.ToString();
    EXPECT_NE(status.message().find(key), std::string::npos) << status.ToString();
  }
};

TEST_F(StoredValueCorruptionTest, ShortChunkReferenceIsCorruptionNotAbsent) {
  const std::string frame(5000, 'c');
  auto first = MakeInstance("1.1", "9", "h1", {frame});
  ASSERT_TRUE(store_->CommitInstance(first).ok());
  const ContentHash hash = first.record.chunks[0].hash;
  PutRaw("refs", "f" + std::string(AsKey(hash)), std::string(3, '\x01'));

  ExpectCorruption(store_->HasChunk(hash).status(), "refs", "f" + ToHex(hash));
  ExpectCorruption(store_->ReadChunk(hash).status(), "refs", "f" + ToHex(hash));
  auto second = store_->CommitInstance(MakeInstance("1.2", "9", "h2", {frame}));
  ExpectCorruption(second.status(), "refs", "f" + ToHex(hash));
  EXPECT_EQ(store_->GetInstance("1.2").status().code(), StatusCode::kNotFound) << "nothing committed";
  auto report = store_->VerifyStructure(std::chrono::hours(1));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->problems.empty()) << "verify lists the malformed reference";
}

TEST_F(StoredValueCorruptionTest, ShortCounterIsCorruptionNotZero) {
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {std::string(2000, 'a')})).ok());
  PutRaw("default", "count/instances", "\x01\x02");
  ExpectCorruption(store_->Stats(false).status(), "default", "count/instances");
  ExpectCorruption(store_->CommitInstance(MakeInstance("1.2", "9", "h2", {std::string(2000, 'b')})).status(), "default",
                   "count/instances");
}

TEST_F(StoredValueCorruptionTest, ShortIndexCountIsCorruption) {
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "9", "h1", {std::string(2000, 'a')})).ok());
  PutRaw("index", "study/9", "");
  ExpectCorruption(store_->DeleteInstances({.sop_instance_uid = "1.1"}).status(), "index", "study/9");
  EXPECT_TRUE(store_->GetInstance("1.1").ok()) << "nothing deleted";
}

TEST_F(StoredValueCorruptionTest, MalformedCollectionEntryIsCorruption) {
  auto first = MakeInstance("1.1", "9", "h1", {std::string(2000, 'a')});
  ASSERT_TRUE(store_->CommitInstance(first).ok());
  ASSERT_EQ(*store_->DeleteInstances({.sop_instance_uid = "1.1"}), 1u);
  const ContentHash hash = first.record.chunks[0].hash;
  PutRaw("gc", AsKey(hash), "1234");
  ExpectCorruption(store_->CollectGarbage(std::chrono::milliseconds(0)).status(), "gc", ToHex(hash));
  EXPECT_TRUE(store_->GetChunk(hash).ok()) << "nothing collected";
}

TEST_F(StoredValueCorruptionTest, MalformedDeferredWorkKeyIsCorruption) {
  PutRaw("work", "short-key", "job");
  auto visited = store_->ForEachDeferredWork([](const ContentHash&, std::string_view) { return true; });
  ExpectCorruption(visited, "work", "short-key");
}

TEST_F(StoreTest, BytesFreedCountOnlyChunksNoOtherStudyReferences) {
  const std::string a(3000, 'a'), b(4000, 'b'), shared(5000, 's');
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "S1", "h1", {a, shared})).ok());
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.2", "S1", "h2", {a})).ok());  // `a` twice in S1
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("2.1", "S2", "h3", {b, shared})).ok());
  auto alone = store_->CumulativeBytesFreed({"S1"});
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  EXPECT_EQ(*alone, std::vector<uint64_t>{3000});  // `shared` stays with S2
  auto both = store_->CumulativeBytesFreed({"S2", "S1"});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(*both, (std::vector<uint64_t>{4000, 12000}));
  EXPECT_EQ(*store_->ReferencedChunkBytes(), 12000u);

  auto studies = store_->ListStudies();
  ASSERT_TRUE(studies.ok());
  ASSERT_EQ(studies->size(), 2u);
  EXPECT_EQ((*studies)[0].study_instance_uid, "S1");
  EXPECT_EQ((*studies)[0].instances, 2u);
  EXPECT_FALSE((*studies)[0].is_protected);
}

TEST_F(StoreTest, ProtectionStopsRetentionDeletesNotManualOnesAndSurvivesReopen) {
  ASSERT_TRUE(store_->CommitInstance(MakeInstance("1.1", "S1", "h1", {std::string(3000, 'a')})).ok());
  EXPECT_EQ(store_->SetStudyProtected("NOPE", true).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->SetStudyProtected("S1", true).ok());
  Reopen(DuplicatePolicy::kKeep);
  EXPECT_TRUE(*store_->IsStudyProtected("S1"));
  EXPECT_EQ(*store_->ProtectedStudies(), std::vector<std::string>{"S1"});
  EXPECT_TRUE(store_->ListStudies()->at(0).is_protected);
  auto kept = store_->DeleteInstances({.study_instance_uid = "S1", .keep_if_protected = true});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, 0u);
  EXPECT_TRUE(*store_->HasStudy("S1"));
  auto manual = store_->DeleteInstances({.study_instance_uid = "S1"});
  ASSERT_TRUE(manual.ok());
  EXPECT_EQ(*manual, 1u);
  EXPECT_FALSE(*store_->HasStudy("S1"));
  EXPECT_FALSE(*store_->IsStudyProtected("S1")) << "a deleted study keeps no protection";
  EXPECT_EQ(*store_->ReferencedChunkBytes(), 0u);
}

}  // namespace
}  // namespace pacs::engine

namespace pacs::engine {
namespace {

// Raw frames awaiting re-encoding wait in `staging`; once their encodings
// land, releasing the staging space returns the raw bytes' disk space with
// no compaction of the frames (the issue: replaced raw frames stayed in blob
// files until someone ran `compact`).
TEST_F(StoreTest, StagedRawFramesGiveTheirSpaceBackOnceReencoded) {
  constexpr int kFrames = 48;
  std::vector<std::string> frames;
  for (int i = 0; i < kFrames; ++i)
    frames.push_back(std::string(64 * 1024, static_cast<char>('A' + i % 50)) + static_cast<char>(i));
  auto w = MakeInstance("5.1", "5", "h5", frames);
  for (const auto& c : w.record.chunks) w.deferred_work.emplace_back(c.hash, "job");
  ASSERT_TRUE(store_->CommitInstance(w).ok());
  auto chunk = [&](int i) {
    auto bytes = store_->GetChunk(w.record.chunks[i].hash);
    return bytes.ok() ? *bytes : "<" + bytes.status().ToString() + ">";
  };
  // On disk (flushed), readable while staged.
  ASSERT_TRUE(store_->ReleaseStagingSpace().ok());
  const uint64_t staged = store_->Stats(false)->stored_bytes;
  EXPECT_GT(staged, uint64_t{kFrames} * 64 * 1024);
  EXPECT_EQ(chunk(3), frames[3]);
  EXPECT_EQ(store_->ReadChunk(w.record.chunks[3].hash)->codec, 0);
  ExpectClean(*store_);

  // Every frame but the last gets a small encoding; the last stays raw.
  for (int i = 0; i + 1 < kFrames; ++i) {
    auto done =
        store_->CompleteDeferredWork(w.record.chunks[i].hash, 0, std::make_pair(uint8_t{1}, "enc" + std::to_string(i)));
    ASSERT_TRUE(done.ok() && *done) << i;
  }
  auto kept_raw = store_->CompleteDeferredWork(w.record.chunks[kFrames - 1].hash, 0, std::nullopt);
  ASSERT_TRUE(kept_raw.ok());
  EXPECT_FALSE(*kept_raw);
  ASSERT_TRUE(store_->ReleaseStagingSpace().ok());
  const uint64_t settled = store_->Stats(false)->stored_bytes;
  std::printf("staged: %llu bytes on disk, after re-encoding and release: %llu\n",
              static_cast<unsigned long long>(staged), static_cast<unsigned long long>(settled));
  EXPECT_LT(settled + uint64_t{kFrames - 2} * 64 * 1024, staged);
  EXPECT_EQ(chunk(3), "enc3");
  EXPECT_EQ(chunk(kFrames - 1), frames[kFrames - 1]);
  ExpectClean(*store_);
  // And after a restart.
  Reopen(DuplicatePolicy::kKeep);
  EXPECT_EQ(chunk(kFrames - 1), frames[kFrames - 1]);
  EXPECT_EQ(store_->ReadChunk(w.record.chunks[0].hash)->bytes, "enc0");
  ExpectClean(*store_);
}

}  // namespace
}  // namespace pacs::engine
