// File: jpegls_encoder.h
// pacscore's own JPEG-LS (ISO/IEC 14495-1) lossless encoder. Its output is
// byte-identical to what charls::jpegls_encoder 2.4.1 writes with default
// options, and it is faster: the per-line context modelling runs on SIMD
// (Highway), only the adaptive coding stays scalar. Its decoder is
// jpegls_decoder.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::jls {

// How the components of a colour frame are interleaved in the codestream
// (the same values as charls::interleave_mode). As with CharLS, the input
// buffer holds planes for kNone and pixel-interleaved samples (RGBRGB...)
// for kLine and kSample.
enum class Interleave : uint8_t {
  kNone = 0,    // one scan per component
  kLine = 1,    // one scan, each row coded component by component
  kSample = 2,  // one scan, each pixel coded component by component
};

struct FrameFormat {
  uint32_t width = 0;       // 1..65535
  uint32_t height = 0;      // 1..65535
  int bits_per_sample = 0;  // 2..16: the JPEG-LS sample precision P
  int component_count = 1;  // 1, or 3 (see SupportsFormat)
  Interleave interleave = Interleave::kNone;
};

// Whether EncodeLossless codes `format` itself. Everything else (4
// components, sizes above 65535, interleave modes not yet implemented)
// should go to CharLS, the fallback.
bool SupportsFormat(const FrameFormat& format);

// The number of bytes the frame occupies in the input buffer: one byte per
// sample up to 8 bits, two (a host-order uint16_t) above, as CharLS reads it.
size_t SourceBytes(const FrameFormat& format);

// Encodes one frame losslessly (NEAR = 0) with the default preset coding
// parameters, exactly as charls::jpegls_encoder with default options does:
// SOI, SOF55, the preset coding parameters segment (LSE) when the precision
// is above 12 bits, the scan(s), EOI. No SPIFF header, no colour transform.
// Bits above bits_per_sample in the input are ignored (CharLS masks them).
// Fails with InvalidArgument for an unsupported format or a buffer whose size
// is not SourceBytes(format).
Result<std::vector<uint8_t>> EncodeLossless(const FrameFormat& format, std::span<const uint8_t> pixels);

// The SIMD target the dispatcher picked for this CPU ("AVX2", "SSE4",
// "EMU128"), for logs and benchmark labels.
const char* ActiveSimdTarget();

}  // namespace pacs::jls
