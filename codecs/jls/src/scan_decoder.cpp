// The adaptive decoding of a JPEG-LS scan. Every update happens in the order
// CharLS 2.4.1 does it, and its conventions are kept so that the pixels are
// identical, also on the odd streams:
//  - the line above the first (and the first of each restart interval) is
//    zeros; a of sample 0 is b; c of sample 0 is the a of sample 0 one line
//    up (the line buffers rotate with their [-1] entry); d of the last sample
//    is its b.
//  - contexts are shared by the components of a scan; the run index is per
//    component in line interleave, per pixel in sample interleave, where a
//    pixel is in run mode only when all its components' contexts are 0 and
//    each component of the interrupting pixel is coded with run context 0.
//  - corrupt data ends in an error where CharLS throws: a Golomb k of 16 or
//    more, a decoded error above 65535, context sums of 2^24, a run past the
//    end of the line, reading past the coded data.
#include "scan_decoder.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bit_reader.h"
#include "decoder_kernels.h"

namespace pacs::jls::internal {
namespace {

constexpr int32_t kRunOrder[32] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,  2,  3,  3,  3,  3,
                                   4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr int kRegularContexts = 365;
constexpr int32_t kMaxK = 16;                  // CharLS refuses k >= 16
constexpr int32_t kContextSumLimit = 1 << 24;  // and context sums of 2^24

// k (A.5.1) is kept with the statistics it derives from, computed when they
// change: a sample then loads it instead of computing it from A and N on its
// serial chain (the update is off that chain unless the next sample has the
// same context). N is at most RESET (<= 65535), C within [-128, 127].
struct RegularContext {
  int32_t a, b;
  int16_t c;
  uint16_t n;
  int32_t k;
};
struct RunContext {
  int32_t a, n, nn;
};

// The Golomb parameter: the smallest k with n * 2^k >= a (A.5.1), without
// branches. n >= 1; a >= 0 (A halves down to 0 after a run of zero errors).
PACS_JLS_INLINE int32_t GolombK(int32_t n, int32_t a) {
  const int32_t k = std::max(0, __builtin_clz(static_cast<uint32_t>(n)) - __builtin_clz(static_cast<uint32_t>(a) | 1u));
  return k + static_cast<int32_t>((static_cast<uint64_t>(n) << k) < static_cast<uint64_t>(a));
}

// Data-dependent choices as conditional moves. GCC turns the choices of
// the prediction and the bias update into branches (even with a 50 %
// probability hint), which mispredicted a third of the time on CT frames
// (callgrind's branch model); so on x86-64 the cmov is written out.
#if defined(__x86_64__)
PACS_JLS_INLINE int32_t Min(int32_t a, int32_t b) {
  asm("cmpl %1, %0\n\tcmovgl %1, %0" : "+r"(a) : "r"(b) : "cc");
  return a;
}
PACS_JLS_INLINE int32_t Max(int32_t a, int32_t b) {
  asm("cmpl %1, %0\n\tcmovll %1, %0" : "+r"(a) : "r"(b) : "cc");
  return a;
}
// `value` if `test` > 0, else `otherwise`.
PACS_JLS_INLINE int32_t SelectIfPositive(int32_t test, int32_t value, int32_t otherwise) {
  asm("testl %2, %2\n\tcmovgl %1, %0" : "+r"(otherwise) : "r"(value), "r"(test) : "cc");
  return otherwise;
}
// `value` if `test` <= 0, else `otherwise`.
PACS_JLS_INLINE int32_t SelectIfNotPositive(int32_t test, int32_t value, int32_t otherwise) {
  asm("testl %2, %2\n\tcmovlel %1, %0" : "+r"(otherwise) : "r"(value), "r"(test) : "cc");
  return otherwise;
}
#else
PACS_JLS_INLINE int32_t Min(int32_t a, int32_t b) {
  return a < b ? a : b;
}
PACS_JLS_INLINE int32_t Max(int32_t a, int32_t b) {
  return a > b ? a : b;
}
PACS_JLS_INLINE int32_t SelectIfPositive(int32_t test, int32_t value, int32_t otherwise) {
  return test > 0 ? value : otherwise;
}
PACS_JLS_INLINE int32_t SelectIfNotPositive(int32_t test, int32_t value, int32_t otherwise) {
  return test <= 0 ? value : otherwise;
}
#endif

// The MED predictor (A.4.1): a + b - c clamped to [min(a, b), max(a, b)].
// Samples are below 2^16: no overflow.
PACS_JLS_INLINE int32_t Median(int32_t a, int32_t b, int32_t c) {
  const int32_t low = Min(a, b), high = Max(a, b);
  return Max(low, Min(high, a + b - c));
}

// Up to this precision the quantisation table covers every gradient.
constexpr int32_t kFullTableBits = 12;

// The state of one scan: parameters, the gradient quantisation table and the
// context statistics.
class ScanState {
 public:
  explicit ScanState(const ScanParameters& p)
      : p_(p),
        lut_offset_(p.bits_per_sample <= kFullTableBits ? (1 << p.bits_per_sample) - 1 : p.t3),
        quantize_(2 * static_cast<size_t>(lut_offset_) + 1) {
    // Q(d) for every d up to 12 bits (8 KB at most, no clamping per
    // sample); above, for |d| <= T3 only (beyond, Q is +-4: callers clamp d
    // to +-T3) so that a frame does not pay for a 128 KB table.
    for (int32_t d = -lut_offset_; d <= lut_offset_; ++d) {
      const int32_t index = d + lut_offset_;  // 0 .. 2 * lut_offset_
      quantize_[static_cast<size_t>(index)] = static_cast<int8_t>(QuantizeSlow(d));
    }
    Reset();
  }

