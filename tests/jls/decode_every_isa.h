// File: decode_every_isa.h
// Our decoder with the line loops the CPU runs (the BMI2 ones on CPUs with
// BMI2 and LZCNT) and, where those are not the portable ones, also with the
// portable loops, which must give the same verdict and the same pixels; and
// with both bit readers (over the input, over a destuffed copy).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pacs/jls/jpegls_decoder.h"
#include "scan_decoder.h"

namespace pacs::jls::testing {

// Also decodes with the coded data destuffed first and read in place
// (internal::DestuffChoice kAlways and kNever, whatever the automatic choice
// was): the same verdict and pixels.
inline void ExpectSameWithEveryReader(std::span<const uint8_t> codestream, const ExpectedFrame& expected,
                                      std::span<const uint8_t> out, const Result<DecodedFrame>& decoded,
                                      const std::string& what) {
  using internal::DestuffChoice;
  for (const DestuffChoice choice : {DestuffChoice::kAlways, DestuffChoice::kNever}) {
    std::vector<uint8_t> other_out(out.size());
    internal::SetDestuffForTesting(choice);
    const auto other = DecodeFrame(codestream, expected, other_out);
    internal::SetDestuffForTesting(DestuffChoice::kAuto);
    const char* name = choice == DestuffChoice::kAlways ? "destuffed" : "in-place";
    EXPECT_EQ(other.ok(), decoded.ok()) << what << ": the " << name
                                        << " reader disagrees: " << other.status().ToString() << " / "
                                        << decoded.status().ToString();
    if (other.ok() && decoded.ok()) {
      EXPECT_TRUE(std::equal(out.begin(), out.end(), other_out.begin()))
          << what << ": the " << name << " reader decodes different pixels";
    }
  }
}

inline Result<DecodedFrame> DecodeWithEveryIsa(std::span<const uint8_t> codestream, const ExpectedFrame& expected,
                                               std::span<uint8_t> out, const std::string& what) {
  using internal::ScanIsa;
  auto decoded = DecodeFrame(codestream, expected, out);
  ExpectSameWithEveryReader(codestream, expected, out, decoded, what);
  if (internal::ActiveScanIsa() == ScanIsa::kPortable) return decoded;
  std::vector<uint8_t> portable_out(out.size());
  internal::SetScanIsaForTesting(ScanIsa::kPortable);
  const auto portable = DecodeFrame(codestream, expected, portable_out);
  internal::SetScanIsaForTesting(ScanIsa::kBmi2);
  EXPECT_EQ(portable.ok(), decoded.ok()) << what
                                         << ": the portable and BMI2 loops disagree: " << portable.status().ToString()
                                         << " / " << decoded.status().ToString();
  if (portable.ok() && decoded.ok()) {
    EXPECT_TRUE(std::equal(out.begin(), out.end(), portable_out.begin()))
        << what << ": the portable and BMI2 loops decode different pixels";
  }
  return decoded;
}

}  // namespace pacs::jls::testing
