// Rebuilding the query index (RebuildIndex, `pacscore reindex`) on a real
// RocksDB store: a wiped index comes back byte for byte, an intact one is
// left alone, stale entries go, unreadable instances are skipped by UID, and
// commits made while the index is being built are folded in.
#include <rocksdb/db.h>

#include <filesystem>
#include <map>
#include <set>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "gtest/gtest.h"
#include "ingest_dataset.h"
#include "pacs/dicom/dicom_library.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/query.h"
#include "pacs/engine/sync_point.h"

namespace pacs::dicom {
namespace {
namespace fs = std::filesystem;

struct Instance {
  std::string patient_id, name, study, series, sop, date, modality;
};

// Every catalog entry, by key.
using Catalog = std::map<std::string, std::string>;

class ReindexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitDicomLibrary();
    dir_ = fs::temp_directory_path() / ("pacs_reindex_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    Open();
    // Two patients, three studies, five series (CT, MR, US), a replaced
    // instance that moved between studies and a deleted one: counts and
    // modality tallies that went down as well as up.
    for (const Instance& i : std::vector<Instance>{
             {"P1", "Smith^John", "1.1", "1.1.1", "1.1.1.1", "20240105", "CT"},
             {"P1", "Smith^John", "1.1", "1.1.1", "1.1.1.2", "20240105", "CT"},
             {"P1", "Smith^John", "1.1", "1.1.2", "1.1.2.1", "20240105", "MR"},
             {"P1", "Smith^John", "1.1", "1.1.3", "1.1.3.1", "20240105", "US"},
             {"P1", "Smith^John", "1.4", "1.4.1", "1.4.1.1", "20240301", "MR"},
             {"P2", "Jones^Ann", "1.2", "1.2.1", "1.2.1.1", "20230310", "MR"},
             {"P2", "Jones^Ann", "1.2", "1.2.1", "1.1.1.2", "20230310", "MR"},  // replaces, moves to 1.2
         })
      Add(i);
    auto deleted = store_->DeleteInstances({.sop_instance_uid = "1.1.3.1"});
    ASSERT_TRUE(deleted.ok() && *deleted == 1);
  }
  void TearDown() override {
    engine::SyncPoints::TEST_ClearAll();
    store_.reset();
    fs::remove_all(dir_);
  }

