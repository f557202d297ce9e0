// pacs::jls against charls::jpegls_encoder on every grayscale frame of the
// shared corpus: at BitsStored precision (bits above are dropped, as by
// CharLS) and, for 16-bit words, at 16-bit precision with whatever is stored
// above BitsStored (sign extension, overlays) kept.
#include <gtest/gtest.h>

#include <algorithm>

#include "charls_reference.h"
#include "corpus_frames.h"
#include "encode_every_isa.h"
#include "pacs/jls/jpegls_encoder.h"

namespace pacs::jls {
namespace {

TEST(JlsCorpusTest, EveryGrayscaleFrameMatchesCharls) {
  const auto frames = testing::GrayscaleFrames(/*native=*/true);
  int at_bits_stored = 0, at_16_bits = 0, with_bits_above = 0, charls_refused = 0;
  for (const auto& frame : frames) {
    std::vector<int> precisions = {std::clamp(frame.bits_stored, 2, frame.bits_allocated)};
    if (frame.bits_allocated == 16 && frame.bits_stored < 16) precisions.push_back(16);
    for (int bits : precisions) {
      const FrameFormat format{frame.columns, frame.rows, bits, 1, Interleave::kNone};
      const auto pixels = testing::AsEncoderInput(frame, bits);
      const auto expected = testing::CharlsEncode(format, pixels);
      const std::string what =
          frame.file + " frame " + std::to_string(frame.index) + " at " + std::to_string(bits) + " bits";
      const auto actual = testing::EncodeWithEveryIsa(format, pixels, what);
      ASSERT_TRUE(actual.ok()) << what << ": " << actual.status().ToString();
      if (!expected) {
        ++charls_refused;
        continue;
      }
      ASSERT_EQ(expected->size(), actual->size()) << what;
      ASSERT_TRUE(*expected == *actual) << what;
      if (bits == 16 && frame.bits_stored < 16) {
        ++at_16_bits;
        const uint16_t above = static_cast<uint16_t>(0xFFFFu << frame.bits_stored);
        if (std::any_of(frame.samples.begin(), frame.samples.end(), [&](uint16_t s) { return (s & above) != 0; }))
          ++with_bits_above;
      } else {
        ++at_bits_stored;
      }
    }
  }
  std::printf(
      "corpus: %zu grayscale frames; %d compared at BitsStored precision, %d at 16 bits "
      "(%d of them with bits set above BitsStored); CharLS refused %d\n",
      frames.size(), at_bits_stored, at_16_bits, with_bits_above, charls_refused);
  EXPECT_GT(frames.size(), 300u);
  EXPECT_EQ(at_bits_stored, static_cast<int>(frames.size()));
  EXPECT_GT(at_16_bits, 200);
  EXPECT_GT(with_bits_above, 0);
  EXPECT_EQ(charls_refused, 0);
}

// The corpus's compressed grayscale files (JPEG lossless and lossy, RLE,
// JPEG-LS), decoded and encoded again: more real data beyond the native
// files, e.g. the NEMA computed radiography and mammography.
TEST(JlsCorpusTest, DecodedCompressedFramesMatchCharls) {
  const auto frames = testing::GrayscaleFrames(/*native=*/false);
  int compared = 0;
  for (const auto& frame : frames) {
    const int bits = std::clamp(frame.bits_stored, 2, frame.bits_allocated);
    const FrameFormat format{frame.columns, frame.rows, bits, 1, Interleave::kNone};
    const auto pixels = testing::AsEncoderInput(frame, bits);
    const auto expected = testing::CharlsEncode(format, pixels);
    const std::string what = frame.file + " frame " + std::to_string(frame.index);
    const auto actual = testing::EncodeWithEveryIsa(format, pixels, what);
    ASSERT_TRUE(expected.has_value()) << what;
    ASSERT_TRUE(actual.ok()) << what << ": " << actual.status().ToString();
    ASSERT_TRUE(*expected == *actual) << what;
    ++compared;
  }
  std::printf("decoded compressed corpus frames compared: %d\n", compared);
  EXPECT_GT(compared, 20);
}

}  // namespace
}  // namespace pacs::jls
