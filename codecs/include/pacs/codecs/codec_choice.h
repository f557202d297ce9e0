// File: codec_choice.h
// Which lossless codec stores a frame of a given pixel format. The table is
// in docs/codecs.md; tests/codecs/codec_choice_test.cpp follows it.
#pragma once

#include <string_view>

#include "pacs/codecs/codec_options.h"
#include "pacs/codecs/frame_codec.h"

namespace pacs::codecs {

// Picks the codec for frames of this format: ChooseCodecAndOptions(...).codec.
// Prefer ChooseCodecAndOptions, which also says which encoder options to
// pass to MakeCodec and which PhotometricInterpretation the compressed
// dataset declares; MakeCodec(ChooseCodec(...)) alone is still lossless but
// codes RGB without the colour transform (about half the ratio).
// `photometric` is the DICOM PhotometricInterpretation ("MONOCHROME2",
// "RGB", ...); empty means unknown and is treated as full-resolution
// non-RGB. Formats a FrameInfo cannot describe exactly (YBR_FULL_422 and
// other subsampled or transform-only colour spaces), or that no codec
// supports (1- or 32-bit words, 2 or 4 samples), get CodecId::kRaw.
// `modality_hint` ("CT", "US") does not change the choice today: the
// measurements in docs/codecs.md showed the pixel format decides; it is
// kept so the table can become modality-aware without touching callers.
CodecId ChooseCodec(const FrameInfo& info, std::string_view photometric, std::string_view modality_hint);

// The full decision: codec, encoder options, and the PhotometricInterpretation
// a DICOM dataset carrying the codestream must declare (YBR_RCT for RGB coded
// with the colour transform, else the native one). Decoding restores the
// native photometric's samples exactly.
struct CodecChoice {
  CodecId codec = CodecId::kRaw;
  CodecOptions options;
  std::string_view compressed_photometric;  // `photometric` itself or a literal
};
CodecChoice ChooseCodecAndOptions(const FrameInfo& info, std::string_view photometric, std::string_view modality_hint);

// Same, for callers that do not know the photometric interpretation.
CodecId ChooseCodec(const FrameInfo& info, std::string_view modality_hint = {});

// The DICOM transfer syntax UID of a codec's output; kRaw's native bytes
// are Explicit VR Little Endian (1.2.840.10008.1.2.1).
std::string_view TransferSyntaxUid(CodecId id);

}  // namespace pacs::codecs
