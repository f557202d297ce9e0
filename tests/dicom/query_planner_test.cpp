// The C-FIND planner on its own: which index and which key ranges a query
// reads, without a store. (Which of several indexes is the most selective is
// the executor's probe; query_index_test covers it on a real store.)
#include "query_planner.h"

#include "gtest/gtest.h"
#include "index_records.h"

namespace pacs::dicom::query {
namespace {

using index::Level;
using index::Tag;
using Kind = Source::Kind;

constexpr uint32_t kPatientName = Tag(0x0010, 0x0010);
constexpr uint32_t kPatientId = Tag(0x0010, 0x0020);
constexpr uint32_t kStudyDate = Tag(0x0008, 0x0020);
constexpr uint32_t kAccessionNumber = Tag(0x0008, 0x0050);
constexpr uint32_t kModality = Tag(0x0008, 0x0060);
constexpr uint32_t kModalitiesInStudy = Tag(0x0008, 0x0061);
constexpr uint32_t kStudyDescription = Tag(0x0008, 0x1030);
constexpr uint32_t kStudyInstanceUid = Tag(0x0020, 0x000D);
constexpr uint32_t kSeriesInstanceUid = Tag(0x0020, 0x000E);
constexpr uint32_t kSopInstanceUid = Tag(0x0008, 0x0018);
constexpr uint32_t kInstanceNumber = Tag(0x0020, 0x0013);

Query MakeQuery(QueryLevel level, std::vector<QueryKey> keys) {
  Query q;
  q.model = level == QueryLevel::kPatient ? InformationModel::kPatientRoot : InformationModel::kStudyRoot;
  q.level = level;
  q.keys = std::move(keys);
  return q;
}

std::vector<KeyRange> Days(std::initializer_list<const char*> days) {
  std::vector<KeyRange> out;
  for (const char* d : days) out.push_back({d, true});
  return out;
}

TEST(QueryPlanner, StudiesByPatientIdReadThePatientIdIndexExactly) {
  const QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kPatientId, "LO", "P1"}}));
  EXPECT_EQ(plan.level, Level::kStudy);
  EXPECT_FALSE(plan.per_study);
  ASSERT_EQ(plan.sources.size(), 1u);
  const Source& s = plan.sources[0];
  EXPECT_EQ(s.kind, Kind::kIndex);
  EXPECT_EQ(s.family, index::kPatientIdIndex);
  EXPECT_EQ(s.ranges, (std::vector<KeyRange>{{"P1", true}}));
  EXPECT_FALSE(s.filter.has_value());  // the range is the match
  EXPECT_FALSE(s.ids_in_value);
  EXPECT_EQ(s.name(), "xp");
  ASSERT_EQ(plan.matchers[static_cast<int>(Level::kPatient)].size(), 1u);
  EXPECT_EQ(plan.matchers[static_cast<int>(Level::kPatient)][0].tag(), kPatientId);
}

TEST(QueryPlanner, PatientsByPatientIdReadPatientRecords) {
  QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kPatient, {{kPatientId, "LO", "P1"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].kind, Kind::kRecords);
  EXPECT_EQ(plan.sources[0].family, index::kPatientRecords);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"P1", true}}));
  EXPECT_EQ(plan.sources[0].name(), "P");

  plan = PlanQuery(MakeQuery(QueryLevel::kPatient, {{kPatientId, "LO", "P1*"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"P1", false}}));

  // A pattern without a literal start cannot narrow: every patient is read.
  plan = PlanQuery(MakeQuery(QueryLevel::kPatient, {{kPatientId, "LO", "*1"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"", false}}));
  EXPECT_EQ(plan.sources[0].name(), "scan:P");
}

TEST(QueryPlanner, AccessionNumberSingleValueAndList) {
  QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kAccessionNumber, "SH", "ACC7"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].family, index::kAccessionIndex);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"ACC7", true}}));
  EXPECT_FALSE(plan.sources[0].may_repeat);

  plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kAccessionNumber, "SH", "ACC7\\ACC9"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"ACC7", true}, {"ACC9", true}}));
  EXPECT_TRUE(plan.sources[0].may_repeat);

  // A list with a wildcard in it cannot be read by value.
  plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kAccessionNumber, "SH", "ACC7\\AC*"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].name(), "scan:S");
}