  void Reset() {
    const int32_t initial_a = std::max(2, (p_.range + 32) / 64);
    for (RegularContext& context : regular_) context = {initial_a, 0, 0, 1, GolombK(1, initial_a)};
    run_[0] = {initial_a, 1, 0};
    run_[1] = {initial_a, 1, 0};
  }

  const ScanParameters& params() const { return p_; }
  // Q(d) for d in [-T3, T3].
  const int8_t* quantize() const { return quantize_.data() + lut_offset_; }
  RegularContext* regular() { return regular_; }
  RunContext* run() { return run_; }

 private:
  int32_t QuantizeSlow(int32_t d) const {
    if (d <= -p_.t3) return -4;
    if (d <= -p_.t2) return -3;
    if (d <= -p_.t1) return -2;
    if (d < -p_.near) return -1;
    if (d <= p_.near) return 0;
    if (d < p_.t1) return 1;
    if (d < p_.t2) return 2;
    if (d < p_.t3) return 3;
    return 4;
  }

  ScanParameters p_;
  int32_t lut_offset_;
  std::vector<int8_t> quantize_;
  RegularContext regular_[kRegularContexts];
  RunContext run_[2];
};

// The coding parameters as the line decoder sees them. GeneralTraits: any
// scan, all at run time. LosslessTraits: NEAR 0, RESET 64, MAXVAL 2^P - 1
// (what nearly every DICOM codestream is), all compile-time constants so
// that the hot loop has them as immediates.
struct GeneralTraits {
  explicit GeneralTraits(const ScanParameters& p)
      : max_value(p.max_value),
        near(p.near),
        range(p.range),
        qbpp(p.qbpp),
        limit(p.limit),
        reset(p.reset),
        run_reset(p.run_reset),
        mask(p.mask_reconstruction) {}
  int32_t max_value, near, range, qbpp, limit, reset, run_reset;
  bool mask;  // CharLS's lossless traits: reconstruction modulo 2^P by masking
  static constexpr bool kLossless = false;
  static constexpr int32_t kBits = 16;  // the most: no assumption on the table
};

template <int kBitsParameter, bool kMask>
struct LosslessTraits {
  static constexpr int kBits = kBitsParameter;
  explicit LosslessTraits(const ScanParameters& /*parameters*/) {}
  static constexpr int32_t max_value = (1 << kBitsParameter) - 1;
  static constexpr int32_t near = 0;
  static constexpr int32_t range = 1 << kBits;
  static constexpr int32_t qbpp = kBits;
  static constexpr int32_t limit = 2 * (kBits + (kBits > 8 ? kBits : 8));
  static constexpr int32_t reset = 64;
  static constexpr int32_t run_reset = 64;
  static constexpr bool mask = kMask;
  static constexpr bool kLossless = true;
};

// The decoding of one line (or one line of pixels in sample interleave),
// with the reader and the run index in locals.
template <class Traits>
class LineDecoder {
 public:
  LineDecoder(ScanState& state, const BitReader& reader, int32_t run_index)
      : reader(reader),
        run_index(run_index),
        regular_(state.regular()),
        run_(state.run()),
        quantize_(state.quantize()),
        t3_(state.params().t3),
        t_(state.params()) {}

