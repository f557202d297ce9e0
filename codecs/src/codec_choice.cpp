#include "pacs/codecs/codec_choice.h"

#include <array>

namespace pacs::codecs {

namespace {
// Photometric interpretations whose native bytes a FrameInfo cannot describe
// (chroma subsampled) or that only exist as the output of a lossy/colour
// transform; re-encoding them would need the transform undone first.
constexpr std::array<std::string_view, 5> kKeepRaw = {"YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT",
                                                      "YBR_RCT"};
}  // namespace

CodecChoice ChooseCodecAndOptions(const FrameInfo& info, std::string_view photometric,
                                  std::string_view /*modality_hint*/) {
  CodecChoice choice{CodecId::kRaw, {}, photometric};
  for (std::string_view raw_only : kKeepRaw)
    if (photometric == raw_only) return choice;
  if (!MakeCodec(CodecId::kJpegLs)->Supports(info)) return choice;  // all codecs share the formats
  // Measured on the corpus (docs/codecs.md): JPEG-LS compresses grey best
  // and fastest of the standard codecs. On RGB, JPEG 2000 with the
  // reversible colour transform wins clearly (US1 6.05:1 vs JPEG-LS 3.52:1)
  // but without it loses (2.76:1), and DICOM allows the transform only for
  // RGB (declared YBR_RCT). So: RGB -> J2K + RCT, everything else -> JPEG-LS.
  if (info.samples_per_pixel == 3 && photometric == "RGB") {
    choice.codec = CodecId::kJ2k;
    choice.options.rgb_colour_transform = true;
    choice.compressed_photometric = "YBR_RCT";
  } else {
    choice.codec = CodecId::kJpegLs;
  }
  return choice;
}

CodecId ChooseCodec(const FrameInfo& info, std::string_view photometric, std::string_view modality_hint) {
  return ChooseCodecAndOptions(info, photometric, modality_hint).codec;
}

CodecId ChooseCodec(const FrameInfo& info, std::string_view modality_hint) {
  return ChooseCodec(info, {}, modality_hint);
}

std::string_view TransferSyntaxUid(CodecId id) {
  switch (id) {
    case CodecId::kRaw:
      return "1.2.840.10008.1.2.1";
    case CodecId::kJpegLs:
      return "1.2.840.10008.1.2.4.80";
    case CodecId::kJ2k:
      return "1.2.840.10008.1.2.4.90";
    case CodecId::kHtj2k:
      return "1.2.840.10008.1.2.4.201";
  }
  return {};
}

}  // namespace pacs::codecs
