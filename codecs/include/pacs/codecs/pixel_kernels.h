// File: pixel_kernels.h
// SIMD pixel kernels (Google Highway, dispatched at run time to the best of
// SSE4 / AVX2 / portable code) that the codecs run over raw frames, each with
// a plain-loop reference in namespace `scalar` that tests and benchmarks
// compare against.
//
// 16-bit samples are host-order uint16_t (the codecs assume a little-endian
// host, like DICOM's native byte order). Pointers need not be aligned beyond
// their element type. Lengths count elements (samples or pixels), not bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pacs::codecs {

struct MinMax {
  int32_t min = 0;
  int32_t max = 0;
  bool operator==(const MinMax&) const = default;
};

// Smallest and largest sample; {0, 0} for an empty range.
MinMax MinMaxU16(const uint16_t* samples, size_t count);
MinMax MinMaxS16(const int16_t* samples, size_t count);

// Bitwise OR of all samples: its bit width is the frame's actual bit depth.
uint16_t OrAllU16(const uint16_t* samples, size_t count);
// Number of bits needed to hold every sample's bit pattern (0 for all-zero).
int ActualBitDepthU16(const uint16_t* samples, size_t count);

// Whether any sample has a bit set at position `bits` or above (bits above
// BitsStored: overlays, garbage, or the sign extension of negative values).
// Stops at the first block that has one.
bool HasBitsAboveU16(const uint16_t* samples, size_t count, int bits);
bool HasBitsAboveU8(const uint8_t* samples, size_t count, int bits);

// Swaps the two bytes of each 16-bit sample; `dst` may equal `src`.
void ByteSwap16(const uint16_t* src, uint16_t* dst, size_t count);

// RGBRGB... (pixels x 3 bytes) <-> RRR...GGG...BBB... (3 planes of `pixels`).
void InterleavedToPlanar3x8(const uint8_t* src, uint8_t* dst, size_t pixels);
void PlanarToInterleaved3x8(const uint8_t* src, uint8_t* dst, size_t pixels);

// Widens sample bit patterns into codec line buffers (OpenJPEG/OpenJPH use
// int32). With is_signed the low `precision` bits are sign-extended, else the
// value is taken as is (the caller guarantees no bits above `precision`).
void U16ToI32(const uint16_t* src, int32_t* dst, size_t count, int precision, bool is_signed);
void U8ToI32(const uint8_t* src, int32_t* dst, size_t count, int precision, bool is_signed);

// Narrows decoded int32 samples back to bit patterns: keeps the low
// `precision` bits (two's complement for negative values), upper bits zero.
void I32ToU16(const int32_t* src, uint16_t* dst, size_t count, int precision);
void I32ToU8(const int32_t* src, uint8_t* dst, size_t count, int precision);

// The name of the instruction set the dispatched kernels run on ("AVX2", ...).
const char* KernelTargetName();

// Plain loops with the same contracts: the reference for tests and benchmarks.
namespace scalar {
MinMax MinMaxU16(const uint16_t* samples, size_t count);
MinMax MinMaxS16(const int16_t* samples, size_t count);
uint16_t OrAllU16(const uint16_t* samples, size_t count);
bool HasBitsAboveU16(const uint16_t* samples, size_t count, int bits);
bool HasBitsAboveU8(const uint8_t* samples, size_t count, int bits);
void ByteSwap16(const uint16_t* src, uint16_t* dst, size_t count);
void InterleavedToPlanar3x8(const uint8_t* src, uint8_t* dst, size_t pixels);
void PlanarToInterleaved3x8(const uint8_t* src, uint8_t* dst, size_t pixels);
void U16ToI32(const uint16_t* src, int32_t* dst, size_t count, int precision, bool is_signed);
void U8ToI32(const uint8_t* src, int32_t* dst, size_t count, int precision, bool is_signed);
void I32ToU16(const int32_t* src, uint16_t* dst, size_t count, int precision);
void I32ToU8(const int32_t* src, uint8_t* dst, size_t count, int precision);
}  // namespace scalar

}  // namespace pacs::codecs
