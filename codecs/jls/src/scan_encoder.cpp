// The scalar adaptive half of the JPEG-LS lossless encoder (ISO/IEC 14495-1
// A.4-A.7), fed by the SIMD line analysis. The order of every update and the
// edge conventions follow CharLS 2.4.1 so that the output is byte-identical:
//  - the line above the first is zeros; a of sample 0 is b (cur[-1] =
//    prev[0]); c of sample 0 is the a of sample 0 one line up (the line
//    buffers rotate with their [-1] entry); d of the last sample is its b.
//  - contexts are shared by all components of a scan, the run index is kept
//    per component (line interleave) or per pixel (sample interleave).
#include "scan_encoder.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "bit_writer.h"
#include "cpu_features.h"
#include "line_analysis.h"

namespace pacs::jls::internal {
namespace {

// J[RUNindex] of A.7.1.1: the run length order at each run index.
constexpr int32_t kRunOrder[32] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,  2,  3,  3,  3,  3,
                                   4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr int kRegularContexts = 365;

struct RegularContext {
  int32_t a, b, c, n;
};
static_assert(sizeof(RegularContext) == kContextStride);
struct RunContext {
  int32_t a, n, nn;
};

// The Golomb parameter: the smallest k with n * 2^k >= a (A.5.1).
PACS_JLS_INLINE int32_t GolombK(int32_t n, int32_t a) {
  if (n >= a) return 0;
  const int32_t k = __builtin_clz(static_cast<uint32_t>(n)) - __builtin_clz(static_cast<uint32_t>(a));
  return (n << k) < a ? k + 1 : k;
}

// Length of the run of repeats starting at `repeats`, at most `limit`.
inline int32_t RunLength(const uint8_t* repeats, int32_t limit) {
  int32_t length = 0;
  while (length < limit) {
    uint64_t word;
    std::memcpy(&word, repeats + length, 8);
    const uint64_t missing = ~word & 0x0101010101010101ull;  // bytes that are 0
    if (missing != 0) {
      length += __builtin_ctzll(missing) / 8;
      break;
    }
    length += 8;
  }
  return std::min(length, limit);
}

// The context statistics of a scan, shared by its components.
struct ContextTables {
  explicit ContextTables(const CodingParameters& params) {
    const int32_t initial_a = std::max(2, (params.range + 32) / 64);
    for (RegularContext& context : regular) context = {initial_a, 0, 0, 1};
    for (RunContext& context : run) context = {initial_a, 1, 0};
  }
  RegularContext regular[kRegularContexts];
  RunContext run[2];
};

// The coding of one line. Constructed on the stack per line with the writer
// and run index copied in, so that the compiler keeps all of it in registers
// (stores through the output byte pointer could otherwise alias any member).
// A template on the precision, so that MAXVAL, LIMIT and friends are
// immediates: the line loop has more live values than x86 has registers.
template <int kBits>
class LineCoder {
 public:
  LineCoder(ContextTables& tables, const BitWriter& writer, int32_t run_index)
      : writer(writer), run_index(run_index), regular_(tables.regular), run_(tables.run) {}

  BitWriter writer;
  int32_t run_index;

  // Regular mode (A.4-A.6) for a sample with context code `code` != 0 (see
  // line_analysis.h), sign-extended from 16 bits.
  PACS_JLS_INLINE void EncodeRegular(int32_t code, int32_t x, int32_t predicted) {
    const int32_t sign = code >> 31;  // 0 or -1
    RegularContext& context = *reinterpret_cast<RegularContext*>(reinterpret_cast<char*>(regular_) + (code & 0x7FFF));
    const int32_t a = context.a, b = context.b, c = context.c, n = context.n;
    int32_t corrected = predicted + ((c ^ sign) - sign);
    corrected = corrected < 0 ? 0 : (corrected > max_value_ ? max_value_ : corrected);
    const int32_t error = ModuloRange(((x - corrected) ^ sign) - sign);
    // k of A.5.1 (GolombK, with its n >= a test taken out: k = 0 exactly
    // then). For k = 0 and a negative bias the mapping of A.5.2 is mirrored.
    int32_t k = 0, mirror = 0;
    if (n >= a) {
      mirror = (2 * b + n - 1) >> 31;
    } else {
      const int32_t shift = __builtin_clz(static_cast<uint32_t>(n)) - __builtin_clz(static_cast<uint32_t>(a));
      k = (n << shift) < a ? shift + 1 : shift;
    }
    const int32_t mirrored = error ^ mirror;
    EncodeMapped(k, static_cast<uint32_t>((mirrored >> 31) ^ (2 * mirrored)), limit_);

    int32_t new_a = a + std::abs(error);
    int32_t new_b = b + error;
    int32_t new_n = n;
    if (n == reset_) {
      new_a >>= 1;
      new_b >>= 1;
      new_n >>= 1;
    }
    ++new_n;
    int32_t new_c = c;
    if (new_b + new_n <= 0) {
      new_b += new_n;
      if (new_b <= -new_n) new_b = -new_n + 1;
      if (new_c > -128) --new_c;
    } else if (new_b > 0) {
      new_b -= new_n;
      if (new_b > 0) new_b = 0;
      if (new_c < 127) ++new_c;
    }
    // Four scalar stores (see CMakeLists.txt: no SLP vectorisation): the next
    // sample of this context loads the fields one by one, and forwarding a
    // 16-byte vector store to those loads stalls.
    context.a = new_a;
    context.b = new_b;
    context.c = new_c;
    context.n = new_n;
  }

