// Plain-loop references for the SIMD kernels in pixel_kernels_simd.cpp.
#include <bit>

#include "pacs/codecs/pixel_kernels.h"

namespace pacs::codecs::scalar {

namespace {
int32_t SignExtend(uint32_t pattern, int precision) {
  const int shift = 32 - precision;
  return static_cast<int32_t>(pattern << shift) >> shift;
}
uint32_t LowMask(int precision) {
  return precision >= 32 ? ~0u : (1u << precision) - 1u;
}
}  // namespace

MinMax MinMaxU16(const uint16_t* samples, size_t count) {
  if (count == 0) return {};
  uint16_t lo = samples[0], hi = samples[0];
  for (size_t i = 1; i < count; ++i) {
    lo = samples[i] < lo ? samples[i] : lo;
    hi = samples[i] > hi ? samples[i] : hi;
  }
  return {lo, hi};
}

MinMax MinMaxS16(const int16_t* samples, size_t count) {
  if (count == 0) return {};
  int16_t lo = samples[0], hi = samples[0];
  for (size_t i = 1; i < count; ++i) {
    lo = samples[i] < lo ? samples[i] : lo;
    hi = samples[i] > hi ? samples[i] : hi;
  }
  return {lo, hi};
}

uint16_t OrAllU16(const uint16_t* samples, size_t count) {
  uint16_t acc = 0;
  for (size_t i = 0; i < count; ++i) acc |= samples[i];
  return acc;
}

bool HasBitsAboveU16(const uint16_t* samples, size_t count, int bits) {
  if (bits >= 16) return false;
  const auto above = static_cast<uint16_t>(~LowMask(bits));
  for (size_t i = 0; i < count; ++i)
    if (samples[i] & above) return true;
  return false;
}

bool HasBitsAboveU8(const uint8_t* samples, size_t count, int bits) {
  if (bits >= 8) return false;
  const auto above = static_cast<uint8_t>(~LowMask(bits));
  for (size_t i = 0; i < count; ++i)
    if (samples[i] & above) return true;
  return false;
}

void ByteSwap16(const uint16_t* src, uint16_t* dst, size_t count) {
  for (size_t i = 0; i < count; ++i) dst[i] = static_cast<uint16_t>((src[i] << 8) | (src[i] >> 8));
}

void InterleavedToPlanar3x8(const uint8_t* src, uint8_t* dst, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i) {
    dst[i] = src[3 * i];
    dst[pixels + i] = src[3 * i + 1];
    dst[2 * pixels + i] = src[3 * i + 2];
  }
}

void PlanarToInterleaved3x8(const uint8_t* src, uint8_t* dst, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i) {
    dst[3 * i] = src[i];
    dst[3 * i + 1] = src[pixels + i];
    dst[3 * i + 2] = src[2 * pixels + i];
  }
}

void U16ToI32(const uint16_t* src, int32_t* dst, size_t count, int precision, bool is_signed) {
  for (size_t i = 0; i < count; ++i) dst[i] = is_signed ? SignExtend(src[i], precision) : static_cast<int32_t>(src[i]);
}

void U8ToI32(const uint8_t* src, int32_t* dst, size_t count, int precision, bool is_signed) {
  for (size_t i = 0; i < count; ++i) dst[i] = is_signed ? SignExtend(src[i], precision) : static_cast<int32_t>(src[i]);
}

void I32ToU16(const int32_t* src, uint16_t* dst, size_t count, int precision) {
  const uint32_t mask = LowMask(precision);
  for (size_t i = 0; i < count; ++i) dst[i] = static_cast<uint16_t>(static_cast<uint32_t>(src[i]) & mask);
}

void I32ToU8(const int32_t* src, uint8_t* dst, size_t count, int precision) {
  const uint32_t mask = LowMask(precision);
  for (size_t i = 0; i < count; ++i) dst[i] = static_cast<uint8_t>(static_cast<uint32_t>(src[i]) & mask);
}

}  // namespace pacs::codecs::scalar
