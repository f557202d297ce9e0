// libFuzzer target: foreign codestreams through the codec wrappers' Decode,
// as a retrieval or a verify decodes what a peer sent: JPEG-LS (the wrapper,
// its SOF check and our decoder, codecs/jls), JPEG 2000 (OpenJPEG) and HTJ2K
// (OpenJPH).
//
// Input: byte 0 picks the codec (JPEG-LS, JPEG 2000, HTJ2K); byte 1 how the
// frame description (what DICOM's pixel module would say) is made:
//   bits 0-1: 0 or 1: from the codestream's own header (SOF for JPEG-LS,
//             SIZ for JPEG 2000 / HTJ2K), as for a well-formed instance;
//             2: from bytes 2-9 of the input (rows, columns, bits allocated,
//             bits stored, samples), to reach the mismatch checks;
//             3: from the header, then bits allocated widened to 16;
//   bit 2: signed samples; bit 3: planar configuration 1.
// Bytes 10.. are the codestream. Frames above kMaxFrameBytes are skipped
// (the cap is the harness's: a DICOM instance's frame size is bounded by
// its own length, which dicom_split_fuzzer covers).
//
// Findings: a crash, a sanitizer report, a hang or a large allocation; a
// decode that succeeds with a size other than the frame's.
//
// PACS_FUZZ_WRITE_SEEDS=DIR: write small frames of every format, encoded by
// each of our encoders, to DIR and exit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pacs/codecs/frame_codec.h"
#if PACS_HAVE_JLS
#include "pacs/jls/jpegls_decoder.h"
#endif