  BitReader reader;
  int32_t run_index;
  bool failed = false;

  // Q(d) of A.3.3 (with NEAR).
  PACS_JLS_INLINE int32_t Quantize(int32_t d) const {
    if constexpr (Traits::kBits <= kFullTableBits) return quantize_[d];
    return quantize_[std::clamp(d, -t3_, t3_)];
  }

  // CharLS's correction (for MAXVAL = 2^n - 1 a clamp to [0, MAXVAL]); the
  // branch is nearly always taken the same way.
  PACS_JLS_INLINE int32_t CorrectPrediction(int32_t value) const {
    if (__builtin_expect((value & t_.max_value) == value, 1)) return value;
    return (~(value >> 31)) & t_.max_value;
  }

  // Run interruption errors of corrupt streams reach 2^29, times 2*NEAR+1:
  // the arithmetic wraps (as CharLS's int arithmetic does in practice)
  // instead of overflowing.
  PACS_JLS_INLINE int32_t Reconstruct(int32_t predicted, int32_t error) const {
    if (t_.mask) return (predicted + error) & t_.max_value;
    const auto step = static_cast<uint32_t>(2 * t_.near + 1);
    auto value = static_cast<int32_t>(static_cast<uint32_t>(predicted) + static_cast<uint32_t>(error) * step);
    if (value < -t_.near) {
      value = static_cast<int32_t>(static_cast<uint32_t>(value) + static_cast<uint32_t>(t_.range) * step);
    } else if (value > t_.max_value + t_.near) {
      value = static_cast<int32_t>(static_cast<uint32_t>(value) - static_cast<uint32_t>(t_.range) * step);
    }
    return CorrectPrediction(value);
  }

  // A.5.3: a limited-length Golomb code. Reading past the coded data fails,
  // except (as in CharLS, whose table lookup peeks a byte) for the last bits
  // of a regular mode code of at most 8 bits (`short_code_may_overrun`).
  PACS_JLS_INLINE int32_t DecodeMapped(int32_t k, int32_t limit, bool short_code_may_overrun) {
    if (__builtin_expect(reader.overrun(), 0)) {
      failed = true;
      return 0;
    }
    const int32_t high = reader.ReadUnary();
    int32_t mapped;
    if (__builtin_expect(high >= limit - (t_.qbpp + 1), 0)) {
      mapped = static_cast<int32_t>(reader.ReadBits(t_.qbpp)) + 1;
      short_code_may_overrun = false;
    } else if (k == 0) {
      mapped = high;
    } else {
      // Wraps like CharLS's int arithmetic for the large k of corrupt run
      // interruption contexts (regular mode keeps k below 16).
      mapped = static_cast<int32_t>((static_cast<uint32_t>(high) << k) + reader.ReadBits(k));
    }
    if (__builtin_expect(reader.overrun(), 0) && !(short_code_may_overrun && high + 1 + k <= 8)) failed = true;
    return mapped;
  }

