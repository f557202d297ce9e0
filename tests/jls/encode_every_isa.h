// File: encode_every_isa.h
// Our encoder with the line functions the CPU runs (the BMI2 ones on CPUs
// with BMI2 and LZCNT) and, where those are not the portable ones, also with
// the portable functions, which must write the same bytes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pacs/jls/jpegls_encoder.h"
#include "scan_encoder.h"

namespace pacs::jls::testing {

inline Result<std::vector<uint8_t>> EncodeWithEveryIsa(const FrameFormat& format, std::span<const uint8_t> pixels,
                                                       const std::string& what) {
  using internal::EncoderIsa;
  auto encoded = EncodeLossless(format, pixels);
  if (internal::ActiveEncoderIsa() == EncoderIsa::kPortable) return encoded;
  internal::SetEncoderIsaForTesting(EncoderIsa::kPortable);
  const auto portable = EncodeLossless(format, pixels);
  internal::SetEncoderIsaForTesting(EncoderIsa::kBmi2);
  EXPECT_EQ(portable.ok(), encoded.ok()) << what << ": the portable and BMI2 line functions disagree";
  if (portable.ok() && encoded.ok()) {
    EXPECT_TRUE(*portable == *encoded) << what << ": the portable and BMI2 line functions write different bytes";
  }
  return encoded;
}

}  // namespace pacs::jls::testing
