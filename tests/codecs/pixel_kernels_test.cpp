// The dispatched SIMD kernels must equal their scalar references on random
// data of every awkward length (tails shorter than a vector, odd counts,
// block boundaries of the early-exit high-bit check) and element offsets.
#include "pacs/codecs/pixel_kernels.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <bit>
#include <cstdio>
#include <random>
#include <vector>

namespace pacs::codecs {
namespace {

const size_t kLengths[] = {0,  1,  2,  3,   7,   15,   16,   17,   31,   32,   33,
                           63, 64, 65, 127, 129, 1000, 4095, 4096, 4097, 8193, 10007};

template <typename T>
std::vector<T> Random(size_t count, uint32_t seed, uint32_t mask = 0xFFFFFFFFu) {
  std::mt19937 rng(seed);
  std::vector<T> values(count);
  for (auto& v : values) v = static_cast<T>(rng() & mask);
  return values;
}

// Runs every test once per compiled SIMD target (Highway's test hook limits
// dispatch to one target), so the SSE4 and portable paths are checked on an
// AVX2 machine too. HWY_STATIC_TARGET is the baseline fallback (SCALAR
// on plain x86-64 builds).
class PixelKernelsTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    hwy::SetSupportedTargetsForTest(0);
    if ((hwy::SupportedTargets() & GetParam()) == 0) GTEST_SKIP() << "CPU lacks this target";
    hwy::SetSupportedTargetsForTest(GetParam());
    ASSERT_STREQ(KernelTargetName(), hwy::TargetName(GetParam()));
  }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

INSTANTIATE_TEST_SUITE_P(Targets, PixelKernelsTest, ::testing::Values(HWY_AVX2, HWY_SSE4, HWY_STATIC_TARGET),
                         [](const auto& info) { return std::string(hwy::TargetName(info.param)); });

TEST(PixelKernelsDispatchTest, PicksTheBestCompiledTarget) {
  std::printf("pixel kernels dispatch to %s\n", KernelTargetName());
  if (hwy::SupportedTargets() & HWY_AVX2) {
    EXPECT_STREQ(KernelTargetName(), "AVX2");
  }
}

TEST_P(PixelKernelsTest, MinMaxMatchesScalar) {
  for (size_t n : kLengths) {
    for (size_t offset : {0, 1}) {
      auto u = Random<uint16_t>(n + offset, static_cast<uint32_t>(n));
      EXPECT_EQ(MinMaxU16(u.data() + offset, n), scalar::MinMaxU16(u.data() + offset, n)) << n;
      auto s = Random<int16_t>(n + offset, static_cast<uint32_t>(n) + 1);
      EXPECT_EQ(MinMaxS16(s.data() + offset, n), scalar::MinMaxS16(s.data() + offset, n)) << n;
      // Narrow ranges, where min/max land in the tail or one vector lane.
      auto narrow = Random<uint16_t>(n + offset, 3, 0xFF);
      if (n > 0) narrow[offset + n - 1] = 0xFFFF;
      EXPECT_EQ(MinMaxU16(narrow.data() + offset, n), scalar::MinMaxU16(narrow.data() + offset, n));
    }
  }
  const int16_t negatives[] = {-5, -32768, 7, 32767, -1};
  EXPECT_EQ(MinMaxS16(negatives, 5), (MinMax{-32768, 32767}));
}

TEST_P(PixelKernelsTest, OrAndBitDepthMatchScalar) {
  for (size_t n : kLengths) {
    for (uint32_t mask : {0x0u, 0x1u, 0xFFFu, 0x3FFFu, 0xFFFFu}) {
      auto u = Random<uint16_t>(n, static_cast<uint32_t>(n) * 31 + mask, mask);
      EXPECT_EQ(OrAllU16(u.data(), n), scalar::OrAllU16(u.data(), n));
      EXPECT_EQ(ActualBitDepthU16(u.data(), n), std::bit_width(static_cast<unsigned>(scalar::OrAllU16(u.data(), n))));
    }
  }
}

TEST_P(PixelKernelsTest, HighBitCheckMatchesScalarWhereverTheBitIs) {
  for (size_t n : kLengths) {
    if (n == 0) {
      EXPECT_FALSE(HasBitsAboveU16(nullptr, 0, 4));
      continue;
    }
    for (int bits = 1; bits <= 16; ++bits) {
      const uint32_t low = (1u << bits) - 1u;
      auto u = Random<uint16_t>(n, static_cast<uint32_t>(n + bits), low);
      auto b = Random<uint8_t>(n, static_cast<uint32_t>(n + bits), low);
      EXPECT_FALSE(HasBitsAboveU16(u.data(), n, bits));
      EXPECT_EQ(HasBitsAboveU8(b.data(), n, bits), scalar::HasBitsAboveU8(b.data(), n, bits));
      // One offending sample at the start, in the middle, at the very end.
      for (size_t at : {size_t{0}, n / 2, n - 1}) {
        if (bits < 16) {
          auto with_bit = u;
          with_bit[at] |= static_cast<uint16_t>(1u << bits);
          EXPECT_TRUE(HasBitsAboveU16(with_bit.data(), n, bits)) << n << " " << bits << " " << at;
          EXPECT_TRUE(scalar::HasBitsAboveU16(with_bit.data(), n, bits));
        }
        if (bits < 8) {
          auto with_bit = b;
          with_bit[at] |= static_cast<uint8_t>(0x80);
          EXPECT_TRUE(HasBitsAboveU8(with_bit.data(), n, bits)) << n << " " << bits << " " << at;
        }
      }
    }
  }
}

TEST_P(PixelKernelsTest, ByteSwapMatchesScalarAndWorksInPlace) {
  for (size_t n : kLengths) {
    auto u = Random<uint16_t>(n, static_cast<uint32_t>(n));
    std::vector<uint16_t> simd(n), reference(n);
    ByteSwap16(u.data(), simd.data(), n);
    scalar::ByteSwap16(u.data(), reference.data(), n);
    EXPECT_EQ(simd, reference);
    ByteSwap16(simd.data(), simd.data(), n);
    EXPECT_EQ(simd, u);
  }
}

TEST_P(PixelKernelsTest, InterleaveRoundTripsAndMatchesScalar) {
  for (size_t pixels : kLengths) {
    auto rgb = Random<uint8_t>(3 * pixels, static_cast<uint32_t>(pixels));
    std::vector<uint8_t> planar(3 * pixels), reference(3 * pixels), back(3 * pixels);
    InterleavedToPlanar3x8(rgb.data(), planar.data(), pixels);
    scalar::InterleavedToPlanar3x8(rgb.data(), reference.data(), pixels);
    EXPECT_EQ(planar, reference) << pixels;
    PlanarToInterleaved3x8(planar.data(), back.data(), pixels);
    EXPECT_EQ(back, rgb) << pixels;
    scalar::PlanarToInterleaved3x8(planar.data(), reference.data(), pixels);
    EXPECT_EQ(reference, rgb);
  }
}

TEST_P(PixelKernelsTest, IntegerConversionsMatchScalarForEveryPrecision) {
  for (size_t n : kLengths) {
    for (int precision = 1; precision <= 16; ++precision) {
      for (bool is_signed : {false, true}) {
        const uint32_t mask = (1u << precision) - 1u;
        auto u16 = Random<uint16_t>(n, static_cast<uint32_t>(n * 17 + precision), mask);
        std::vector<int32_t> simd(n), reference(n);
        U16ToI32(u16.data(), simd.data(), n, precision, is_signed);
        scalar::U16ToI32(u16.data(), reference.data(), n, precision, is_signed);
        ASSERT_EQ(simd, reference) << n << " " << precision << " " << is_signed;
        std::vector<uint16_t> back(n), back_reference(n);
        I32ToU16(simd.data(), back.data(), n, precision);
        scalar::I32ToU16(simd.data(), back_reference.data(), n, precision);
        ASSERT_EQ(back, back_reference);
        ASSERT_EQ(back, u16);
        if (precision <= 8) {
          auto u8 = Random<uint8_t>(n, static_cast<uint32_t>(n * 13 + precision), mask);
          U8ToI32(u8.data(), simd.data(), n, precision, is_signed);
          scalar::U8ToI32(u8.data(), reference.data(), n, precision, is_signed);
          ASSERT_EQ(simd, reference);
          std::vector<uint8_t> back8(n);
          I32ToU8(simd.data(), back8.data(), n, precision);
          ASSERT_EQ(back8, u8);
        }
      }
    }
  }
  const uint16_t twelve_bit_negative = 0x0800;  // -2048 in 12 bits
  int32_t widened = 0;
  U16ToI32(&twelve_bit_negative, &widened, 1, 12, true);
  EXPECT_EQ(widened, -2048);
}

}  // namespace
}  // namespace pacs::codecs
