// pacs::jls::DecodeFrame against CharLS 2.4.1's decoder on generated
// codestreams: every precision 2..16, 1-4 components, interleave
// none/line/sample, NEAR 0..3, preset coding parameters, HP colour
// transforms, and restart intervals (CharLS 2.4.1 cannot write those: the
// streams are spliced from CharLS-encoded stripes, which is what a restart
// interval is). Then the hardening: bad frame descriptions, truncated and
// bit-flipped streams, SOF disagreeing with the DICOM attributes.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "charls_decoder_reference.h"
#include "decode_every_isa.h"
#include "decoder_kernels.h"
#include "pacs/jls/jpegls_decoder.h"
#include "pacs/jls/jpegls_encoder.h"
#include "scan_decoder.h"

namespace pacs::jls {
namespace {

using testing::AsBitsAllocated;
using testing::CharlsDecode;

enum class Content { kNoise, kSmooth, kSparseNoise, kStripes, kFlat };
constexpr Content kContents[] = {Content::kNoise, Content::kSmooth, Content::kSparseNoise, Content::kStripes,
                                 Content::kFlat};

struct Layout {
  int components;
  charls::interleave_mode interleave;
};
constexpr Layout kLayouts[] = {{1, charls::interleave_mode::none},   {2, charls::interleave_mode::none},
                               {3, charls::interleave_mode::none},   {3, charls::interleave_mode::line},
                               {3, charls::interleave_mode::sample}, {4, charls::interleave_mode::none},
                               {4, charls::interleave_mode::line},   {4, charls::interleave_mode::sample}};

struct Spec {
  uint32_t width = 1, height = 1;
  int bits = 8;
  int components = 1;
  charls::interleave_mode interleave = charls::interleave_mode::none;
  int near = 0;
  charls::jpegls_pc_parameters preset{};
  charls::color_transformation transform = charls::color_transformation::none;
};

std::string Describe(const Spec& s) {
  return std::to_string(s.width) + "x" + std::to_string(s.height) + " P" + std::to_string(s.bits) + " c" +
         std::to_string(s.components) + " ilv" + std::to_string(static_cast<int>(s.interleave)) + " near" +
         std::to_string(s.near) + " preset(" + std::to_string(s.preset.maximum_sample_value) + "," +
         std::to_string(s.preset.threshold1) + "," + std::to_string(s.preset.threshold2) + "," +
         std::to_string(s.preset.threshold3) + "," + std::to_string(s.preset.reset_value) + ") hp" +
         std::to_string(static_cast<int>(s.transform));
}

// Pixels as CharLS's encoder takes them (planes for interleave none,
// RGBRGB otherwise; bytes up to 8 bits, uint16_t above).
std::vector<uint8_t> MakePixels(const Spec& s, Content content, uint32_t seed) {
  const size_t samples = static_cast<size_t>(s.width) * s.height * s.components;
  const uint32_t max_value = (1u << s.bits) - 1;
  // A preset MAXVAL below 2^P - 1 bounds the samples too.
  const uint32_t limit =
      s.preset.maximum_sample_value != 0 ? static_cast<uint32_t>(s.preset.maximum_sample_value) : max_value;
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(samples * (s.bits > 8 ? 2 : 1));
  uint32_t walk = max_value / 2;
  for (size_t i = 0; i < samples; ++i) {
    const size_t x = (i / (s.interleave == charls::interleave_mode::none ? 1 : s.components)) % s.width;
    const size_t y =
        i / (static_cast<size_t>(s.width) * (s.interleave == charls::interleave_mode::none ? 1 : s.components));
    uint32_t v = 0;
    switch (content) {
      case Content::kNoise:
        v = rng() & max_value;
        break;
      case Content::kSmooth:
        walk = (walk + rng() % 5 - 2) & max_value;
        v = static_cast<uint32_t>(walk + x * 3 + y) & max_value;
        break;
      case Content::kSparseNoise:
        v = (rng() % 12 == 0) ? (rng() & max_value) : max_value / 3;
        break;
      case Content::kStripes:
        v = ((x / 5 + y / 3) % 2) ? max_value : 0;
        break;
      case Content::kFlat:
        v = (y % 7 == 6 && x % 11 == 3) ? (rng() & max_value) : max_value / 2;
        break;
    }
    v = std::min(v, limit);
    if (s.bits > 8) {
      const auto w = static_cast<uint16_t>(v);
      std::memcpy(&bytes[2 * i], &w, 2);
    } else {
      bytes[i] = static_cast<uint8_t>(v);
    }
  }
  return bytes;
}

std::optional<std::vector<uint8_t>> CharlsEncode(const Spec& s, std::span<const uint8_t> pixels) {
  try {
    charls::jpegls_encoder encoder;
    encoder.frame_info({s.width, s.height, s.bits, s.components});
    encoder.interleave_mode(s.interleave);
    encoder.near_lossless(s.near);
    if (s.preset.maximum_sample_value != 0 || s.preset.threshold1 != 0 || s.preset.threshold2 != 0 ||
        s.preset.threshold3 != 0 || s.preset.reset_value != 0)
      encoder.preset_coding_parameters(s.preset);
    if (s.transform != charls::color_transformation::none) encoder.color_transformation(s.transform);
    std::vector<uint8_t> out(encoder.estimated_destination_size() + 4096);
    encoder.destination(out);
    out.resize(encoder.encode(pixels.data(), pixels.size()));
    return out;
  } catch (const charls::jpegls_error&) {
    return std::nullopt;
  }
}

ExpectedFrame ExpectedOf(const Spec& s) {
  return {s.width, s.height, s.components, s.bits > 8 ? 16 : 8, s.bits};
}

struct Tally {
  int compared = 0;
  int both_refused = 0;
};

using internal::ScanIsa;
using testing::DecodeWithEveryIsa;

// Decodes `codestream` with both decoders: same pixels, or both refuse.
// Returns whether both decoded.
bool ExpectSameAsCharls(std::span<const uint8_t> codestream, const ExpectedFrame& expected, const std::string& what,
                        Tally& tally) {
  std::string charls_error;
  const auto reference = CharlsDecode(codestream, &charls_error);
  std::vector<uint8_t> ours(DecodedBytes(expected));
  const auto decoded = DecodeWithEveryIsa(codestream, expected, ours, what);
  if (!reference.has_value()) {
    EXPECT_FALSE(decoded.ok()) << what << ": CharLS refused (" << charls_error << ") but we decoded";
    ++tally.both_refused;
    return false;
  }
  EXPECT_TRUE(decoded.ok()) << what << ": CharLS decoded but we refused: " << decoded.status().ToString();
  if (!decoded.ok()) return false;
  const std::vector<uint8_t> expected_pixels = AsBitsAllocated(*reference, expected.bits_allocated);
  EXPECT_TRUE(ours == expected_pixels) << what << ": pixels differ from CharLS";
  EXPECT_EQ(static_cast<int>(decoded->interleave), reference->interleave) << what;
  ++tally.compared;
  return ours == expected_pixels;
}

// Masks the samples of `pixels` to `bits` (what a lossless decode returns).
std::vector<uint8_t> Masked(std::vector<uint8_t> pixels, int bits) {
  if (bits > 8) {
    for (size_t i = 0; i + 1 < pixels.size(); i += 2) {
      uint16_t v;
      std::memcpy(&v, &pixels[i], 2);
      v &= static_cast<uint16_t>((1u << bits) - 1);
      std::memcpy(&pixels[i], &v, 2);
    }
  } else {
    for (uint8_t& v : pixels) v &= static_cast<uint8_t>((1u << bits) - 1);
  }
  return pixels;
}

void CheckSpec(const Spec& spec, Content content, uint32_t seed, Tally& tally, int& charls_encoder_refused) {
  const std::vector<uint8_t> pixels = MakePixels(spec, content, seed);
  if (getenv("JLS_TRACE")) fprintf(stderr, "%s content %d\n", Describe(spec).c_str(), static_cast<int>(content));
  const auto codestream = CharlsEncode(spec, pixels);
  if (!codestream) {
    ++charls_encoder_refused;
    return;
  }
  const std::string what = Describe(spec) + " content " + std::to_string(static_cast<int>(content));
  const bool same = ExpectSameAsCharls(*codestream, ExpectedOf(spec), what, tally);
  // CharLS 2.4.1's encoder drops differences in the 4th component from the
  // runs of 8-bit 4-component sample-interleaved frames (its decoder, and
  // ours, decode what it wrote): no lossless round trip there.
  const bool charls_encoder_lossy =
      spec.bits == 8 && spec.components == 4 && spec.interleave == charls::interleave_mode::sample;
  if (same && spec.near == 0 && spec.transform == charls::color_transformation::none && !charls_encoder_lossy) {
    std::vector<uint8_t> ours(DecodedBytes(ExpectedOf(spec)));
    ASSERT_TRUE(DecodeFrame(*codestream, ExpectedOf(spec), ours).ok());
    EXPECT_TRUE(ours == Masked(pixels, spec.bits)) << what << ": lossless decode differs from the source";
  }
}

// The BMI2 loops run where the CPU has BMI2 and LZCNT (unless
// PACS_JLS_DECODER_ISA=portable), the portable ones when forced; the tests
// compare both on every stream they decode (DecodeWithEveryIsa).
TEST(JlsDecoderTest, RunsTheBmi2LoopsWhereTheCpuHasThemAndThePortableOnesWhenForced) {
  const char* choice = std::getenv("PACS_JLS_DECODER_ISA");
  const bool environment_portable = choice != nullptr && std::string(choice) == "portable";
  EXPECT_EQ(internal::ActiveScanIsa(),
            internal::CpuRunsBmi2Variant() && !environment_portable ? ScanIsa::kBmi2 : ScanIsa::kPortable);
  std::printf("CPU runs the BMI2 loops: %s; active: %s\n", internal::CpuRunsBmi2Variant() ? "yes" : "no",
              internal::ActiveScanIsa() == ScanIsa::kBmi2 ? "BMI2" : "portable");
  internal::SetScanIsaForTesting(ScanIsa::kPortable);
  EXPECT_EQ(internal::ActiveScanIsa(), ScanIsa::kPortable);
  internal::SetScanIsaForTesting(ScanIsa::kBmi2);
}

TEST(JlsDecoderTest, MatchesCharlsOnEveryFormat) {
  Tally tally;
  int encoder_refused = 0;
  std::mt19937 rng(2024);
  for (int bits = 2; bits <= 16; ++bits) {
    const int max_near = std::min(3, ((1 << bits) - 1) / 2);
    for (const Layout& layout : kLayouts) {
      for (int near : {0, 1, max_near}) {
        for (Content content : kContents) {
          for (int size = 0; size < 3; ++size) {
            Spec spec;
            spec.bits = bits;
            spec.components = layout.components;
            spec.interleave = layout.interleave;
            spec.near = near;
            spec.width = size == 0 ? 1 + rng() % 3 : (size == 1 ? 5 + rng() % 30 : 40 + rng() % 60);
            spec.height = size == 0 ? 1 + rng() % 4 : 2 + rng() % 20;
            CheckSpec(spec, content, rng(), tally, encoder_refused);
          }
        }
      }
    }
  }
  std::printf("generated: %d frames identical to CharLS, %d refused by both, %d not encodable by CharLS\n",
              tally.compared, tally.both_refused, encoder_refused);
  EXPECT_GE(tally.compared, 4000);
  EXPECT_EQ(tally.both_refused, 0);
}

// Q(d) of A.3.3 with NEAR, as the standard writes it.
int32_t ReferenceQuantize(int32_t d, int32_t t1, int32_t t2, int32_t t3, int32_t near) {
  if (d <= -t3) return -4;
  if (d <= -t2) return -3;
  if (d <= -t1) return -2;
  if (d < -near) return -1;
  if (d <= near) return 0;
  if (d < t1) return 1;
  if (d < t2) return 2;
  if (d < t3) return 3;
  return 4;
}

// Every compiled target of the decoder's kernels (AVX2, SSE4, EMU128 here):
// the words of b and gradient sums against the scalar code and the
// standard's formula, and whole frames against CharLS.
TEST(JlsDecoderTest, EveryKernelTargetMatchesScalar) {
  struct Thresholds {
    int bits, t1, t2, t3, near;
  };
  constexpr Thresholds kThresholds[] = {{2, 1, 1, 1, 0},      {8, 3, 7, 21, 0},     {8, 5, 9, 30, 2},
                                        {12, 18, 67, 276, 0}, {16, 18, 67, 276, 0}, {16, 40, 900, 30000, 3}};
  int targets_tested = 0;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++targets_tested;
    std::mt19937 rng(static_cast<uint32_t>(target));
    for (const Thresholds& t : kThresholds) {
      const int32_t max_value = (1 << t.bits) - 1;
      std::vector<int8_t> table(2 * static_cast<size_t>(t.t3) + 1);
      for (int32_t d = -t.t3; d <= t.t3; ++d)
        table[static_cast<size_t>(d + t.t3)] = static_cast<int8_t>(ReferenceQuantize(d, t.t1, t.t2, t.t3, t.near));
      for (size_t width : {size_t{1}, size_t{3}, size_t{8}, size_t{13}, size_t{64}, size_t{257}}) {
        // prev[-1] and prev[width] set, readable (and the output writable)
        // up to width + kDecoderLinePadding.
        std::vector<uint16_t> storage(width + internal::kDecoderLinePadding + 2, 0);
        uint16_t* const prev = storage.data() + 1;
        for (size_t i = 0; i < width; ++i)
          prev[i] =
              static_cast<uint16_t>((rng() % 3 == 0 ? rng() : 100 + rng() % 40) & static_cast<uint32_t>(max_value));
        prev[-1] = static_cast<uint16_t>(rng() & static_cast<uint32_t>(max_value));
        prev[width] = prev[width - 1];
        std::vector<uint32_t> simd(width + internal::kDecoderLinePadding),
            scalar(width + internal::kDecoderLinePadding);
        internal::ComputeGradients(prev, width, t.t1, t.t2, t.t3, t.near, simd.data());
        internal::ComputeGradientsScalar(prev, width, table.data() + t.t3, t.t3, scalar.data());
        for (size_t i = 0; i < width; ++i) {
          const auto q = [&](int32_t d) { return ReferenceQuantize(d, t.t1, t.t2, t.t3, t.near); };
          const int32_t gradients =
              81 * q(prev[i + 1] - prev[i]) + 9 * q(prev[i] - prev[static_cast<ptrdiff_t>(i) - 1]);
          const uint32_t expected = internal::PackAbove(gradients, prev[i]);
          ASSERT_EQ(simd[i], expected) << hwy::TargetName(target) << " bits " << t.bits << " i=" << i;
          ASSERT_EQ(scalar[i], expected) << "scalar, bits " << t.bits << " i=" << i;
        }
      }
    }
    // And whole frames on this target.
    Tally tally;
    int encoder_refused = 0;
    for (const Layout& layout : kLayouts) {
      Spec spec;
      spec.bits = 12;
      spec.components = layout.components;
      spec.interleave = layout.interleave;
      spec.width = 37;
      spec.height = 9;
      for (Content content : kContents) CheckSpec(spec, content, rng(), tally, encoder_refused);
    }
    EXPECT_EQ(tally.compared, 40) << hwy::TargetName(target);
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(targets_tested, 2);
}

TEST(JlsDecoderTest, MatchesCharlsWithPresetCodingParameters) {
  Tally tally;
  int encoder_refused = 0;
  std::mt19937 rng(7);
  for (int bits = 2; bits <= 16; ++bits) {
    const int32_t full = (1 << bits) - 1;
    const charls::jpegls_pc_parameters presets[] = {
        {0, 0, 0, 0, 0},
        {full, 0, 0, 0, 64},
        {0, std::min(full, 2), std::min(full, 5), std::min(full, 9), 32},
        {full / 2 + 1, 0, 0, 0, 0},
        {full / 2, 0, 0, 0, 17},
        {0, 0, 0, 0, std::max(255, full) / 2 + 3},
        {std::max(1, full >> 2), std::min(std::max(1, full >> 2), 4), 0, std::min(std::max(1, full >> 2), 40), 100},
    };
    // With a RESET other than 64, CharLS's encoder only works for a MAXVAL
    // of 2^n - 1 (its prediction correction masks with MAXVAL): the presets
    // above keep to that.
    for (const auto& preset : presets) {
      for (int near : {0, 2}) {
        // CharLS asserts (Debian builds it with assertions) on a NEAR above
        // MAXVAL / 2 instead of refusing it.
        const int32_t max_value = preset.maximum_sample_value != 0 ? preset.maximum_sample_value : full;
        if (near > max_value / 2) continue;
        // Not sample interleave: CharLS's encoder asserts there with a RESET
        // other than 64 (see RefusesSampleInterleaveWithAnotherReset).
        for (const Layout& layout : {kLayouts[0], kLayouts[2], kLayouts[3]}) {
          Spec spec;
          spec.bits = bits;
          spec.components = layout.components;
          spec.interleave = layout.interleave;
          spec.near = near;
          spec.preset = preset;
          spec.width = 3 + rng() % 40;
          spec.height = 2 + rng() % 12;
          for (Content content : {Content::kNoise, Content::kSmooth, Content::kFlat})
            CheckSpec(spec, content, rng(), tally, encoder_refused);
        }
      }
    }
  }
  std::printf("presets: %d frames identical to CharLS, %d refused by both, %d not encodable by CharLS\n",
              tally.compared, tally.both_refused, encoder_refused);
  EXPECT_GE(tally.compared, 900);
}

TEST(JlsDecoderTest, MatchesCharlsWithColourTransforms) {
  Tally tally;
  int encoder_refused = 0;
  std::mt19937 rng(11);
  for (int bits : {2, 5, 7, 8, 9, 10, 12, 15, 16}) {
    for (auto transform :
         {charls::color_transformation::hp1, charls::color_transformation::hp2, charls::color_transformation::hp3}) {
      for (auto interleave :
           {charls::interleave_mode::none, charls::interleave_mode::line, charls::interleave_mode::sample}) {
        for (Content content : {Content::kNoise, Content::kSmooth, Content::kStripes}) {
          Spec spec;
          spec.bits = bits;
          spec.components = 3;
          spec.interleave = interleave;
          spec.transform = transform;
          spec.width = 1 + rng() % 50;
          spec.height = 1 + rng() % 10;
          CheckSpec(spec, content, rng(), tally, encoder_refused);
        }
      }
    }
  }
  std::printf("colour transforms: %d frames identical to CharLS, %d refused by both, %d not encodable by CharLS\n",
              tally.compared, tally.both_refused, encoder_refused);
  EXPECT_GE(tally.compared, 1);
}

// --- Restart intervals -------------------------------------------------

// The entropy-coded data of each scan of a CharLS codestream, and the
// segments between SOF and the first SOS.
struct ParsedStream {
  std::vector<uint8_t> sof;                // marker + segment
  std::vector<uint8_t> tables;             // LSE etc. between SOF and SOS
  std::vector<std::vector<uint8_t>> sos;   // marker + segment, per scan
  std::vector<std::vector<uint8_t>> data;  // coded data, per scan
};

ParsedStream Parse(const std::vector<uint8_t>& s) {
  ParsedStream out;
  size_t i = 2;  // after SOI
  while (i + 4 <= s.size()) {
    const uint8_t code = s[i + 1];
    if (code == 0xD9) break;
    const size_t length = (static_cast<size_t>(s[i + 2]) << 8) | s[i + 3];
    std::vector<uint8_t> segment(s.begin() + i, s.begin() + i + 2 + length);
    i += 2 + length;
    if (code == 0xF7) {
      out.sof = segment;
    } else if (code == 0xDA) {
      out.sos.push_back(segment);
      size_t j = i;
      while (j + 1 < s.size() && !(s[j] == 0xFF && s[j + 1] >= 0x80)) ++j;
      out.data.emplace_back(s.begin() + i, s.begin() + j);
      i = j;
    } else {
      out.tables.insert(out.tables.end(), segment.begin(), segment.end());
    }
  }
  return out;
}

// Codes `spec` in stripes of `interval` lines with CharLS and splices them
// into one codestream with a DRI segment and RSTm markers.
std::optional<std::vector<uint8_t>> EncodeWithRestarts(const Spec& spec, const std::vector<uint8_t>& pixels,
                                                       uint32_t interval) {
  const size_t bytes_per_sample = spec.bits > 8 ? 2 : 1;
  const size_t row_bytes =
      spec.width * bytes_per_sample * (spec.interleave == charls::interleave_mode::none ? 1 : spec.components);
  const size_t plane_bytes = row_bytes * spec.height;
  std::vector<ParsedStream> stripes;
  for (uint32_t y = 0; y < spec.height; y += interval) {
    Spec stripe = spec;
    stripe.height = std::min(interval, spec.height - y);
    std::vector<uint8_t> stripe_pixels;
    const size_t planes = spec.interleave == charls::interleave_mode::none ? spec.components : 1;
    for (size_t p = 0; p < planes; ++p) {
      const auto begin = pixels.begin() + static_cast<ptrdiff_t>(p * plane_bytes + y * row_bytes);
      stripe_pixels.insert(stripe_pixels.end(), begin, begin + static_cast<ptrdiff_t>(stripe.height * row_bytes));
    }
    const auto coded = CharlsEncode(stripe, stripe_pixels);
    if (!coded) return std::nullopt;
    stripes.push_back(Parse(*coded));
  }
  std::vector<uint8_t> out = {0xFF, 0xD8};
  std::vector<uint8_t> sof = stripes[0].sof;
  sof[5] = static_cast<uint8_t>(spec.height >> 8);
  sof[6] = static_cast<uint8_t>(spec.height);
  out.insert(out.end(), sof.begin(), sof.end());
  out.insert(out.end(), stripes[0].tables.begin(), stripes[0].tables.end());
  const uint8_t dri[] = {0xFF, 0xDD, 0x00, 0x04, static_cast<uint8_t>(interval >> 8), static_cast<uint8_t>(interval)};
  out.insert(out.end(), std::begin(dri), std::end(dri));
  for (size_t scan = 0; scan < stripes[0].sos.size(); ++scan) {
    out.insert(out.end(), stripes[0].sos[scan].begin(), stripes[0].sos[scan].end());
    for (size_t j = 0; j < stripes.size(); ++j) {
      if (j > 0) {
        out.push_back(0xFF);
        out.push_back(static_cast<uint8_t>(0xD0 + ((j - 1) & 7)));
      }
      out.insert(out.end(), stripes[j].data[scan].begin(), stripes[j].data[scan].end());
    }
  }
  out.push_back(0xFF);
  out.push_back(0xD9);
  return out;
}

TEST(JlsDecoderTest, MatchesCharlsWithRestartIntervals) {
  Tally tally;
  int lossless_checked = 0;
  std::mt19937 rng(3);
  for (int bits = 2; bits <= 16; ++bits) {
    for (const Layout& layout : kLayouts) {
      for (uint32_t interval : {1u, 2u, 3u, 7u}) {
        for (int near : {0, 1}) {
          Spec spec;
          spec.bits = bits;
          spec.components = layout.components;
          spec.interleave = layout.interleave;
          spec.near = near;
          spec.width = 1 + rng() % 40;
          spec.height = interval + 1 + rng() % 19;  // at least one restart, up to 19 (RST0..7 wrap)
          const Content content = kContents[rng() % 5];
          const std::vector<uint8_t> pixels = MakePixels(spec, content, rng());
          const auto codestream = EncodeWithRestarts(spec, pixels, interval);
          if (!codestream) continue;
          const std::string what = Describe(spec) + " restart " + std::to_string(interval);
          const bool same = ExpectSameAsCharls(*codestream, ExpectedOf(spec), what, tally);
          const bool charls_encoder_lossy = bits == 8 && layout.components == 4 &&
                                            layout.interleave == charls::interleave_mode::sample;  // see CheckSpec
          if (same && near == 0 && !charls_encoder_lossy) {
            std::vector<uint8_t> ours(DecodedBytes(ExpectedOf(spec)));
            ASSERT_TRUE(DecodeFrame(*codestream, ExpectedOf(spec), ours).ok());
            EXPECT_TRUE(ours == Masked(pixels, bits)) << what;
            ++lossless_checked;
          }
        }
      }
    }
  }
  std::printf(
      "restart intervals: %d frames identical to CharLS (%d lossless equal to the source), %d refused by both\n",
      tally.compared, lossless_checked, tally.both_refused);
  EXPECT_GE(tally.compared, 800);
  EXPECT_EQ(tally.both_refused, 0);
}

TEST(JlsDecoderTest, RefusesSampleInterleaveWithAnotherReset) {
  Spec spec;
  spec.width = 9;
  spec.height = 4;
  spec.components = 3;
  spec.interleave = charls::interleave_mode::line;
  spec.preset = {0, 0, 0, 0, 32};
  std::vector<uint8_t> codestream = *CharlsEncode(spec, MakePixels(spec, Content::kSmooth, 3));
  // Patch the scan's interleave mode (the byte before the last of the SOS).
  const ParsedStream parsed = Parse(codestream);
  size_t sos = 0;
  while (!(codestream[sos] == 0xFF && codestream[sos + 1] == 0xDA)) ++sos;
  const size_t sos_length = (static_cast<size_t>(codestream[sos + 2]) << 8) | codestream[sos + 3];
  codestream[sos + 2 + sos_length - 2] = 2;
  ASSERT_EQ(parsed.sos.size(), 1u);
  std::vector<uint8_t> out(DecodedBytes(ExpectedOf(spec)));
  const auto decoded = DecodeFrame(codestream, ExpectedOf(spec), out);
  EXPECT_EQ(decoded.status().code(), StatusCode::kUnsupported) << decoded.status().ToString();
}

// --- Hardening -------------------------------------------------------------

std::vector<uint8_t> SmoothFrame(Spec& spec) {
  spec.width = 64;
  spec.height = 48;
  spec.bits = 12;
  return *CharlsEncode(spec, MakePixels(spec, Content::kSmooth, 1));
}

TEST(JlsDecoderTest, RefusesFramesThatDisagreeWithTheAttributes) {
  Spec spec;
  const std::vector<uint8_t> codestream = SmoothFrame(spec);
  const ExpectedFrame good = ExpectedOf(spec);
  EXPECT_TRUE(CheckFrameHeader(codestream, good).ok());
  std::vector<uint8_t> out(DecodedBytes(good));
  EXPECT_TRUE(DecodeFrame(codestream, good, out).ok());

  const auto refused = [&](ExpectedFrame e, StatusCode code) {
    std::vector<uint8_t> buffer(DecodedBytes(e));
    const Status check = CheckFrameHeader(codestream, e);
    EXPECT_EQ(check.code(), code) << check.ToString();
    const auto decoded = DecodeFrame(codestream, e, buffer);
    EXPECT_EQ(decoded.status().code(), code) << decoded.status().ToString();
  };
  ExpectedFrame e = good;
  e.width = 63;
  refused(e, StatusCode::kCorruption);
  e = good;
  e.height = 49;
  refused(e, StatusCode::kCorruption);
  e = good;
  e.components = 3;
  refused(e, StatusCode::kCorruption);
  e = good;
  e.bits_stored = 13;  // P = 12 < BitsStored
  refused(e, StatusCode::kCorruption);
  e = good;
  e.bits_allocated = 8;
  e.bits_stored = 8;  // P = 12 > BitsAllocated
  refused(e, StatusCode::kCorruption);
  e = good;
  e.bits_allocated = 12;
  refused(e, StatusCode::kInvalidArgument);
  e = good;
  e.bits_stored = 10;  // 10 <= 12 <= 16: accepted (P above BitsStored)
  EXPECT_TRUE(CheckFrameHeader(codestream, e).ok());

  std::vector<uint8_t> small(DecodedBytes(good) - 1);
  EXPECT_EQ(DecodeFrame(codestream, good, small).status().code(), StatusCode::kInvalidArgument);
}

TEST(JlsDecoderTest, RefusesAnOversizedFrameHeaderBeforeDecoding) {
  Spec spec;
  std::vector<uint8_t> codestream = SmoothFrame(spec);
  const ExpectedFrame expected = ExpectedOf(spec);
  // SOF at offset 2: FF F7, length (2), P, height (2), width (2): claim 65535 x 65535.
  ASSERT_EQ(codestream[3], 0xF7);
  for (int i = 7; i < 11; ++i) codestream[i] = 0xFF;
  std::vector<uint8_t> out(DecodedBytes(expected));
  const auto decoded = DecodeFrame(codestream, expected, out);
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(decoded.status().message().find("65535x65535"), std::string::npos) << decoded.status().message();
  const auto header = ReadFrameHeader(codestream);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->width, 65535u);
}

TEST(JlsDecoderTest, TruncatedStreamsEndInErrors) {
  for (auto interleave : {charls::interleave_mode::none, charls::interleave_mode::sample}) {
    Spec spec;
    spec.components = 3;
    spec.interleave = interleave;
    const std::vector<uint8_t> codestream = SmoothFrame(spec);
    const ExpectedFrame expected = ExpectedOf(spec);
    std::vector<uint8_t> out(DecodedBytes(expected));
    int refused = 0;
    for (size_t length = 0; length < codestream.size(); ++length) {
      // Copied so that ASan sees any read past the truncated input.
      const std::vector<uint8_t> truncated(codestream.begin(), codestream.begin() + static_cast<ptrdiff_t>(length));
      const auto decoded = DecodeWithEveryIsa(truncated, expected, out, "truncated");
      // Not compared with CharLS: its decoder loops forever on some of these.
      if (!decoded.ok()) ++refused;
    }
    EXPECT_EQ(refused, static_cast<int>(codestream.size()));
  }
}

TEST(JlsDecoderTest, BitFlippedStreamsDecodeLikeCharlsOrFail) {
  Spec spec;
  const std::vector<uint8_t> codestream = SmoothFrame(spec);
  const ExpectedFrame expected = ExpectedOf(spec);
  std::mt19937 rng(5);
  Tally tally;
  int header_refused = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> corrupt = codestream;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) corrupt[rng() % corrupt.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    // CharLS sees only what the production check lets through.
    if (!CheckFrameHeader(corrupt, expected).ok()) {
      ++header_refused;
      continue;
    }
    ExpectSameAsCharls(corrupt, expected, "flip " + std::to_string(trial), tally);
  }
  std::printf("bit flips: %d refused by the header check, %d refused by both, %d decoded identically\n", header_refused,
              tally.both_refused, tally.compared);
}