  // Regular mode (A.4-A.6) for context number q (0 allowed in sample
  // interleave) and the MED prediction.
  PACS_JLS_INLINE int32_t DecodeRegular(int32_t q, int32_t predicted) {
    const int32_t sign = q >> 31;
    RegularContext& context = regular_[(q ^ sign) - sign];
    const int32_t k = context.k;
    const int32_t a = context.a, b = context.b, c = context.c, n = context.n;
    if (__builtin_expect(k >= kMaxK, 0)) {
      failed = true;
      return 0;
    }
    const int32_t corrected = CorrectPrediction(predicted + ((c ^ sign) - sign));
    int32_t mapped;
    if (!reader.TryReadGolomb(k, t_.limit - (t_.qbpp + 1), mapped)) mapped = DecodeMapped(k, t_.limit, true);
    // An error above 65535 (CharLS refuses it) maps above 131070.
    if (__builtin_expect(static_cast<uint32_t>(mapped) > 131070u, 0)) {
      failed = true;
      return 0;
    }
    int32_t error = (mapped >> 1) ^ -(mapped & 1);
    if (k == 0 && t_.near == 0) error ^= (2 * b + n - 1) >> 31;

    int32_t new_a = a + std::abs(error);
    int32_t new_b = b + error * (2 * t_.near + 1);
    // With RESET 64 and errors of at most 65535, A stays below 128 * 65535
    // and |B| below 64 + 65535: CharLS's 2^24 check cannot fire.
    if constexpr (!Traits::kLossless) {
      if (__builtin_expect(new_a >= kContextSumLimit || std::abs(new_b) >= kContextSumLimit, 0)) {
        failed = true;
        return 0;
      }
    }
    // Halving at N = RESET (once in RESET uses of a context) by a shift
    // count, not a branch.
    const int halve = n == t_.reset ? 1 : 0;
    new_a >>= halve;
    new_b >>= halve;
    const int32_t new_n = (n >> halve) + 1;
    // The bias update of A.6.2 by masks (its outcome is data dependent): at
    // most one of `down` and `up` holds, since N >= 1. |B| < 2^25: no
    // overflow.
    const int32_t raised = new_b + new_n;
    const int32_t step = static_cast<int32_t>(new_b > 0) - static_cast<int32_t>(raised <= 0);
    const int32_t b_down = Max(raised, 1 - new_n);
    const int32_t b_up = Min(new_b - new_n, 0);
    new_b = SelectIfNotPositive(raised, b_down, SelectIfPositive(new_b, b_up, new_b));
    // C moves by one within [-128, 127].
    const int32_t new_c = Max(-128, Min(127, c + step));
    context.a = new_a;
    context.b = new_b;
    context.c = static_cast<int16_t>(new_c);
    context.n = static_cast<uint16_t>(new_n);
    context.k = GolombK(new_n, new_a);
    return Reconstruct(corrected, (error ^ sign) - sign);
  }

  // A.7.1.1: the length of a run of at most `remaining` samples.
  PACS_JLS_INLINE int32_t DecodeRunLength(int32_t remaining) {
    int32_t length = 0;
    if (__builtin_expect(reader.overrun(), 0)) {
      failed = true;
      return 0;
    }
    while (reader.ReadBit()) {
      const int32_t segment = 1 << kRunOrder[run_index];
      const int32_t count = std::min(segment, remaining - length);
      length += count;
      if (count == segment) run_index = std::min(31, run_index + 1);
      if (length == remaining) return length;
    }
    if (kRunOrder[run_index] > 0) length += static_cast<int32_t>(reader.ReadBits(kRunOrder[run_index]));
    if (__builtin_expect(length > remaining || reader.overrun(), 0)) {
      failed = true;
      return 0;
    }
    return length;
  }

