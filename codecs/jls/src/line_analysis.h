// File: line_analysis.h
// The part of JPEG-LS lossless coding that depends only on pixels: with
// NEAR = 0 the reconstructed neighbours are the original samples, so the
// context of every sample of a line (quantised gradients), its median edge
// prediction and whether it repeats its left neighbour (run detection) are
// computed for the whole line at once, with SIMD, before the adaptive coder.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pacs::jls::internal {

// How far past `width` AnalyzeLine may read its input lines and write its
// outputs: one full vector of the widest target (AVX2, 16 x uint16_t) plus
// slack.
inline constexpr size_t kLinePadding = 32;

// The size of a regular context's statistics record (see `context` below).
inline constexpr int32_t kContextStride = 16;

// prev and cur point at sample 0 of the previous and current line, with the
// JPEG-LS edge samples in place: prev[-1] (c of sample 0), prev[width] (d of
// the last sample) and cur[-1] (a of sample 0). Both are readable up to
// index width + kLinePadding. For each sample i < width it writes:
//   context[i]    the context code of q = 81*Q1 + 9*Q2 + Q3: 16 * |q| (the
//                 byte offset of the statistics of context |q| in a table of
//                 16-byte records), with bit 15 set when q < 0. 0 means q = 0,
//                 run mode. The serial coder needs no abs() and no multiply.
//   prediction[i] the median edge predictor of a, b, c
//   repeats[i]    1 if cur[i] == cur[i-1], else 0
// Outputs must have room for width + kLinePadding entries. The thresholds
// must be below 32768 (the defaults are at most 276).
void AnalyzeLine(const uint16_t* prev, const uint16_t* cur, size_t width, int32_t t1, int32_t t2, int32_t t3,
                 int16_t* context, uint16_t* prediction, uint8_t* repeats);

// The plain C++ version of the same, the reference the SIMD code is tested
// against.
void AnalyzeLineScalar(const uint16_t* prev, const uint16_t* cur, size_t width, int32_t t1, int32_t t2, int32_t t3,
                       int16_t* context, uint16_t* prediction, uint8_t* repeats);

const char* ActiveTargetName();

}  // namespace pacs::jls::internal
