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
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "bit_reader.h"
#include "cpu_features.h"
#include "decoder_kernels.h"

namespace pacs::jls::internal {
namespace {

constexpr int32_t kRunOrder[32] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,  2,  3,  3,  3,  3,
                                   4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr int kRegularContexts = 365;
constexpr int32_t kMaxK = 16;                  // CharLS refuses k >= 16
constexpr int32_t kContextSumLimit = 1 << 24;  // and context sums of 2^24

// The statistics of the 365 regular mode contexts, one array per field
// (indexed with the context number in the addressing mode, no multiply).
// k (A.5.1) is kept with the statistics it derives from, computed when they
// change: a sample then loads it instead of computing it from A and N on its
// serial chain (the update is off that chain unless the next sample has the
// same context). N is at most RESET (<= 65535), C within [-128, 127].
// The quantisation table of the line decoder follows them, so that one base
// register addresses both.
constexpr int32_t kNearTableReach = 4095;
struct RegularContexts {
  int32_t a[kRegularContexts];
  int32_t b[kRegularContexts];
  int32_t c[kRegularContexts];
  int32_t n[kRegularContexts];
  int32_t k[kRegularContexts];
  // Q(d) at quantize[d + kNearTableReach] for |d| <= min(T3, 4095) (up to
  // 12 bits every difference of two samples).
  int8_t quantize[2 * kNearTableReach + 1];
};
struct RunContext {
  int32_t a, n, nn;
};

// The sum of the run segments 2^J[r] for r < index: the length of a run
// coded as `index` 1 bits from run index 0 (A.7.1.1).
constexpr std::array<int32_t, 33> kRunPrefix = [] {
  std::array<int32_t, 33> prefix{};
  for (int r = 0; r < 32; ++r)
    prefix[static_cast<size_t>(r) + 1] = prefix[static_cast<size_t>(r)] + (1 << kRunOrder[r]);
  return prefix;
}();

// The Golomb parameter: the smallest k with n * 2^k >= a (A.5.1), without
// branches. n >= 1; a >= 0 (A halves down to 0 after a run of zero errors).
// The top bit of a | n is a's if a >= n, else n's: the first guess is 0 or
// the difference of the bit lengths, at most one too small.
PACS_JLS_INLINE int32_t GolombK(int32_t n, int32_t a) {
  const auto un = static_cast<uint32_t>(n), ua = static_cast<uint32_t>(a);
  const int32_t k = __builtin_clz(un) - __builtin_clz(ua | un);
  return k + static_cast<int32_t>((static_cast<uint64_t>(un) << k) < ua);
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
#else
PACS_JLS_INLINE int32_t Min(int32_t a, int32_t b) {
  return a < b ? a : b;
}
PACS_JLS_INLINE int32_t Max(int32_t a, int32_t b) {
  return a > b ? a : b;
}
#endif

// The MED predictor (A.4.1): a + b - c clamped to [min(a, b), max(a, b)].
// Samples are below 2^16: no overflow. As low + high = a + b, a + b - c
// is above high exactly when c < low and below low exactly when c > high.
#if defined(__x86_64__)
PACS_JLS_INLINE int32_t Median(int32_t a, int32_t b, int32_t c) {
  int32_t low = a, high = a, predicted = a + b - c;
  // One compare of a and b for both bounds, then the clamp as compares
  // of c (known a sample early) with them: 7 instructions, no copies.
  asm("cmpl %[b], %[a]\n\t"
      "cmovgl %[b], %[low]\n\t"
      "cmovll %[b], %[high]\n\t"
      "cmpl %[low], %[c]\n\t"
      "cmovll %[high], %[predicted]\n\t"
      "cmpl %[high], %[c]\n\t"
      "cmovgl %[low], %[predicted]"
      : [low] "+&r"(low), [high] "+&r"(high), [predicted] "+&r"(predicted)
      : [a] "r"(a), [b] "r"(b), [c] "r"(c)
      : "cc");
  return predicted;
}
#else
PACS_JLS_INLINE int32_t Median(int32_t a, int32_t b, int32_t c) {
  const int32_t low = Min(a, b), high = Max(a, b);
  return Max(low, Min(high, a + b - c));
}
#endif

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
    const int32_t reach = std::min(lut_offset_, kNearTableReach);
    std::memcpy(regular_.quantize + kNearTableReach - reach, quantize_.data() + lut_offset_ - reach,
                2 * static_cast<size_t>(reach) + 1);
    // Beyond, +-4: with T3 <= 4095 that is Q(d) on all of +-4095 (which
    // the lossless traits of more than 12 bits rely on).
    const auto outside = static_cast<size_t>(kNearTableReach - reach);
    std::memset(regular_.quantize, -4, outside);
    std::memset(regular_.quantize + kNearTableReach + reach + 1, 4, outside);
    Reset();
  }

