// File: codec_choice.h
// Which lossless codec stores a frame of a given pixel format. The table is
// in docs/codecs.md; tests/codecs/codec_choice_test.cpp follows it.
#pragma once

#include <string_view>

#include "pacs/codecs/frame_codec.h"

namespace pacs::codecs {

// Picks the codec for frames of this format. `photometric` is the DICOM
// PhotometricInterpretation (e.g. "MONOCHROME2", "RGB"); empty means
// unknown and is treated as not subsampled. Formats a FrameInfo cannot
// describe exactly (YBR_FULL_422 and other subsampled or already-transformed
// colour spaces), or that no codec supports, get CodecId::kRaw.
// `modality_hint` (e.g. "CT", "US") does not change the choice today: the
// measurements in docs/codecs.md showed the pixel format decides; it is kept
// so the table can become modality-aware without touching callers.
CodecId ChooseCodec(const FrameInfo& info, std::string_view photometric,
                    std::string_view modality_hint);

// Same, for callers that do not know the photometric interpretation.
CodecId ChooseCodec(const FrameInfo& info, std::string_view modality_hint = {});

// The DICOM transfer syntax UID of a codec's output; kRaw's native bytes
// are Explicit VR Little Endian (1.2.840.10008.1.2.1).
std::string_view TransferSyntaxUid(CodecId id);

}  // namespace pacs::codecs
