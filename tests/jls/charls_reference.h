// Test-only: what charls::jpegls_encoder 2.4.1 writes with default options,
// the reference pacs::jls must match byte for byte.
#pragma once

#include <charls/charls.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "pacs/jls/jpegls_encoder.h"

namespace pacs::jls::testing {

// nullopt if CharLS refuses (e.g. its destination estimate is too small for
// incompressible data).
inline std::optional<std::vector<uint8_t>> CharlsEncode(const FrameFormat& format, std::span<const uint8_t> pixels) {
  try {
    charls::jpegls_encoder encoder;
    encoder.frame_info({format.width, format.height, format.bits_per_sample, format.component_count});
    encoder.interleave_mode(static_cast<charls::interleave_mode>(format.interleave));
    std::vector<uint8_t> out(encoder.estimated_destination_size());
    encoder.destination(out);
    out.resize(encoder.encode(pixels.data(), pixels.size()));
    return out;
  } catch (const charls::jpegls_error&) {
    return std::nullopt;
  }
}

}  // namespace pacs::jls::testing