  void Reset() {
    const int32_t initial_a = std::max(2, (p_.range + 32) / 64);
    std::fill_n(regular_.a, kRegularContexts, initial_a);
    std::fill_n(regular_.b, kRegularContexts, 0);
    std::fill_n(regular_.c, kRegularContexts, 0);
    std::fill_n(regular_.n, kRegularContexts, 1);
    std::fill_n(regular_.k, kRegularContexts, GolombK(1, initial_a));
    run_[0] = {initial_a, 1, 0};
    run_[1] = {initial_a, 1, 0};
  }

  const ScanParameters& params() const { return p_; }
  // Q(d) for d in [-T3, T3].
  const int8_t* quantize() const { return quantize_.data() + lut_offset_; }
  // Whether RegularContexts::quantize covers [-T3, T3] (or, up to 12 bits,
  // every difference).
  bool near_table_covers() const { return lut_offset_ <= kNearTableReach; }
  RegularContexts* regular() { return &regular_; }
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
  RegularContexts regular_;
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

// The state the out-of-line slow paths work on: a copy, so that the line
// loop's own state never has its address taken (see BitReader).
struct SlowState {
  BitReader reader;
  int32_t run_index;
  bool failed;
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

  // The parts of a word of ComputeGradients: b and 81 * Q1 + 9 * Q2.
  PACS_JLS_INLINE static int32_t Above(uint32_t word) { return static_cast<int32_t>(word >> 16); }
  PACS_JLS_INLINE static intptr_t Gradients(uint32_t word) { return static_cast<int16_t>(word & 0xFFFF); }

  // Q(c - a) of A.3.3 (with NEAR); 0 <= a, c <= MAXVAL. The difference is
  // an index of pointer width: no sign extension on the serial chain.
  // a (0 <= a <= MAXVAL) of pointer width: up to 12 bits the regular mode
  // computes it in 64-bit registers (see Wide), no movslq on the chain.
  PACS_JLS_INLINE intptr_t Quantize(int32_t c, intptr_t a) const {
    const intptr_t d = static_cast<intptr_t>(static_cast<uint32_t>(c)) - a;
    if constexpr (Traits::kLossless) {  // the table beside the contexts covers [-T3, T3]
      const int8_t* table = regular_->quantize + kNearTableReach;
      if constexpr (Traits::kBits <= kFullTableBits) return table[d];
      // The table holds Q(d) on +-4095 (T3 <= 4095 for these traits):
      // differences beyond are rare (a predicted branch instead of a clamp
      // on the serial chain).
      if (__builtin_expect(static_cast<uintptr_t>(d + kNearTableReach) <= uintptr_t{2} * kNearTableReach, 1))
        return table[d];
      return table[ClampToT3(d)];
    }
    if constexpr (Traits::kBits <= kFullTableBits) return quantize_[d];
    return quantize_[ClampToT3(d)];
  }

  // d clamped to [-T3, T3], by value: std::min/max take references, and
  // GCC then stored d to the stack on the fast path of every sample (MR).
  PACS_JLS_INLINE intptr_t ClampToT3(intptr_t d) const {
    const intptr_t t3 = t3_;
    const intptr_t low = d < -t3 ? -t3 : d;
    return low > t3 ? t3 : low;
  }

  // CharLS's correction (for MAXVAL = 2^n - 1 a clamp to [0, MAXVAL]); the
  // branch is nearly always taken the same way.
  PACS_JLS_INLINE int32_t CorrectPrediction(int32_t value) const {
    if (__builtin_expect((value & t_.max_value) == value, 1)) return value;
    return (~(value >> 31)) & t_.max_value;
  }

  // The regular mode's mapped error, error and sample: 64-bit up to 12
  // bits, so that the sample comes out of a 64-bit `and` and indexes the
  // next sample's Q(c - a) load without a sign extension (one cycle less on
  // the chain; CT ~1 % faster). Above, 32-bit: the wider chain measured
  // ~2 % slower on CR (15 bits) and no faster on MR.
  using Wide = std::conditional_t<(Traits::kBits <= kFullTableBits), intptr_t, int32_t>;

  // Reconstruct in Wide (the same value).
  PACS_JLS_INLINE Wide ReconstructWide(int32_t predicted, Wide error) const {
    if (t_.mask) return (static_cast<Wide>(predicted) + error) & t_.max_value;
    return Reconstruct(predicted, static_cast<int32_t>(error));
  }

  // Run interruption errors of corrupt streams reach 2^29, times 2*NEAR+1:
  // the arithmetic wraps (as CharLS's int arithmetic does in practice)
  // instead of overflowing.
  PACS_JLS_INLINE int32_t Reconstruct(int32_t predicted, int32_t error) const {
    if (t_.mask) return (predicted + error) & t_.max_value;
    const auto step = static_cast<uint32_t>(2 * t_.near + 1);
    auto value = static_cast<int32_t>(static_cast<uint32_t>(predicted) + static_cast<uint32_t>(error) * step);
    if (__builtin_expect(value < -t_.near, 0)) {
      value = static_cast<int32_t>(static_cast<uint32_t>(value) + static_cast<uint32_t>(t_.range) * step);
    } else if (__builtin_expect(value > t_.max_value + t_.near, 0)) {
      value = static_cast<int32_t>(static_cast<uint32_t>(value) - static_cast<uint32_t>(t_.range) * step);
    }
    return CorrectPrediction(value);
  }

