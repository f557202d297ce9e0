// libFuzzer target: the same bytes go to pacs::jls::DecodeFrame and to
// CharLS 2.4.1's decoder. The expected frame description is taken from the
// codestream's own SOF (bits allocated 8 or 16 by precision, bits stored =
// P), so that most inputs pass the production frame header check; CharLS
// only ever sees inputs that CheckFrameHeader accepts, as in production.
//
// CharLS 2.4.1 loops forever on many truncated codestreams, so it runs in a
// forked child with a 250 ms alarm. Findings that abort: any crash or sanitizer
// report in our decoder, both decoders succeeding with different pixels, or
// our decoder succeeding where CharLS refuses. Inputs that CharLS decodes
// and we refuse are counted and the first ones written to
// jls_decoder_fuzzer_refusals/ for review (we refuse some streams CharLS
// decodes on purpose: reads past the end of the data, sample interleave
// with a RESET other than 64).
#include <charls/charls.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pacs/jls/jpegls_decoder.h"

namespace {

struct Counters {
  unsigned long long inputs = 0;
  unsigned long long header_refused = 0;
  unsigned long long too_large = 0;
  unsigned long long both_decoded_equal = 0;
  unsigned long long both_refused = 0;
  unsigned long long only_charls_decoded = 0;
  unsigned long long charls_hung = 0;
  unsigned long long charls_crashed = 0;
  ~Counters() {
    std::fprintf(stderr,
                 "jls_decoder_fuzzer: %llu inputs: %llu refused by the frame header check, %llu above the size cap, "
                 "%llu decoded identically by both, %llu refused by both, %llu decoded by CharLS only, "
                 "CharLS hung on %llu and crashed on %llu\n",
                 inputs, header_refused, too_large, both_decoded_equal, both_refused, only_charls_decoded, charls_hung,
                 charls_crashed);
  }
} counters;

enum ChildResult : int { kCharlsRefused = 10, kCharlsSame = 11, kCharlsDiffers = 12 };

// Runs in the forked child: CharLS's verdict on `data` compared with ours.
[[noreturn]] void CharlsChild(const uint8_t* data, size_t size, const std::vector<uint8_t>& ours, int bits_allocated) {
  // 250 ms: our frames are at most 2^20 samples, CharLS decodes them in far less.
  itimerval timer{};
  timer.it_value.tv_usec = 250000;
  setitimer(ITIMER_REAL, &timer, nullptr);
  try {
    charls::jpegls_decoder decoder;
    decoder.source(data, size);
    decoder.read_header();
    std::vector<uint8_t> pixels(decoder.destination_size());
    decoder.decode(pixels);
    if (decoder.frame_info().bits_per_sample <= 8 && bits_allocated == 16) {
      std::vector<uint8_t> widened(pixels.size() * 2);
      for (size_t i = 0; i < pixels.size(); ++i) {
        const uint16_t v = pixels[i];
        std::memcpy(&widened[2 * i], &v, 2);
      }
      pixels.swap(widened);
    }
    _exit(pixels == ours ? kCharlsSame : kCharlsDiffers);
  } catch (const charls::jpegls_error&) {
    _exit(kCharlsRefused);
  }
}

void KeepRefusal(const uint8_t* data, size_t size, const std::string& why) {
  if (counters.only_charls_decoded > 50) return;
  mkdir("jls_decoder_fuzzer_refusals", 0755);
  const std::string name = "jls_decoder_fuzzer_refusals/" + std::to_string(counters.only_charls_decoded);
  if (FILE* f = std::fopen(name.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  if (FILE* f = std::fopen((name + ".txt").c_str(), "w")) {
    std::fprintf(f, "%s\n", why.c_str());
    std::fclose(f);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ++counters.inputs;
  const std::span<const uint8_t> input(data, size);
  const auto header = pacs::jls::ReadFrameHeader(input);
  if (!header.ok()) {
    ++counters.header_refused;
    return 0;
  }
  pacs::jls::ExpectedFrame expected;
  expected.width = header->width;
  expected.height = header->height;
  expected.components = header->component_count;
  expected.bits_allocated = header->bits_per_sample > 8 ? 16 : 8;
  expected.bits_stored = header->bits_per_sample;
  if (!pacs::jls::CheckFrameHeader(input, expected).ok()) {
    ++counters.header_refused;
    return 0;
  }
  // Keep each run fast: frames up to 2^20 samples.
  if (static_cast<uint64_t>(expected.width) * expected.height * static_cast<uint64_t>(expected.components) >
      (1u << 20)) {
    ++counters.too_large;
    return 0;
  }
  std::vector<uint8_t> ours(pacs::jls::DecodedBytes(expected));
  const auto decoded = pacs::jls::DecodeFrame(input, expected, ours);
  if (!decoded.ok()) ours.clear();

  std::fflush(nullptr);
  const pid_t child = fork();
  if (child == 0) CharlsChild(data, size, ours, expected.bits_allocated);
  int status = 0;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) {
    if (WTERMSIG(status) == SIGALRM) {
      ++counters.charls_hung;
    } else {
      ++counters.charls_crashed;
    }
    return 0;
  }
  const int verdict = WEXITSTATUS(status);
  if (verdict == kCharlsRefused) {
    if (decoded.ok()) {
      std::fprintf(stderr, "FINDING: we decoded a codestream CharLS refuses\n");
      std::abort();
    }
    ++counters.both_refused;
  } else if (verdict == kCharlsSame || verdict == kCharlsDiffers) {
    if (!decoded.ok()) {
      ++counters.only_charls_decoded;
      KeepRefusal(data, size, decoded.status().ToString());
    } else if (verdict == kCharlsDiffers) {
      std::fprintf(stderr, "FINDING: both decoded, pixels differ\n");
      std::abort();
    } else {
      ++counters.both_decoded_equal;
    }
  }
  return 0;
}