  // The run length of A.7.1.1: a 1 per completed segment of 2^J samples, then
  // (unless the run ends the line) a 0 and the remainder in J bits.
  PACS_JLS_INLINE void EncodeRunLength(int32_t run_length, bool end_of_line) {
    while (run_length >= (1 << kRunOrder[run_index])) {
      writer.Put(1, 1);
      run_length -= 1 << kRunOrder[run_index];
      run_index = std::min(31, run_index + 1);
    }
    if (end_of_line) {
      if (run_length != 0) writer.Put(1, 1);
    } else {
      writer.Put(static_cast<uint32_t>(run_length), kRunOrder[run_index] + 1);
    }
  }

  // The sample ending a run inside a line (A.7.2), one component.
  PACS_JLS_INLINE void EncodeRunInterruption(int32_t x, int32_t ra, int32_t rb) {
    if (ra == rb) {
      EncodeInterruptionError(run_[1], 1, ModuloRange(x - ra));
    } else {
      EncodeInterruptionError(run_[0], 0, ModuloRange(ra > rb ? rb - x : x - rb));
    }
  }

  // Sample interleave: each component of the interrupting pixel is coded with
  // run context 0, the sign taken from rb - ra (0 counting as positive).
  PACS_JLS_INLINE void EncodeRunInterruptionComponent(int32_t x, int32_t ra, int32_t rb) {
    EncodeInterruptionError(run_[0], 0, ModuloRange(ra > rb ? rb - x : x - rb));
  }

  PACS_JLS_INLINE void EndRunInterruption() { run_index = std::max(0, run_index - 1); }

 private:
  // Reduces an error modulo RANGE = 2^P into [-RANGE/2, RANGE/2).
  PACS_JLS_INLINE int32_t ModuloRange(int32_t error) const {
    return static_cast<int32_t>(static_cast<uint32_t>(error) << sign_shift_) >> sign_shift_;
  }

  PACS_JLS_INLINE void EncodeInterruptionError(RunContext& context, int32_t type, int32_t error) {
    const int32_t k = GolombK(context.n, context.a + (context.n >> 1) * type);
    const bool map = (k == 0 && error > 0 && 2 * context.nn < context.n) ||
                     (error < 0 && 2 * context.nn >= context.n) || (error < 0 && k != 0);
    const int32_t mapped = 2 * std::abs(error) - type - static_cast<int32_t>(map);
    EncodeMapped(k, static_cast<uint32_t>(mapped), limit_ - kRunOrder[run_index] - 1);
    if (error < 0) ++context.nn;
    context.a += (mapped + 1 - type) >> 1;
    if (context.n == reset_) {
      context.a >>= 1;
      context.n >>= 1;
      context.nn >>= 1;
    }
    ++context.n;
  }

