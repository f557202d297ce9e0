// File: decoder_kernels.h
// The decoder's SIMD kernels (Highway, dispatched at run time over AVX2,
// SSE4 and EMU128): what can be computed for a whole line before its
// serial adaptive decoding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pacs::jls::internal {

// How far past `width` ComputeGradients may read its line and write its
// output: one AVX2 vector of uint16_t plus slack.
inline constexpr size_t kDecoderLinePadding = 32;

// Where the next 0xFF byte is in [from, end), or end.
const uint8_t* FindNextFF(const uint8_t* from, const uint8_t* end);

// The coded data of a segment (a scan or a restart interval) without its
// stuffed bits, for a bit reader that then never looks for 0xFF bytes.
struct DestuffedData {
  // Where the coded data ends in the input: at the first 0xFF followed by
  // a byte >= 0x80 (a marker), at a 0xFF that is the last byte, or at end
  // (where BitReader stops).
  const uint8_t* data_end;
  size_t bits;  // the coded bits: 8 per byte, 7 per byte after a 0xFF
};

// Writes the coded bits from `begin` on (see DestuffedData), MSB first, to
// `out`, the last byte padded with zero bits. `out` must have room for
// (end - begin) + 8 bytes (whole 8-byte words are stored).
DestuffedData DestuffCodedData(const uint8_t* begin, const uint8_t* end, uint8_t* out);

// The number of 0xFF bytes in the first `window` bytes from `begin` (fewer
// if a marker or `end` comes first) and the bytes looked at.
struct FFDensity {
  size_t ff_bytes;
  size_t bytes;
};
FFDensity CountFFBytes(const uint8_t* begin, const uint8_t* end, size_t window);

// For each sample i < width of the line below `prev`, what its decoding
// needs from the line above, in one 32-bit word (one load, one pointer in
// the serial loop): in the low 16 bits, as int16_t, 81 * Q(prev[i+1] -
// prev[i]) + 9 * Q(prev[i] - prev[i-1]), the part of its context that does
// not depend on the line being decoded (A.3.3, gradient quantisation with
// NEAR); in the high 16 bits its b, prev[i]. prev[-1] and prev[width] must
// be set, prev readable up to width + kDecoderLinePadding, out writable as
// far. Needs t3 <= 32767 (else ComputeGradientsScalar).
void ComputeGradients(const uint16_t* prev, size_t width, int32_t t1, int32_t t2, int32_t t3, int32_t near,
                      uint32_t* out);

// The same from a quantisation table (quantize[d] = Q(d) for d in +-t3).
void ComputeGradientsScalar(const uint16_t* prev, size_t width, const int8_t* quantize, int32_t t3, uint32_t* out);

// The word of ComputeGradients.
inline uint32_t PackAbove(int32_t gradients, uint16_t b) {
  return static_cast<uint32_t>(static_cast<uint16_t>(gradients)) | (static_cast<uint32_t>(b) << 16);
}

}  // namespace pacs::jls::internal