  void Open() {
    store_.reset();
    auto s = engine::Store::Open({.path = dir_.string(),
                                  .on_duplicate = engine::DuplicatePolicy::kReplace,
                                  .sync_writes = false,
                                  .catalog_observer = &IndexObserver()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  void Add(const Instance& i) {
    DcmDataset ds;
    ds.putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
    ds.putAndInsertString(DCM_SOPInstanceUID, i.sop.c_str());
    ds.putAndInsertString(DCM_StudyInstanceUID, i.study.c_str());
    ds.putAndInsertString(DCM_SeriesInstanceUID, i.series.c_str());
    ds.putAndInsertString(DCM_PatientID, i.patient_id.c_str());
    ds.putAndInsertString(DCM_PatientName, i.name.c_str());
    ds.putAndInsertString(DCM_StudyDate, i.date.c_str());
    ds.putAndInsertString(DCM_Modality, i.modality.c_str());
    ds.putAndInsertString(DCM_AccessionNumber, ("A" + i.study).c_str());
    Ingestor ingestor(*store_);
    auto r = IngestDataset(ingestor, ds, EXS_LittleEndianExplicit);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  Catalog ReadCatalog() const {
    Catalog out;
    Status s = store_->ScanCatalog("", [&](std::string_view key, std::string_view value) {
      out.emplace(key, value);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // Closes the store and changes the folder with RocksDB directly (what a
  // folder written before the index existed, or damaged, looks like).
  void WithRocksDb(
      const std::function<void(rocksdb::DB&, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& edit) {
    store_.reset();
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_.string(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.reserve(names.size());
    for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_.string(), descriptors, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
    for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
    edit(*db, by_name);
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    db->Close();
    db.reset();
    Open();
  }
  void WipeCatalog() {
    WithRocksDb([](rocksdb::DB& db, auto& cfs) { ASSERT_TRUE(db.DropColumnFamily(cfs.at("catalog")).ok()); });
    ASSERT_TRUE(ReadCatalog().empty());
  }

  std::multiset<std::string> Find(QueryLevel level, const std::vector<std::pair<DcmTagKey, std::string>>& keys,
                                  const DcmTagKey& returned) {
    DcmDataset id;
    const char* names[] = {"PATIENT", "STUDY", "SERIES", "IMAGE"};
    id.putAndInsertString(DCM_QueryRetrieveLevel, names[static_cast<int>(level)]);
    for (const auto& [tag, value] : keys) id.putAndInsertString(tag, value.c_str());
    if (!id.tagExists(returned)) id.putAndInsertString(returned, "");
    auto q = ParseIdentifier(id, InformationModel::kStudyRoot);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    QueryEngine engine(*store_, "PACSCORE");
    std::multiset<std::string> out;
    auto st = engine.Find(*q, [&](DcmDataset& rsp) {
      OFString v;
      rsp.findAndGetOFStringArray(returned, v);
      out.insert(v.c_str());
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return out;
  }

  fs::path dir_;
  std::unique_ptr<engine::Store> store_;
};

TEST_F(ReindexTest, WipedIndexComesBackByteForByte) {
  const Catalog before = ReadCatalog();
  ASSERT_FALSE(before.empty());
  WipeCatalog();
  EXPECT_TRUE(Find(QueryLevel::kStudy, {}, DCM_StudyInstanceUID).empty());

  uint64_t progress_calls = 0;
  auto report = RebuildIndex(*store_, [&](uint64_t read, uint64_t total) {
    ++progress_calls;
    EXPECT_LE(read, total);
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->instances_read, 5u);
  EXPECT_EQ(report->instances_indexed, 5u);
  EXPECT_EQ(progress_calls, 5u);
  EXPECT_TRUE(report->skipped.empty());
  EXPECT_EQ(report->entries, before.size());
  EXPECT_EQ(report->entries_put, before.size());
  EXPECT_EQ(report->entries_deleted, 0u);
  EXPECT_EQ(ReadCatalog(), before);
  EXPECT_EQ(Find(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.1"}}, DCM_ModalitiesInStudy),
            std::multiset<std::string>{"CT\\MR"});
}

TEST_F(ReindexTest, IntactIndexIsLeftAsItIs) {
  const Catalog before = ReadCatalog();
  auto report = RebuildIndex(*store_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->entries, before.size());
  EXPECT_EQ(report->entries_put, 0u);
  EXPECT_EQ(report->entries_deleted, 0u);
  EXPECT_EQ(ReadCatalog(), before);
}

TEST_F(ReindexTest, StaleAndWrongEntriesAreReplaced) {
  const Catalog before = ReadCatalog();
  WithRocksDb([](rocksdb::DB& db, auto& cfs) {
    // An instance the archive no longer holds, and a study record damaged.
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), cfs.at("catalog"), "i9.9.9",
                       std::string("9.9\0"
                                   "9.9.9",
                                   7))
                    .ok());
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), cfs.at("catalog"), "S1.2", "garbage").ok());
  });
  auto report = RebuildIndex(*store_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->entries_deleted, 1u);
  EXPECT_EQ(report->entries_put, 1u);
  EXPECT_EQ(ReadCatalog(), before);
}

TEST_F(ReindexTest, UnreadableInstancesAreSkippedByUid) {
  WipeCatalog();
  WithRocksDb([](rocksdb::DB& db, auto& cfs) {
    // 1.1.1.1: the record itself is garbage. 1.1.2.1: its header is gone.
    // 1.4.1.1: its header is cut short and does not parse.
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), cfs.at("instances"), "1.1.1.1", "\x7fnot a record").ok());
    for (const char* uid : {"1.1.2.1", "1.4.1.1"}) {
      std::string value;
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), cfs.at("instances"), uid, &value).ok());
      auto rec = engine::InstanceRecord::Decode(value);
      ASSERT_TRUE(rec.ok());
      const std::string key(engine::AsKey(rec->header_hash));
      if (std::string(uid) == "1.1.2.1") {
        ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), cfs.at("headers"), key).ok());
      } else {
        std::string header;
        ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), cfs.at("headers"), key, &header).ok());
        ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), cfs.at("headers"), key, header.substr(0, header.size() - 5)).ok());
      }
    }
  });
  auto report = RebuildIndex(*store_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->instances_read, 5u);
  EXPECT_EQ(report->instances_indexed, 2u);
  ASSERT_EQ(report->skipped.size(), 3u);
  EXPECT_EQ(report->skipped[0].rfind("1.1.1.1: ", 0), 0u) << report->skipped[0];
  EXPECT_EQ(report->skipped[1].rfind("1.1.2.1: header ", 0), 0u) << report->skipped[1];
  EXPECT_EQ(report->skipped[2].rfind("1.4.1.1: ", 0), 0u) << report->skipped[2];
  EXPECT_NE(report->skipped[2].find("does not parse"), std::string::npos) << report->skipped[2];
  // The readable instances are indexed, with counts that leave the others out.
  EXPECT_EQ(Find(QueryLevel::kImage, {{DCM_StudyInstanceUID, "1.2"}}, DCM_SOPInstanceUID),
            (std::multiset<std::string>{"1.1.1.2", "1.2.1.1"}));
  EXPECT_TRUE(Find(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.1"}}, DCM_StudyInstanceUID).empty());
  EXPECT_TRUE(Find(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.4"}}, DCM_StudyInstanceUID).empty());
}

TEST_F(ReindexTest, CommitsDuringTheBuildAreFoldedIn) {
  WipeCatalog();
  // Between the build (from a snapshot) and the swap: a new instance, a
  // deletion, and a replacement that moves an instance to another study.
  engine::SyncPoints::TEST_Set("RocksStore::RebuildCatalog:BeforeLock", [this] {
    Add({"P3", "Brown^Bob", "1.3", "1.3.1", "1.3.1.1", "20220101", "CT"});
    auto deleted = store_->DeleteInstances({.sop_instance_uid = "1.4.1.1"});
    EXPECT_TRUE(deleted.ok() && *deleted == 1);
    Add({"P3", "Brown^Bob", "1.3", "1.3.1", "1.1.2.1", "20220101", "CT"});
  });
  auto report = RebuildIndex(*store_);
  engine::SyncPoints::TEST_ClearAll();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->caught_up, 3u);
  EXPECT_EQ(report->instances_indexed, 5u);
  EXPECT_TRUE(report->skipped.empty());
  EXPECT_EQ(Find(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.3"}}, DCM_NumberOfStudyRelatedInstances),
            std::multiset<std::string>{"2"});
  EXPECT_EQ(Find(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.1"}}, DCM_ModalitiesInStudy),
            std::multiset<std::string>{"CT"});
  EXPECT_TRUE(Find(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.4"}}, DCM_StudyInstanceUID).empty());

  // The caught-up index is the one a build from scratch gives.
  const Catalog caught_up = ReadCatalog();
  WipeCatalog();
  auto fresh = RebuildIndex(*store_);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->caught_up, 0u);
  EXPECT_EQ(ReadCatalog(), caught_up);
}

}  // namespace
}  // namespace pacs::dicom
