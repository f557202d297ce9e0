// File: coding_parameters.h
// The constants of one JPEG-LS lossless scan (ISO/IEC 14495-1 A.2, C.2.4.1.1)
// derived from the sample precision, with the default thresholds exactly as
// CharLS computes them.
#pragma once

#include <algorithm>
#include <cstdint>

namespace pacs::jls::internal {

struct CodingParameters {
  int32_t bits_per_sample = 0;  // P
  int32_t max_value = 0;        // MAXVAL = 2^P - 1
  int32_t range = 0;            // RANGE = MAXVAL + 1 when NEAR = 0
  int32_t qbpp = 0;             // bits of a mapped error in escape codes
  int32_t limit = 0;            // LIMIT: longest Golomb code
  int32_t t1 = 0, t2 = 0, t3 = 0;
  int32_t reset = 64;
};

// CLAMP of C.2.4.1.1.1: values outside [low, max_value] fall back to low.
constexpr int32_t ClampThreshold(int32_t value, int32_t low, int32_t max_value) {
  return (value > max_value || value < low) ? low : value;
}

constexpr CodingParameters DefaultLosslessParameters(int32_t bits_per_sample) {
  CodingParameters p;
  p.bits_per_sample = bits_per_sample;
  p.max_value = (1 << bits_per_sample) - 1;
  p.range = p.max_value + 1;
  p.qbpp = bits_per_sample;
  p.limit = 2 * (bits_per_sample + std::max(8, bits_per_sample));
  constexpr int32_t kBasicT1 = 3, kBasicT2 = 7, kBasicT3 = 21;
  if (p.max_value >= 128) {
    const int32_t factor = (std::min(p.max_value, 4095) + 128) / 256;
    p.t1 = ClampThreshold(factor * (kBasicT1 - 2) + 2, 1, p.max_value);
    p.t2 = ClampThreshold(factor * (kBasicT2 - 3) + 3, p.t1, p.max_value);
    p.t3 = ClampThreshold(factor * (kBasicT3 - 4) + 4, p.t2, p.max_value);
  } else {
    const int32_t factor = 256 / (p.max_value + 1);
    p.t1 = ClampThreshold(std::max(2, kBasicT1 / factor), 1, p.max_value);
    p.t2 = ClampThreshold(std::max(3, kBasicT2 / factor), p.t1, p.max_value);
    p.t3 = ClampThreshold(std::max(4, kBasicT3 / factor), p.t2, p.max_value);
  }
  return p;
}

}  // namespace pacs::jls::internal
