// The query index on a real RocksDB store: records, counters and secondary
// indexes follow every commit (new, replaced, moved between studies), and
// queries pick the most selective index.
#include <filesystem>
#include <set>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "gtest/gtest.h"
#include "ingest_dataset.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/query.h"

namespace pacs::dicom {
namespace {
namespace fs = std::filesystem;

struct Instance {
  std::string patient_id, name, study, series, sop, date, modality, accession;
};

std::unique_ptr<DcmDataset> MakeDataset(const Instance& i, const char* charset = nullptr) {
  auto ds = std::make_unique<DcmDataset>();
  if (charset) ds->putAndInsertString(DCM_SpecificCharacterSet, charset);
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, i.sop.c_str());
  ds->putAndInsertString(DCM_StudyInstanceUID, i.study.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, i.series.c_str());
  ds->putAndInsertString(DCM_PatientID, i.patient_id.c_str());
  ds->putAndInsertString(DCM_PatientName, i.name.c_str());
  ds->putAndInsertString(DCM_StudyDate, i.date.c_str());
  ds->putAndInsertString(DCM_Modality, i.modality.c_str());
  ds->putAndInsertString(DCM_AccessionNumber, i.accession.c_str());
  return ds;
}

class QueryIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitDicomLibrary();
    dir_ = fs::temp_directory_path() / ("pacs_query_index_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    Open(engine::DuplicatePolicy::kReplace);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Open(engine::DuplicatePolicy policy) {
    store_.reset();
    auto s = engine::Store::Open(
        {.path = dir_.string(), .on_duplicate = policy, .sync_writes = false, .catalog_observer = &IndexObserver()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void Add(const Instance& i, const char* charset = nullptr) {
    Ingestor ingestor(*store_);
    auto ds = MakeDataset(i, charset);
    auto r = IngestDataset(ingestor, *ds, EXS_LittleEndianExplicit);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // Runs a query; returns the values of `keyword_tag` over the responses.
  std::multiset<std::string> Run(QueryLevel level, std::vector<std::pair<DcmTagKey, std::string>> keys,
                                 const DcmTagKey& returned, QueryStats* stats = nullptr) {
    DcmDataset id;
    const char* names[] = {"PATIENT", "STUDY", "SERIES", "IMAGE"};
    id.putAndInsertString(DCM_QueryRetrieveLevel, names[static_cast<int>(level)]);
    for (const auto& [tag, value] : keys) id.putAndInsertString(tag, value.c_str());
    id.putAndInsertString(returned, "");
    auto q = ParseIdentifier(
        id, level == QueryLevel::kPatient ? InformationModel::kPatientRoot : InformationModel::kStudyRoot);
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
    if (stats && st.ok()) *stats = *st;
    return out;
  }

  fs::path dir_;
  std::unique_ptr<engine::Store> store_;
};

TEST_F(QueryIndexTest, CountersFollowAddsAndReplacements) {
  Add({"P1", "Smith^John", "1.1", "1.1.1", "1.1.1.1", "20240105", "CT", "A1"});
  Add({"P1", "Smith^John", "1.1", "1.1.1", "1.1.1.2", "20240105", "CT", "A1"});
  Add({"P1", "Smith^John", "1.1", "1.1.2", "1.1.2.1", "20240105", "MR", "A1"});
  Add({"P2", "Jones^Ann", "1.2", "1.2.1", "1.2.1.1", "20230310", "US", "A2"});
  EXPECT_EQ(Run(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.1"}}, DCM_NumberOfStudyRelatedInstances),
            std::multiset<std::string>{"3"});
  EXPECT_EQ(Run(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.1"}}, DCM_ModalitiesInStudy),
            std::multiset<std::string>{"CT\\MR"});
  EXPECT_EQ(Run(QueryLevel::kPatient, {{DCM_PatientID, "P1"}}, DCM_NumberOfPatientRelatedSeries),
            std::multiset<std::string>{"2"});

  // The MR instance moves to patient P2's study: its series disappears from
  // study 1.1, MR from its modalities and from the modality index.
  Add({"P2", "Jones^Ann", "1.2", "1.2.2", "1.1.2.1", "20230310", "MR", "A2"});
  EXPECT_EQ(Run(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.1"}}, DCM_ModalitiesInStudy),
            std::multiset<std::string>{"CT"});
  EXPECT_EQ(Run(QueryLevel::kStudy, {{DCM_ModalitiesInStudy, "MR"}}, DCM_StudyInstanceUID),
            std::multiset<std::string>{"1.2"});
  EXPECT_EQ(Run(QueryLevel::kSeries, {{DCM_StudyInstanceUID, "1.1"}}, DCM_SeriesInstanceUID),
            std::multiset<std::string>{"1.1.1"});

  // Replacing the last instances of a study removes the study and its index entries.
  Add({"P3", "Brown^Bob", "1.3", "1.3.1", "1.2.1.1", "20220101", "CT", "A3"});
  Add({"P3", "Brown^Bob", "1.3", "1.3.1", "1.1.2.1", "20220101", "CT", "A3"});
  EXPECT_TRUE(Run(QueryLevel::kStudy, {{DCM_AccessionNumber, "A2"}}, DCM_StudyInstanceUID).empty());
  EXPECT_TRUE(Run(QueryLevel::kStudy, {{DCM_PatientName, "JONES*"}}, DCM_StudyInstanceUID).empty());
  EXPECT_EQ(Run(QueryLevel::kPatient, {{DCM_PatientID, "P2"}}, DCM_NumberOfPatientRelatedStudies),
            std::multiset<std::string>{});
  EXPECT_EQ(Run(QueryLevel::kStudy, {{DCM_StudyInstanceUID, "1.3"}}, DCM_NumberOfStudyRelatedInstances),
            std::multiset<std::string>{"2"});
}

TEST_F(QueryIndexTest, MostSelectiveIndexIsChosen) {
  // 40 studies on one date, one of them with a distinctive accession number.
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    Add({"P" + n, "Name^" + n, "2." + n, "2." + n + ".1", "2." + n + ".1.1", "20240105", "CT", "ACC" + n});
  }
  QueryStats stats;
  auto r = Run(QueryLevel::kStudy, {{DCM_StudyDate, "20240101-20240131"}, {DCM_AccessionNumber, "ACC7"}},
               DCM_StudyInstanceUID, &stats);
  EXPECT_EQ(r, std::multiset<std::string>{"2.7"});
  EXPECT_EQ(stats.index_used, "xa");
  EXPECT_EQ(stats.candidates, 1u);
  r = Run(QueryLevel::kStudy, {{DCM_StudyDate, "20240105"}, {DCM_PatientName, "name^1*"}}, DCM_StudyInstanceUID,
          &stats);
  EXPECT_EQ(r.size(), 11u);  // Name^1 and Name^10..19
  EXPECT_EQ(stats.index_used, "xn");
  r = Run(QueryLevel::kStudy, {{DCM_StudyDate, "20240104-20240106"}}, DCM_StudyInstanceUID, &stats);
  EXPECT_EQ(r.size(), 40u);
  EXPECT_EQ(stats.index_used, "xd");
  r = Run(QueryLevel::kStudy, {{DCM_StudyDescription, "*"}}, DCM_StudyInstanceUID, &stats);
  EXPECT_EQ(stats.index_used, "scan:S");
}

TEST_F(QueryIndexTest, TextIsIndexedInUtf8FromItsCharacterSet) {
  Add({"L1", "Buc^J\xe9r\xf4me", "3.1", "3.1.1", "3.1.1.1", "20240105", "CT", ""}, "ISO_IR 100");
  Add({"U1", "Buc^J\xc3\xa9r\xc3\xb4me", "3.2", "3.2.1", "3.2.1.1", "20240105", "CT", ""}, "ISO_IR 192");
  auto r = Run(QueryLevel::kStudy, {{DCM_PatientName, "BUC^J\xc3\x89R\xc3\x94ME"}}, DCM_PatientID);
  EXPECT_EQ(r, (std::multiset<std::string>{"L1", "U1"}));
}

TEST_F(QueryIndexTest, RetrievalResolvesEveryLevel) {
  Add({"P1", "A^B", "4.1", "4.1.1", "4.1.1.1", "20240105", "CT", ""});
  Add({"P1", "A^B", "4.1", "4.1.2", "4.1.2.1", "20240105", "CT", ""});
  Add({"P1", "A^B", "4.2", "4.2.1", "4.2.1.1", "20240106", "CT", ""});
  QueryEngine engine(*store_, "PACSCORE");
  auto resolve = [&](InformationModel model, const char* level, std::vector<std::pair<DcmTagKey, std::string>> keys) {
    DcmDataset id;
    id.putAndInsertString(DCM_QueryRetrieveLevel, level);
    for (const auto& [tag, value] : keys) id.putAndInsertString(tag, value.c_str());
    auto q = ParseIdentifier(id, model);
    EXPECT_TRUE(q.ok());
    auto refs = engine.Resolve(*q);
    EXPECT_TRUE(refs.ok());
    return refs.ok() ? refs->size() : 0;
  };
  EXPECT_EQ(resolve(InformationModel::kPatientRoot, "PATIENT", {{DCM_PatientID, "P1"}}), 3u);
  EXPECT_EQ(resolve(InformationModel::kStudyRoot, "STUDY", {{DCM_StudyInstanceUID, "4.1"}}), 2u);
  EXPECT_EQ(resolve(InformationModel::kStudyRoot, "SERIES",
                    {{DCM_StudyInstanceUID, "4.1"}, {DCM_SeriesInstanceUID, "4.1.2"}}),
            1u);
  EXPECT_EQ(resolve(InformationModel::kStudyRoot, "IMAGE", {{DCM_SOPInstanceUID, "4.2.1.1\\4.1.1.1"}}), 2u);
  EXPECT_EQ(resolve(InformationModel::kStudyRoot, "STUDY", {{DCM_StudyInstanceUID, "9.9"}}), 0u);
  DcmDataset empty;
  empty.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  auto q = ParseIdentifier(empty, InformationModel::kStudyRoot);
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(engine.Resolve(*q).ok());  // no key: not "everything"
}

// Pins which index each level reads and how many records it reads (the
// QueryStats a C-FIND logs), so restructuring the engine cannot change them.
TEST_F(QueryIndexTest, EveryLevelReadsTheSameIndexAndRecords) {
  Add({"P1", "Smith^John", "5.1", "5.1.1", "5.1.1.1", "20240105", "CT", "A1"});
  Add({"P1", "Smith^John", "5.1", "5.1.1", "5.1.1.2", "20240105", "CT", "A1"});
  Add({"P1", "Smith^John", "5.1", "5.1.10", "5.1.10.1", "20240105", "MR", "A1"});
  Add({"P2", "Smithers^Ann", "5.2", "5.2.1", "5.2.1.1", "20240210", "US", "A2"});
  Add({"P3", "Jones^Bob", "5.3", "5.3.1", "5.3.1.1", "20230310", "CT", "A3"});
  struct Case {
    QueryLevel level;
    std::vector<std::pair<DcmTagKey, std::string>> keys;
    DcmTagKey returned;
    std::multiset<std::string> values;
    std::string index_used;
    uint64_t candidates;
  };
  const Case cases[] = {
      {QueryLevel::kPatient, {}, DCM_PatientID, {"P1", "P2", "P3"}, "scan:P", 3},
      {QueryLevel::kPatient,
       {{DCM_PatientID, "P*"}},
       DCM_PatientName,
       {"Smith^John", "Smithers^Ann", "Jones^Bob"},
       "P",
       3},
      {QueryLevel::kPatient, {{DCM_PatientName, "SMI*"}}, DCM_PatientID, {"P1", "P2"}, "xn", 2},
      {QueryLevel::kStudy, {{DCM_PatientID, "P1"}}, DCM_StudyInstanceUID, {"5.1"}, "xp", 1},
      {QueryLevel::kStudy, {{DCM_StudyInstanceUID, "5.1\\5.3"}}, DCM_PatientID, {"P1", "P3"}, "uid", 2},
      {QueryLevel::kSeries, {{DCM_SeriesInstanceUID, "5.1.1"}}, DCM_Modality, {"CT"}, "uid", 3},
      {QueryLevel::kSeries, {{DCM_StudyInstanceUID, "5.1"}}, DCM_SeriesInstanceUID, {"5.1.1", "5.1.10"}, "uid", 3},
      {QueryLevel::kSeries, {{DCM_AccessionNumber, "A2"}}, DCM_SeriesInstanceUID, {"5.2.1"}, "xa", 2},
      {QueryLevel::kSeries, {{DCM_Modality, "CT"}}, DCM_SeriesInstanceUID, {"5.1.1", "5.3.1"}, "scan:E", 7},
      {QueryLevel::kImage,
       {{DCM_SOPInstanceUID, "5.1.1.2\\5.2.1.1"}},
       DCM_SeriesInstanceUID,
       {"5.1.1", "5.2.1"},
       "uid",
       6},
      {QueryLevel::kImage, {{DCM_SeriesInstanceUID, "5.1.1"}}, DCM_SOPInstanceUID, {"5.1.1.1", "5.1.1.2"}, "uid", 4},
      {QueryLevel::kImage,
       {{DCM_StudyDate, "20240101-20240131"}},
       DCM_SOPInstanceUID,
       {"5.1.1.1", "5.1.1.2", "5.1.10.1"},
       "xd",
       6},
      {QueryLevel::kImage,
       {},
       DCM_SOPInstanceUID,
       {"5.1.1.1", "5.1.1.2", "5.1.10.1", "5.2.1.1", "5.3.1.1"},
       "scan:I",
       12},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.index_used + " " + std::to_string(static_cast<int>(c.level)));
    QueryStats stats;
    EXPECT_EQ(Run(c.level, c.keys, c.returned, &stats), c.values);
    EXPECT_EQ(stats.index_used, c.index_used);
    EXPECT_EQ(stats.candidates, c.candidates);
    EXPECT_EQ(stats.matches, c.values.size());
  }
}

}  // namespace
}  // namespace pacs::dicom
