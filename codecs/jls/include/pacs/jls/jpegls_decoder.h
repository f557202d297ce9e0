// File: jpegls_decoder.h
// pacscore's own JPEG-LS (ISO/IEC 14495-1) decoder: pixel-identical to
// CharLS 2.4.1's decoder on what the DICOM JPEG-LS transfer syntaxes carry
// (lossless and near-lossless, 2-16 bits, 1-4 components, interleave
// none/line/sample, preset coding parameters, restart intervals, HP colour
// transforms), and hardened for codestreams that arrive from the network:
// the frame header must match the DICOM attributes before anything is
// decoded, nothing is allocated beyond small per-line buffers, nothing is read
// past the input, and a corrupt stream ends in an error.
//
//   pacs::jls::ExpectedFrame frame{.width = 512, .height = 512, .components = 1,
//                                  .bits_allocated = 16, .bits_stored = 12};
//   std::vector<uint8_t> pixels(pacs::jls::DecodedBytes(frame));
//   auto decoded = pacs::jls::DecodeFrame(codestream, frame, pixels);
//   if (!decoded.ok()) return decoded.status();
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "pacs/base/result.h"
#include "pacs/jls/jpegls_encoder.h"

namespace pacs::jls {

// What the DICOM attributes say the frame is.
struct ExpectedFrame {
  uint32_t width = 0;      // Columns
  uint32_t height = 0;     // Rows
  int components = 1;      // Samples per Pixel: 1..4
  int bits_allocated = 0;  // 8 or 16
  int bits_stored = 0;     // 1..bits_allocated
};

// The frame header (SOF55) of a JPEG-LS codestream.
struct FrameHeader {
  uint32_t width = 0;
  uint32_t height = 0;
  int bits_per_sample = 0;  // P
  int component_count = 0;
};

// Reads the markers up to and including the SOF55 segment (SOI first; APPn,
// COM, DRI, LSE may come before the SOF; any other JPEG SOF is refused) and
// returns the frame header. Reads nothing after the SOF.
Result<FrameHeader> ReadFrameHeader(std::span<const uint8_t> codestream);

// The production check applied before any decoder (ours or CharLS) sees a
// foreign codestream: the SOF must have exactly the expected width, height
// and component count, and a precision P with bits_stored <= P <=
// bits_allocated (our encoder writes P = bits_allocated when bits above
// bits_stored are set). Returns InvalidArgument for a bad `expected`,
// Corruption for a codestream whose header cannot be read or disagrees.
Status CheckFrameHeader(std::span<const uint8_t> codestream, const ExpectedFrame& expected);

// Whether the codestream's last two bytes are the EOI marker. CharLS 2.4.1
// loops forever on many codestreams that end inside their coded data (seen
// with truncated frames; none hung once EOI was appended): apply this too
// before handing a foreign codestream to CharLS. DecodeFrame does not need it.
bool EndsWithEndOfImage(std::span<const uint8_t> codestream);

// The size DecodeFrame writes: width * height * components samples of
// bits_allocated / 8 bytes each.
size_t DecodedBytes(const ExpectedFrame& expected);

// How the samples of a decoded frame are laid out.
struct DecodedFrame {
  FrameHeader header;
  // kNone: component planes one after the other; kLine and kSample: samples
  // of a pixel next to each other (RGBRGB...). The same layout CharLS 2.4.1
  // writes; single-component frames are always kNone.
  Interleave interleave = Interleave::kNone;
  int near_lossless = 0;  // NEAR of the (first) scan; 0 means lossless
};

// Decodes `codestream` into `out`, which must be exactly DecodedBytes(expected)
// long: one byte per sample when bits_allocated is 8, a host-order uint16_t
// when it is 16. CheckFrameHeader is applied first. Errors: InvalidArgument
// (bad `expected` or buffer size), Corruption (the header disagrees, the
// stream is truncated or its coded data is invalid), Unsupported (valid
// JPEG-LS that CharLS 2.4.1 does not decode either, e.g. mapping tables).
// On error the content of `out` is unspecified.
Result<DecodedFrame> DecodeFrame(std::span<const uint8_t> codestream, const ExpectedFrame& expected,
                                 std::span<uint8_t> out);

}  // namespace pacs::jls