TEST(QueryPlanner, DateRangesReadDaysMonthsOrYears) {
  auto ranges = [](const char* value) {
    const QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kStudyDate, "DA", value}}));
    EXPECT_EQ(plan.sources.size(), 1u);
    EXPECT_EQ(plan.sources[0].family, index::kDateIndex);
    EXPECT_TRUE(plan.sources[0].filter.has_value());  // the range bounds are checked on each entry
    return plan.sources[0].ranges;
  };
  EXPECT_EQ(ranges("20240105"), Days({"20240105"}));
  EXPECT_EQ(ranges("20240104-20240106"), Days({"20240104", "20240105", "20240106"}));
  EXPECT_EQ(ranges("20240228-20240301"), Days({"20240228", "20240229", "20240301"}));  // leap year
  EXPECT_EQ(ranges("20231231-20240101"), Days({"20231231", "20240101"}));
  EXPECT_EQ(ranges("20240115-20240302").size(), 48u);  // two months apart: still days
  EXPECT_EQ(ranges("20241115-20250210"),
            (std::vector<KeyRange>{{"202411", false}, {"202412", false}, {"202501", false}, {"202502", false}}));
  EXPECT_EQ(
      ranges("20200101-20241231"),
      (std::vector<KeyRange>{{"2020", false}, {"2021", false}, {"2022", false}, {"2023", false}, {"2024", false}}));
  EXPECT_EQ(ranges("202401"), (std::vector<KeyRange>{{"202401", false}}));  // a partial date: a prefix
  // Open and reversed ranges read the whole index (the filter does the rest).
  EXPECT_EQ(ranges("20240101-"), (std::vector<KeyRange>{{"", false}}));
  EXPECT_EQ(ranges("-20240101"), (std::vector<KeyRange>{{"", false}}));
  EXPECT_EQ(ranges("20240106-20240104"), (std::vector<KeyRange>{{"", false}}));
}

TEST(QueryPlanner, NamePrefixReadsTheNameIndexByItsLiteralStart) {
  QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kPatientName, "PN", "SMI*"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  const Source& s = plan.sources[0];
  EXPECT_EQ(s.kind, Kind::kIndex);
  EXPECT_EQ(s.family, index::kNameIndex);
  EXPECT_EQ(s.ranges, (std::vector<KeyRange>{{"SMI", false}}));
  ASSERT_TRUE(s.filter.has_value());
  EXPECT_EQ(s.filter->tag(), kPatientName);
  EXPECT_TRUE(s.may_repeat);  // one entry per component group: a study can be found twice
  EXPECT_FALSE(s.ids_in_value);

  // Case-folded like the index; at PATIENT level the entries' values name patients.
  plan = PlanQuery(MakeQuery(QueryLevel::kPatient, {{kPatientName, "PN", "smi*"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"SMI", false}}));
  EXPECT_TRUE(plan.sources[0].ids_in_value);

  // A full name is an exact range, and needs no filter.
  plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kPatientName, "PN", "Smith^John"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"SMITH^JOHN", true}}));
  EXPECT_FALSE(plan.sources[0].filter.has_value());

  // A name with component groups is read by its first group, matched on the record.
  plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kPatientName, "PN", "Yamada^Tarou=*"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].ranges, (std::vector<KeyRange>{{"YAMADA^TAROU", false}}));
  EXPECT_FALSE(plan.sources[0].filter.has_value());
}

TEST(QueryPlanner, StudyInstanceUidListsAreTheCandidatesThemselves) {
  const QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kStudyInstanceUid, "UI", "1.2\\1.3"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].kind, Kind::kUids);
  EXPECT_EQ(plan.sources[0].uids, (std::vector<std::string>{"1.2", "1.3"}));
  EXPECT_TRUE(plan.sources[0].ranges.empty());
  EXPECT_EQ(plan.sources[0].name(), "uid");
}

TEST(QueryPlanner, SeveralIndexesAreAlternativesMostSpecificFirst) {
  const QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kStudyDate, "DA", "20240101-20240131"},
                                                                  {kModalitiesInStudy, "CS", "CT"},
                                                                  {kPatientName, "PN", "SMI*"},
                                                                  {kAccessionNumber, "SH", "ACC7"},
                                                                  {kStudyInstanceUid, "UI", "1.2"}}));
  std::vector<std::string> names;
  for (const auto& s : plan.sources) names.push_back(s.name());
  EXPECT_EQ(names, (std::vector<std::string>{"uid", "xa", "xn", "xd", "xm"}));
}

