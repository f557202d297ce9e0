// Highway kernels for line_analysis.h, compiled once per SIMD target and
// dispatched at run time. Samples are widened to int32 lanes so that 16-bit
// gradients (up to +-65535) fit.
#include "line_analysis.h"

#include <algorithm>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "line_analysis.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace pacs::jls::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Q(D) of A.3.3 for NEAR = 0: the sign of d times the number of the bounds
// 1, T1, T2, T3 that |d| reaches (|d| > T - 1: Highway 1.0 has no >= for
// integers). Comparison masks are all ones (-1), so summing them counts
// negatively.
template <class D, class V>
HWY_INLINE V QuantizeGradient(D d, V gradient, V t1_minus_1, V t2_minus_1, V t3_minus_1) {
  const V zero = hn::Zero(d);
  const V magnitude = hn::Abs(gradient);
  const V minus_count =
      hn::VecFromMask(d, magnitude > zero) + hn::VecFromMask(d, magnitude > t1_minus_1) +
      hn::VecFromMask(d, magnitude > t2_minus_1) + hn::VecFromMask(d, magnitude > t3_minus_1);
  return hn::IfThenElse(gradient < zero, minus_count, hn::Neg(minus_count));
}

void AnalyzeLine(const uint16_t* HWY_RESTRICT prev, const uint16_t* HWY_RESTRICT cur, size_t width,
                 int32_t t1, int32_t t2, int32_t t3, int16_t* HWY_RESTRICT context,
                 uint16_t* HWY_RESTRICT prediction, uint8_t* HWY_RESTRICT repeats) {
  const hn::ScalableTag<int32_t> d32;
  const hn::Rebind<uint16_t, decltype(d32)> du16;
  const hn::Rebind<int16_t, decltype(d32)> di16;
  const hn::Rebind<uint8_t, decltype(d32)> du8;
  using V = hn::Vec<decltype(d32)>;
  const V vt1 = hn::Set(d32, t1 - 1);
  const V vt2 = hn::Set(d32, t2 - 1);
  const V vt3 = hn::Set(d32, t3 - 1);
  const V one = hn::Set(d32, 1);
  const V k81 = hn::Set(d32, 81);
  const V k9 = hn::Set(d32, 9);
  const auto load = [&](const uint16_t* p) { return hn::PromoteTo(d32, hn::LoadU(du16, p)); };

  const size_t lanes = hn::Lanes(d32);
  for (size_t i = 0; i < width; i += lanes) {
    const V a = load(cur + i - 1);
    const V b = load(prev + i);
    const V c = load(prev + i - 1);
    const V dd = load(prev + i + 1);
    const V x = load(cur + i);

    const V q1 = QuantizeGradient(d32, dd - b, vt1, vt2, vt3);
    const V q2 = QuantizeGradient(d32, b - c, vt1, vt2, vt3);
    const V q3 = QuantizeGradient(d32, c - a, vt1, vt2, vt3);
    const V q = q1 * k81 + q2 * k9 + q3;
    hn::StoreU(hn::DemoteTo(di16, q), di16, context + i);

    const V low = hn::Min(a, b);
    const V high = hn::Max(a, b);
    // c >= max(a, b) -> min(a, b); c <= min(a, b) -> max(a, b); else a + b - c.
    const V predicted =
        hn::IfThenElse(high > c, hn::IfThenElse(c > low, a + b - c, high), low);
    hn::StoreU(hn::DemoteTo(du16, predicted), du16, prediction + i);

    hn::StoreU(hn::DemoteTo(du8, hn::IfThenElseZero(x == a, one)), du8, repeats + i);
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace pacs::jls::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pacs::jls::internal {

HWY_EXPORT(AnalyzeLine);
HWY_EXPORT(TargetName);

void AnalyzeLine(const uint16_t* prev, const uint16_t* cur, size_t width, int32_t t1, int32_t t2,
                 int32_t t3, int16_t* context, uint16_t* prediction, uint8_t* repeats) {
  HWY_DYNAMIC_DISPATCH(AnalyzeLine)(prev, cur, width, t1, t2, t3, context, prediction, repeats);
}

const char* ActiveTargetName() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

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

void AnalyzeLineScalar(const uint16_t* prev, const uint16_t* cur, size_t width, int32_t t1,
                       int32_t t2, int32_t t3, int16_t* context, uint16_t* prediction,
                       uint8_t* repeats) {
  for (size_t i = 0; i < width; ++i) {
    const int32_t a = cur[i - 1], b = prev[i], c = prev[i - 1], d = prev[i + 1];
    context[i] = static_cast<int16_t>(81 * Quantize(d - b, t1, t2, t3) +
                                      9 * Quantize(b - c, t1, t2, t3) + Quantize(c - a, t1, t2, t3));
    const int32_t low = std::min(a, b), high = std::max(a, b);
    prediction[i] = static_cast<uint16_t>(c >= high ? low : (c <= low ? high : a + b - c));
    repeats[i] = cur[i] == a ? 1 : 0;
  }
}

}  // namespace pacs::jls::internal
#endif  // HWY_ONCE