  // A limited-length Golomb code (A.5.3). Up to 14 bits every code fits in
  // one Put (LIMIT <= 56; k < P, so a normal code is shorter than LIMIT).
  PACS_JLS_INLINE void EncodeMapped(int32_t k, uint32_t mapped, int32_t limit) {
    const auto high = static_cast<int32_t>(mapped >> k);
    if (__builtin_expect(high < limit - qbpp_ - 1, 1)) {
      const uint64_t code = (uint64_t{1} << k) | (mapped & ((1u << k) - 1));
      if (kBits <= 14 || __builtin_expect(high + 1 + k <= 56, 1)) {
        writer.Put(code, high + 1 + k);
      } else {
        writer.PutZeros(high);
        writer.Put(code, k + 1);
      }
    } else {
      const uint64_t code = (uint64_t{1} << qbpp_) | ((mapped - 1) & ((1u << qbpp_) - 1));
      if constexpr (limit_ <= 56) {
        writer.Put(code, limit);
      } else {
        writer.PutZeros(limit - qbpp_ - 1);
        writer.Put(code, qbpp_ + 1);
      }
    }
  }

  static constexpr CodingParameters kParams = DefaultLosslessParameters(kBits);
  static constexpr int32_t max_value_ = kParams.max_value;
  static constexpr int32_t qbpp_ = kParams.qbpp;
  static constexpr int32_t limit_ = kParams.limit;
  static constexpr int32_t reset_ = kParams.reset;
  static constexpr int32_t sign_shift_ = 32 - kBits;

