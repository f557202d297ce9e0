// The query index's key schema (index_records.h): the bytes of every kind of
// key, and that each parser takes apart what its builder put together.
#include "gtest/gtest.h"
#include "index_records.h"

namespace pacs::dicom::index {
namespace {

using namespace std::string_literals;

TEST(IndexKeys, RecordKeysFollowTheSchema) {
  EXPECT_EQ(PatientKey("P1", "ISS"), "P1\0ISS"s);
  EXPECT_EQ(PatientRecordKey(PatientKey("P1", "")), "PP1\0"s);
  EXPECT_EQ(StudyRecordKey("1.2"), "S1.2");
  EXPECT_EQ(SeriesRecordKey("1.2", "1.2.3"), "E1.2\0001.2.3"s);
  EXPECT_EQ(InstanceRecordKey("1.2", "1.2.3", "1.2.3.4"), "I1.2\0001.2.3\0001.2.3.4"s);
  EXPECT_EQ(SeriesLookupKey("1.2.3"), "e1.2.3");
  EXPECT_EQ(InstanceLookupKey("1.2.3.4"), "i1.2.3.4");
  EXPECT_EQ(SecondaryKey(kAccessionIndex, "ACC7", "1.2"), "xaACC7\0001.2"s);
  EXPECT_EQ(SecondaryKey(kPatientIdIndex, PatientKey("P1", "ISS"), "1.2"), "xpP1\0ISS\0001.2"s);
}

TEST(IndexKeys, RangePrefixesCoverExactlyTheirValues) {
  EXPECT_EQ(RangePrefix(kNameIndex, "SMI", false), "xnSMI");
  EXPECT_EQ(RangePrefix(kNameIndex, "SMITH^JOHN", true), "xnSMITH^JOHN\0"s);
  EXPECT_EQ(RangePrefix(kDateIndex, "", false), "xd");
  EXPECT_EQ(RangePrefix(kPatientRecords, "P1", true), "PP1\0"s);
  EXPECT_EQ(RangePrefix(kStudyRecords, "", false), "S");
  EXPECT_EQ(RecordsOfStudyPrefix(Level::kSeries, "1.2"), "E1.2\0"s);
  EXPECT_EQ(RecordsOfStudyPrefix(Level::kImage, "1.2"), "I1.2\0"s);
  EXPECT_EQ(InstancesOfSeriesPrefix("1.2", "1.2.3"), "I1.2\0001.2.3\0"s);
  // A prefix names its records and no others: "1.2" is not "1.23".
  EXPECT_NE(SeriesRecordKey("1.23", "9").rfind(RecordsOfStudyPrefix(Level::kSeries, "1.2"), 0), 0u);
  EXPECT_EQ(SeriesRecordKey("1.2", "9").rfind(RecordsOfStudyPrefix(Level::kSeries, "1.2"), 0), 0u);
}

TEST(IndexKeys, ParsersTakeApartWhatBuildersPutTogether) {
  // The parts are views into the key: keep it alive.
  const std::string patient_id_key = SecondaryKey(kPatientIdIndex, PatientKey("P1", "ISS"), "1.2");
  auto secondary = ParseSecondaryKey(patient_id_key);
  EXPECT_EQ(secondary.value, "P1");
  EXPECT_EQ(secondary.study, "1.2");
  const std::string date_key = SecondaryKey(kDateIndex, "20240105", "1.2");
  secondary = ParseSecondaryKey(date_key);
  EXPECT_EQ(secondary.value, "20240105");
  EXPECT_EQ(secondary.study, "1.2");

  const std::string series_key = SeriesRecordKey("1.2", "1.2.3");
  auto series = ParseRecordKey(series_key);
  EXPECT_EQ(series.study, "1.2");
  EXPECT_EQ(series.series, "1.2.3");
  EXPECT_EQ(series.sop, "");
  const std::string instance_key = InstanceRecordKey("1.2", "1.2.3", "1.2.3.4");
  auto instance = ParseRecordKey(instance_key);
  EXPECT_EQ(instance.study, "1.2");
  EXPECT_EQ(instance.series, "1.2.3");
  EXPECT_EQ(instance.sop, "1.2.3.4");

  const std::string study_key = StudyRecordKey("1.2");
  EXPECT_EQ(RecordId(study_key), "1.2");
  const std::string patient_key = PatientRecordKey(PatientKey("P1", "ISS"));
  EXPECT_EQ(RecordId(patient_key), PatientKey("P1", "ISS"));

  const std::string location = EncodeInstanceLocation("1.2", "1.2.3");
  EXPECT_EQ(location, "1.2\0001.2.3"s);
  EXPECT_EQ(DecodeInstanceLocation(location).study, "1.2");
  EXPECT_EQ(DecodeInstanceLocation(location).series, "1.2.3");
}

TEST(IndexKeys, MalformedKeysParseToEmptyParts) {
  EXPECT_EQ(ParseSecondaryKey("x").value, "");
  EXPECT_EQ(ParseSecondaryKey("xaACC").study, "");
  EXPECT_EQ(ParseRecordKey("").study, "");
  EXPECT_EQ(ParseRecordKey("E1.2").series, "");
  EXPECT_EQ(DecodeInstanceLocation("1.2").study, "1.2");
  EXPECT_EQ(DecodeInstanceLocation("1.2").series, "");
}

}  // namespace
}  // namespace pacs::dicom::index
