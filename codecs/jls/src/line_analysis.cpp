// Highway kernels for line_analysis.h, compiled once per SIMD target and
// dispatched at run time.
#include "line_analysis.h"

#include <algorithm>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "line_analysis.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace pacs::jls::internal::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Everything runs on uint16_t lanes (16 per AVX2 vector), unsigned where a
// value may exceed 32767: a gradient's magnitude comes from saturating
// subtractions, and a + b - c of the predictor wraps harmlessly since its
// result lies between a and b.

// Q(D) of A.3.3 for NEAR = 0 and gradient p - q: the sign of p - q times
// the number of the bounds 1, T1, T2, T3 that |p - q| reaches. The default
// thresholds are at most 276 (< 32768), so the magnitude is capped at 32767
// to compare as signed (x86 has no unsigned 16-bit compare). Masks are all
// ones (-1), so their sum counts negatively.
template <class DI, class VU, class VI>
HWY_INLINE VI QuantizeGradient(DI di, VU p, VU q, VI t1_minus_1, VI t2_minus_1, VI t3_minus_1) {
  const hn::RebindToUnsigned<DI> du;
  const VU up = hn::SaturatedSub(p, q);    // p - q if p > q, else 0
  const VU down = hn::SaturatedSub(q, p);  // q - p if q > p, else 0
  const VI magnitude = hn::BitCast(di, hn::Min(hn::Or(up, down), hn::Set(du, 0x7FFF)));
  const VI zero = hn::Zero(di);
  const VI minus_count = hn::VecFromMask(di, magnitude > zero) + hn::VecFromMask(di, magnitude > t1_minus_1) +
                         hn::VecFromMask(di, magnitude > t2_minus_1) + hn::VecFromMask(di, magnitude > t3_minus_1);
  const auto negative = hn::RebindMask(di, down != hn::Zero(du));
  return hn::IfThenElse(negative, minus_count, hn::Neg(minus_count));
}

void AnalyzeLine(const uint16_t* HWY_RESTRICT prev, const uint16_t* HWY_RESTRICT cur, size_t width, int32_t t1,
                 int32_t t2, int32_t t3, int16_t* HWY_RESTRICT context, uint16_t* HWY_RESTRICT prediction,
                 uint8_t* HWY_RESTRICT repeats) {
  const hn::ScalableTag<uint16_t> du;
  const hn::RebindToSigned<decltype(du)> di;
  const hn::Rebind<uint8_t, decltype(di)> du8;
  using VI = hn::Vec<decltype(di)>;
  const VI vt1 = hn::Set(di, static_cast<int16_t>(t1 - 1));
  const VI vt2 = hn::Set(di, static_cast<int16_t>(t2 - 1));
  const VI vt3 = hn::Set(di, static_cast<int16_t>(t3 - 1));
  const VI k81 = hn::Set(di, 81);
  const VI k9 = hn::Set(di, 9);
  const VI one = hn::Set(di, 1);
  const VI sign_bit = hn::Set(di, static_cast<int16_t>(-32768));

  const size_t lanes = hn::Lanes(du);
  for (size_t i = 0; i < width; i += lanes) {
    const auto a = hn::LoadU(du, cur + i - 1);
    const auto b = hn::LoadU(du, prev + i);
    const auto c = hn::LoadU(du, prev + i - 1);
    const auto d = hn::LoadU(du, prev + i + 1);
    const auto x = hn::LoadU(du, cur + i);

    const VI q1 = QuantizeGradient(di, d, b, vt1, vt2, vt3);
    const VI q2 = QuantizeGradient(di, b, c, vt1, vt2, vt3);
    const VI q3 = QuantizeGradient(di, c, a, vt1, vt2, vt3);
    // The context code of line_analysis.h: 16 * |q|, bit 15 for q < 0.
    const VI q = q1 * k81 + q2 * k9 + q3;
    const VI code =
        hn::IfThenElse(q < hn::Zero(di), hn::Or(hn::ShiftLeft<4>(hn::Neg(q)), sign_bit), hn::ShiftLeft<4>(q));
    hn::StoreU(code, di, context + i);

    // c >= max(a, b) -> min(a, b); c <= min(a, b) -> max(a, b); else a + b - c.
    const auto low = hn::Min(a, b);
    const auto high = hn::Max(a, b);
    const auto predicted =
        hn::IfThenElse(hn::Max(c, high) == c, low, hn::IfThenElse(hn::Min(c, low) == c, high, a + b - c));
    hn::StoreU(predicted, du, prediction + i);

    const VI repeat = hn::IfThenElseZero(hn::RebindMask(di, x == a), one);
    hn::StoreU(hn::DemoteTo(du8, repeat), du8, repeats + i);
  }
}

const char* TargetName() {
  return hwy::TargetName(HWY_TARGET);
}

}  // namespace pacs::jls::internal::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pacs::jls::internal {

HWY_EXPORT(AnalyzeLine);
HWY_EXPORT(TargetName);

void AnalyzeLine(const uint16_t* prev, const uint16_t* cur, size_t width, int32_t t1, int32_t t2, int32_t t3,
                 int16_t* context, uint16_t* prediction, uint8_t* repeats) {
  HWY_DYNAMIC_DISPATCH(AnalyzeLine)(prev, cur, width, t1, t2, t3, context, prediction, repeats);
}

const char* ActiveTargetName() {
  return HWY_DYNAMIC_DISPATCH(TargetName)();
}

namespace {
int32_t Quantize(int32_t d, int32_t t1, int32_t t2, int32_t t3) {
  if (d <= -t3) return -4;
  if (d <= -t2) return -3;
  if (d <= -t1) return -2;
  if (d < 0) return -1;
  if (d == 0) return 0;
  if (d < t1) return 1;
  if (d < t2) return 2;
  if (d < t3) return 3;
  return 4;
}
}  // namespace

void AnalyzeLineScalar(const uint16_t* prev, const uint16_t* cur, size_t width, int32_t t1, int32_t t2, int32_t t3,
                       int16_t* context, uint16_t* prediction, uint8_t* repeats) {
  for (size_t i = 0; i < width; ++i) {
    const int32_t a = cur[i - 1], b = prev[i], c = prev[i - 1], d = prev[i + 1];
    const int32_t q = 81 * Quantize(d - b, t1, t2, t3) + 9 * Quantize(b - c, t1, t2, t3) + Quantize(c - a, t1, t2, t3);
    context[i] = static_cast<int16_t>(q < 0 ? (kContextStride * -q) | 0x8000 : kContextStride * q);
    const int32_t low = std::min(a, b), high = std::max(a, b);
    prediction[i] = static_cast<uint16_t>(c >= high ? low : (c <= low ? high : a + b - c));
    repeats[i] = cur[i] == a ? 1 : 0;
  }
}

}  // namespace pacs::jls::internal
#endif  // HWY_ONCE