  // A.5.3: a limited-length Golomb code. Reading past the coded data fails,
  // except (as in CharLS, whose table lookup peeks a byte) for the last bits
  // of a regular mode code of at most 8 bits (`short_code_may_overrun`).
  // Out of line, on a copy of the reader (see BitReader): the common codes
  // are read by BitReader::TryReadGolomb.
  __attribute__((noinline)) static int32_t DecodeMappedSlow(SlowState* state, int32_t k, int32_t limit, int32_t qbpp,
                                                            bool short_code_may_overrun) {
    BitReader& r = state->reader;
    if (r.overrun()) {
      state->failed = true;
      return 0;
    }
    const int32_t high = r.ReadUnary();
    int32_t mapped;
    if (high >= limit - (qbpp + 1)) {
      mapped = static_cast<int32_t>(r.ReadBits(qbpp)) + 1;
      short_code_may_overrun = false;
    } else if (k == 0) {
      mapped = high;
    } else {
      // Wraps like CharLS's int arithmetic for the large k of corrupt run
      // interruption contexts (regular mode keeps k below 16).
      mapped = static_cast<int32_t>((static_cast<uint32_t>(high) << k) + r.ReadBits(k));
    }
    if (r.overrun() && !(short_code_may_overrun && high + 1 + k <= 8)) state->failed = true;
    return mapped;
  }

  // The mapped error of a Golomb code with parameter k, reading at most
  // limit bits.
  template <bool kRefill = true>
  PACS_JLS_INLINE Wide ReadMapped(int32_t k, int32_t limit, bool short_code_may_overrun) {
    Wide mapped;
    if (__builtin_expect(reader.template TryReadGolomb<kRefill>(k, limit - (t_.qbpp + 1), mapped), 1)) return mapped;
    SlowState state{reader, run_index, false};
    mapped = DecodeMappedSlow(&state, k, limit, t_.qbpp, short_code_may_overrun);
    reader = state.reader;
    failed |= state.failed;
    return mapped;
  }

  // Regular mode (A.4-A.6) for context number q (0 allowed in sample
  // interleave) and the MED prediction.
  // q of pointer width: its absolute value (neg and cmov, two cycles on the
  // serial chain to the k load, no sign extension) is the index.
  template <bool kRefill = true>
  // The sample (0 <= sample <= MAXVAL) in pointer width: a 32-bit Wide is
  // widened as unsigned, which x86-64's 32-bit operations do for free (a
  // signed int32_t took a movslq on the serial chain to the next Q(c - a)).
  PACS_JLS_INLINE intptr_t DecodeRegular(intptr_t q, int32_t predicted) {
    const auto sign = static_cast<Wide>(q >> 63);
    const auto sign32 = static_cast<int32_t>(sign);
    const auto index = static_cast<size_t>(q < 0 ? -q : q);
    RegularContexts& contexts = *regular_;
    const int32_t k = contexts.k[index];
    if (__builtin_expect(k >= kMaxK, 0)) {
      failed = true;
      return 0;
    }
    const Wide mapped = ReadMapped<kRefill>(k, t_.limit, true);
    // A, B, C and N are loaded after the code is read (in the program: the
    // processor loads them as early as before): GCC otherwise loads them
    // first and keeps them in registers across the read, which then spills
    // the bit cache (15 registers are not enough for all).
    size_t late_index = index;
#if defined(__x86_64__)
    asm("" : "+r"(late_index));
#endif
    const int32_t a = contexts.a[late_index], b = contexts.b[late_index], c = contexts.c[late_index],
                  n = contexts.n[late_index];
    const int32_t corrected = CorrectPrediction(predicted + ((c ^ sign32) - sign32));
    // An error above 65535 (CharLS refuses it) maps above 131070.
    if (__builtin_expect(static_cast<std::make_unsigned_t<Wide>>(mapped) > 131070u, 0)) {
      failed = true;
      return 0;
    }
    // The error is (mapped >> 1) ^ -(mapped & 1), inverted for k = 0 when
    // 2B + N - 1 < 0 (lossless only, A.5.2); `flip` also applies the sign
    // of the context: flipped = error ^ sign, and the error with the sign
    // applied is flipped - sign.
    // In Wide (the same values).
    Wide flip = sign;
    if (t_.near == 0) flip ^= static_cast<Wide>(((2 * b + n - 1) >> 31) & ((k - 1) >> 31));
    const Wide flipped = (mapped >> 1) ^ (-(mapped & 1) ^ flip);
    const auto error = static_cast<int32_t>(flipped ^ sign);
    const Wide signed_error = flipped - sign;

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
    // count, not a branch (with RESET 64, N <= 64: N >> 6).
    int halve;
    if constexpr (Traits::kLossless) {
      halve = n >> 6;
    } else {
      halve = n == t_.reset ? 1 : 0;
    }
    new_a >>= halve;
    new_b >>= halve;
    const int32_t new_n = (n >> halve) + 1;
    // The bias update of A.6.2 without branches (its outcome is data
    // dependent): B moves by N towards 0 when B + N <= 0 (step -1) or B > 0
    // (step 1; at most one holds, since N >= 1) and ends in [1 - N, 0] in
    // all three cases (the clamp is CharLS's in the first two and does
    // nothing in the third). |B| < 2^25: no overflow.
    // The step from sign bits (B > 0: the sign of -B; B + N <= 0: the sign
    // of B + N - 1), fewer instructions than two flag tests.
    const int32_t step = static_cast<int32_t>(static_cast<uint32_t>(-new_b) >> 31) + ((new_b + new_n - 1) >> 31);
    new_b = Max(Min(new_b - step * new_n, 0), 1 - new_n);
    // C moves by one within [-128, 127]; it reaches the bounds on corrupt
    // data and seldom otherwise (a predicted branch, not two clamps).
    int32_t new_c = c + step;
    if (__builtin_expect(static_cast<uint32_t>(new_c + 128) > 255u, 0)) new_c = c;
    contexts.a[late_index] = new_a;
    contexts.b[late_index] = new_b;
    contexts.c[late_index] = new_c;
    contexts.n[late_index] = new_n;
    contexts.k[late_index] = GolombK(new_n, new_a);
    if constexpr (sizeof(Wide) == sizeof(intptr_t)) {
      return ReconstructWide(corrected, signed_error);
    } else {
      return static_cast<intptr_t>(static_cast<uint32_t>(ReconstructWide(corrected, signed_error)));
    }
  }

