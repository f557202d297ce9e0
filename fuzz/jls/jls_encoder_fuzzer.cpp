// libFuzzer target: frames of fuzzer-chosen width, height, precision (2-16),
// component count / interleave mode and content are encoded by pacs::jls and
// by charls::jpegls_encoder; any byte of difference aborts. At exit it prints
// how many frames were compared.
#include <charls/charls.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "pacs/jls/jpegls_encoder.h"

namespace {

struct Counters {
  unsigned long long compared = 0;
  unsigned long long charls_refused = 0;
  ~Counters() {
    std::fprintf(stderr,
                 "jls_encoder_fuzzer: %llu frames compared byte for byte with CharLS, %llu "
                 "that CharLS refused (output above its size estimate)\n",
                 compared, charls_refused);
  }
} counters;

// Sample values from the fuzz data in one of a few shapes, so that runs,
// smooth areas, noise and every quantisation bin all occur.
std::vector<uint32_t> MakeSamples(const uint8_t* data, size_t size, size_t count, int bits, int shape) {
  const uint32_t max_value = (1u << bits) - 1;
  std::vector<uint32_t> samples(count);
  if (size == 0) return samples;
  uint32_t walk = data[0] * 0x0101u & max_value;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t byte = data[i % size];
    const uint8_t other = data[(i * 7 + 3) % size];
    switch (shape) {
      case 0:  // raw bytes, with garbage above the precision
        samples[i] = static_cast<uint32_t>(byte) << 8 | other;
        break;
      case 1:  // random walk: smooth with runs
        walk = (walk + static_cast<uint32_t>(static_cast<int>(byte % 9) - 4)) & max_value;
        samples[i] = walk;
        break;
      case 2:  // a small palette: long runs and run interruptions
        samples[i] = (byte & 3) == 0 ? (other * 0x0101u & max_value) : (byte & 1 ? max_value : 0);
        break;
      default:  // large steps: the outer quantisation bins and escape codes
        samples[i] = ((byte & 0x80) ? max_value - (other & 0x1F) : (other & 0x1F)) & max_value;
        break;
    }
  }
  return samples;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  pacs::jls::FrameFormat format;
  format.width = 1 + (static_cast<uint32_t>(data[0]) | (data[1] & 1u) << 8);  // 1..512
  format.height = 1 + (data[2] & 63u);                                        // 1..64
  format.bits_per_sample = 2 + data[3] % 15;                                  // 2..16
  const int layout = (data[4] >> 2) % 4;  // 1 component, or 3 in mode none/line/sample
  format.component_count = layout == 0 ? 1 : 3;
  format.interleave = layout == 0 ? pacs::jls::Interleave::kNone : static_cast<pacs::jls::Interleave>(layout - 1);
  const int shape = data[4] & 3;
  data += 5;
  size -= 5;

  const size_t count = static_cast<size_t>(format.width) * format.height * format.component_count;
  const std::vector<uint32_t> samples = MakeSamples(data, size, count, format.bits_per_sample, shape);
  std::vector<uint8_t> pixels(pacs::jls::SourceBytes(format));
  for (size_t i = 0; i < count; ++i) {
    if (format.bits_per_sample > 8) {
      const auto v = static_cast<uint16_t>(samples[i]);
      std::memcpy(&pixels[2 * i], &v, 2);
    } else {
      pixels[i] = static_cast<uint8_t>(samples[i]);
    }
  }

  const auto ours = pacs::jls::EncodeLossless(format, pixels);
  if (!ours.ok()) {
    std::fprintf(stderr, "pacs::jls refused a valid frame: %s\n", ours.status().ToString().c_str());
    std::abort();
  }
  std::vector<uint8_t> reference;
  try {
    charls::jpegls_encoder encoder;
    encoder.frame_info({format.width, format.height, format.bits_per_sample, format.component_count});
    encoder.interleave_mode(static_cast<charls::interleave_mode>(format.interleave));
    reference.resize(encoder.estimated_destination_size());
    encoder.destination(reference);
    reference.resize(encoder.encode(pixels.data(), pixels.size()));
  } catch (const charls::jpegls_error&) {
    ++counters.charls_refused;
    return 0;
  }
  if (reference != ours.value()) {
    size_t at = 0;
    while (at < reference.size() && at < ours->size() && reference[at] == (*ours)[at]) ++at;
    std::fprintf(stderr,
                 "MISMATCH %ux%u %d bits %d comp mode %d: sizes %zu (CharLS) %zu (ours), first "
                 "difference at byte %zu\n",
                 format.width, format.height, format.bits_per_sample, format.component_count,
                 static_cast<int>(format.interleave), reference.size(), ours->size(), at);
    std::abort();
  }
  ++counters.compared;
  return 0;
}
