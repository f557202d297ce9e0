// Highway implementations of pixel_kernels.h. This file is compiled once per
// SIMD target (foreach_target.h re-includes it); HWY_DISABLED_TARGETS, set in
// codecs/CMakeLists.txt, keeps the list to SSE4, AVX2 and the portable
// fallback so the build stays small and every compiled path is one CI runs.
#include <algorithm>
#include <bit>

#include "pacs/codecs/pixel_kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "pixel_kernels_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace pacs::codecs::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void MinMaxU16Impl(const uint16_t* samples, size_t count, MinMax* out) {
  const hn::ScalableTag<uint16_t> d;
  const size_t lanes = hn::Lanes(d);
  auto lo0 = hn::Set(d, 0xFFFF), lo1 = lo0;
  auto hi0 = hn::Zero(d), hi1 = hi0;
  size_t i = 0;
  for (; i + 2 * lanes <= count; i += 2 * lanes) {
    const auto a = hn::LoadU(d, samples + i);
    const auto b = hn::LoadU(d, samples + i + lanes);
    lo0 = hn::Min(lo0, a), hi0 = hn::Max(hi0, a);
    lo1 = hn::Min(lo1, b), hi1 = hn::Max(hi1, b);
  }
  uint16_t lo = hn::GetLane(hn::MinOfLanes(d, hn::Min(lo0, lo1)));
  uint16_t hi = hn::GetLane(hn::MaxOfLanes(d, hn::Max(hi0, hi1)));
  for (; i < count; ++i) lo = std::min(lo, samples[i]), hi = std::max(hi, samples[i]);
  *out = count == 0 ? MinMax{} : MinMax{lo, hi};
}

void MinMaxS16Impl(const int16_t* samples, size_t count, MinMax* out) {
  const hn::ScalableTag<int16_t> d;
  const size_t lanes = hn::Lanes(d);
  auto lo0 = hn::Set(d, INT16_MAX), lo1 = lo0;
  auto hi0 = hn::Set(d, INT16_MIN), hi1 = hi0;
  size_t i = 0;
  for (; i + 2 * lanes <= count; i += 2 * lanes) {
    const auto a = hn::LoadU(d, samples + i);
    const auto b = hn::LoadU(d, samples + i + lanes);
    lo0 = hn::Min(lo0, a), hi0 = hn::Max(hi0, a);
    lo1 = hn::Min(lo1, b), hi1 = hn::Max(hi1, b);
  }
  int16_t lo = hn::GetLane(hn::MinOfLanes(d, hn::Min(lo0, lo1)));
  int16_t hi = hn::GetLane(hn::MaxOfLanes(d, hn::Max(hi0, hi1)));
  for (; i < count; ++i) lo = std::min(lo, samples[i]), hi = std::max(hi, samples[i]);
  *out = count == 0 ? MinMax{} : MinMax{lo, hi};
}

template <typename T>
T OrAll(const T* samples, size_t count) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  auto acc0 = hn::Zero(d), acc1 = acc0;
  size_t i = 0;
  for (; i + 2 * lanes <= count; i += 2 * lanes) {
    acc0 = hn::Or(acc0, hn::LoadU(d, samples + i));
    acc1 = hn::Or(acc1, hn::LoadU(d, samples + i + lanes));
  }
  HWY_ALIGN T lane_values[hn::MaxLanes(d)];
  hn::Store(hn::Or(acc0, acc1), d, lane_values);
  T acc = 0;
  for (size_t j = 0; j < lanes; ++j) acc |= lane_values[j];
  for (; i < count; ++i) acc |= samples[i];
  return acc;
}

uint16_t OrAllU16Impl(const uint16_t* samples, size_t count) {
  return OrAll(samples, count);
}

// Blocks of this many samples are OR-ed before testing, so the early exit
// costs one branch per block instead of one per vector.
constexpr size_t kHighBitBlock = 4096;

template <typename T>
bool HasBitsAbove(const T* samples, size_t count, int bits) {
  if (bits >= static_cast<int>(8 * sizeof(T))) return false;
  const T above = static_cast<T>(~((1u << bits) - 1u));
  for (size_t start = 0; start < count; start += kHighBitBlock) {
    if (OrAll(samples + start, std::min(kHighBitBlock, count - start)) & above) return true;
  }
  return false;
}

