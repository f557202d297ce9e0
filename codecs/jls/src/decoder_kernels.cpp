// Highway kernels of decoder_kernels.h, compiled once per SIMD target and
// dispatched at run time: finding the next 0xFF of the coded data (so that
// the bit reader can load 8 bytes at a time up to it), and the gradient part
// of the contexts of a line.
#include "decoder_kernels.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "decoder_kernels.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace pacs::jls::internal::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

const uint8_t* FindNextFFImpl(const uint8_t* from, const uint8_t* end) {
  const hn::ScalableTag<uint8_t> d;
  const size_t lanes = hn::Lanes(d);
  const auto ff = hn::Set(d, 0xFF);
  const uint8_t* p = from;
  while (static_cast<size_t>(end - p) >= lanes) {
    const intptr_t first = hn::FindFirstTrue(d, hn::LoadU(d, p) == ff);
    if (first >= 0) return p + first;
    p += lanes;
  }
  const void* hit = std::memchr(p, 0xFF, static_cast<size_t>(end - p));
  return hit != nullptr ? static_cast<const uint8_t*>(hit) : end;
}

// Q(p - q) for thresholds below 32768: the sign of p - q times the number of
// the bounds NEAR + 1, T1, T2, T3 that |p - q| reaches (T1 > NEAR always).
// Magnitudes are capped at 32767 to compare as signed 16-bit lanes; masks are
// all ones (-1), so their sum counts negatively.
template <class DI, class VU, class VI>
HWY_INLINE VI QuantizeGradient(DI di, VU p, VU q, VI near, VI t1_minus_1, VI t2_minus_1, VI t3_minus_1) {
  const hn::RebindToUnsigned<DI> du;
  const VU up = hn::SaturatedSub(p, q);
  const VU down = hn::SaturatedSub(q, p);
  const VI magnitude = hn::BitCast(di, hn::Min(hn::Or(up, down), hn::Set(du, 0x7FFF)));
  const VI minus_count = hn::VecFromMask(di, magnitude > near) + hn::VecFromMask(di, magnitude > t1_minus_1) +
                         hn::VecFromMask(di, magnitude > t2_minus_1) + hn::VecFromMask(di, magnitude > t3_minus_1);
  const auto negative = hn::RebindMask(di, down != hn::Zero(du));
  return hn::IfThenElse(negative, minus_count, hn::Neg(minus_count));
}

void ComputeGradientsImpl(const uint16_t* HWY_RESTRICT prev, size_t width, int32_t t1, int32_t t2, int32_t t3,
                          int32_t near, uint32_t* HWY_RESTRICT out) {
  const hn::ScalableTag<uint16_t> du;
  const hn::RebindToSigned<decltype(du)> di;
  using VI = hn::Vec<decltype(di)>;
  const VI vnear = hn::Set(di, static_cast<int16_t>(near));
  const VI vt1 = hn::Set(di, static_cast<int16_t>(t1 - 1));
  const VI vt2 = hn::Set(di, static_cast<int16_t>(t2 - 1));
  const VI vt3 = hn::Set(di, static_cast<int16_t>(t3 - 1));
  const VI k81 = hn::Set(di, 81);
  const VI k9 = hn::Set(di, 9);
  const size_t lanes = hn::Lanes(du);
  for (size_t i = 0; i < width; i += lanes) {
    const auto b = hn::LoadU(du, prev + i);
    const auto c = hn::LoadU(du, prev + i - 1);
    const auto d = hn::LoadU(du, prev + i + 1);
    const VI q1 = QuantizeGradient(di, d, b, vnear, vt1, vt2, vt3);
    const VI q2 = QuantizeGradient(di, b, c, vnear, vt1, vt2, vt3);
    // Little-endian words: the gradient sum in the low half, b in the high.
    hn::StoreInterleaved2(hn::BitCast(du, q1 * k81 + q2 * k9), b, du, reinterpret_cast<uint16_t*>(out + i));
  }
}

}  // namespace pacs::jls::internal::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pacs::jls::internal {

HWY_EXPORT(FindNextFFImpl);
HWY_EXPORT(ComputeGradientsImpl);

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ComputeGradients stores 16-bit halves of little-endian words");