  // A.7.2: the error of a run interruption sample with run context `type`.
  PACS_JLS_INLINE int32_t DecodeInterruptionError(int32_t type) {
    RunContext& context = run_[type];
    const int64_t temp = static_cast<int64_t>(context.a) + static_cast<int64_t>(context.n >> 1) * type;
    int32_t k = 0;
    for (int64_t n_test = context.n; n_test < temp; n_test <<= 1) ++k;
    // CharLS has no limit here (a k of 32 or more fails its assertions).
    if (__builtin_expect(k > 31, 0)) {
      failed = true;
      return 0;
    }
    const int32_t mapped = DecodeMapped(k, t_.limit - kRunOrder[run_index] - 1, false);
    if (__builtin_expect(mapped < 0 || mapped > (1 << 30), 0)) {  // only corrupt data gets here
      failed = true;
      return 0;
    }
    const int32_t value = mapped + type;
    const int32_t map = value & 1;
    const int32_t magnitude = (value + map) / 2;
    const int32_t error = ((k != 0 || 2 * context.nn >= context.n) == (map != 0)) ? -magnitude : magnitude;
    if (error < 0) ++context.nn;
    context.a += (mapped + 1 - type) >> 1;
    if (__builtin_expect(context.a >= (1 << 30), 0)) {  // only corrupt data gets here
      failed = true;
      return 0;
    }
    if (context.n == t_.run_reset) {
      context.a >>= 1;
      context.n >>= 1;
      context.nn >>= 1;
    }
    ++context.n;
    return error;
  }

  PACS_JLS_INLINE int32_t DecodeInterruption(int32_t ra, int32_t rb) {
    if (std::abs(ra - rb) <= t_.near) return Reconstruct(ra, DecodeInterruptionError(1));
    const int32_t error = DecodeInterruptionError(0);
    return Reconstruct(rb, rb - ra < 0 ? -error : error);
  }

  PACS_JLS_INLINE void EndRunInterruption() { run_index = std::max(0, run_index - 1); }

  // One line of one component (interleave none and line), decoded in place:
  // `line` holds the line above and each sample overwrites its b once
  // decoded, so that c (the previous b) and a (the previous sample) stay in
  // registers. `gradients` holds 81 * Q1 + 9 * Q2 of each sample, from the
  // line above; `rc` is the c of sample 0, whose a is its b.
  PACS_JLS_INLINE void DecodeLine(uint16_t* line, const int16_t* gradients, int32_t rc, int32_t width) {
    int32_t i = 0;
    int32_t ra = line[0];
    while (i < width) {
      const int32_t rb = line[i];
      const int32_t q = gradients[i] + Quantize(rc - ra);
      if (__builtin_expect(q != 0, 1)) {
        ra = DecodeRegular(q, Median(ra, rb, rc));
        line[i] = static_cast<uint16_t>(ra);
        rc = rb;
        ++i;
        continue;
      }
      const int32_t run = DecodeRunLength(width - i);
      if (failed) return;
      std::fill_n(line + i, run, static_cast<uint16_t>(ra));
      i += run;
      if (i < width) {
        rc = line[i];
        ra = DecodeInterruption(ra, rc);
        line[i] = static_cast<uint16_t>(ra);
        EndRunInterruption();
        ++i;
      }
      if (failed) return;
    }
  }

  // One line of pixels of `components` (3 or 4) interleaved components,
  // each decoded in place as in DecodeLine.
  PACS_JLS_INLINE void DecodePixelLine(uint16_t* const* lines, const int16_t* const* gradients, const int32_t* rc0,
                                       int components, int32_t width) {
    int32_t i = 0;
    int32_t q[4];
    int32_t ra[4], rc[4];
    for (int c = 0; c < components; ++c) {
      ra[c] = lines[c][0];
      rc[c] = rc0[c];
    }
    while (i < width) {
      int32_t any = 0;
      for (int c = 0; c < components; ++c) {
        q[c] = gradients[c][i] + Quantize(rc[c] - ra[c]);
        any |= q[c];
      }
      if (any != 0) {
        for (int c = 0; c < components; ++c) {
          const int32_t rb = lines[c][i];
          ra[c] = DecodeRegular(q[c], Median(ra[c], rb, rc[c]));
          lines[c][i] = static_cast<uint16_t>(ra[c]);
          rc[c] = rb;
        }
        ++i;
        if (failed) return;
        continue;
      }
      const int32_t run = DecodeRunLength(width - i);
      if (failed) return;
      for (int c = 0; c < components; ++c) std::fill_n(lines[c] + i, run, static_cast<uint16_t>(ra[c]));
      i += run;
      if (i < width) {
        int32_t errors[4];
        for (int c = 0; c < components; ++c) errors[c] = DecodeInterruptionError(0);
        for (int c = 0; c < components; ++c) {
          const int32_t rb = lines[c][i];
          ra[c] = Reconstruct(rb, rb - ra[c] < 0 ? -errors[c] : errors[c]);
          lines[c][i] = static_cast<uint16_t>(ra[c]);
          rc[c] = rb;
        }
        EndRunInterruption();
        ++i;
      }
      if (failed) return;
    }
  }