  // A.7.1.1: the length of a run of at most `remaining` samples. The
  // common case (the run ends inside the line, its code is loaded, the run
  // index stays below 32) counts the 1 bits at once; the sum of their
  // segments is a difference of prefix sums.
  PACS_JLS_INLINE int32_t DecodeRunLength(int32_t remaining) {
    reader.RefillForRun();
    const int ones = reader.PeekOnes(15);
    if (__builtin_expect(ones >= 0, 1)) {
      const int32_t end_index = run_index + ones;
      if (__builtin_expect(end_index < 32, 1)) {
        const int32_t length = kRunPrefix[static_cast<size_t>(end_index)] - kRunPrefix[static_cast<size_t>(run_index)];
        if (__builtin_expect(length < remaining, 1)) {
          run_index = end_index;
          const int32_t total = length + static_cast<int32_t>(reader.SkipAndReadBits(ones + 1, kRunOrder[end_index]));
          if (__builtin_expect(total > remaining, 0)) {
            failed = true;
            return 0;
          }
          return total;
        }
      }
    }
    SlowState state{reader, run_index, false};
    const int32_t length = DecodeRunLengthSlow(&state, remaining);
    reader = state.reader;
    run_index = state.run_index;
    failed |= state.failed;
    return length;
  }

  __attribute__((noinline)) static int32_t DecodeRunLengthSlow(SlowState* state, int32_t remaining) {
    BitReader& r = state->reader;
    int32_t& run_index = state->run_index;
    if (r.overrun()) {
      state->failed = true;
      return 0;
    }
    int32_t length = 0;
    while (r.ReadBit()) {
      const int32_t segment = 1 << kRunOrder[run_index];
      const int32_t count = std::min(segment, remaining - length);
      length += count;
      if (count == segment) run_index = std::min(31, run_index + 1);
      if (length == remaining) return length;
    }
    if (kRunOrder[run_index] > 0) length += static_cast<int32_t>(r.ReadBits(kRunOrder[run_index]));
    if (length > remaining || r.overrun()) {
      state->failed = true;
      return 0;
    }
    return length;
  }

  // A.7.2: the error of a run interruption sample with run context `type`.
  // Without kRefill the code is read from the bits loaded for the run
  // length (see DecodeLine).
  template <bool kRefill = true>
  PACS_JLS_INLINE int32_t DecodeInterruptionError(int32_t type) {
    RunContext& context = run_[type];
    // A < 2^30 (checked below), N <= 65535: no overflow, and k <= 31.
    const int32_t temp = context.a + (context.n >> 1) * type;
    const int32_t k = GolombK(context.n, temp);
    const auto mapped = static_cast<int32_t>(ReadMapped<kRefill>(k, t_.limit - kRunOrder[run_index] - 1, false));
    if (__builtin_expect(mapped < 0 || mapped > (1 << 30), 0)) {  // only corrupt data gets here
      failed = true;
      return 0;
    }
    const int32_t value = mapped + type;
    const int32_t map = value & 1;
    const int32_t magnitude = (value + map) >> 1;
    // Without branches (data dependent): negative when (k != 0 or 2 Nn >=
    // N) equals the map bit.
    const int32_t normal = static_cast<int32_t>(k != 0) | static_cast<int32_t>(2 * context.nn >= context.n);
    const int32_t negative = normal ^ map ^ 1;
    const int32_t error = (magnitude ^ -negative) + negative;
    context.nn += negative & static_cast<int32_t>(magnitude != 0);
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
    const int32_t type = std::abs(ra - rb) <= t_.near ? 1 : 0;
    // The run length's refill left 56 bits or more (unless near a 0xFF or
    // the end); its code took 1 + J bits and the 1 bits: the interruption's
    // code nearly always fits in the rest (else the out-of-line read
    // refills).
    const int32_t error = DecodeInterruptionError<false>(type);
    // Type 1: predicted by a; type 0: by b, the error's sign that of b - a
    // (masks: the type is data dependent).
    const int32_t predicted = rb + ((ra - rb) & -type);
    const int32_t flip = -((type ^ 1) & static_cast<int32_t>(rb < ra));
    return Reconstruct(predicted, (error ^ flip) - flip);
  }