void ComputeGradients(const uint16_t* prev, size_t width, int32_t t1, int32_t t2, int32_t t3, int32_t near,
                      uint32_t* out) {
  HWY_DYNAMIC_DISPATCH(ComputeGradientsImpl)(prev, width, t1, t2, t3, near, out);
}

void ComputeGradientsScalar(const uint16_t* prev, size_t width, const int8_t* quantize, int32_t t3, uint32_t* out) {
  const auto q = [&](int32_t d) { return static_cast<int32_t>(quantize[std::clamp(d, -t3, t3)]); };
  // A signed index: prev[-1] is the c of sample 0.
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(width); ++i)
    out[i] = PackAbove(81 * q(prev[i + 1] - prev[i]) + 9 * q(prev[i] - prev[i - 1]), prev[i]);
}

const uint8_t* FindNextFF(const uint8_t* from, const uint8_t* end) {
  if (from >= end) return end;
  return HWY_DYNAMIC_DISPATCH(FindNextFFImpl)(from, end);
}

namespace {

uint64_t LoadBigEndian64(const uint8_t* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  return __builtin_bswap64(word);
}

// Appends bits to a byte buffer: `pending` holds `count` (< 8) bits not yet
// in whole bytes, MSB first; each Put stores a whole word and moves on by
// the bytes completed.
class BitAppender {
 public:
  explicit BitAppender(uint8_t* out) : begin_(out), out_(out) {}

  // The top `count` bits of `bits` (the rest zero), 1 <= count <= 56.
  void Put(uint64_t bits, unsigned count) {
    pending_ |= bits >> count_;
    count_ += count;
    const uint64_t word = __builtin_bswap64(pending_);
    std::memcpy(out_, &word, 8);
    out_ += count_ >> 3;
    pending_ <<= count_ & ~7u;  // at most 56
    count_ &= 7;
  }

  // `count` (< 8) bytes from p.
  void PutBytes(const uint8_t* p, size_t count, const uint8_t* end) {
    if (count == 0) return;
    uint64_t bits;
    if (end - p >= 8) {
      bits = LoadBigEndian64(p) & (~uint64_t{0} << (64 - 8 * count));
    } else {
      bits = 0;
      for (size_t i = 0; i < count; ++i) bits |= static_cast<uint64_t>(p[i]) << (56 - 8 * i);
    }
    Put(bits, static_cast<unsigned>(8 * count));
  }

  size_t bits() const { return 8 * static_cast<size_t>(out_ - begin_) + count_; }

 private:
  uint8_t* begin_;
  uint8_t* out_;
  uint64_t pending_ = 0;
  unsigned count_ = 0;
};

}  // namespace

DestuffedData DestuffCodedData(const uint8_t* begin, const uint8_t* end, uint8_t* out) {
  BitAppender appender(out);
  const uint8_t* p = begin;
  for (;;) {
    const uint8_t* ff = FindNextFF(p, end);
    // The bytes before the 0xFF, 7 at a time (56 bits a word).
    while (ff - p >= 7 && end - p >= 8) {
      appender.Put(LoadBigEndian64(p) & ~uint64_t{0xFF}, 56);
      p += 7;
    }
    while (ff - p >= 7) {
      appender.PutBytes(p, 7, end);
      p += 7;
    }
    appender.PutBytes(p, static_cast<size_t>(ff - p), end);
    if (ff == end) return {end, appender.bits()};
    if (end - ff < 2 || ff[1] >= 0x80) return {ff, appender.bits()};
    // The 0xFF and the 7 bits of the byte after it.
    appender.Put((uint64_t{0xFF} << 56) | (static_cast<uint64_t>(ff[1]) << 49), 15);
    p = ff + 2;
  }
}

FFDensity CountFFBytes(const uint8_t* begin, const uint8_t* end, size_t window) {
  const uint8_t* const stop = begin + std::min(window, static_cast<size_t>(end - begin));
  size_t count = 0;
  for (const uint8_t* p = FindNextFF(begin, stop); p < stop; p = FindNextFF(p + 2, stop)) {
    if (end - p < 2 || p[1] >= 0x80) return {count, static_cast<size_t>(p - begin)};
    ++count;
  }
  return {count, static_cast<size_t>(stop - begin)};
}

}  // namespace pacs::jls::internal
#endif  // HWY_ONCE