  RegularContext* regular_;
  RunContext* run_;
};

// One line of one component (interleave modes none and line).
template <int kBits>
PACS_JLS_INLINE void EncodeLineBody(ContextTables& tables, BitWriter& writer, int32_t& run_index, const uint16_t* prev,
                                    const uint16_t* cur, const int16_t* contexts, const uint16_t* predictions,
                                    const uint8_t* repeats, int32_t width) {
  LineCoder<kBits> coder(tables, writer, run_index);
  int32_t i = 0;
  while (i < width) {
    const int32_t q = contexts[i];
    if (q != 0) {
      coder.EncodeRegular(q, cur[i], predictions[i]);
      ++i;
      continue;
    }
    const int32_t remaining = width - i;
    const int32_t run_length = RunLength(repeats + i, remaining);
    coder.EncodeRunLength(run_length, run_length == remaining);
    i += run_length;
    if (i < width) {
      coder.EncodeRunInterruption(cur[i], cur[i - 1], prev[i]);
      coder.EndRunInterruption();
      ++i;
    }
  }
  writer = coder.writer;
  run_index = coder.run_index;
}

struct ComponentLine {
  const uint16_t* prev;
  const uint16_t* cur;
  const int16_t* contexts;
  const uint16_t* predictions;
};

// One line of pixel-interleaved samples of 3 components: a pixel is in run
// mode only when all three contexts are 0 (`all_repeat`: all three repeat).
template <int kBits>
PACS_JLS_INLINE void EncodeTripletLineBody(ContextTables& tables, BitWriter& writer, int32_t& run_index,
                                           const ComponentLine (&line)[3], const uint8_t* all_repeat, int32_t width) {
  LineCoder<kBits> coder(tables, writer, run_index);
  int32_t i = 0;
  while (i < width) {
    const int32_t q0 = line[0].contexts[i];
    const int32_t q1 = line[1].contexts[i];
    const int32_t q2 = line[2].contexts[i];
    if ((q0 | q1 | q2) != 0) {
      coder.EncodeRegular(q0, line[0].cur[i], line[0].predictions[i]);
      coder.EncodeRegular(q1, line[1].cur[i], line[1].predictions[i]);
      coder.EncodeRegular(q2, line[2].cur[i], line[2].predictions[i]);
      ++i;
      continue;
    }
    const int32_t remaining = width - i;
    const int32_t run_length = RunLength(all_repeat + i, remaining);
    coder.EncodeRunLength(run_length, run_length == remaining);
    i += run_length;
    if (i < width) {
      for (const ComponentLine& component : line)
        coder.EncodeRunInterruptionComponent(component.cur[i], component.cur[i - 1], component.prev[i]);
      coder.EndRunInterruption();
      ++i;
    }
  }
  writer = coder.writer;
  run_index = coder.run_index;
}

// The line functions, compiled for baseline x86-64 and (kBmi2) for BMI1,
// BMI2 and LZCNT: shifts by a register without the cl register (shlx, shrx),
// lzcnt for k: 3 % fewer instructions on CT.
template <int kBits>
void EncodeLine(ContextTables& tables, BitWriter& writer, int32_t& run_index, const uint16_t* prev, const uint16_t* cur,
                const int16_t* contexts, const uint16_t* predictions, const uint8_t* repeats, int32_t width) {
  EncodeLineBody<kBits>(tables, writer, run_index, prev, cur, contexts, predictions, repeats, width);
}
template <int kBits>
void EncodeTripletLine(ContextTables& tables, BitWriter& writer, int32_t& run_index, const ComponentLine (&line)[3],
                       const uint8_t* all_repeat, int32_t width) {
  EncodeTripletLineBody<kBits>(tables, writer, run_index, line, all_repeat, width);
}
#if PACS_JLS_BMI2_VARIANT
template <int kBits>
__attribute__((target("bmi,bmi2,lzcnt"))) void EncodeLineBmi2(ContextTables& tables, BitWriter& writer,
                                                              int32_t& run_index, const uint16_t* prev,
                                                              const uint16_t* cur, const int16_t* contexts,
                                                              const uint16_t* predictions, const uint8_t* repeats,
                                                              int32_t width) {
  EncodeLineBody<kBits>(tables, writer, run_index, prev, cur, contexts, predictions, repeats, width);
}
template <int kBits>
__attribute__((target("bmi,bmi2,lzcnt"))) void EncodeTripletLineBmi2(ContextTables& tables, BitWriter& writer,
                                                                     int32_t& run_index, const ComponentLine (&line)[3],
                                                                     const uint8_t* all_repeat, int32_t width) {
  EncodeTripletLineBody<kBits>(tables, writer, run_index, line, all_repeat, width);
}
#endif

using LineFunction = void (*)(ContextTables&, BitWriter&, int32_t&, const uint16_t*, const uint16_t*, const int16_t*,
                              const uint16_t*, const uint8_t*, int32_t);
using TripletLineFunction = void (*)(ContextTables&, BitWriter&, int32_t&, const ComponentLine (&)[3], const uint8_t*,
                                     int32_t);
using LineFunctions = std::array<LineFunction, 17>;  // indexed by the precision, 2..16
using TripletLineFunctions = std::array<TripletLineFunction, 17>;

template <int... kBits>
constexpr LineFunctions MakeLineFunctions(std::integer_sequence<int, kBits...> /*bits*/, EncoderIsa isa) {
#if PACS_JLS_BMI2_VARIANT
  if (isa == EncoderIsa::kBmi2) return {nullptr, nullptr, &EncodeLineBmi2<kBits + 2>...};
#endif
  return {nullptr, nullptr, &EncodeLine<kBits + 2>...};
}
template <int... kBits>
constexpr TripletLineFunctions MakeTripletLineFunctions(std::integer_sequence<int, kBits...> /*bits*/, EncoderIsa isa) {
#if PACS_JLS_BMI2_VARIANT
  if (isa == EncoderIsa::kBmi2) return {nullptr, nullptr, &EncodeTripletLineBmi2<kBits + 2>...};
#endif
  return {nullptr, nullptr, &EncodeTripletLine<kBits + 2>...};
}
constexpr LineFunctions kLineFunctions[2] = {
    MakeLineFunctions(std::make_integer_sequence<int, 15>(), EncoderIsa::kPortable),
    MakeLineFunctions(std::make_integer_sequence<int, 15>(), EncoderIsa::kBmi2)};
constexpr TripletLineFunctions kTripletLineFunctions[2] = {
    MakeTripletLineFunctions(std::make_integer_sequence<int, 15>(), EncoderIsa::kPortable),
    MakeTripletLineFunctions(std::make_integer_sequence<int, 15>(), EncoderIsa::kBmi2)};

std::atomic<bool> force_portable{false};

// Copies one line of samples into a coding line buffer, dropping the bits
// above the precision as CharLS does.
template <typename Sample>
void FillLine(const Sample* source, size_t pixel_stride, uint32_t width, uint16_t mask, uint16_t* line) {
  if (pixel_stride == 1) {
    for (uint32_t x = 0; x < width; ++x) line[x] = static_cast<uint16_t>(source[x] & mask);
  } else {
    for (uint32_t x = 0; x < width; ++x) line[x] = static_cast<uint16_t>(source[x * pixel_stride] & mask);
  }
}

void FillLine(const void* pixels, bool two_bytes, size_t offset, size_t pixel_stride, uint32_t width, uint16_t mask,
              uint16_t* line) {
  if (two_bytes) {
    FillLine(static_cast<const uint16_t*>(pixels) + offset, pixel_stride, width, mask, line);
  } else {
    FillLine(static_cast<const uint8_t*>(pixels) + offset, pixel_stride, width, mask, line);
  }
}

// Worst case of one coded line of `samples` samples: LIMIT bits each plus run
// bits, and one stuffed bit per 7.
size_t MaxLineBytes(const CodingParameters& params, size_t samples) {
  return (samples * static_cast<size_t>(params.limit + 1) + 64) / 7 + 16;
}

// The coded data of a scan: the bit writer fills a scratch buffer with one
// row of unstuffed codes, then the stuffer appends it to `out`. Space is
// reserved once per row, never checked per code.
class CodedOutput {
 public:
  CodedOutput(std::vector<uint8_t>& out, size_t row_bytes)
      : out_(out), used_(out.size()), row_bytes_(row_bytes), scratch_(kCarry + row_bytes + kSlack) {}