// The end of the coded data of each segment (before EOI, SOS and RSTm)
// changed: zero bytes and other bytes inserted, bytes removed, the last
// byte replaced. Where the coded data ends and whether what is left is
// padding are verdicts of the bit reader, which exists twice (over the
// input, over a destuffed copy: DecodeWithEveryIsa runs both); both must
// decide as CharLS (before RSTm: as each other). Frames dense in 0xFF bytes (16-bit flat content, run
// mode) and sparse ones, with and without restart intervals.
TEST(JlsDecoderTest, EndOfCodedDataDecidedLikeCharls) {
  std::vector<std::vector<uint8_t>> streams;
  std::vector<ExpectedFrame> frames;
  std::mt19937 rng(11);
  for (const int bits : {16, 12, 8, 5}) {
    for (const Content content : {Content::kFlat, Content::kSparseNoise, Content::kSmooth}) {
      for (const Layout layout : {Layout{1, charls::interleave_mode::none}, Layout{3, charls::interleave_mode::none},
                                  Layout{3, charls::interleave_mode::sample}}) {
        Spec spec;
        spec.bits = bits;
        spec.components = layout.components;
        spec.interleave = layout.interleave;
        spec.width = 24 + rng() % 20;
        spec.height = 6 + rng() % 6;
        const std::vector<uint8_t> pixels = MakePixels(spec, content, rng());
        if (auto plain = CharlsEncode(spec, pixels)) {
          streams.push_back(std::move(*plain));
          frames.push_back(ExpectedOf(spec));
        }
        if (auto restarts = EncodeWithRestarts(spec, pixels, 2)) {
          streams.push_back(std::move(*restarts));
          frames.push_back(ExpectedOf(spec));
        }
      }
    }
  }
  const std::vector<std::vector<uint8_t>> inserts = {{0x00}, {0x00, 0x00}, {0x01}, {0x80}, {0x7F}, {0xFF, 0x00}};
  Tally tally;
  int variants = 0, restart_decoded = 0;
  for (size_t s = 0; s < streams.size(); ++s) {
    const std::vector<uint8_t>& stream = streams[s];
    // Markers that end coded data: after the first SOS, FF followed by RSTm, EOI or SOS.
    size_t first_scan = 0;
    while (first_scan + 1 < stream.size() && !(stream[first_scan] == 0xFF && stream[first_scan + 1] == 0xDA))
      ++first_scan;
    for (size_t at = first_scan + 2; at + 1 < stream.size(); ++at) {
      const uint8_t next = stream[at + 1];
      if (stream[at] != 0xFF || !((next >= 0xD0 && next <= 0xD7) || next == 0xD9 || next == 0xDA)) continue;
      const auto where = static_cast<ptrdiff_t>(at);
      std::vector<std::vector<uint8_t>> changed;
      for (const auto& bytes : inserts) {
        std::vector<uint8_t> v = stream;
        v.insert(v.begin() + where, bytes.begin(), bytes.end());
        changed.push_back(std::move(v));
      }
      for (const ptrdiff_t removed : {1, 2}) {
        std::vector<uint8_t> v = stream;
        v.erase(v.begin() + where - removed, v.begin() + where);
        changed.push_back(std::move(v));
      }
      for (const uint8_t last : {0x00, 0xFF, 0x01}) {
        std::vector<uint8_t> v = stream;
        v[at - 1] = last;
        changed.push_back(std::move(v));
      }
      {
        std::vector<uint8_t> v = stream;
        v[at - 1] ^= 1;
        changed.push_back(std::move(v));
      }
      const std::string what = "stream " + std::to_string(s) + " marker at " + std::to_string(at);
      for (const auto& v : changed) {
        ++variants;
        if (next == 0xD9 || next == 0xDA) {
          ExpectSameAsCharls(v, frames[s], what, tally);
          continue;
        }
        // Before RSTm CharLS accepts more coded data than the interval
        // needs, which we refuse (docs/jpegls-decoder.md, "Limits"): here
        // only both readers and both loops agree.
        std::vector<uint8_t> out(DecodedBytes(frames[s]));
        if (DecodeWithEveryIsa(v, frames[s], out, what).ok()) ++restart_decoded;
      }
    }
  }
  std::printf(
      "end of coded data: %d streams, %d variants: before EOI or SOS %d refused by both, %d decoded identically; "
      "before RSTm %d decoded\n",
      static_cast<int>(streams.size()), variants, tally.both_refused, tally.compared, restart_decoded);
  EXPECT_GT(tally.compared, 0);
  EXPECT_GT(tally.both_refused, 0);
}