TEST(QueryPlanner, NoNarrowingKeyReadsEveryRecordOfTheLevel) {
  const struct {
    QueryLevel level;
    const char* name;
  } cases[] = {{QueryLevel::kPatient, "scan:P"},
               {QueryLevel::kStudy, "scan:S"},
               {QueryLevel::kSeries, "scan:E"},
               {QueryLevel::kImage, "scan:I"}};
  for (const auto& c : cases) {
    const QueryPlan plan = PlanQuery(MakeQuery(c.level, {{kStudyDescription, "LO", "*"}}));
    ASSERT_EQ(plan.sources.size(), 1u);
    EXPECT_EQ(plan.sources[0].kind, Kind::kRecords);
    EXPECT_EQ(plan.sources[0].name(), c.name);
    EXPECT_FALSE(plan.per_study);
    for (const auto& level : plan.matchers) EXPECT_TRUE(level.empty());  // '*' is universal
  }
}

TEST(QueryPlanner, SeriesLevelByUidLooksTheSeriesUp) {
  const QueryPlan plan = PlanQuery(
      MakeQuery(QueryLevel::kSeries, {{kStudyInstanceUid, "UI", "1.2"}, {kSeriesInstanceUid, "UI", "1.2.3\\1.2.4"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].kind, Kind::kUidLookups);
  EXPECT_EQ(plan.sources[0].family, index::kSeriesLookups);
  EXPECT_EQ(plan.sources[0].uids, (std::vector<std::string>{"1.2.3", "1.2.4"}));
  EXPECT_FALSE(plan.per_study);
  // The study UID is still checked on each series' study.
  ASSERT_EQ(plan.matchers[static_cast<int>(Level::kStudy)].size(), 1u);
  EXPECT_EQ(plan.matchers[static_cast<int>(Level::kSeries)].size(), 1u);
}

TEST(QueryPlanner, SeriesLevelWithoutUidReadsStudyByStudy) {
  const QueryPlan plan =
      PlanQuery(MakeQuery(QueryLevel::kSeries, {{kAccessionNumber, "SH", "ACC7"}, {kModality, "CS", "MR"}}));
  EXPECT_TRUE(plan.per_study);
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].family, index::kAccessionIndex);
  ASSERT_EQ(plan.matchers[static_cast<int>(Level::kSeries)].size(), 1u);
  EXPECT_EQ(plan.matchers[static_cast<int>(Level::kSeries)][0].tag(), kModality);

  // A series key alone cannot narrow the studies.
  const QueryPlan by_modality = PlanQuery(MakeQuery(QueryLevel::kSeries, {{kModality, "CS", "MR"}}));
  EXPECT_FALSE(by_modality.per_study);
  ASSERT_EQ(by_modality.sources.size(), 1u);
  EXPECT_EQ(by_modality.sources[0].name(), "scan:E");
}

TEST(QueryPlanner, ImageLevelPrefersInstanceUidsThenSeriesUidsThenStudies) {
  QueryPlan plan = PlanQuery(MakeQuery(
      QueryLevel::kImage, {{kSeriesInstanceUid, "UI", "1.2.3"}, {kSopInstanceUid, "UI", "1.2.3.4\\1.2.3.5"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].kind, Kind::kUidLookups);
  EXPECT_EQ(plan.sources[0].family, index::kInstanceLookups);
  EXPECT_EQ(plan.sources[0].uids, (std::vector<std::string>{"1.2.3.4", "1.2.3.5"}));

  plan = PlanQuery(MakeQuery(QueryLevel::kImage, {{kSeriesInstanceUid, "UI", "1.2.3"}}));
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].family, index::kSeriesLookups);
  EXPECT_FALSE(plan.per_study);

  plan = PlanQuery(MakeQuery(QueryLevel::kImage, {{kPatientId, "LO", "P1"}, {kInstanceNumber, "IS", "3"}}));
  EXPECT_TRUE(plan.per_study);
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].family, index::kPatientIdIndex);
  EXPECT_EQ(plan.matchers[static_cast<int>(Level::kImage)].size(), 1u);
}

TEST(QueryPlanner, KeysBelowTheLevelAreUnsupportedUnlessUniversal) {
  QueryPlan plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kModality, "CS", "CT"}}));
  EXPECT_TRUE(plan.unsupported_keys);
  for (const auto& level : plan.matchers) EXPECT_TRUE(level.empty());
  ASSERT_EQ(plan.sources.size(), 1u);
  EXPECT_EQ(plan.sources[0].name(), "scan:S");

  plan = PlanQuery(MakeQuery(QueryLevel::kStudy, {{kModality, "CS", ""}, {kSopInstanceUid, "UI", ""}}));
  EXPECT_FALSE(plan.unsupported_keys);
}

}  // namespace
}  // namespace pacs::dicom::query