  PACS_JLS_INLINE void EndRunInterruption() {
    run_index = std::max(0, run_index - 1);
  }

  // `count` samples of `value` from `at`, written 16 at a time: the line
  // buffer has room behind the line for what is written past the run.
  PACS_JLS_INLINE static void FillRun(uint16_t* at, int32_t count, int32_t value) {
    using Vector = uint16_t __attribute__((vector_size(32)));
    const Vector fill = Vector{} + static_cast<uint16_t>(value);
    for (int32_t i = 0; i < count; i += 16) std::memcpy(at + i, &fill, sizeof fill);
  }

  // One regular-mode sample of DecodeLine at i, or false (nothing read)
  // when its context is 0 (run mode).
  template <bool kRefill>
  PACS_JLS_INLINE bool RegularSample(const uint32_t* above, uint16_t* line, intptr_t i, intptr_t& ra, int32_t& rc) {
    const uint32_t word = above[i];
    const int32_t rb = Above(word);
    const intptr_t q = Gradients(word) + Quantize(rc, ra);
    if (__builtin_expect(q == 0, 0)) return false;
    ra = DecodeRegular<kRefill>(q, Median(static_cast<int32_t>(ra), rb, rc));
    line[i] = static_cast<uint16_t>(ra);
    rc = rb;
    return true;
  }

  // One line of one component (interleave none and line) into `line`;
  // `above` holds, per sample, 81 * Q1 + 9 * Q2 and b from the line above
  // (ComputeGradients); `rc` is the c of sample 0, whose a is its b. c (the
  // previous b) and a (the previous sample) stay in registers.
  PACS_JLS_INLINE void DecodeLine(const uint32_t* above, uint16_t* line, int32_t rc, int32_t width) {
    // A negative index counting up to 0 from the ends of the lines: one
    // register for the position, no compare with the width.
    above += width;
    line += width;
    intptr_t i = -static_cast<intptr_t>(width);
    intptr_t ra = Above(above[i]);  // 0 <= a <= MAXVAL, in pointer width (see Quantize)
    while (i < 0) {
      // Regular mode samples in a loop of their own, so that the register
      // allocator favours it over the run mode code.
      // Unrolled by three: the second and third samples read from the
      // bits loaded for the first (56 or more after the 8-byte load; three
      // codes seldom take more, and then the out-of-line read refills): one
      // refill per three samples. (By four, GCC spills more: more
      // instructions, no faster.)
      for (;;) {
        if (!RegularSample<true>(above, line, i, ra, rc)) break;
        if (++i == 0) return;
        if (!RegularSample<false>(above, line, i, ra, rc)) break;
        if (++i == 0) return;
        if (!RegularSample<false>(above, line, i, ra, rc)) break;
        if (++i == 0) return;
      }
      const int32_t run = DecodeRunLength(static_cast<int32_t>(-i));
      if (failed) return;
      FillRun(line + i, run, static_cast<int32_t>(ra));
      i += run;
      if (i < 0) {
        rc = Above(above[i]);
        ra = DecodeInterruption(static_cast<int32_t>(ra), rc);
        line[i] = static_cast<uint16_t>(ra);
        EndRunInterruption();
        ++i;
      }
      if (failed) return;
    }
  }

