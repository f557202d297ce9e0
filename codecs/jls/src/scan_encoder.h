// File: scan_encoder.h
// Encodes one JPEG-LS lossless scan (the entropy-coded data between SOS and
// the next marker): per line, the SIMD line analysis first, then the scalar
// adaptive part (context statistics A/B/C/N, bias correction, Golomb-Rice
// codes, run mode), in CharLS's exact order so the bits are the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "coding_parameters.h"

namespace pacs::jls::internal {

// Where sample x of component c of row r of the scan sits in the source
// buffer, counted in samples (bytes up to 8 bits, uint16_t above):
//   first + r * row_stride + c * component_stride + x * pixel_stride
struct ScanLayout {
  uint32_t width = 0;
  uint32_t height = 0;
  int components = 1;  // components coded line by line in this scan (1 or 3)
  size_t first = 0;
  size_t row_stride = 0;
  size_t component_stride = 0;
  size_t pixel_stride = 1;
};

// The variants of the line functions. kBmi2: compiled for BMI1, BMI2 and
// LZCNT, used where the CPU has them (cpuid) unless the environment variable
// PACS_JLS_ENCODER_ISA=portable asks for the portable ones. Both write the
// same bytes (the tests run both).
enum class EncoderIsa : uint8_t { kPortable = 0, kBmi2 = 1 };

// The variant EncodeScan uses.
EncoderIsa ActiveEncoderIsa();

// For tests and benchmarks: kPortable forces the portable functions, kBmi2
// returns to the default. Not for use while other threads encode.
void SetEncoderIsaForTesting(EncoderIsa isa);

// Appends the coded data of the scan to `out`. Samples are masked to
// params.bits_per_sample first, as CharLS does.
void EncodeScan(const CodingParameters& params, const ScanLayout& layout, const void* pixels,
                std::vector<uint8_t>& out);

// Sample-interleaved scan of 3 components (pixels RGBRGB...), with CharLS's
// joint run mode over whole pixels.
void EncodeSampleInterleavedScan(const CodingParameters& params, uint32_t width, uint32_t height, const void* pixels,
                                 std::vector<uint8_t>& out);

}  // namespace pacs::jls::internal
