// File: codec_options.h
// Encoder options beyond the CodecId, and what a codestream says about them.
// Decoding never needs options: the codestream records everything.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "pacs/codecs/frame_codec.h"

namespace pacs::codecs {

struct CodecOptions {
  // JPEG 2000 / HTJ2K only, three-sample frames only: apply the reversible
  // colour transform (RCT). Lossless either way, and 1.6-2.2x smaller on the
  // corpus' RGB ultrasound, but only correct for RGB input, and a DICOM
  // dataset carrying such a codestream must say PhotometricInterpretation
  // YBR_RCT (it decodes back to RGB). JPEG-LS ignores it: DICOM forbids
  // CharLS's HP colour transforms.
  bool rgb_colour_transform = false;
};

// MakeCodec(id) is MakeCodec(id, CodecOptions{}).
std::unique_ptr<FrameCodec> MakeCodec(CodecId id, const CodecOptions& options);

// Whether a JPEG 2000 or HTJ2K codestream applies a multi-component
// transform (its COD segment's MCT flag), i.e. whether the DICOM dataset
// must say YBR_RCT. False for anything that is not such a codestream.
bool UsesColourTransform(std::span<const uint8_t> j2k_codestream);

}  // namespace pacs::codecs
