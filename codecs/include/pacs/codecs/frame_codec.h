// File: frame_codec.h
// The frame codec interface: one raw pixel frame plus its description in,
// a codestream out, and back. Codecs know nothing about DICOM datasets;
// dicom/ maps a pixel module onto a FrameInfo.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::codecs {

// Describes one frame of native (uncompressed) pixel data, laid out exactly as
// DICOM stores it in little endian: samples of bits_allocated bits,
// interleaved (planar == false) or colour-by-plane (planar == true).
struct FrameInfo {
  uint32_t rows = 0;
  uint32_t columns = 0;
  uint16_t bits_allocated = 0;     // 8 or 16 for the codecs; 1 and 32 stay raw
  uint16_t bits_stored = 0;        // <= bits_allocated
  uint16_t samples_per_pixel = 1;  // 1 or 3
  bool is_signed = false;          // PixelRepresentation 1
  bool planar = false;             // PlanarConfiguration 1

  size_t FrameBytes() const {
    return static_cast<size_t>(rows) * columns * samples_per_pixel * ((bits_allocated + 7) / 8);
  }
  bool operator==(const FrameInfo&) const = default;
};

// Stable on-disk identifiers: never renumber (docs/storage-format.md).
enum class CodecId : uint8_t {
  kRaw = 0,     // our native bytes, little endian
  kJpegLs = 1,  // JPEG-LS lossless, 1.2.840.10008.1.2.4.80
  kJ2k = 2,     // JPEG 2000 reversible 5/3, 1.2.840.10008.1.2.4.90
  kHtj2k = 3,   // HTJ2K lossless, 1.2.840.10008.1.2.4.201
};

std::string_view CodecName(CodecId id);

class FrameCodec {
 public:
  virtual ~FrameCodec() = default;
  virtual CodecId id() const = 0;
  // Whether this codec can encode the frame losslessly.
  virtual bool Supports(const FrameInfo& info) const = 0;
  // Encodes one frame of info.FrameBytes() bytes.
  virtual Result<std::vector<uint8_t>> Encode(const FrameInfo& info, std::span<const uint8_t> raw) const = 0;
  // Decodes a codestream back into info.FrameBytes() native bytes.
  virtual Result<std::vector<uint8_t>> Decode(const FrameInfo& info, std::span<const uint8_t> codestream) const = 0;
  // The same into `out`, which must be info.FrameBytes() long (a buffer the
  // caller reuses, or the destination itself: no allocation, no copy where
  // the codec can write there directly). On error `out` is unspecified.
  virtual Status DecodeInto(const FrameInfo& info, std::span<const uint8_t> codestream, std::span<uint8_t> out) const;
};

// Returns the codec for `id`; never null for a valid CodecId.
std::unique_ptr<FrameCodec> MakeCodec(CodecId id);

// The JPEG-LS decoder behind MakeCodec(CodecId::kJpegLs)->Decode: "pacs::jls"
// (our own, codecs/jls), or "CharLS 2.4.1" when the environment has
// PACS_JPEGLS_DECODER=charls (read once, at the first decode or call here).
// Either way the codestream's frame header must agree with the FrameInfo
// (width, height, components, bits_stored <= P <= bits_allocated) before
// the decoder proper runs.
std::string_view JpegLsDecoderName();

// Frames each JPEG-LS decoder has decoded successfully in this process.
struct JpegLsDecodeCounts {
  uint64_t ours = 0;
  uint64_t charls = 0;
};
JpegLsDecodeCounts JpegLsFramesDecoded();

}  // namespace pacs::codecs
