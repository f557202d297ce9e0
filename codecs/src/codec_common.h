// Private helpers shared by the codec adapters: input validation, aligned
// 16-bit views, and the conversions between DICOM's native layouts and the
// component planes / int32 lines the JPEG 2000 libraries work on.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/codecs/frame_codec.h"

namespace pacs::codecs::internal {

static_assert(std::endian::native == std::endian::little,
              "the codecs read DICOM's little-endian samples in host order");

// The pixel formats every lossless codec here handles: 8- or 16-bit words,
// 1..bits_allocated bits stored, grey or three samples, and dimensions that
// fit JPEG-LS and JPEG 2000 headers without extensions.
bool IsCodableFormat(const FrameInfo& info);

// Checks the format and the frame size before encoding.
Status CheckEncodeInput(const FrameInfo& info, size_t raw_size, std::string_view codec);

std::string Describe(const FrameInfo& info);

inline size_t BytesPerSample(const FrameInfo& info) {
  return info.bits_allocated > 8 ? 2 : 1;
}
inline size_t PixelCount(const FrameInfo& info) {
  return static_cast<size_t>(info.rows) * info.columns;
}

// A native frame seen as one contiguous, suitably aligned plane per sample
// (component). Copies only when the frame is sample-interleaved colour or
// its 16-bit words are misaligned.
class PlanarFrame {
 public:
  PlanarFrame(const FrameInfo& info, std::span<const uint8_t> raw);
  const uint8_t* plane(int component) const { return base_ + component * plane_bytes_; }
  size_t plane_bytes() const { return plane_bytes_; }

 private:
  std::vector<uint16_t> storage_;  // uint16_t keeps 16-bit planes aligned
  const uint8_t* base_ = nullptr;
  size_t plane_bytes_ = 0;
};

// Rearranges component planes (plane_bytes each, back to back) into the
// frame's native layout in `out` (info.FrameBytes() bytes).
void PlanesToNative(const FrameInfo& info, const uint8_t* planes, uint8_t* out);

// One plane's (or line's) samples <-> int32, see pixel_kernels.h.
void SamplesToI32(const FrameInfo& info, const uint8_t* samples, size_t count, int32_t* dst, int precision);
void I32ToSamples(const FrameInfo& info, const int32_t* src, size_t count, uint8_t* samples, int precision);

// JPEG 2000 resolution levels for an image: OpenJPEG rejects more than the
// smaller side allows (2^(levels-1) <= side); 6 levels (5 wavelet
// decompositions) is both libraries' default and enough for CT/MR sizes.
inline int ResolutionLevels(uint32_t columns, uint32_t rows) {
  const uint32_t side = columns < rows ? columns : rows;
  int levels = 1;
  while (levels < 6 && (1u << levels) <= side) ++levels;
  return levels;
}

// Checks a decoder's output geometry against what the caller expects.
Status CheckDecodedGeometry(const FrameInfo& info, std::string_view codec, uint32_t width, uint32_t height,
                            uint32_t components, uint32_t precision);

}  // namespace pacs::codecs::internal
