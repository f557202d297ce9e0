// libFuzzer target: the same bytes go to pacs::jls::DecodeFrame and to
// CharLS 2.4.1's decoder. The expected frame description is taken from the
// codestream's own SOF (bits allocated 8 or 16 by precision, bits stored =
// P), so that most inputs pass the production frame header check; CharLS
// only ever sees inputs that CheckFrameHeader accepts, as in production, and
// only those that end with the EOI marker: CharLS 2.4.1 loops forever on
// many codestreams that end inside the coded data (none with EOI appended
// hung in a test of every truncation of two frames), so a
// production caller must not hand it others either (EndsWithEndOfImage).
//
// Findings that abort: any crash or sanitizer report in our decoder, both
// decoders succeeding with different pixels, our decoder succeeding where
// CharLS refuses, or our portable and BMI2 line loops disagreeing (where
// the CPU runs the BMI2 ones, each input is decoded with both), or the bit
// readers over the input and over a destuffed copy disagreeing (each input
// is decoded with both). Inputs that CharLS decodes and we refuse are counted
// and the first ones written to jls_decoder_fuzzer_refusals/ for review (we refuse some on purpose: sample interleave
// with a RESET other than 64, which CharLS mis-codes).
#include <charls/charls.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "pacs/jls/jpegls_decoder.h"
#include "scan_decoder.h"

namespace {

struct Counters {
  unsigned long long inputs = 0;
  unsigned long long header_refused = 0;
  unsigned long long too_large = 0;
  unsigned long long both_decoded_equal = 0;
  unsigned long long both_refused = 0;
  unsigned long long only_charls_decoded = 0;
  unsigned long long not_ending_with_eoi = 0;
  ~Counters() {
    std::fprintf(stderr,
                 "jls_decoder_fuzzer: %llu inputs: %llu refused by the frame header check, %llu above the size cap, "
                 "%llu decoded by us only (no EOI at the end: not given to CharLS), %llu decoded identically by both, "
                 "%llu refused by both, %llu decoded by CharLS only\n",
                 inputs, header_refused, too_large, not_ending_with_eoi, both_decoded_equal, both_refused,
                 only_charls_decoded);
  }
} counters;

// CharLS's pixels, as our decoder writes them for `bits_allocated`; nullopt
// if it refuses.
std::optional<std::vector<uint8_t>> CharlsDecode(const uint8_t* data, size_t size, int bits_allocated) {
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
    return pixels;
  } catch (const charls::jpegls_error&) {
    return std::nullopt;
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
  // Decodes again with a test-only setting in force (`apply` sets it,
  // `restore` puts the default back): the same verdict and pixels, or a finding.
  const auto expect_same_decode = [&](auto&& apply, auto&& restore, const char* finding) {
    std::vector<uint8_t> other(pacs::jls::DecodedBytes(expected));
    apply();
    const auto other_decoded = pacs::jls::DecodeFrame(input, expected, other);
    restore();
    if (!other_decoded.ok()) other.clear();
    if (other_decoded.ok() != decoded.ok() || other != ours) {
      std::fprintf(stderr, "FINDING: %s\n", finding);
      std::abort();
    }
  };
  using pacs::jls::internal::DestuffChoice;
  using pacs::jls::internal::ScanIsa;
  using pacs::jls::internal::SetDestuffForTesting;
  using pacs::jls::internal::SetScanIsaForTesting;
  // Where the CPU runs the BMI2 line loops (the default there), the
  // portable ones too.
  if (pacs::jls::internal::ActiveScanIsa() == ScanIsa::kBmi2)
    expect_same_decode([] { SetScanIsaForTesting(ScanIsa::kPortable); }, [] { SetScanIsaForTesting(ScanIsa::kBmi2); },
                       "the portable and BMI2 line loops disagree");
  // Both bit readers (over the input, over a destuffed copy), against the
  // automatic choice.
  for (const auto choice : {DestuffChoice::kAlways, DestuffChoice::kNever})
    expect_same_decode([choice] { SetDestuffForTesting(choice); }, [] { SetDestuffForTesting(DestuffChoice::kAuto); },
                       "the destuffed and in-place bit readers disagree");

  if (!pacs::jls::EndsWithEndOfImage(input)) {
    ++counters.not_ending_with_eoi;
    return 0;
  }
  const auto reference = CharlsDecode(data, size, expected.bits_allocated);
  if (!reference) {
    if (decoded.ok()) {
      std::fprintf(stderr, "FINDING: we decoded a codestream CharLS refuses\n");
      std::abort();
    }
    ++counters.both_refused;
  } else if (!decoded.ok()) {
    ++counters.only_charls_decoded;
    KeepRefusal(data, size, decoded.status().ToString());
  } else if (*reference != ours) {
    std::fprintf(stderr, "FINDING: both decoded, pixels differ\n");
    std::abort();
  } else {
    ++counters.both_decoded_equal;
  }
  return 0;
}
