// ChooseCodec follows the table in docs/codecs.md row by row.
#include "pacs/codecs/codec_choice.h"

#include <gtest/gtest.h>

namespace pacs::codecs {
namespace {

FrameInfo Format(uint16_t allocated, uint16_t stored, uint16_t samples, bool is_signed = false, bool planar = false) {
  return FrameInfo{.rows = 64,
                   .columns = 64,
                   .bits_allocated = allocated,
                   .bits_stored = stored,
                   .samples_per_pixel = samples,
                   .is_signed = is_signed,
                   .planar = planar};
}

TEST(CodecChoiceTest, FollowsTheDocumentedTable) {
  // Greyscale 8/16 bits, any BitsStored, signed or not -> JPEG-LS.
  EXPECT_EQ(ChooseCodec(Format(16, 12, 1), "MONOCHROME2", "CT"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(16, 16, 1, true), "MONOCHROME2", "MR"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(16, 15, 1), "MONOCHROME1", "CR"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 1), "MONOCHROME1", "DX"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 1), "PALETTE COLOR", "US"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(16, 16, 1), "PALETTE COLOR", "US"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(16, 1, 1), "MONOCHROME2", ""), CodecId::kJpegLs);
  // RGB, 8 or 16 bits, either layout -> JPEG 2000 (with RCT, see below).
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3), "RGB", "US"), CodecId::kJ2k);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3, false, true), "RGB", "US"), CodecId::kJ2k);
  EXPECT_EQ(ChooseCodec(Format(16, 16, 3), "RGB", "OT"), CodecId::kJ2k);
  // Other full-resolution three-sample data (no RCT allowed) -> JPEG-LS.
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3), "YBR_FULL", "US"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3), "", "US"), CodecId::kJpegLs);
  // Subsampled or transform-only colour spaces, and unsupported words -> raw.
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3), "YBR_FULL_422", "US"), CodecId::kRaw);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3), "YBR_PARTIAL_420", "US"), CodecId::kRaw);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3), "YBR_RCT", "OT"), CodecId::kRaw);
  EXPECT_EQ(ChooseCodec(Format(32, 32, 1), "MONOCHROME2", "RTDOSE"), CodecId::kRaw);
  EXPECT_EQ(ChooseCodec(Format(1, 1, 1), "MONOCHROME2", "SEG"), CodecId::kRaw);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 4), "ARGB", "OT"), CodecId::kRaw);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 2), "", ""), CodecId::kRaw);
  EXPECT_EQ(ChooseCodec(FrameInfo{}, "MONOCHROME2", ""), CodecId::kRaw);
}

TEST(CodecChoiceTest, ModalityOnlyOverloadAssumesFullResolution) {
  EXPECT_EQ(ChooseCodec(Format(16, 12, 1), "CT"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(8, 8, 3), "US"), CodecId::kJpegLs);
  EXPECT_EQ(ChooseCodec(Format(16, 12, 1)), CodecId::kJpegLs);
}

TEST(CodecChoiceTest, RgbGetsTheColourTransformAndYbrRct) {
  const CodecChoice rgb = ChooseCodecAndOptions(Format(8, 8, 3), "RGB", "US");
  EXPECT_EQ(rgb.codec, CodecId::kJ2k);
  EXPECT_TRUE(rgb.options.rgb_colour_transform);
  EXPECT_EQ(rgb.compressed_photometric, "YBR_RCT");
  const CodecChoice grey = ChooseCodecAndOptions(Format(16, 12, 1), "MONOCHROME2", "CT");
  EXPECT_EQ(grey.codec, CodecId::kJpegLs);
  EXPECT_FALSE(grey.options.rgb_colour_transform);
  EXPECT_EQ(grey.compressed_photometric, "MONOCHROME2");
  const CodecChoice ybr = ChooseCodecAndOptions(Format(8, 8, 3), "YBR_FULL", "US");
  EXPECT_FALSE(ybr.options.rgb_colour_transform);
  EXPECT_EQ(ybr.compressed_photometric, "YBR_FULL");
  const CodecChoice subsampled = ChooseCodecAndOptions(Format(8, 8, 3), "YBR_FULL_422", "US");
  EXPECT_EQ(subsampled.codec, CodecId::kRaw);
  EXPECT_EQ(subsampled.compressed_photometric, "YBR_FULL_422");
}

TEST(CodecChoiceTest, ChosenCodecAlwaysSupportsTheFrame) {
  for (uint16_t allocated : {1, 8, 12, 16, 32})
    for (uint16_t stored = 0; stored <= allocated; ++stored)
      for (uint16_t samples : {1, 2, 3, 4}) {
        const FrameInfo info = Format(allocated, stored, samples);
        EXPECT_TRUE(MakeCodec(ChooseCodec(info, "MONOCHROME2", ""))->Supports(info));
      }
}

TEST(CodecChoiceTest, TransferSyntaxUids) {
  EXPECT_EQ(TransferSyntaxUid(CodecId::kRaw), "1.2.840.10008.1.2.1");
  EXPECT_EQ(TransferSyntaxUid(CodecId::kJpegLs), "1.2.840.10008.1.2.4.80");
  EXPECT_EQ(TransferSyntaxUid(CodecId::kJ2k), "1.2.840.10008.1.2.4.90");
  EXPECT_EQ(TransferSyntaxUid(CodecId::kHtj2k), "1.2.840.10008.1.2.4.201");
}

}  // namespace
}  // namespace pacs::codecs
