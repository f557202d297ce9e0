// File: scan_decoder.h
// The entropy-coded part of a JPEG-LS scan, decoded the way CharLS 2.4.1
// does (ISO/IEC 14495-1 A.2-A.8, annex D), into the caller's frame buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pacs/base/result.h"
#include "pacs/jls/jpegls_encoder.h"

namespace pacs::jls::internal {

// The coding parameters of one scan, as CharLS 2.4.1 derives them from the
// frame, the scan header and the preset coding parameters.
struct ScanParameters {
  int32_t bits_per_sample = 0;  // P
  int32_t max_value = 0;        // MAXVAL used to correct predictions and reconstructions
  int32_t near = 0;             // NEAR
  int32_t range = 0;            // RANGE, from 2^P - 1 and NEAR
  int32_t qbpp = 0;
  int32_t limit = 0;
  int32_t t1 = 0, t2 = 0, t3 = 0;
  int32_t reset = 64;
  int32_t run_reset = 64;  // RESET as the run mode contexts apply it
  // CharLS's lossless_traits: reconstruction modulo 2^P with a mask instead
  // of the general correction (they differ only on corrupt data).
  bool mask_reconstruction = false;
};

// The HP colour transforms of CharLS (APP8 "mrfx"), undone on output.
enum class ColorTransform : uint8_t { kNone = 0, kHp1 = 1, kHp2 = 2, kHp3 = 3 };

struct ScanGeometry {
  uint32_t width = 0;
  uint32_t height = 0;
  int components = 1;  // in this scan
  Interleave interleave = Interleave::kNone;
  uint32_t restart_interval = 0;  // lines per restart interval, 0: none
};

// Where the decoded samples go: sample x of component c of row y is
// written at base + (y * row_stride + c * component_stride + x *
// pixel_stride) samples of bytes_per_sample bytes (1: uint8_t, 2: host-order
// uint16_t).
struct OutputLayout {
  uint8_t* base = nullptr;
  int bytes_per_sample = 1;
  size_t pixel_stride = 1;
  size_t row_stride = 0;
  size_t component_stride = 0;
  ColorTransform transform = ColorTransform::kNone;
};

// The variants of the line loops. kBmi2: compiled for BMI1, BMI2 and LZCNT
// (shifts without the cl register, lzcnt for the Golomb codes); used where
// the CPU has them (cpuid), unless the environment variable
// PACS_JLS_DECODER_ISA=portable asks for the portable loops. Both decode
// the same pixels (the tests and the fuzzer run both).
enum class ScanIsa : uint8_t { kPortable, kBmi2 };

// Whether this build has the kBmi2 variant and the CPU runs it.
bool CpuRunsBmi2Variant();

// The variant DecodeScan uses.
ScanIsa ActiveScanIsa();

// For tests and benchmarks: kPortable forces the portable loops, kBmi2
// returns to the default (the kBmi2 variant where the CPU runs it). Not for
// use while other threads decode.
void SetScanIsaForTesting(ScanIsa isa);

// Whether a segment's coded data (a scan, or a restart interval) is first
// copied without its stuffed bits (DestuffCodedData), so that the bit
// reader's refill never looks for a 0xFF: kAuto where the coded data is
// dense in 0xFF bytes (run mode's codes are mostly 1 bits), kAlways and
// kNever for tests. Both readers give the same verdicts and pixels.
enum class DestuffChoice : uint8_t { kAuto, kAlways, kNever };

// For tests and benchmarks. Not for use while other threads decode.
void SetDestuffForTesting(DestuffChoice choice);

// Decodes the scan whose coded data starts at `data` (the byte after the SOS
// segment); `end` is the end of the codestream. Returns where the marker
// after the scan starts.
Result<const uint8_t*> DecodeScan(const ScanParameters& params, const ScanGeometry& geometry, const uint8_t* data,
                                  const uint8_t* end, const OutputLayout& output);

}  // namespace pacs::jls::internal