bool HasBitsAboveU16Impl(const uint16_t* samples, size_t count, int bits) {
  return HasBitsAbove(samples, count, bits);
}
bool HasBitsAboveU8Impl(const uint8_t* samples, size_t count, int bits) {
  return HasBitsAbove(samples, count, bits);
}

void ByteSwap16Impl(const uint16_t* src, uint16_t* dst, size_t count) {
  const hn::ScalableTag<uint16_t> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= count; i += lanes) {
    const auto v = hn::LoadU(d, src + i);
    hn::StoreU(hn::Or(hn::ShiftLeft<8>(v), hn::ShiftRight<8>(v)), d, dst + i);
  }
  for (; i < count; ++i) dst[i] = static_cast<uint16_t>((src[i] << 8) | (src[i] >> 8));
}

void InterleavedToPlanar3x8Impl(const uint8_t* src, uint8_t* dst, size_t pixels) {
  const hn::ScalableTag<uint8_t> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= pixels; i += lanes) {
    hn::Vec<decltype(d)> r, g, b;
    hn::LoadInterleaved3(d, src + 3 * i, r, g, b);
    hn::StoreU(r, d, dst + i);
    hn::StoreU(g, d, dst + pixels + i);
    hn::StoreU(b, d, dst + 2 * pixels + i);
  }
  for (; i < pixels; ++i) {
    dst[i] = src[3 * i];
    dst[pixels + i] = src[3 * i + 1];
    dst[2 * pixels + i] = src[3 * i + 2];
  }
}

void PlanarToInterleaved3x8Impl(const uint8_t* src, uint8_t* dst, size_t pixels) {
  const hn::ScalableTag<uint8_t> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= pixels; i += lanes) {
    hn::StoreInterleaved3(hn::LoadU(d, src + i), hn::LoadU(d, src + pixels + i), hn::LoadU(d, src + 2 * pixels + i), d,
                          dst + 3 * i);
  }
  for (; i < pixels; ++i) {
    dst[3 * i] = src[i];
    dst[3 * i + 1] = src[pixels + i];
    dst[3 * i + 2] = src[2 * pixels + i];
  }
}

template <typename T>
void ToI32(const T* src, int32_t* dst, size_t count, int precision, bool is_signed) {
  const hn::ScalableTag<int32_t> d32;
  const hn::Rebind<T, decltype(d32)> dn;
  const size_t lanes = hn::Lanes(d32);
  const int shift = 32 - precision;
  size_t i = 0;
  if (is_signed) {
    for (; i + lanes <= count; i += lanes) {
      const auto v = hn::BitCast(d32, hn::PromoteTo(hn::RebindToUnsigned<decltype(d32)>(), hn::LoadU(dn, src + i)));
      hn::StoreU(hn::ShiftRightSame(hn::ShiftLeftSame(v, shift), shift), d32, dst + i);
    }
    for (; i < count; ++i) dst[i] = static_cast<int32_t>(static_cast<uint32_t>(src[i]) << shift) >> shift;
  } else {
    for (; i + lanes <= count; i += lanes)
      hn::StoreU(hn::BitCast(d32, hn::PromoteTo(hn::RebindToUnsigned<decltype(d32)>(), hn::LoadU(dn, src + i))), d32,
                 dst + i);
    for (; i < count; ++i) dst[i] = src[i];
  }
}

void U16ToI32Impl(const uint16_t* src, int32_t* dst, size_t count, int precision, bool is_signed) {
  ToI32(src, dst, count, precision, is_signed);
}
void U8ToI32Impl(const uint8_t* src, int32_t* dst, size_t count, int precision, bool is_signed) {
  ToI32(src, dst, count, precision, is_signed);
}

template <typename T>
void FromI32(const int32_t* src, T* dst, size_t count, int precision) {
  const hn::ScalableTag<int32_t> d32;
  const hn::Rebind<T, decltype(d32)> dn;
  const size_t lanes = hn::Lanes(d32);
  const auto mask = static_cast<int32_t>((1u << precision) - 1u);
  const auto vmask = hn::Set(d32, mask);
  size_t i = 0;
  // After masking every value is in [0, mask], so the saturating demotion is exact.
  for (; i + lanes <= count; i += lanes)
    hn::StoreU(hn::DemoteTo(dn, hn::And(hn::LoadU(d32, src + i), vmask)), dn, dst + i);
  for (; i < count; ++i) dst[i] = static_cast<T>(src[i] & mask);
}