namespace {

using pacs::codecs::CodecId;
using pacs::codecs::FrameInfo;

constexpr size_t kPrefix = 10;
constexpr size_t kMaxFrameBytes = size_t{4} << 20;
const CodecId kCodecs[] = {CodecId::kJpegLs, CodecId::kJ2k, CodecId::kHtj2k};

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

uint16_t BitsAllocatedFor(int precision) {
  return precision <= 8 ? 8 : 16;
}

// The SIZ segment of a JPEG 2000 codestream (SOC, then SIZ): image size
// less offset, components and the first component's precision.
std::optional<FrameInfo> FromSiz(std::span<const uint8_t> cs) {
  auto u16 = [&](size_t at) { return static_cast<uint32_t>(cs[at] << 8 | cs[at + 1]); };
  auto u32 = [&](size_t at) { return u16(at) << 16 | u16(at + 2); };
  if (cs.size() < 43 || u16(0) != 0xFF4F || u16(2) != 0xFF51) return std::nullopt;
  const uint32_t x = u32(8), y = u32(12), x0 = u32(16), y0 = u32(20);
  const uint32_t components = u16(40);
  if (x < x0 || y < y0 || components == 0 || cs.size() < 42 + 3 * size_t{components}) return std::nullopt;
  const int precision = (cs[42] & 0x7F) + 1;
  FrameInfo info;
  info.columns = x - x0;
  info.rows = y - y0;
  info.samples_per_pixel = static_cast<uint16_t>(components);
  info.bits_allocated = BitsAllocatedFor(precision);
  info.bits_stored = static_cast<uint16_t>(precision);
  info.is_signed = (cs[42] & 0x80) != 0;
  return info;
}

std::optional<FrameInfo> FromHeader(CodecId codec, std::span<const uint8_t> cs) {
  if (codec != CodecId::kJpegLs) return FromSiz(cs);
#if PACS_HAVE_JLS
  auto header = pacs::jls::ReadFrameHeader(cs);
  if (!header.ok()) return std::nullopt;
  FrameInfo info;
  info.columns = header->width;
  info.rows = header->height;
  info.samples_per_pixel = static_cast<uint16_t>(header->component_count);
  info.bits_allocated = BitsAllocatedFor(header->bits_per_sample);
  info.bits_stored = static_cast<uint16_t>(header->bits_per_sample);
  return info;
#else
  return std::nullopt;
#endif
}

FrameInfo FromPrefix(const uint8_t* p) {
  FrameInfo info;
  info.rows = static_cast<uint32_t>(p[0] | p[1] << 8);
  info.columns = static_cast<uint32_t>(p[2] | p[3] << 8);
  info.bits_allocated = (p[4] & 1) ? 16 : 8;
  info.bits_stored = p[5];
  info.samples_per_pixel = p[6] % 4 == 3 ? 3 : (p[6] % 4 == 2 ? 4 : 1);
  return info;
}

void WriteSeeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const FrameInfo formats[] = {
      {.rows = 8, .columns = 8, .bits_allocated = 8, .bits_stored = 8},
      {.rows = 5, .columns = 17, .bits_allocated = 16, .bits_stored = 12},
      {.rows = 16, .columns = 16, .bits_allocated = 16, .bits_stored = 16, .is_signed = true},
      {.rows = 9, .columns = 7, .bits_allocated = 8, .bits_stored = 8, .samples_per_pixel = 3},
      {.rows = 9, .columns = 7, .bits_allocated = 8, .bits_stored = 8, .samples_per_pixel = 3, .planar = true},
      {.rows = 6, .columns = 6, .bits_allocated = 16, .bits_stored = 10, .samples_per_pixel = 3},
  };
  int n = 0;
  for (size_t c = 0; c < std::size(kCodecs); ++c) {
    auto codec = pacs::codecs::MakeCodec(kCodecs[c]);
    for (const FrameInfo& info : formats) {
      std::vector<uint8_t> raw(info.FrameBytes());
      uint32_t state = 12345;
      for (size_t i = 0; i < raw.size(); ++i) {
        state = state * 1103515245 + 12345;
        raw[i] = static_cast<uint8_t>((i / 3) + ((state >> 16) & 7));
      }
      if (info.bits_allocated == 16)  // keep the samples within bits_stored
        for (size_t i = 1; i < raw.size(); i += 2) raw[i] &= static_cast<uint8_t>((1u << (info.bits_stored - 8)) - 1);
      if (!codec->Supports(info)) continue;
      auto encoded = codec->Encode(info, raw);
      if (!encoded.ok()) continue;
      const auto flags = static_cast<uint8_t>((info.is_signed ? 4 : 0) | (info.planar ? 8 : 0));
      std::vector<uint8_t> seed = {static_cast<uint8_t>(c),
                                   flags,
                                   static_cast<uint8_t>(info.rows),
                                   0,
                                   static_cast<uint8_t>(info.columns),
                                   0,
                                   static_cast<uint8_t>(info.bits_allocated == 16),
                                   static_cast<uint8_t>(info.bits_stored),
                                   static_cast<uint8_t>(info.samples_per_pixel),
                                   0};
      seed.insert(seed.end(), encoded->begin(), encoded->end());
      std::ofstream(dir / ("frame_" + std::to_string(n++)), std::ios::binary)
          .write(reinterpret_cast<const char*>(seed.data()), static_cast<std::streamsize>(seed.size()));
    }
  }
  std::fprintf(stderr, "codec_decode_fuzzer: %d seeds written to %s\n", n, dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("PACS_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kPrefix) return 0;
  const CodecId id = kCodecs[data[0] % std::size(kCodecs)];
  const uint8_t flags = data[1];
  const std::span<const uint8_t> codestream(data + kPrefix, size - kPrefix);
  std::optional<FrameInfo> info;
  if ((flags & 3) == 2) {
    info = FromPrefix(data + 2);
  } else {
    info = FromHeader(id, codestream);
    if (info && (flags & 3) == 3) info->bits_allocated = 16;
  }
  if (!info) return 0;
  info->is_signed = info->is_signed || (flags & 4) != 0;
  info->planar = (flags & 8) != 0;
  // Rows and Columns are 16-bit in DICOM, where production frame
  // descriptions come from.
  if (info->rows > 0xFFFF || info->columns > 0xFFFF || info->FrameBytes() > kMaxFrameBytes) return 0;
  static const auto codecs = [] {
    std::vector<std::unique_ptr<pacs::codecs::FrameCodec>> all;
    for (CodecId c : kCodecs) all.push_back(pacs::codecs::MakeCodec(c));
    return all;
  }();
  auto decoded = codecs[data[0] % std::size(kCodecs)]->Decode(*info, codestream);
  if (decoded.ok() && decoded->size() != info->FrameBytes())
    Finding(std::string(pacs::codecs::CodecName(id)) + " decoded " + std::to_string(decoded->size()) +
            " bytes into a frame of " + std::to_string(info->FrameBytes()));
  return 0;
}