  BitWriter StartWriter() { return BitWriter(scratch_.data()); }

  // Moves what the writer has written to `out`, but for the last few bytes:
  // they move to the front of the scratch buffer, and the writer with them.
  void EndRow(BitWriter& writer) {
    uint8_t* const position = writer.position();
    uint8_t* dst = Reserve(static_cast<size_t>(position - scratch_.data()));
    const uint8_t* rest = stuffer_.Copy(scratch_.data(), position, dst);
    used_ = static_cast<size_t>(dst - out_.data());
    const auto kept = static_cast<size_t>(position - rest);  // < 8 whole bytes, then the pending bits
    std::memmove(scratch_.data(), rest, kept + 1);
    writer.Rebase(scratch_.data() + kept);
  }

  void Finish(const BitWriter& writer) {
    const auto bytes = static_cast<size_t>(writer.position() - scratch_.data());
    uint8_t* dst = Reserve(bytes + 1);
    stuffer_.Finish(scratch_.data(), static_cast<int64_t>(8 * bytes) + writer.pending_bits(), dst);
    out_.resize(static_cast<size_t>(dst - out_.data()));
  }

 private:
  static constexpr size_t kCarry = 16;  // what EndRow keeps, rounded up
  static constexpr size_t kSlack = 16;  // BitWriter and ByteStuffer store 8 bytes at a time

  // Room for `bytes` of unstuffed data, stuffed (at most 8/7 as many) plus slack.
  uint8_t* Reserve(size_t bytes) {
    const size_t needed = used_ + bytes + bytes / 7 + kSlack;
    if (out_.size() < needed) out_.resize(std::max(out_.size() * 2, needed + row_bytes_));
    return out_.data() + used_;
  }

  std::vector<uint8_t>& out_;
  size_t used_;
  size_t row_bytes_;
  std::vector<uint8_t> scratch_;
  ByteStuffer stuffer_;
};

// The line buffers of one component: two lines that swap roles each row,
// each with one sample in front (index -1) and padding behind.
class LinePair {
 public:
  explicit LinePair(uint32_t width) : stride_(width + 1 + kLinePadding + 1), storage_(2 * stride_, 0) {}
  uint16_t* previous(uint32_t row) { return storage_.data() + (row & 1) * stride_ + 1; }
  uint16_t* current(uint32_t row) { return storage_.data() + ((row + 1) & 1) * stride_ + 1; }

