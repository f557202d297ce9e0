// Ingestor::IngestAttributes on a real RocksDB store: the dataset it builds
// from keywords reads back as given, and a keyword DCMTK's dictionary does
// not know (or a value its element cannot hold) stores nothing.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "pacs/dicom/ingest.h"
#include "store_fixture.h"

namespace pacs::dicom {
namespace {

using Attributes = std::vector<std::pair<std::string, std::string>>;

class IngestAttributesTest : public testing::StoreTest {
 protected:
  // The value of `tag` in the stored instance `sop_instance_uid`, rebuilt from the store.
  std::string StoredValue(const std::string& sop_instance_uid, const DcmTagKey& tag) {
    auto record = store_->GetInstance(sop_instance_uid);
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    if (!record.ok()) return "<not stored>";
    auto file = RebuildInstance(*store_, *record);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    if (!file.ok()) return "<not rebuilt>";
    OFString value;
    if ((*file)->getDataset()->findAndGetOFStringArray(tag, value).bad()) return "<absent>";
    return value.c_str();
  }

  uint64_t StoredInstances() {
    auto stats = store_->Stats(true);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    return stats.ok() ? stats->instances : 0;
  }
};

TEST_F(IngestAttributesTest, StoresTheAttributesAsGiven) {
  Ingestor ingestor(*store_);
  auto report = ingestor.IngestAttributes({
      {"SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"},
      {"SOPInstanceUID", "1.2.3.4.1.1.1"},
      {"StudyInstanceUID", "1.2.3.4.1"},
      {"SeriesInstanceUID", "1.2.3.4.1.1"},
      {"PatientName", "SMITH^JOHN"},
      {"PatientID", "PID0000001"},
      {"StudyDate", "20240105"},
      {"Modality", "CT"},
      {"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"},
      {"InstanceNumber", "1"},
      {"InstanceNumber", "7"},  // the last value given wins
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->sop_instance_uid, "1.2.3.4.1.1.1");
  EXPECT_EQ(report->study_instance_uid, "1.2.3.4.1");
  EXPECT_EQ(report->commit.outcome, engine::CommitOutcome::kStored);

  auto record = store_->GetInstance("1.2.3.4.1.1.1");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(ReceivedTransferSyntax(*record), EXS_LittleEndianExplicit);
  EXPECT_EQ(StoredValue("1.2.3.4.1.1.1", DCM_PatientName), "SMITH^JOHN");
  EXPECT_EQ(StoredValue("1.2.3.4.1.1.1", DCM_PatientID), "PID0000001");
  EXPECT_EQ(StoredValue("1.2.3.4.1.1.1", DCM_StudyDate), "20240105");
  EXPECT_EQ(StoredValue("1.2.3.4.1.1.1", DCM_SeriesInstanceUID), "1.2.3.4.1.1");
  EXPECT_EQ(StoredValue("1.2.3.4.1.1.1", DCM_ImageType), "ORIGINAL\\PRIMARY\\AXIAL");
  EXPECT_EQ(StoredValue("1.2.3.4.1.1.1", DCM_InstanceNumber), "7");
  EXPECT_EQ(StoredInstances(), 1u);
}

TEST_F(IngestAttributesTest, UnknownKeywordIsRefusedAndNamed) {
  Ingestor ingestor(*store_);
  auto report = ingestor.IngestAttributes({
      {"SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"},
      {"SOPInstanceUID", "1.2.3.4.2.1.1"},
      {"StudyInstanceUID", "1.2.3.4.2"},
      {"SeriesInstanceUID", "1.2.3.4.2.1"},
      {"PatientFavouriteColour", "JOHNNY"},
  });
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().ToString().find("PatientFavouriteColour"), std::string::npos) << report.status().ToString();
  EXPECT_NE(report.status().ToString().find("nothing stored"), std::string::npos) << report.status().ToString();
  EXPECT_FALSE(store_->GetInstance("1.2.3.4.2.1.1").ok());
  EXPECT_EQ(StoredInstances(), 0u);
}

TEST_F(IngestAttributesTest, ValueItsElementCannotHoldIsRefusedAndNamed) {
  Ingestor ingestor(*store_);
  auto report = ingestor.IngestAttributes({
      {"SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"},
      {"SOPInstanceUID", "1.2.3.4.3.1.1"},
      {"StudyInstanceUID", "1.2.3.4.3"},
      {"SeriesInstanceUID", "1.2.3.4.3.1"},
      {"ReferencedSeriesSequence", "1.2.3"},  // a sequence has no text value
  });
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().ToString().find("ReferencedSeriesSequence"), std::string::npos)
      << report.status().ToString();
  EXPECT_EQ(StoredInstances(), 0u);
}

}  // namespace
}  // namespace pacs::dicom
