#include "codec_common.h"

#include "pacs/codecs/pixel_kernels.h"

namespace pacs::codecs::internal {

namespace {
// JPEG-LS SOF and JPEG 2000 SIZ both hold larger sizes, but DICOM's Rows
// and Columns are 16-bit, so nothing larger reaches us legitimately.
constexpr uint32_t kMaxDimension = 65535;

template <typename T>
void Deinterleave3(const T* src, T* dst, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i)
    for (size_t c = 0; c < 3; ++c) dst[c * pixels + i] = src[3 * i + c];
}
template <typename T>
void Interleave3(const T* src, T* dst, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i)
    for (size_t c = 0; c < 3; ++c) dst[3 * i + c] = src[c * pixels + i];
}
}  // namespace

bool IsCodableFormat(const FrameInfo& info) {
  return (info.bits_allocated == 8 || info.bits_allocated == 16) && info.bits_stored >= 1 &&
         info.bits_stored <= info.bits_allocated && (info.samples_per_pixel == 1 || info.samples_per_pixel == 3) &&
         info.rows >= 1 && info.columns >= 1 && info.rows <= kMaxDimension && info.columns <= kMaxDimension;
}

std::string Describe(const FrameInfo& info) {
  return std::to_string(info.columns) + "x" + std::to_string(info.rows) + ", " +
         std::to_string(info.samples_per_pixel) + " sample(s), " + std::to_string(info.bits_stored) + "/" +
         std::to_string(info.bits_allocated) + " bits" + (info.is_signed ? " signed" : "") +
         (info.planar ? " planar" : "");
}

Status CheckEncodeInput(const FrameInfo& info, size_t raw_size, std::string_view codec) {
  if (!IsCodableFormat(info))
    return Status::Unsupported(std::string(codec) + " cannot encode frames of " + Describe(info));
  if (raw_size != info.FrameBytes())
    return Status::InvalidArgument(std::string(codec) + ": frame has " + std::to_string(raw_size) +
                                   " bytes, expected " + std::to_string(info.FrameBytes()) + " for " + Describe(info));
  return Status::Ok();
}

PlanarFrame::PlanarFrame(const FrameInfo& info, std::span<const uint8_t> raw)
    : plane_bytes_(PixelCount(info) * BytesPerSample(info)) {
  const bool aligned = BytesPerSample(info) == 1 || reinterpret_cast<uintptr_t>(raw.data()) % alignof(uint16_t) == 0;
  const bool interleaved = info.samples_per_pixel == 3 && !info.planar;
  if (aligned && !interleaved) {
    base_ = raw.data();
    return;
  }
  storage_.resize((raw.size() + 1) / 2);
  auto* dst = reinterpret_cast<uint8_t*>(storage_.data());
  base_ = dst;
  if (!interleaved) {
    std::memcpy(dst, raw.data(), raw.size());
  } else if (BytesPerSample(info) == 1) {
    InterleavedToPlanar3x8(raw.data(), dst, PixelCount(info));
  } else if (aligned) {
    Deinterleave3(reinterpret_cast<const uint16_t*>(raw.data()), storage_.data(), PixelCount(info));
  } else {
    std::vector<uint16_t> copy(raw.size() / 2);
    std::memcpy(copy.data(), raw.data(), raw.size());
    Deinterleave3(copy.data(), storage_.data(), PixelCount(info));
  }
}

void PlanesToNative(const FrameInfo& info, const uint8_t* planes, uint8_t* out) {
  const size_t pixels = PixelCount(info);
  if (info.samples_per_pixel == 1 || info.planar) {
    std::memcpy(out, planes, info.FrameBytes());
  } else if (BytesPerSample(info) == 1) {
    PlanarToInterleaved3x8(planes, out, pixels);
  } else {
    Interleave3(reinterpret_cast<const uint16_t*>(planes), reinterpret_cast<uint16_t*>(out), pixels);
  }
}

void SamplesToI32(const FrameInfo& info, const uint8_t* samples, size_t count, int32_t* dst, int precision) {
  if (BytesPerSample(info) == 1)
    U8ToI32(samples, dst, count, precision, info.is_signed);
  else
    U16ToI32(reinterpret_cast<const uint16_t*>(samples), dst, count, precision, info.is_signed);
}

void I32ToSamples(const FrameInfo& info, const int32_t* src, size_t count, uint8_t* samples, int precision) {
  if (BytesPerSample(info) == 1)
    I32ToU8(src, samples, count, precision);
  else
    I32ToU16(src, reinterpret_cast<uint16_t*>(samples), count, precision);
}

Status CheckDecodedGeometry(const FrameInfo& info, std::string_view codec, uint32_t width, uint32_t height,
                            uint32_t components, uint32_t precision) {
  if (!IsCodableFormat(info))
    return Status::Unsupported(std::string(codec) + " cannot decode into frames of " + Describe(info));
  if (width != info.columns || height != info.rows || components != info.samples_per_pixel || precision < 1 ||
      precision > info.bits_allocated)
    return Status::Corruption(std::string(codec) + " codestream holds " + std::to_string(width) + "x" +
                              std::to_string(height) + ", " + std::to_string(components) + " component(s) of " +
                              std::to_string(precision) + " bits; expected " + Describe(info));
  return Status::Ok();
}

}  // namespace pacs::codecs::internal