 private:
  size_t stride_;
  std::vector<uint16_t> storage_;
};

struct LineAnalysisBuffers {
  explicit LineAnalysisBuffers(uint32_t width)
      : context(width + kLinePadding), prediction(width + kLinePadding), repeats(width + kLinePadding + 8, 0) {}
  std::vector<int16_t> context;
  std::vector<uint16_t> prediction;
  std::vector<uint8_t> repeats;
};

}  // namespace

EncoderIsa ActiveEncoderIsa() {
  static const bool environment_portable = EnvironmentAsksPortable("PACS_JLS_ENCODER_ISA");
  if (!CpuHasBmi2Variant() || environment_portable || force_portable.load(std::memory_order_relaxed))
    return EncoderIsa::kPortable;
  return EncoderIsa::kBmi2;
}

void SetEncoderIsaForTesting(EncoderIsa isa) {
  force_portable.store(isa == EncoderIsa::kPortable, std::memory_order_relaxed);
}

void EncodeScan(const CodingParameters& params, const ScanLayout& layout, const void* pixels,
                std::vector<uint8_t>& out) {
  const uint32_t width = layout.width;
  const auto signed_width = static_cast<int32_t>(width);
  const bool two_bytes = params.bits_per_sample > 8;
  const auto mask = static_cast<uint16_t>(params.max_value);
  ContextTables tables(params);
  const LineFunction encode_line = kLineFunctions[static_cast<int>(ActiveEncoderIsa())][params.bits_per_sample];
  std::vector<LinePair> lines(static_cast<size_t>(layout.components), LinePair(width));
  std::vector<int32_t> run_index(static_cast<size_t>(layout.components), 0);
  LineAnalysisBuffers analysis(width);
  int16_t* const contexts = analysis.context.data();
  uint16_t* const predictions = analysis.prediction.data();
  uint8_t* const repeats = analysis.repeats.data();

  const size_t row_bytes = MaxLineBytes(params, static_cast<size_t>(width) * layout.components);
  CodedOutput output(out, row_bytes);
  BitWriter writer = output.StartWriter();

  for (uint32_t row = 0; row < layout.height; ++row) {
    for (int component = 0; component < layout.components; ++component) {
      uint16_t* const prev = lines[component].previous(row);
      uint16_t* const cur = lines[component].current(row);
      FillLine(pixels, two_bytes, layout.first + row * layout.row_stride + component * layout.component_stride,
               layout.pixel_stride, width, mask, cur);
      prev[width] = prev[width - 1];
      cur[-1] = prev[0];
      AnalyzeLine(prev, cur, width, params.t1, params.t2, params.t3, contexts, predictions, repeats);

      encode_line(tables, writer, run_index[component], prev, cur, contexts, predictions, repeats, signed_width);
    }
    output.EndRow(writer);
  }
  output.Finish(writer);
}

void EncodeSampleInterleavedScan(const CodingParameters& params, uint32_t width, uint32_t height, const void* pixels,
                                 std::vector<uint8_t>& out) {
  constexpr int kComponents = 3;
  const auto signed_width = static_cast<int32_t>(width);
  const bool two_bytes = params.bits_per_sample > 8;
  const auto mask = static_cast<uint16_t>(params.max_value);
  ContextTables tables(params);
  const TripletLineFunction encode_triplet_line =
      kTripletLineFunctions[static_cast<int>(ActiveEncoderIsa())][params.bits_per_sample];
  int32_t run_index = 0;
  std::vector<LinePair> lines(kComponents, LinePair(width));
  std::vector<LineAnalysisBuffers> analysis(kComponents, LineAnalysisBuffers(width));
  std::vector<uint8_t> all_repeat(width + kLinePadding + 8, 0);

  const size_t row_bytes = MaxLineBytes(params, static_cast<size_t>(width) * kComponents);
  CodedOutput output(out, row_bytes);
  BitWriter writer = output.StartWriter();

  for (uint32_t row = 0; row < height; ++row) {
    uint16_t* prev[kComponents];
    uint16_t* cur[kComponents];
    for (int c = 0; c < kComponents; ++c) {
      prev[c] = lines[c].previous(row);
      cur[c] = lines[c].current(row);
      FillLine(pixels, two_bytes, static_cast<size_t>(row) * width * kComponents + c, kComponents, width, mask, cur[c]);
      prev[c][width] = prev[c][width - 1];
      cur[c][-1] = prev[c][0];
      AnalyzeLine(prev[c], cur[c], width, params.t1, params.t2, params.t3, analysis[c].context.data(),
                  analysis[c].prediction.data(), analysis[c].repeats.data());
    }
    for (uint32_t x = 0; x < width; ++x)
      all_repeat[x] = analysis[0].repeats[x] & analysis[1].repeats[x] & analysis[2].repeats[x];

    const ComponentLine line[kComponents] = {
        {prev[0], cur[0], analysis[0].context.data(), analysis[0].prediction.data()},
        {prev[1], cur[1], analysis[1].context.data(), analysis[1].prediction.data()},
        {prev[2], cur[2], analysis[2].context.data(), analysis[2].prediction.data()}};
    encode_triplet_line(tables, writer, run_index, line, all_repeat.data(), signed_width);
    output.EndRow(writer);
  }
  output.Finish(writer);
}

}  // namespace pacs::jls::internal
