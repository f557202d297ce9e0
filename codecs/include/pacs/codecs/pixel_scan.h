// File: pixel_scan.h
// Decides, from a frame's actual sample bits, the precision (bits per sample)
// at which the lossless codecs encode it, so that every bit of the native
// frame comes back, including bits above BitsStored.
#pragma once

#include <cstdint>
#include <span>

#include "pacs/codecs/frame_codec.h"

namespace pacs::codecs {

// Whether any sample of `raw` (info.FrameBytes() bytes) has a bit set at or
// above info.bits_stored: overlay bits, garbage, or the sign extension of
// negative signed values. False for a frame of the wrong size.
bool HasBitsAboveStored(const FrameInfo& info, std::span<const uint8_t> raw);

// The precision the lossless codecs encode `raw` at: info.bits_stored when no
// sample has bits above it, else info.bits_allocated (then the codestream
// carries the whole allocated word, which DCMTK, GDCM and OpenJPEG decode to
// the same bit patterns). JPEG-LS raises a precision of 1 to its minimum of 2.
// The codestream itself records the precision; decoders need no side channel.
uint16_t ChooseEncodingPrecision(const FrameInfo& info, std::span<const uint8_t> raw);

}  // namespace pacs::codecs