// Inputs that once made the fuzzer report a bug in our decoder, replayed
// (under ASan/UBSan in the fuzzer build, plainly here): the same pixels as
// CharLS, or both refuse.
//   decoder_fuzz_unary_shift_64.jls: a shift by 64 in the bit reader (UBSan).
//     Its SOF named component 3 twice, which the header check now refuses;
//     the first is renamed 1 (byte 12) so that the stream reaches the scan.
//   decoder_fuzz_run_interruption_k17.jls: we refused a run interruption
//     context with k = 17, which CharLS decodes.
//   decoder_fuzz_scalar_gradients_index.jls: an unsigned index i - 1 at
//     i = 0 in the scalar gradient path (T3 above 32767; UBSan).
//   decoder_fuzz_near_reconstruct_overflow.jls: int overflow reconstructing
//     a near-lossless run interruption sample with a huge error (UBSan).
//   decoder_fuzz_transform_9_bits.jls: an HP colour transform on 9-bit
//     samples, sample-interleaved: CharLS refuses it ("bit depth for the
//     transformation"), we decoded it with CharLS 1.x's 16-bit shift.
TEST(JlsDecoderTest, ReplaysFuzzerFindings) {
  const std::string dir = std::string(PACS_SOURCE_DIR) + "/tests/jls/data/";
  Tally tally;
  for (const char* name : {"decoder_fuzz_unary_shift_64.jls", "decoder_fuzz_run_interruption_k17.jls",
                           "decoder_fuzz_scalar_gradients_index.jls", "decoder_fuzz_near_reconstruct_overflow.jls",
                           "decoder_fuzz_transform_9_bits.jls"}) {
    std::ifstream file(dir + name, std::ios::binary);
    ASSERT_TRUE(file.good()) << dir + name;
    const std::vector<uint8_t> codestream((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const auto header = ReadFrameHeader(codestream);
    ASSERT_TRUE(header.ok()) << name;
    const ExpectedFrame expected{header->width, header->height, header->component_count,
                                 header->bits_per_sample > 8 ? 16 : 8, header->bits_per_sample};
    if (EndsWithEndOfImage(codestream)) {
      ExpectSameAsCharls(codestream, expected, name, tally);
    } else {  // CharLS may hang: ours only, which must refuse
      std::vector<uint8_t> out(DecodedBytes(expected));
      EXPECT_FALSE(DecodeWithEveryIsa(codestream, expected, out, name).ok()) << name;
      ++tally.both_refused;
    }
  }
  EXPECT_EQ(tally.compared + tally.both_refused, 5);
}

// A stream on which Debian's CharLS 2.4.1 aborts the process (assertion
// `k <= 32' in context_run_mode::get_golomb_code), found by the decoder
// fuzzer: our decoder refuses it. Not given to CharLS here.
TEST(JlsDecoderTest, RefusesTheStreamThatAbortsCharls) {
  const std::string path = std::string(PACS_SOURCE_DIR) + "/tests/jls/data/charls_asserts_run_interruption_k.jls";
  std::ifstream file(path, std::ios::binary);
  ASSERT_TRUE(file.good()) << path;
  const std::vector<uint8_t> codestream((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const ExpectedFrame expected{19, 4, 3, 16, 16};
  ASSERT_TRUE(CheckFrameHeader(codestream, expected).ok());  // the SOF check does not catch it
  std::vector<uint8_t> out(DecodedBytes(expected));
  const auto decoded = DecodeWithEveryIsa(codestream, expected, out, "charls_asserts_run_interruption_k.jls");
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption) << decoded.status().ToString();
}

// Headers that CharLS 2.4.1 refuses and we decoded, now refused by the
// header reader and by DecodeFrame:
//   decoder_fuzz_duplicate_component_id.jls (CI's decoder fuzzer): a SOF
//     naming component 2 twice (17x8, 3 components, 9 bits), whose scan
//     names components 1, 2 and 3 ("duplicate component identifier");
//   decoder_transform_id_4.jls: seed_8 (8 bits, 3 components, not
//     interleaved) with an HP "mrfx" segment naming transform 4 ("color
//     transform is not supported"; we ignored transforms in a
//     non-interleaved scan).
TEST(JlsDecoderTest, RefusesHeadersThatCharlsRefuses) {
  for (const auto& [name, ours, charls_says] :
       {std::tuple<const char*, const char*, const char*>{"decoder_fuzz_duplicate_component_id.jls", "appears twice",
                                                          "duplicate component"},
        {"decoder_transform_id_4.jls", "HP colour transform 4", "color transform is not supported"}}) {
    const std::string path = std::string(PACS_SOURCE_DIR) + "/tests/jls/data/" + name;
    std::ifstream file(path, std::ios::binary);
    ASSERT_TRUE(file.good()) << path;
    const std::vector<uint8_t> codestream((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const auto header = ReadFrameHeader(codestream);
    ASSERT_FALSE(header.ok()) << name;
    EXPECT_NE(header.status().ToString().find(ours), std::string::npos) << header.status().ToString();
    std::string charls_error;
    EXPECT_FALSE(CharlsDecode(codestream, &charls_error).has_value()) << name;
    EXPECT_NE(charls_error.find(charls_says), std::string::npos) << charls_error;
  }
}

}  // namespace
}  // namespace pacs::jls
