// pacs::jls against charls::jpegls_encoder on generated frames: the edge
// cases of the format (precision 2..16, 1-pixel-wide, 1 row, widths around
// the SIMD vector width, constant, noise, full range) and the line analysis
// on every compiled SIMD target against its scalar reference.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bit_writer.h"
#include "charls_reference.h"
#include "coding_parameters.h"
#include "encode_every_isa.h"
#include "line_analysis.h"
#include "pacs/jls/jpegls_encoder.h"

namespace pacs::jls {
namespace {

enum class Content { kZero, kMax, kNoise, kSmooth, kSparseNoise, kStripes, kGarbageAbove };

const char* ContentName(Content c) {
  switch (c) {
    case Content::kZero:
      return "zero";
    case Content::kMax:
      return "max";
    case Content::kNoise:
      return "noise";
    case Content::kSmooth:
      return "smooth";
    case Content::kSparseNoise:
      return "sparse_noise";
    case Content::kStripes:
      return "stripes";
    case Content::kGarbageAbove:
      return "garbage_above";
  }
  return "?";
}

// Samples as CharLS reads them: 1 byte up to 8 bits, host uint16_t above.
std::vector<uint8_t> MakePixels(const FrameFormat& f, Content content, uint32_t seed) {
  const size_t samples = static_cast<size_t>(f.width) * f.height * f.component_count;
  const uint32_t max_value = (1u << f.bits_per_sample) - 1;
  std::mt19937 rng(seed);
  std::vector<uint32_t> values(samples);
  for (size_t i = 0; i < samples; ++i) {
    const size_t x = i % f.width, y = i / f.width;
    uint32_t v = 0;
    switch (content) {
      case Content::kZero:
        v = 0;
        break;
      case Content::kMax:
        v = max_value;
        break;
      case Content::kNoise:
        v = rng() & max_value;
        break;
      case Content::kSmooth:
        v = static_cast<uint32_t>((x * 7 + y * 3) + (rng() % 5)) & max_value;
        break;
      case Content::kSparseNoise:
        v = (rng() % 16 == 0) ? (rng() & max_value) : max_value / 3;
        break;
      case Content::kStripes:
        v = ((x / 5 + y / 3) % 2) ? max_value : 0;
        break;
      case Content::kGarbageAbove:
        v = rng() & 0xFFFF;
        break;  // CharLS masks
    }
    values[i] = v;
  }
  std::vector<uint8_t> bytes(SourceBytes(f));
  if (f.bits_per_sample > 8) {
    for (size_t i = 0; i < samples; ++i) {
      const auto v = static_cast<uint16_t>(values[i]);
      std::memcpy(&bytes[2 * i], &v, 2);
    }
  } else {
    for (size_t i = 0; i < samples; ++i) bytes[i] = static_cast<uint8_t>(values[i]);
  }
  return bytes;
}

void ExpectSameAsCharls(const FrameFormat& f, std::span<const uint8_t> pixels, const std::string& what) {
  const auto expected = testing::CharlsEncode(f, pixels);
  const auto actual = testing::EncodeWithEveryIsa(f, pixels, what);
  ASSERT_TRUE(actual.ok()) << what << ": " << actual.status().ToString();
  if (!expected) {
    // CharLS gives up when the output exceeds its size estimate; ours grows.
    EXPECT_GT(actual->size(), SourceBytes(f)) << what;
    return;
  }
  ASSERT_EQ(expected->size(), actual->size()) << what;
  const auto mismatch = std::mismatch(expected->begin(), expected->end(), actual->begin());
  EXPECT_TRUE(mismatch.first == expected->end())
      << what << ": first difference at byte " << (mismatch.first - expected->begin()) << " of " << expected->size();
}

TEST(JlsEncoderTest, MatchesCharlsOnEdgeCases) {
  const uint32_t widths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100};
  const uint32_t heights[] = {1, 2, 5, 17};
  const Content contents[] = {Content::kZero,        Content::kMax,     Content::kNoise,       Content::kSmooth,
                              Content::kSparseNoise, Content::kStripes, Content::kGarbageAbove};
  int compared = 0;
  for (int bits = 2; bits <= 16; ++bits) {
    for (uint32_t w : widths) {
      for (uint32_t h : heights) {
        for (Content content : contents) {
          FrameFormat f{w, h, bits, 1, Interleave::kNone};
          const auto pixels = MakePixels(f, content, w * 131 + h * 7 + bits);
          ExpectSameAsCharls(f, pixels,
                             std::to_string(w) + "x" + std::to_string(h) + " " + std::to_string(bits) + " bits " +
                                 ContentName(content));
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 15 * 13 * 4 * 7);
}

TEST(JlsEncoderTest, MatchesCharlsOnLargerFrames) {
  for (int bits : {8, 10, 12, 13, 15, 16}) {
    for (Content content : {Content::kNoise, Content::kSmooth, Content::kSparseNoise}) {
      FrameFormat f{517, 203, bits, 1, Interleave::kNone};
      ExpectSameAsCharls(f, MakePixels(f, content, 99 + bits), std::to_string(bits) + " bits " + ContentName(content));
    }
  }
}

TEST(JlsEncoderTest, MatchesCharlsOnColour) {
  for (Interleave mode : {Interleave::kNone, Interleave::kLine, Interleave::kSample}) {
    for (int bits : {2, 5, 8, 12, 16}) {
      for (uint32_t w : {1u, 9u, 64u, 131u}) {
        for (Content content : {Content::kNoise, Content::kSmooth, Content::kSparseNoise, Content::kStripes,
                                Content::kZero, Content::kGarbageAbove}) {
          FrameFormat f{w, 11, bits, 3, mode};
          ExpectSameAsCharls(f, MakePixels(f, content, w + bits),
                             "colour mode " + std::to_string(static_cast<int>(mode)) + " " + std::to_string(w) +
                                 " wide, " + std::to_string(bits) + " bits " + ContentName(content));
        }
      }
    }
  }
}

TEST(JlsEncoderTest, RejectsWhatItDoesNotCode) {
  const std::vector<uint8_t> pixels(16);
  EXPECT_FALSE(EncodeLossless({4, 4, 1, 1, Interleave::kNone}, pixels).ok());
  EXPECT_FALSE(EncodeLossless({4, 4, 17, 1, Interleave::kNone}, pixels).ok());
  EXPECT_FALSE(EncodeLossless({4, 4, 8, 4, Interleave::kNone}, std::vector<uint8_t>(64)).ok());
  EXPECT_FALSE(EncodeLossless({0, 4, 8, 1, Interleave::kNone}, pixels).ok());
  EXPECT_FALSE(EncodeLossless({4, 4, 8, 1, Interleave::kNone}, std::vector<uint8_t>(15)).ok());
  EXPECT_FALSE(EncodeLossless({4, 4, 8, 1, Interleave::kSample}, pixels).ok());
  EXPECT_TRUE(EncodeLossless({4, 4, 8, 1, Interleave::kNone}, pixels).ok());
}

// The bit writer and the stuffing pass against a bit-by-bit model of A.1 on
// streams full of 0xFF (runs of them, 0x7F/0xFE next to them), codes of every
// length 1..56 and row breaks anywhere, driven as the scan encoder drives
// them: Copy per row, the rest moved to the front of the scratch buffer.
TEST(JlsBitWriterTest, StuffsLikeTheBitByBitModel) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    // The unstuffed bits, as codes of random lengths.
    std::vector<std::pair<uint64_t, int>> codes;
    std::vector<int> bits;
    const int code_count = 1 + static_cast<int>(rng() % 400);
    const uint32_t ff_share = rng() % 4;  // 0: random bits, 3: mostly ones
    for (int i = 0; i < code_count; ++i) {
      const int length = 1 + static_cast<int>(rng() % 56);
      uint64_t value = 0;
      for (int b = 0; b < length; ++b) {
        const int bit = rng() % 4 < ff_share ? 1 : static_cast<int>(rng() & 1);
        value = (value << 1) | static_cast<uint64_t>(bit);
        bits.push_back(bit);
      }
      codes.emplace_back(value, length);
    }
    // The model: 8 bits per byte, 7 (and a 0 on top) after a 0xFF; the last
    // byte padded with zeros; a 0x00 after a final 0xFF.
    std::vector<uint8_t> expected;
    bool last_ff = false;
    for (size_t position = 0; position < bits.size();) {
      const int width = last_ff ? 7 : 8;
      uint32_t byte = 0;
      for (int b = 0; b < width; ++b, ++position) byte = (byte << 1) | (position < bits.size() ? bits[position] : 0);
      expected.push_back(static_cast<uint8_t>(byte));
      last_ff = byte == 0xFF;
    }
    if (last_ff) expected.push_back(0);

    // Ours, with a row break after a random number of codes.
    std::vector<uint8_t> scratch(16 + code_count * 8 + 16, 0xAA), out(2 * bits.size() / 7 + 64, 0xAA);
    internal::BitWriter writer(scratch.data());
    internal::ByteStuffer stuffer;
    uint8_t* dst = out.data();
    for (const auto& [value, length] : codes) {
      writer.Put(value, length);
      if (rng() % 8 == 0) {
        uint8_t* const position = writer.position();
        const uint8_t* rest = stuffer.Copy(scratch.data(), position, dst);
        const auto kept = static_cast<size_t>(position - rest);
        ASSERT_LT(kept, 8u);
        std::memmove(scratch.data(), rest, kept + 1);
        writer.Rebase(scratch.data() + kept);
      }
    }
    const auto whole = static_cast<int64_t>(writer.position() - scratch.data());
    stuffer.Finish(scratch.data(), 8 * whole + writer.pending_bits(), dst);
    const std::vector<uint8_t> actual(out.data(), dst);
    ASSERT_EQ(expected, actual) << "round " << round;
  }
}

// Every compiled target (AVX2, SSE4, EMU128 here) against the scalar code, on
// lines with edge entries set as the encoder sets them.
TEST(JlsLineAnalysisTest, EveryTargetMatchesScalar) {
  int targets_tested = 0;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++targets_tested;
    std::mt19937 rng(static_cast<uint32_t>(target));
    for (int bits : {2, 8, 12, 16}) {
      const auto params = internal::DefaultLosslessParameters(bits);
      for (size_t width : {size_t{1}, size_t{3}, size_t{8}, size_t{13}, size_t{64}, size_t{257}}) {
        const size_t stride = width + internal::kLinePadding + 2;
        std::vector<uint16_t> prev(stride, 0), cur(stride, 0);
        for (size_t i = 0; i < stride; ++i) {
          // Repeats and small differences so every quantisation bin occurs.
          prev[i] = static_cast<uint16_t>((rng() % 3 == 0 ? rng() : 100 + rng() % 40) & params.max_value);
          cur[i] = static_cast<uint16_t>((rng() % 3 == 0 ? prev[i] : rng()) & params.max_value);
        }
        prev[width + 1] = prev[width];
        cur[0] = prev[1];
        std::vector<int16_t> ctx_simd(width + internal::kLinePadding), ctx_ref(width);
        std::vector<uint16_t> pred_simd(width + internal::kLinePadding), pred_ref(width);
        std::vector<uint8_t> rep_simd(width + internal::kLinePadding), rep_ref(width);
        internal::AnalyzeLine(prev.data() + 1, cur.data() + 1, width, params.t1, params.t2, params.t3, ctx_simd.data(),
                              pred_simd.data(), rep_simd.data());
        internal::AnalyzeLineScalar(prev.data() + 1, cur.data() + 1, width, params.t1, params.t2, params.t3,
                                    ctx_ref.data(), pred_ref.data(), rep_ref.data());
        for (size_t i = 0; i < width; ++i) {
          ASSERT_EQ(ctx_simd[i], ctx_ref[i]) << hwy::TargetName(target) << " i=" << i;
          ASSERT_EQ(pred_simd[i], pred_ref[i]) << hwy::TargetName(target) << " i=" << i;
          ASSERT_EQ(rep_simd[i], rep_ref[i]) << hwy::TargetName(target) << " i=" << i;
        }
      }
    }
    // And the whole encoder on this target.
    FrameFormat f{77, 13, 12, 1, Interleave::kNone};
    ExpectSameAsCharls(f, MakePixels(f, Content::kSmooth, 5), hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(targets_tested, 2);
}

}  // namespace
}  // namespace pacs::jls