void I32ToU16Impl(const int32_t* src, uint16_t* dst, size_t count, int precision) {
  FromI32(src, dst, count, precision);
}
void I32ToU8Impl(const int32_t* src, uint8_t* dst, size_t count, int precision) {
  FromI32(src, dst, count, precision);
}

const char* TargetNameImpl() {
  return hwy::TargetName(HWY_TARGET);
}

}  // namespace pacs::codecs::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pacs::codecs {

HWY_EXPORT(MinMaxU16Impl);
HWY_EXPORT(MinMaxS16Impl);
HWY_EXPORT(OrAllU16Impl);
HWY_EXPORT(HasBitsAboveU16Impl);
HWY_EXPORT(HasBitsAboveU8Impl);
HWY_EXPORT(ByteSwap16Impl);
HWY_EXPORT(InterleavedToPlanar3x8Impl);
HWY_EXPORT(PlanarToInterleaved3x8Impl);
HWY_EXPORT(U16ToI32Impl);
HWY_EXPORT(U8ToI32Impl);
HWY_EXPORT(I32ToU16Impl);
HWY_EXPORT(I32ToU8Impl);
HWY_EXPORT(TargetNameImpl);

MinMax MinMaxU16(const uint16_t* samples, size_t count) {
  MinMax result;
  HWY_DYNAMIC_DISPATCH(MinMaxU16Impl)(samples, count, &result);
  return result;
}
MinMax MinMaxS16(const int16_t* samples, size_t count) {
  MinMax result;
  HWY_DYNAMIC_DISPATCH(MinMaxS16Impl)(samples, count, &result);
  return result;
}
uint16_t OrAllU16(const uint16_t* samples, size_t count) {
  return HWY_DYNAMIC_DISPATCH(OrAllU16Impl)(samples, count);
}
int ActualBitDepthU16(const uint16_t* samples, size_t count) {
  return std::bit_width(OrAllU16(samples, count));
}
bool HasBitsAboveU16(const uint16_t* samples, size_t count, int bits) {
  return HWY_DYNAMIC_DISPATCH(HasBitsAboveU16Impl)(samples, count, bits);
}
bool HasBitsAboveU8(const uint8_t* samples, size_t count, int bits) {
  return HWY_DYNAMIC_DISPATCH(HasBitsAboveU8Impl)(samples, count, bits);
}
void ByteSwap16(const uint16_t* src, uint16_t* dst, size_t count) {
  HWY_DYNAMIC_DISPATCH(ByteSwap16Impl)(src, dst, count);
}
void InterleavedToPlanar3x8(const uint8_t* src, uint8_t* dst, size_t pixels) {
  HWY_DYNAMIC_DISPATCH(InterleavedToPlanar3x8Impl)(src, dst, pixels);
}
void PlanarToInterleaved3x8(const uint8_t* src, uint8_t* dst, size_t pixels) {
  HWY_DYNAMIC_DISPATCH(PlanarToInterleaved3x8Impl)(src, dst, pixels);
}
void U16ToI32(const uint16_t* src, int32_t* dst, size_t count, int precision, bool is_signed) {
  HWY_DYNAMIC_DISPATCH(U16ToI32Impl)(src, dst, count, precision, is_signed);
}
void U8ToI32(const uint8_t* src, int32_t* dst, size_t count, int precision, bool is_signed) {
  HWY_DYNAMIC_DISPATCH(U8ToI32Impl)(src, dst, count, precision, is_signed);
}
void I32ToU16(const int32_t* src, uint16_t* dst, size_t count, int precision) {
  HWY_DYNAMIC_DISPATCH(I32ToU16Impl)(src, dst, count, precision);
}
void I32ToU8(const int32_t* src, uint8_t* dst, size_t count, int precision) {
  HWY_DYNAMIC_DISPATCH(I32ToU8Impl)(src, dst, count, precision);
}
const char* KernelTargetName() {
  return HWY_DYNAMIC_DISPATCH(TargetNameImpl)();
}

}  // namespace pacs::codecs
#endif  // HWY_ONCE
