// Highway kernels of the decoder's byte handling, compiled once per SIMD
// target and dispatched at run time: finding the next 0xFF of the coded data
// (so that the bit reader can load 8 bytes at a time up to it).
#include <cstring>

#include "bit_reader.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "byte_scan.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace pacs::jls::internal {
namespace HWY_NAMESPACE {
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

}  // namespace HWY_NAMESPACE
}  // namespace pacs::jls::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pacs::jls::internal {

HWY_EXPORT(FindNextFFImpl);

const uint8_t* FindNextFF(const uint8_t* from, const uint8_t* end) {
  if (from >= end) return end;
  return HWY_DYNAMIC_DISPATCH(FindNextFFImpl)(from, end);
}

}  // namespace pacs::jls::internal
#endif  // HWY_ONCE
