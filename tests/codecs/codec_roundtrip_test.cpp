// Round trips generated frames through every codec bit for bit: the edge
// cases of docs/codecs.md (precision rules, signed data, bits above
// BitsStored, degenerate sizes, colour layouts).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "pacs/codecs/codec_options.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/codecs/pixel_scan.h"
#include "test_frames.h"

namespace pacs::codecs {
namespace {

using testing::MakeFrame;
using testing::Pattern;

struct Case {
  std::string name;
  FrameInfo info;
  Pattern pattern;
};

FrameInfo Grey(uint32_t rows, uint32_t columns, uint16_t allocated, uint16_t stored, bool is_signed = false) {
  return FrameInfo{.rows = rows,
                   .columns = columns,
                   .bits_allocated = allocated,
                   .bits_stored = stored,
                   .samples_per_pixel = 1,
                   .is_signed = is_signed};
}
FrameInfo Rgb(uint32_t rows, uint32_t columns, uint16_t allocated, bool planar) {
  return FrameInfo{.rows = rows,
                   .columns = columns,
                   .bits_allocated = allocated,
                   .bits_stored = allocated,
                   .samples_per_pixel = 3,
                   .planar = planar};
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  // Every precision from 1 to 16 bits, in the smallest word that holds it.
  for (uint16_t bits = 1; bits <= 16; ++bits) {
    const uint16_t allocated = bits <= 8 ? 8 : 16;
    cases.push_back({"Noise" + std::to_string(bits) + "of" + std::to_string(allocated), Grey(23, 17, allocated, bits),
                     Pattern::kNoise});
    cases.push_back({"Smooth" + std::to_string(bits) + "of" + std::to_string(allocated), Grey(40, 33, allocated, bits),
                     Pattern::kSmooth});
  }
  // <= 8 bits stored in a 16-bit word (JPEG-LS narrows these to bytes).
  for (uint16_t bits : {2, 8})
    cases.push_back({"Noise" + std::to_string(bits) + "of16", Grey(9, 11, 16, bits), Pattern::kNoise});
  for (Pattern p : {Pattern::kConstantZero, Pattern::kConstantMax}) {
    cases.push_back({std::string(testing::PatternName(p)) + "12of16", Grey(64, 64, 16, 12), p});
    cases.push_back({std::string(testing::PatternName(p)) + "8of8", Grey(31, 7, 8, 8), p});
  }
  // Signed: negatives sign-extended (bits above BitsStored set) and masked.
  for (uint16_t bits : {12, 14, 16}) {
    cases.push_back({"SignedExtended" + std::to_string(bits), Grey(30, 29, 16, bits, true), Pattern::kSignedExtended});
    cases.push_back({"SignedMasked" + std::to_string(bits), Grey(30, 29, 16, bits, true), Pattern::kSignedMasked});
  }
  cases.push_back({"SignedExtended8of8", Grey(13, 19, 8, 8, true), Pattern::kSignedExtended});
  cases.push_back({"SignedExtended6of8", Grey(13, 19, 8, 6, true), Pattern::kSignedExtended});
  cases.push_back({"SignedMasked6of8", Grey(13, 19, 8, 6, true), Pattern::kSignedMasked});
  cases.push_back({"SignedSmooth16", Grey(20, 20, 16, 16, true), Pattern::kSmooth});
  // Garbage (overlay bits) above BitsStored.
  cases.push_back({"GarbageAbove12of16", Grey(33, 35, 16, 12), Pattern::kGarbageAbove});
  cases.push_back({"GarbageAbove10of16Signed", Grey(33, 35, 16, 10, true), Pattern::kGarbageAbove});
  cases.push_back({"GarbageAbove6of8", Grey(33, 35, 8, 6), Pattern::kGarbageAbove});
  // Degenerate and odd sizes.
  cases.push_back({"OnePixel", Grey(1, 1, 16, 12), Pattern::kNoise});
  cases.push_back({"OneColumn", Grey(57, 1, 16, 12), Pattern::kNoise});
  cases.push_back({"OneRow", Grey(1, 57, 16, 12), Pattern::kNoise});
  cases.push_back({"TwoByTwo8", Grey(2, 2, 8, 8), Pattern::kNoise});
  cases.push_back({"Odd257x129", Grey(257, 129, 16, 16), Pattern::kSmooth});
  cases.push_back({"Wide3x1000", Grey(3, 1000, 16, 12), Pattern::kSmooth});
  // Colour, both layouts, both word sizes.
  for (bool planar : {false, true}) {
    const std::string layout = planar ? "Planar" : "Interleaved";
    cases.push_back({"Rgb8Noise" + layout, Rgb(21, 19, 8, planar), Pattern::kNoise});
    cases.push_back({"Rgb8Smooth" + layout, Rgb(64, 47, 8, planar), Pattern::kSmooth});
    cases.push_back({"Rgb16Noise" + layout, Rgb(11, 13, 16, planar), Pattern::kNoise});
    cases.push_back({"Rgb8OnePixel" + layout, Rgb(1, 1, 8, planar), Pattern::kNoise});
    cases.push_back({"Rgb8OneColumn" + layout, Rgb(9, 1, 8, planar), Pattern::kSmooth});
  }
  return cases;
}

class CodecRoundTrip : public ::testing::TestWithParam<std::tuple<CodecId, Case>> {};

TEST_P(CodecRoundTrip, IsBitExact) {
  const auto& [id, c] = GetParam();
  const auto codec = MakeCodec(id);
  ASSERT_TRUE(codec->Supports(c.info));
  const std::vector<uint8_t> raw = MakeFrame(c.info, c.pattern, 42);
  const auto encoded = codec->Encode(c.info, raw);
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  ASSERT_FALSE(encoded->empty());
  const auto decoded = codec->Decode(c.info, *encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), c.info.FrameBytes());
  EXPECT_TRUE(*decoded == raw) << "first difference at byte "
                               << (std::mismatch(raw.begin(), raw.end(), decoded->begin()).first - raw.begin());
  if (id == CodecId::kHtj2k) {
    // HTJ2K is plain JPEG 2000 Part 15: OpenJPEG (our J2K decoder) must
    // read OpenJPH's codestream to the same bits.
    const auto by_openjpeg = MakeCodec(CodecId::kJ2k)->Decode(c.info, *encoded);
    ASSERT_TRUE(by_openjpeg.ok()) << by_openjpeg.status().ToString();
    EXPECT_TRUE(*by_openjpeg == raw);
  }
}

INSTANTIATE_TEST_SUITE_P(Generated, CodecRoundTrip,
                         ::testing::Combine(::testing::Values(CodecId::kJpegLs, CodecId::kJ2k, CodecId::kHtj2k),
                                            ::testing::ValuesIn(Cases())),
                         [](const auto& info) {
                           return std::string(CodecName(std::get<0>(info.param))) + "_" + std::get<1>(info.param).name;
                         });

// J2K and HTJ2K with the reversible colour transform: still bit-exact on
// every RGB case, the COD segment says so, and OpenJPEG undoes OpenJPH's RCT.
class ColourTransformRoundTrip : public ::testing::TestWithParam<std::tuple<CodecId, Case>> {};

TEST_P(ColourTransformRoundTrip, IsBitExactAndFlagged) {
  const auto& [id, c] = GetParam();
  const auto codec = MakeCodec(id, CodecOptions{.rgb_colour_transform = true});
  const std::vector<uint8_t> raw = MakeFrame(c.info, c.pattern, 43);
  const auto encoded = codec->Encode(c.info, raw);
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  EXPECT_EQ(UsesColourTransform(*encoded), c.info.samples_per_pixel == 3);
  const auto plain = MakeCodec(id)->Encode(c.info, raw);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(UsesColourTransform(*plain));
  for (CodecId decoder : {id, CodecId::kJ2k}) {
    const auto decoded = MakeCodec(decoder)->Decode(c.info, *encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(*decoded == raw) << CodecName(decoder);
  }
}

std::vector<Case> ColourCases() {
  std::vector<Case> colour;
  for (const Case& c : Cases())
    if (c.info.samples_per_pixel == 3) colour.push_back(c);
  colour.push_back({"GreyIgnoresTheOption", Grey(20, 20, 16, 12), Pattern::kSmooth});
  return colour;
}

INSTANTIATE_TEST_SUITE_P(Rct, ColourTransformRoundTrip,
                         ::testing::Combine(::testing::Values(CodecId::kJ2k, CodecId::kHtj2k),
                                            ::testing::ValuesIn(ColourCases())),
                         [](const auto& info) {
                           return std::string(CodecName(std::get<0>(info.param))) + "_" + std::get<1>(info.param).name;
                         });

TEST(ColourTransformTest, NotACodestreamSaysNo) {
  EXPECT_FALSE(UsesColourTransform({}));
  const uint8_t jpeg_ls[] = {0xFF, 0xD8, 0xFF, 0xF7, 0x00, 0x0B};
  EXPECT_FALSE(UsesColourTransform(jpeg_ls));
  const uint8_t truncated[] = {0xFF, 0x4F, 0xFF, 0x51, 0x00};
  EXPECT_FALSE(UsesColourTransform(truncated));
}

TEST(PixelScanTest, PrecisionIsBitsStoredUnlessBitsAboveAreSet) {
  const FrameInfo info = Grey(8, 8, 16, 12);
  EXPECT_EQ(ChooseEncodingPrecision(info, MakeFrame(info, Pattern::kNoise)), 12);
  EXPECT_EQ(ChooseEncodingPrecision(info, MakeFrame(info, Pattern::kGarbageAbove)), 16);
  const FrameInfo signed_info = Grey(8, 8, 16, 12, true);
  EXPECT_EQ(ChooseEncodingPrecision(signed_info, MakeFrame(signed_info, Pattern::kSignedExtended)), 16);
  EXPECT_EQ(ChooseEncodingPrecision(signed_info, MakeFrame(signed_info, Pattern::kSignedMasked)), 12);
  const FrameInfo byte_info = Grey(8, 8, 8, 7);
  EXPECT_FALSE(HasBitsAboveStored(byte_info, MakeFrame(byte_info, Pattern::kConstantMax)));
  EXPECT_TRUE(HasBitsAboveStored(byte_info, MakeFrame(byte_info, Pattern::kGarbageAbove)));
}

class CodecErrors : public ::testing::TestWithParam<CodecId> {};

TEST_P(CodecErrors, RejectsUnsupportedFormats) {
  const auto codec = MakeCodec(GetParam());
  EXPECT_FALSE(codec->Supports(FrameInfo{.rows = 4, .columns = 4, .bits_allocated = 32, .bits_stored = 32}));
  EXPECT_FALSE(codec->Supports(FrameInfo{.rows = 4, .columns = 4, .bits_allocated = 1, .bits_stored = 1}));
  EXPECT_FALSE(codec->Supports(FrameInfo{.rows = 4, .columns = 4, .bits_allocated = 16, .bits_stored = 0}));
  EXPECT_FALSE(codec->Supports(FrameInfo{.rows = 4, .columns = 4, .bits_allocated = 8, .bits_stored = 12}));
  EXPECT_FALSE(codec->Supports(
      FrameInfo{.rows = 4, .columns = 4, .bits_allocated = 8, .bits_stored = 8, .samples_per_pixel = 2}));
  EXPECT_FALSE(codec->Supports(FrameInfo{.rows = 0, .columns = 4, .bits_allocated = 8, .bits_stored = 8}));
  EXPECT_FALSE(codec->Supports(FrameInfo{.rows = 4, .columns = 70000, .bits_allocated = 8, .bits_stored = 8}));
  const FrameInfo unsupported{.rows = 2, .columns = 2, .bits_allocated = 32, .bits_stored = 32};
  std::vector<uint8_t> raw(unsupported.FrameBytes());
  const auto encoded = codec->Encode(unsupported, raw);
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kUnsupported);
}

TEST_P(CodecErrors, RejectsWrongFrameSize) {
  const auto codec = MakeCodec(GetParam());
  const FrameInfo info = Grey(4, 4, 16, 12);
  std::vector<uint8_t> raw(info.FrameBytes() - 2);
  const auto encoded = codec->Encode(info, raw);
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(CodecErrors, GarbageAndTruncatedCodestreamsFailCleanly) {
  const auto codec = MakeCodec(GetParam());
  const FrameInfo info = Grey(32, 32, 16, 12);
  const std::vector<uint8_t> garbage = MakeFrame(info, Pattern::kNoise, 7);
  EXPECT_FALSE(codec->Decode(info, garbage).ok());
  EXPECT_FALSE(codec->Decode(info, std::span<const uint8_t>()).ok());
  const auto encoded = codec->Encode(info, MakeFrame(info, Pattern::kSmooth));
  ASSERT_TRUE(encoded.ok());
  // A header cut short must be an error, never a crash.
  EXPECT_FALSE(codec->Decode(info, std::span(encoded->data(), 20)).ok());
}

TEST_P(CodecErrors, GeometryMismatchIsCorruption) {
  const auto codec = MakeCodec(GetParam());
  const FrameInfo info = Grey(16, 24, 16, 12);
  const auto encoded = codec->Encode(info, MakeFrame(info, Pattern::kSmooth));
  ASSERT_TRUE(encoded.ok());
  FrameInfo other = info;
  other.rows = 24, other.columns = 16;
  const auto decoded = codec->Decode(other, *encoded);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  // The message names both geometries: the codestream's and the expected one.
  EXPECT_NE(decoded.status().message().find("24x16"), std::string::npos) << decoded.status().message();
  EXPECT_NE(decoded.status().message().find("16x24"), std::string::npos) << decoded.status().message();
  other = info;
  other.bits_allocated = 8, other.bits_stored = 8;
  EXPECT_FALSE(codec->Decode(other, *encoded).ok());
}

// JPEG 2000 main headers with values outside ISO/IEC 15444-1's ranges: OpenJPH
// 0.9.0 divides by a zero tile size and assert()s on code-block exponents
// (found by fuzz_codec_decode), so the wrapper must refuse them first.
TEST_P(CodecErrors, DamagedJ2kMainHeaderIsRefusedNotFatal) {
  if (GetParam() == CodecId::kJpegLs) GTEST_SKIP() << "JPEG 2000 markers only";
  const auto codec = MakeCodec(GetParam());
  const FrameInfo info = Grey(16, 24, 16, 12);
  const auto encoded = codec->Encode(info, MakeFrame(info, Pattern::kSmooth));
  ASSERT_TRUE(encoded.ok());
  ASSERT_GT(encoded->size(), 64U);
  ASSERT_EQ((*encoded)[2], 0xFF);
  ASSERT_EQ((*encoded)[3], 0x51);  // SIZ right after SOC

  std::vector<uint8_t> zero_tile = *encoded;
  std::fill(zero_tile.begin() + 24, zero_tile.begin() + 32, 0);  // XTsiz, YTsiz
  const auto tile_result = codec->Decode(info, zero_tile);
  ASSERT_FALSE(tile_result.ok());
  EXPECT_EQ(tile_result.status().code(), StatusCode::kCorruption) << tile_result.status().ToString();

  // COD: marker, Lcod, Scod, SGcod (4 bytes), then SPcod: levels, xcb, ycb.
  std::vector<uint8_t> big_block = *encoded;
  size_t cod = 0;
  for (size_t i = 4; i + 11 < big_block.size() && cod == 0; ++i)
    if (big_block[i] == 0xFF && big_block[i + 1] == 0x52) cod = i;
  ASSERT_NE(cod, 0U) << "no COD marker in the main header";
  big_block[cod + 10] = 9;  // xcb: 2^(9+2) = 2048 columns, above 2^10
  big_block[cod + 11] = 9;
  const auto block_result = codec->Decode(info, big_block);
  ASSERT_FALSE(block_result.ok());
  EXPECT_EQ(block_result.status().code(), StatusCode::kCorruption) << block_result.status().ToString();

  // The untouched codestream still decodes.
  EXPECT_TRUE(codec->Decode(info, *encoded).ok());
}

TEST_P(CodecErrors, AcceptsMisalignedInput) {
  const auto codec = MakeCodec(GetParam());
  const FrameInfo info = Grey(13, 7, 16, 16, true);
  const std::vector<uint8_t> raw = MakeFrame(info, Pattern::kSignedExtended);
  std::vector<uint8_t> shifted(raw.size() + 1);
  std::copy(raw.begin(), raw.end(), shifted.begin() + 1);
  const auto encoded = codec->Encode(info, std::span(shifted).subspan(1));
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  const auto decoded = codec->Decode(info, *encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(*decoded == raw);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecErrors, ::testing::Values(CodecId::kJpegLs, CodecId::kJ2k, CodecId::kHtj2k),
                         [](const auto& info) { return std::string(CodecName(info.param)); });

}  // namespace
}  // namespace pacs::codecs
