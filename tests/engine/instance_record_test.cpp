#include "pacs/engine/instance_record.h"

#include <gtest/gtest.h>

namespace pacs::engine {
namespace {

TEST(InstanceRecordTest, EncodeDecodeRoundTrips) {
  InstanceRecord rec;
  rec.sop_instance_uid = "1.2.3";
  rec.study_instance_uid = "1.2";
  rec.patient_id = "P1";
  rec.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  rec.header_hash = Sha256(std::span<const uint8_t>());
  rec.received_bytes = 123456789;
  rec.pixel_layout = PixelLayout::kEncapsulated;
  rec.pixel_vr = "OB";
  rec.offset_table = std::string("\0\0\0\0", 4);
  rec.chunks.push_back({Sha256(std::span<const uint8_t>()), 77, 1});
  auto decoded = InstanceRecord::Decode(rec.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->SameContentAs(rec));
  EXPECT_EQ(decoded->sop_instance_uid, "1.2.3");
  EXPECT_EQ(decoded->received_bytes, 123456789u);
  EXPECT_EQ(decoded->chunks[0].size, 77u);
}

TEST(InstanceRecordTest, TruncatedRecordIsCorruption) {
  InstanceRecord rec;
  rec.sop_instance_uid = "1.2.3";
  std::string bytes = rec.Encode();
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto decoded = InstanceRecord::Decode(std::string_view(bytes).substr(0, cut));
    ASSERT_FALSE(decoded.ok()) << "cut at " << cut;
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  }
}

}  // namespace
}  // namespace pacs::engine
