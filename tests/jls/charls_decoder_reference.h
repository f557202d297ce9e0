// Test-, fuzz- and bench-only: CharLS 2.4.1's decoder, the reference
// pacs::jls::DecodeFrame must match pixel for pixel (or refuse with it).
#pragma once

#include <charls/charls.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pacs::jls::testing {

struct CharlsDecoded {
  charls::frame_info frame{};
  int interleave = 0;
  int near_lossless = 0;
  // As CharLS writes it: 1 byte per sample up to 8 bits, a host-order
  // uint16_t above; planes for interleave none, RGBRGB otherwise.
  std::vector<uint8_t> pixels;
};

// nullopt when CharLS refuses the codestream (`error` says why).
inline std::optional<CharlsDecoded> CharlsDecode(std::span<const uint8_t> codestream, std::string* error = nullptr) {
  try {
    charls::jpegls_decoder decoder;
    decoder.source(codestream.data(), codestream.size());
    decoder.read_header();
    CharlsDecoded out;
    out.frame = decoder.frame_info();
    out.interleave = static_cast<int>(decoder.interleave_mode());
    out.near_lossless = decoder.near_lossless();
    out.pixels.resize(decoder.destination_size());
    decoder.decode(out.pixels);
    return out;
  } catch (const charls::jpegls_error& e) {
    if (error != nullptr) *error = e.what();
    return std::nullopt;
  }
}

// The samples of a CharLS decode as the values pacs::jls writes for
// `bits_allocated` (8: bytes, 16: host-order uint16_t).
inline std::vector<uint8_t> AsBitsAllocated(const CharlsDecoded& decoded, int bits_allocated) {
  const bool charls_two_bytes = decoded.frame.bits_per_sample > 8;
  if ((bits_allocated == 16) == charls_two_bytes) return decoded.pixels;
  std::vector<uint8_t> out;
  if (bits_allocated == 16) {  // P <= 8 into 16-bit samples
    out.resize(decoded.pixels.size() * 2);
    for (size_t i = 0; i < decoded.pixels.size(); ++i) {
      const uint16_t v = decoded.pixels[i];
      std::memcpy(&out[2 * i], &v, 2);
    }
  }
  return out;
}

}  // namespace pacs::jls::testing
