#include "pacs/codecs/pixel_scan.h"

#include <algorithm>

#include "codec_common.h"
#include "pacs/codecs/pixel_kernels.h"

namespace pacs::codecs {

bool HasBitsAboveStored(const FrameInfo& info, std::span<const uint8_t> raw) {
  if (raw.size() != info.FrameBytes() || info.bits_stored >= info.bits_allocated) return false;
  if (internal::BytesPerSample(info) == 1) return HasBitsAboveU8(raw.data(), raw.size(), info.bits_stored);
  if (reinterpret_cast<uintptr_t>(raw.data()) % alignof(uint16_t) == 0)
    return HasBitsAboveU16(reinterpret_cast<const uint16_t*>(raw.data()), raw.size() / 2, info.bits_stored);
  std::vector<uint16_t> aligned(raw.size() / 2);
  std::memcpy(aligned.data(), raw.data(), raw.size());
  return HasBitsAboveU16(aligned.data(), aligned.size(), info.bits_stored);
}

uint16_t ChooseEncodingPrecision(const FrameInfo& info, std::span<const uint8_t> raw) {
  return HasBitsAboveStored(info, raw) ? info.bits_allocated : info.bits_stored;
}

}  // namespace pacs::codecs