 private:
  RegularContext* regular_;
  RunContext* run_;
  const int8_t* quantize_;
  int32_t t3_;
  Traits t_;
};

// The line loops out of line, each on a local copy of the decoder: inlined
// into DecodeScanImpl, GCC's register allocator kept the loop index, the
// line pointers, a, c and the context fields on the stack (perf); in a
// function of their own, on a copy whose address is never taken, they stay
// in registers.
template <class Traits>
__attribute__((noinline)) void DecodeLineOutOfLine(LineDecoder<Traits>& decoder, uint16_t* line,
                                                   const int16_t* gradients, int32_t rc, int32_t width) {
  LineDecoder<Traits> local = decoder;
  local.DecodeLine(line, gradients, rc, width);
  decoder = local;
}

template <class Traits>
__attribute__((noinline)) void DecodePixelLineOutOfLine(LineDecoder<Traits>& decoder, uint16_t* const* lines,
                                                        const int16_t* const* gradients, const int32_t* rc,
                                                        int components, int32_t width) {
  LineDecoder<Traits> local = decoder;
  local.DecodePixelLine(lines, gradients, rc, components, width);
  decoder = local;
}

// The line buffer of one component: the line above, overwritten in place by
// the line being decoded, with one sample in front (index -1: the c of
// sample 0, the first sample of the line before the line above) and one
// behind (index width: the d of the last sample), and padding for the SIMD
// gradient kernel.
class LineBuffer {
 public:
  explicit LineBuffer(uint32_t width) : storage_(width + 2 + kDecoderLinePadding, 0) {}
  uint16_t* line() { return storage_.data() + 1; }
  void Clear() { std::fill(storage_.begin(), storage_.end(), 0); }

 private:
  std::vector<uint16_t> storage_;
};

// The inverse HP colour transforms as CharLS applies them: on the sample
// type (8 or 16 bits), with the samples shifted to 16 bits for 9-15 bit
// precisions.
struct InverseTransform {
  ColorTransform transform;
  int shift;      // 16 - P for 9..15 bits, else 0
  int32_t range;  // 2^8 or 2^16
  int32_t mask;

