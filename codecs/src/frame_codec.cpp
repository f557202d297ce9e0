#include "pacs/codecs/frame_codec.h"

#include <cstring>

#include "codec_factories.h"
#include "pacs/codecs/codec_options.h"

namespace pacs::codecs {

std::string_view CodecName(CodecId id) {
  switch (id) {
    case CodecId::kRaw:
      return "raw";
    case CodecId::kJpegLs:
      return "jpegls";
    case CodecId::kJ2k:
      return "j2k";
    case CodecId::kHtj2k:
      return "htj2k";
  }
  return "unknown";
}

Status FrameCodec::DecodeInto(const FrameInfo& info, std::span<const uint8_t> codestream,
                              std::span<uint8_t> out) const {
  if (out.size() != info.FrameBytes())
    return Status::InvalidArgument("decode buffer has " + std::to_string(out.size()) + " bytes, the frame " +
                                   std::to_string(info.FrameBytes()));
  auto decoded = Decode(info, codestream);
  if (!decoded.ok()) return decoded.status();
  if (decoded->size() != out.size())
    return Status::Corruption(std::string(CodecName(id())) + " decoded " + std::to_string(decoded->size()) +
                              " bytes, expected " + std::to_string(out.size()));
  std::memcpy(out.data(), decoded->data(), out.size());
  return Status::Ok();
}

namespace {

// Stores the frame as it is: the fallback for every format.
class RawCodec final : public FrameCodec {
 public:
  CodecId id() const override { return CodecId::kRaw; }
  bool Supports(const FrameInfo& /*info*/) const override { return true; }
  Result<std::vector<uint8_t>> Encode(const FrameInfo& info, std::span<const uint8_t> raw) const override {
    if (raw.size() != info.FrameBytes())
      return Status::InvalidArgument("raw frame has " + std::to_string(raw.size()) + " bytes, expected " +
                                     std::to_string(info.FrameBytes()));
    return std::vector<uint8_t>(raw.begin(), raw.end());
  }
  Result<std::vector<uint8_t>> Decode(const FrameInfo& info, std::span<const uint8_t> codestream) const override {
    return Encode(info, codestream);
  }
};

}  // namespace

std::unique_ptr<FrameCodec> MakeCodec(CodecId id) {
  return MakeCodec(id, CodecOptions{});
}

std::unique_ptr<FrameCodec> MakeCodec(CodecId id, const CodecOptions& options) {
  switch (id) {
    case CodecId::kJpegLs:
      return internal::MakeJpegLsCodec();
    case CodecId::kJ2k:
      return internal::MakeJ2kCodec(options.rgb_colour_transform);
    case CodecId::kHtj2k:
      return internal::MakeHtj2kCodec(options.rgb_colour_transform);
    case CodecId::kRaw:
    default:
      return std::make_unique<RawCodec>();
  }
}

}  // namespace pacs::codecs