  // One line of pixels of `components` (3 or 4) interleaved components,
  // as in DecodeLine.
  PACS_JLS_INLINE void DecodePixelLine(const uint32_t* const* above, uint16_t* const* lines, const int32_t* rc0,
                                       int components, int32_t width) {
    int32_t i = 0;
    intptr_t q[4];
    int32_t ra[4], rc[4];
    for (int c = 0; c < components; ++c) {
      ra[c] = Above(above[c][0]);
      rc[c] = rc0[c];
    }
    while (i < width) {
      intptr_t any = 0;
      for (int c = 0; c < components; ++c) {
        q[c] = Gradients(above[c][i]) + Quantize(rc[c], ra[c]);
        any |= q[c];
      }
      if (any != 0) {
        for (int c = 0; c < components; ++c) {
          const int32_t rb = Above(above[c][i]);
          ra[c] = static_cast<int32_t>(DecodeRegular(q[c], Median(ra[c], rb, rc[c])));
          lines[c][i] = static_cast<uint16_t>(ra[c]);
          rc[c] = rb;
        }
        ++i;
        if (failed) return;
        continue;
      }
      const int32_t run = DecodeRunLength(width - i);
      if (failed) return;
      for (int c = 0; c < components; ++c) FillRun(lines[c] + i, run, ra[c]);
      i += run;
      if (i < width) {
        int32_t errors[4];
        for (int c = 0; c < components; ++c) errors[c] = DecodeInterruptionError(0);
        for (int c = 0; c < components; ++c) {
          const int32_t rb = Above(above[c][i]);
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
  RegularContexts* regular_;
  RunContext* run_;
  const int8_t* quantize_;
  int32_t t3_;
  Traits t_;
};

// GCC's partial redundancy elimination lengthens the live ranges in the
// regular-mode loop so that the bit cache went to the stack (a store and
// two loads on the serial chain of every sample); the line loop functions
// are compiled without it (CT 39.3 M -> 38.2 M instructions a frame, ~3 %
// less time; a pragma, not a flag of the file: clang, which runs
// clang-tidy on GCC's compile commands, does not know -fno-tree-pre).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-tree-pre")
#endif

// The line loops out of line, each on a local copy of the decoder: inlined
// into DecodeScanImpl, GCC's register allocator kept the loop index, the
// line pointers, a, c and the context fields on the stack (perf); in a
// function of their own, on a copy whose address is never taken, they stay
// in registers. Each exists twice: portable, and for BMI1/BMI2/LZCNT
// (everything in the loop is inlined into it, so it all gets shlx/shrx and
// lzcnt; the noinline slow paths stay portable). Both have internal
// linkage: no copy compiled for BMI2 can stand in for a portable one.
template <class Traits>
__attribute__((noinline)) void DecodeLineOutOfLine(LineDecoder<Traits>& decoder, const uint32_t* above, uint16_t* line,
                                                   int32_t rc, int32_t width) {
  LineDecoder<Traits> local = decoder;
  local.DecodeLine(above, line, rc, width);
  decoder = local;
}

template <class Traits>
__attribute__((noinline)) void DecodePixelLineOutOfLine(LineDecoder<Traits>& decoder, const uint32_t* const* above,
                                                        uint16_t* const* lines, const int32_t* rc, int components,
                                                        int32_t width) {
  LineDecoder<Traits> local = decoder;
  local.DecodePixelLine(above, lines, rc, components, width);
  decoder = local;
}

#if PACS_JLS_BMI2_VARIANT
template <class Traits>
__attribute__((noinline, target("bmi,bmi2,lzcnt"))) void DecodeLineOutOfLineBmi2(LineDecoder<Traits>& decoder,
                                                                                 const uint32_t* above, uint16_t* line,
                                                                                 int32_t rc, int32_t width) {
  LineDecoder<Traits> local = decoder;
  local.DecodeLine(above, line, rc, width);
  decoder = local;
}

template <class Traits>
__attribute__((noinline, target("bmi,bmi2,lzcnt"))) void DecodePixelLineOutOfLineBmi2(LineDecoder<Traits>& decoder,
                                                                                      const uint32_t* const* above,
                                                                                      uint16_t* const* lines,
                                                                                      const int32_t* rc, int components,
                                                                                      int32_t width) {
  LineDecoder<Traits> local = decoder;
  local.DecodePixelLine(above, lines, rc, components, width);
  decoder = local;
}
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

template <class Traits, ScanIsa kIsa>
void DecodeOneLine(LineDecoder<Traits>& decoder, const uint32_t* above, uint16_t* line, int32_t rc, int32_t width) {
#if PACS_JLS_BMI2_VARIANT
  if constexpr (kIsa == ScanIsa::kBmi2) {
    DecodeLineOutOfLineBmi2(decoder, above, line, rc, width);
    return;
  }
#endif
  DecodeLineOutOfLine(decoder, above, line, rc, width);
}

template <class Traits, ScanIsa kIsa>
void DecodeOnePixelLine(LineDecoder<Traits>& decoder, const uint32_t* const* above, uint16_t* const* lines,
                        const int32_t* rc, int components, int32_t width) {
#if PACS_JLS_BMI2_VARIANT
  if constexpr (kIsa == ScanIsa::kBmi2) {
    DecodePixelLineOutOfLineBmi2(decoder, above, lines, rc, components, width);
    return;
  }
#endif
  DecodePixelLineOutOfLine(decoder, above, lines, rc, components, width);
}

// A line buffer of one component, with one sample in front (index -1: the
// c of sample 0 of the line below, the first sample of the line above this
// one) and one behind (index width: the d of the last sample of the line
// below), and padding for the SIMD gradient kernel and the run fill.
class LineBuffer {
 public:
  explicit LineBuffer(uint32_t width) : storage_(width + 2 + kDecoderLinePadding, 0) {}
  uint16_t* line() { return storage_.data() + 1; }
  void Clear() { std::fill(storage_.begin(), storage_.end(), 0); }

 private:
  std::vector<uint16_t> storage_;
};

// The inverse HP colour transforms as CharLS 2.4.1 applies them: on 8- or
// 16-bit samples only (the frame decoder refuses other precisions).
struct InverseTransform {
  ColorTransform transform;
  int32_t range;  // 2^8 or 2^16
  int32_t mask;

  void Apply(int32_t& v1, int32_t& v2, int32_t& v3) const {
    const int32_t x1 = v1, x2 = v2, x3 = v3;
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
    v1 = r;
    v2 = g;
    v3 = b;
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

std::atomic<DestuffChoice> destuff_choice{DestuffChoice::kAuto};

// Destuffing costs about a cycle per coded byte less than a byte-wise
// refill at each 0xFF does: the MR frames (a 0xFF every 20-60 bytes) gain,
// the CT and CR frames (one in 500 or fewer) would lose.
constexpr size_t kDensityWindow = 4096;
constexpr size_t kMaxBytesPerFFToDestuff = 128;

bool ShouldDestuff(const uint8_t* begin, const uint8_t* end) {
  switch (destuff_choice.load(std::memory_order_relaxed)) {
    case DestuffChoice::kAlways:
      return true;
    case DestuffChoice::kNever:
      return false;
    case DestuffChoice::kAuto:
      break;
  }
  const FFDensity density = CountFFBytes(begin, end, kDensityWindow);
  return density.ff_bytes != 0 && density.ff_bytes * kMaxBytesPerFFToDestuff >= density.bytes;
}

// The reader of the coded data from `begin`: over the input, or over a
// destuffed copy in `buffer` (see DestuffChoice); then `*marker` is the
// marker after the coded data, or nullptr if none follows (what NextMarker
// finds from the reader's position over the input).
BitReader OpenReader(const uint8_t* begin, const uint8_t* end, std::vector<uint8_t>& buffer, const uint8_t** marker) {
  if (!ShouldDestuff(begin, end)) return BitReader(begin, end);
  buffer.resize(static_cast<size_t>(end - begin) + 8);
  const DestuffedData destuffed = DestuffCodedData(begin, end, buffer.data());
  const uint8_t* const data_end = destuffed.data_end;
  *marker = end - data_end >= 2 && data_end[1] >= 0x80 ? data_end : nullptr;
  return BitReader::OverDestuffed(buffer.data(), destuffed.bits);
}

// The marker after the coded data the reader has read, or nullptr.
const uint8_t* MarkerAfter(const BitReader& reader, const uint8_t* destuffed_marker, const uint8_t* end) {
  return reader.destuffed() ? destuffed_marker : NextMarker(reader.position(), end);
}

template <class Traits, ScanIsa kIsa>
Result<const uint8_t*> DecodeScanImpl(const ScanParameters& params, const ScanGeometry& geometry, const uint8_t* data,
                                      const uint8_t* end, const OutputLayout& output) {
  const uint32_t width = geometry.width;
  const auto signed_width = static_cast<int32_t>(width);
  const int components = geometry.components;
  ScanState state(params);
  // Two line buffers per component, the line above and the line being
  // decoded, swapped after each line.
  std::vector<LineBuffer> lines(2 * static_cast<size_t>(components), LineBuffer(width));
  size_t parity = 0;
  // Per component, from the line above: b and the gradient part of each
  // sample's context (ComputeGradients).
  std::vector<std::vector<uint32_t>> gradients(static_cast<size_t>(components),
                                               std::vector<uint32_t>(width + kDecoderLinePadding));
  const bool simd_gradients = params.t3 <= 32767;
  std::array<int32_t, 4> run_index{};
  // The coded data without stuffed bits, where it is dense in 0xFF.
  std::vector<uint8_t> destuffed;
  const uint8_t* destuffed_marker = nullptr;
  BitReader reader = OpenReader(data, end, destuffed, &destuffed_marker);
  uint32_t restart_count = 0;
  const bool transform = output.transform != ColorTransform::kNone && components == 3;
  InverseTransform inverse{output.transform, 256, 255};
  if (transform) {
    const int bits = params.bits_per_sample;
    if (bits == 16) {
      inverse = {output.transform, 65536, 65535};
    } else if (bits != 8) {
      return Status::Unsupported("the HP colour transform of a " + std::to_string(bits) +
                                 "-bit frame (CharLS decodes it for 8 and 16 bits only)");
    }
  }

  for (uint32_t row = 0; row < geometry.height; ++row) {
    if (geometry.restart_interval != 0 && row != 0 && row % geometry.restart_interval == 0) {
      const uint8_t* marker = MarkerAfter(reader, destuffed_marker, end);
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
      reader = OpenReader(p + 1, end, destuffed, &destuffed_marker);
    }

    const uint32_t* above[4];
    uint16_t* cur[4];
    int32_t rc[4];
    for (int c = 0; c < components; ++c) {
      uint16_t* const prev = lines[2 * static_cast<size_t>(c) + parity].line();
      uint16_t* const line = lines[2 * static_cast<size_t>(c) + (parity ^ 1)].line();
      above[c] = gradients[c].data();
      cur[c] = line;
      prev[width] = prev[width - 1];
      if (simd_gradients) {
        ComputeGradients(prev, width, params.t1, params.t2, params.t3, params.near, gradients[c].data());
      } else {
        ComputeGradientsScalar(prev, width, state.quantize(), params.t3, gradients[c].data());
      }
      rc[c] = prev[-1];
      line[-1] = prev[0];  // the c of sample 0 of the next line
    }
    parity ^= 1;
    if (geometry.interleave == Interleave::kSample && components > 1) {
      LineDecoder<Traits> decoder(state, reader, run_index[0]);
      DecodeOnePixelLine<Traits, kIsa>(decoder, above, cur, rc, components, signed_width);
      if (decoder.failed) return Status::Corruption("invalid coded data in line " + std::to_string(row));
      reader = decoder.reader;
      run_index[0] = decoder.run_index;
    } else {
      for (int c = 0; c < components; ++c) {
        LineDecoder<Traits> decoder(state, reader, run_index[c]);
        DecodeOneLine<Traits, kIsa>(decoder, above[c], cur[c], rc[c], signed_width);
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

  const uint8_t* marker = MarkerAfter(reader, destuffed_marker, end);
  if (marker == nullptr) return Status::Corruption("no marker after the coded data of the scan (truncated)");
  if (!reader.OnlyPaddingBefore(marker))
    return Status::Corruption("more coded data than the scan's samples need (corrupt)");
  return marker;
}

template <ScanIsa kIsa>
Result<const uint8_t*> DecodeScanWith(const ScanParameters& params, const ScanGeometry& geometry, const uint8_t* data,
                                      const uint8_t* end, const OutputLayout& output) {
  using Function = Result<const uint8_t*> (*)(const ScanParameters&, const ScanGeometry&, const uint8_t*,
                                              const uint8_t*, const OutputLayout&);
  const int32_t full = (1 << params.bits_per_sample) - 1;
  const bool near_table_covers = params.bits_per_sample <= kFullTableBits || params.t3 <= kNearTableReach;
  if (params.near == 0 && params.reset == 64 && params.run_reset == 64 && params.max_value == full &&
      near_table_covers) {
    static constexpr Function kLossless[2][17] = {
        {nullptr, nullptr, &DecodeScanImpl<LosslessTraits<2, false>, kIsa>,
         &DecodeScanImpl<LosslessTraits<3, false>, kIsa>, &DecodeScanImpl<LosslessTraits<4, false>, kIsa>,
         &DecodeScanImpl<LosslessTraits<5, false>, kIsa>, &DecodeScanImpl<LosslessTraits<6, false>, kIsa>,
         &DecodeScanImpl<LosslessTraits<7, false>, kIsa>, &DecodeScanImpl<LosslessTraits<8, false>, kIsa>,
         &DecodeScanImpl<LosslessTraits<9, false>, kIsa>, &DecodeScanImpl<LosslessTraits<10, false>, kIsa>,
         &DecodeScanImpl<LosslessTraits<11, false>, kIsa>, &DecodeScanImpl<LosslessTraits<12, false>, kIsa>,
         &DecodeScanImpl<LosslessTraits<13, false>, kIsa>, &DecodeScanImpl<LosslessTraits<14, false>, kIsa>,
         &DecodeScanImpl<LosslessTraits<15, false>, kIsa>, &DecodeScanImpl<LosslessTraits<16, false>, kIsa>},
        // CharLS masks only at 8, 12 and 16 bits.
        {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
         &DecodeScanImpl<LosslessTraits<8, true>, kIsa>, nullptr, nullptr, nullptr,
         &DecodeScanImpl<LosslessTraits<12, true>, kIsa>, nullptr, nullptr, nullptr,
         &DecodeScanImpl<LosslessTraits<16, true>, kIsa>}};
    const Function decode = kLossless[params.mask_reconstruction ? 1 : 0][params.bits_per_sample];
    if (decode != nullptr) return decode(params, geometry, data, end, output);
  }
  return DecodeScanImpl<GeneralTraits, kIsa>(params, geometry, data, end, output);
}

std::atomic<bool> force_portable{false};

}  // namespace

bool CpuRunsBmi2Variant() {
  return CpuHasBmi2Variant();
}

ScanIsa ActiveScanIsa() {
  static const bool environment_portable = EnvironmentAsksPortable("PACS_JLS_DECODER_ISA");
  if (!CpuRunsBmi2Variant() || environment_portable || force_portable.load(std::memory_order_relaxed))
    return ScanIsa::kPortable;
  return ScanIsa::kBmi2;
}

void SetScanIsaForTesting(ScanIsa isa) {
  force_portable.store(isa == ScanIsa::kPortable, std::memory_order_relaxed);
}

void SetDestuffForTesting(DestuffChoice choice) {
  destuff_choice.store(choice, std::memory_order_relaxed);
}

Result<const uint8_t*> DecodeScan(const ScanParameters& params, const ScanGeometry& geometry, const uint8_t* data,
                                  const uint8_t* end, const OutputLayout& output) {
  if (ActiveScanIsa() == ScanIsa::kBmi2) return DecodeScanWith<ScanIsa::kBmi2>(params, geometry, data, end, output);
  return DecodeScanWith<ScanIsa::kPortable>(params, geometry, data, end, output);
}

}  // namespace pacs::jls::internal