  void Apply(int32_t& v1, int32_t& v2, int32_t& v3) const {
    const int32_t x1 = v1 << shift, x2 = v2 << shift, x3 = v3 << shift;
    int32_t r = 0, g = 0, b = 0;
    switch (transform) {
      case ColorTransform::kHp1:
        r = (x1 + x2 - range / 2) & mask;
        g = x2;
        b = (x3 + x2 - range / 2) & mask;
        break;
      case ColorTransform::kHp2:
        r = (x1 + x2 - range / 2) & mask;
        g = x2;
        b = (x3 + ((r + g) >> 1) - range / 2) & mask;
        break;
      case ColorTransform::kHp3: {
        const int32_t green = x1 - ((x3 + x2) >> 2) + range / 4;
        g = green & mask;
        r = (x3 + green - range / 2) & mask;
        b = (x2 + green - range / 2) & mask;
        break;
      }
      case ColorTransform::kNone:
        return;
    }
    v1 = r >> shift;
    v2 = g >> shift;
    v3 = b >> shift;
  }
};

void WriteSamples(const uint16_t* line, uint32_t width, uint8_t* out, int bytes_per_sample, size_t pixel_stride) {
  if (bytes_per_sample == 1) {
    if (pixel_stride == 1) {
      for (uint32_t x = 0; x < width; ++x) out[x] = static_cast<uint8_t>(line[x]);
    } else {
      for (uint32_t x = 0; x < width; ++x) out[x * pixel_stride] = static_cast<uint8_t>(line[x]);
    }
  } else {
    if (pixel_stride == 1) {
      std::memcpy(out, line, width * sizeof(uint16_t));
    } else {
      for (uint32_t x = 0; x < width; ++x) std::memcpy(out + size_t{2} * x * pixel_stride, line + x, 2);
    }
  }
}

// Skips what is left of the coded data (padding) up to the next marker;
// returns nullptr if there is none.
const uint8_t* NextMarker(const uint8_t* from, const uint8_t* end) {
  const uint8_t* p = from;
  for (;;) {
    p = FindNextFF(p, end);
    if (end - p < 2) return nullptr;
    if (p[1] >= 0x80) return p;
    ++p;
  }
}

template <class Traits>
Result<const uint8_t*> DecodeScanImpl(const ScanParameters& params, const ScanGeometry& geometry, const uint8_t* data,
                                      const uint8_t* end, const OutputLayout& output) {
  const uint32_t width = geometry.width;
  const auto signed_width = static_cast<int32_t>(width);
  const int components = geometry.components;
  ScanState state(params);
  std::vector<LineBuffer> lines(static_cast<size_t>(components), LineBuffer(width));
  std::vector<std::vector<int16_t>> gradients(static_cast<size_t>(components),
                                              std::vector<int16_t>(width + kDecoderLinePadding));
  const bool simd_gradients = params.t3 <= 32767;
  std::array<int32_t, 4> run_index{};
  BitReader reader(data, end);
  uint32_t restart_count = 0;
  const bool transform = output.transform != ColorTransform::kNone && components == 3;
  InverseTransform inverse{output.transform, 0, 256, 255};
  if (transform) {
    const int bits = params.bits_per_sample;
    if (bits == 8) {
      inverse = {output.transform, 0, 256, 255};
    } else if (bits == 16) {
      inverse = {output.transform, 0, 65536, 65535};
    } else if (bits > 8) {
      inverse = {output.transform, 16 - bits, 65536, 65535};
    } else {
      return Status::Unsupported("the HP colour transform of a " + std::to_string(bits) +
                                 "-bit frame (CharLS decodes it for 8 to 16 bits only)");
    }
  }

  for (uint32_t row = 0; row < geometry.height; ++row) {
    if (geometry.restart_interval != 0 && row != 0 && row % geometry.restart_interval == 0) {
      const uint8_t* marker = NextMarker(reader.position(), end);
      if (marker == nullptr || !reader.OnlyPaddingBefore(marker))
        return Status::Corruption("restart marker missing before line " + std::to_string(row));
      const uint8_t* p = marker + 1;
      while (p < end && *p == 0xFF) ++p;
      if (p >= end || *p != 0xD0 + (restart_count & 7))
        return Status::Corruption("restart marker RST" + std::to_string(restart_count & 7) + " expected before line " +
                                  std::to_string(row));
      ++restart_count;
      state.Reset();
      for (LineBuffer& buffer : lines) buffer.Clear();
      run_index.fill(0);
      reader = BitReader(p + 1, end);
    }

    uint16_t* cur[4];
    int32_t rc[4];
    for (int c = 0; c < components; ++c) {
      uint16_t* const line = lines[c].line();
      cur[c] = line;
      line[width] = line[width - 1];
      if (simd_gradients) {
        ComputeGradients(line, width, params.t1, params.t2, params.t3, params.near, gradients[c].data());
      } else {
        ComputeGradientsScalar(line, width, state.quantize(), params.t3, gradients[c].data());
      }
      rc[c] = line[-1];
      line[-1] = line[0];  // the c of sample 0 of the next line
    }
    if (geometry.interleave == Interleave::kSample && components > 1) {
      const int16_t* const pixel_gradients[4] = {gradients[0].data(), gradients[std::min(1, components - 1)].data(),
                                                 gradients[std::min(2, components - 1)].data(),
                                                 gradients[std::min(3, components - 1)].data()};
      LineDecoder<Traits> decoder(state, reader, run_index[0]);
      DecodePixelLineOutOfLine(decoder, cur, pixel_gradients, rc, components, signed_width);
      if (decoder.failed) return Status::Corruption("invalid coded data in line " + std::to_string(row));
      reader = decoder.reader;
      run_index[0] = decoder.run_index;
    } else {
      for (int c = 0; c < components; ++c) {
        LineDecoder<Traits> decoder(state, reader, run_index[c]);
        DecodeLineOutOfLine(decoder, cur[c], gradients[c].data(), rc[c], signed_width);
        if (decoder.failed) return Status::Corruption("invalid coded data in line " + std::to_string(row));
        reader = decoder.reader;
        run_index[c] = decoder.run_index;
      }
    }

    uint8_t* const row_out = output.base + row * output.row_stride * output.bytes_per_sample;
    if (transform) {
      for (uint32_t x = 0; x < width; ++x) {
        int32_t v1 = cur[0][x], v2 = cur[1][x], v3 = cur[2][x];
        inverse.Apply(v1, v2, v3);
        const int32_t values[3] = {v1, v2, v3};
        for (int c = 0; c < 3; ++c) {
          const size_t at = c * output.component_stride + x * output.pixel_stride;
          if (output.bytes_per_sample == 1) {
            row_out[at] = static_cast<uint8_t>(values[c]);
          } else {
            const auto value = static_cast<uint16_t>(values[c]);
            std::memcpy(row_out + 2 * at, &value, 2);
          }
        }
      }
    } else {
      for (int c = 0; c < components; ++c)
        WriteSamples(cur[c], width, row_out + c * output.component_stride * output.bytes_per_sample,
                     output.bytes_per_sample, output.pixel_stride);
    }
  }

  const uint8_t* marker = NextMarker(reader.position(), end);
  if (marker == nullptr) return Status::Corruption("no marker after the coded data of the scan (truncated)");
  if (!reader.OnlyPaddingBefore(marker))
    return Status::Corruption("more coded data than the scan's samples need (corrupt)");
  return marker;
}

}  // namespace

Result<const uint8_t*> DecodeScan(const ScanParameters& params, const ScanGeometry& geometry, const uint8_t* data,
                                  const uint8_t* end, const OutputLayout& output) {
  using Function = Result<const uint8_t*> (*)(const ScanParameters&, const ScanGeometry&, const uint8_t*,
                                              const uint8_t*, const OutputLayout&);
  const int32_t full = (1 << params.bits_per_sample) - 1;
  if (params.near == 0 && params.reset == 64 && params.run_reset == 64 && params.max_value == full) {
    static constexpr Function kLossless[2][17] = {
        {nullptr, nullptr, &DecodeScanImpl<LosslessTraits<2, false>>, &DecodeScanImpl<LosslessTraits<3, false>>,
         &DecodeScanImpl<LosslessTraits<4, false>>, &DecodeScanImpl<LosslessTraits<5, false>>,
         &DecodeScanImpl<LosslessTraits<6, false>>, &DecodeScanImpl<LosslessTraits<7, false>>,
         &DecodeScanImpl<LosslessTraits<8, false>>, &DecodeScanImpl<LosslessTraits<9, false>>,
         &DecodeScanImpl<LosslessTraits<10, false>>, &DecodeScanImpl<LosslessTraits<11, false>>,
         &DecodeScanImpl<LosslessTraits<12, false>>, &DecodeScanImpl<LosslessTraits<13, false>>,
         &DecodeScanImpl<LosslessTraits<14, false>>, &DecodeScanImpl<LosslessTraits<15, false>>,
         &DecodeScanImpl<LosslessTraits<16, false>>},
        // CharLS masks only at 8, 12 and 16 bits.
        {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
         &DecodeScanImpl<LosslessTraits<8, true>>, nullptr, nullptr, nullptr, &DecodeScanImpl<LosslessTraits<12, true>>,
         nullptr, nullptr, nullptr, &DecodeScanImpl<LosslessTraits<16, true>>}};
    const Function decode = kLossless[params.mask_reconstruction ? 1 : 0][params.bits_per_sample];
    if (decode != nullptr) return decode(params, geometry, data, end, output);
  }
  return DecodeScanImpl<GeneralTraits>(params, geometry, data, end, output);
}

}  // namespace pacs::jls::internal
