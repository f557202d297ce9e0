#include "pacs/codecs/codec_choice.h"

#include <array>

namespace pacs::codecs {

namespace {
// Photometric interpretations whose native bytes a FrameInfo cannot describe
// (chroma subsampled) or that only exist as the output of a lossy/colour
// transform; re-encoding them would need the transform undone first.
constexpr std::array<std::string_view, 5> kKeepRaw = {
    "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT"};
}  // namespace

CodecId ChooseCodec(const FrameInfo& info, std::string_view photometric,
                    std::string_view /*modality_hint*/) {
  for (std::string_view raw_only : kKeepRaw)
    if (photometric == raw_only) return CodecId::kRaw;
  // Grey (MONOCHROME1/2, PALETTE COLOR indices): JPEG-LS compresses best and
  // is the fastest of the two standard codecs. Colour: JPEG-LS without its
  // colour transforms is weak on RGB (US 3.5:1 vs 6:1 with J2K).
  const CodecId preferred = info.samples_per_pixel == 3 ? CodecId::kJ2k : CodecId::kJpegLs;
  if (MakeCodec(preferred)->Supports(info)) return preferred;
  return CodecId::kRaw;
}

CodecId ChooseCodec(const FrameInfo& info, std::string_view modality_hint) {
  return ChooseCodec(info, {}, modality_hint);
}

std::string_view TransferSyntaxUid(CodecId id) {
  switch (id) {
    case CodecId::kRaw: return "1.2.840.10008.1.2.1";
    case CodecId::kJpegLs: return "1.2.840.10008.1.2.4.80";
    case CodecId::kJ2k: return "1.2.840.10008.1.2.4.90";
    case CodecId::kHtj2k: return "1.2.840.10008.1.2.4.201";
  }
  return {};
}

}  // namespace pacs::codecs
