// JPEG-LS lossless (1.2.840.10008.1.2.4.80): our own encoder and decoder
// (codecs/jls) where they apply, CharLS 2.4.1 otherwise.
//
// Both write what the charls::jpegls_encoder object writes (the preset coding
// parameters segment for > 12 bits), byte-identical to DCMTK's dcmcjpls.
// Colour is coded without CharLS's HP colour transforms, which DICOM does not
// allow, with the interleave mode matching the native layout.
// PACS_JPEGLS_ENCODER=charls in the environment forces CharLS (benchmarks).
//
// Every JPEG-LS decode of the product comes through Decode() below: the
// check after encoding, the pixel identity of received JPEG-LS, transcoding
// on retrieval and verify --deep. It uses our decoder unless the environment
// has PACS_JPEGLS_DECODER=charls. CharLS 2.4.1 (Debian 12) is within advisory
// GHSA-mqrg-gfc8-73ff and loops on some truncated streams, so before a
// codestream reaches it its frame header must agree with the DICOM
// attributes (the same check our decoder applies) and it must end in EOI.
#include <charls/charls.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include <algorithm>

#include "codec_common.h"
#include "codec_factories.h"
#include "pacs/codecs/pixel_scan.h"
#ifdef PACS_HAVE_JLS_ENCODER
#include "pacs/jls/jpegls_decoder.h"
#include "pacs/jls/jpegls_encoder.h"
#endif

namespace pacs::codecs::internal {
namespace {

constexpr std::string_view kName = "JPEG-LS";

// JPEG-LS codes 2..16 bits per sample.
constexpr int kMinPrecision = 2;

Status FromCharls(const charls::jpegls_error& error, std::string_view what) {
  return Status::Corruption(std::string(kName) + " " + std::string(what) + " failed (CharLS): " + error.what());
}

#ifdef PACS_HAVE_JLS_ENCODER
constexpr bool kHaveOurDecoder = true;
#else
constexpr bool kHaveOurDecoder = false;
#endif

// Read once: the choice holds for the life of the process.
bool UseCharlsDecoder() {
  static const bool use_charls = [] {
    const char* choice = std::getenv("PACS_JPEGLS_DECODER");
    return !kHaveOurDecoder || (choice != nullptr && std::strcmp(choice, "charls") == 0);
  }();
  return use_charls;
}

std::atomic<uint64_t> frames_decoded_by_ours{0};
std::atomic<uint64_t> frames_decoded_by_charls{0};

// DICOM pads an odd-length codestream to even length with one byte after
// EOI: 0x00, or 0xFF (NEMA WG04's CT1_JLSN and MR2_JLSL).
std::span<const uint8_t> WithoutPadding(std::span<const uint8_t> codestream) {
  const size_t n = codestream.size();
  if (n >= 3 && (codestream[n - 1] == 0x00 || codestream[n - 1] == 0xFF) && codestream[n - 3] == 0xFF &&
      codestream[n - 2] == 0xD9)
    return codestream.first(n - 1);
  return codestream;
}

class JpegLsCodec final : public FrameCodec {
 public:
  CodecId id() const override { return CodecId::kJpegLs; }
  bool Supports(const FrameInfo& info) const override { return IsCodableFormat(info); }

  Result<std::vector<uint8_t>> Encode(const FrameInfo& info, std::span<const uint8_t> raw) const override {
    PACS_RETURN_IF_ERROR(CheckEncodeInput(info, raw.size(), kName));
    const int precision = std::max<int>(kMinPrecision, ChooseEncodingPrecision(info, raw));
    // CharLS reads one byte per sample up to 8 bits and two above, so a
    // 16-bit word holding <= 8 significant bits is narrowed first (its upper
    // byte is zero: ChooseEncodingPrecision saw no bits above BitsStored).
    std::vector<uint8_t> narrowed;
    std::span<const uint8_t> source = raw;
    if (precision <= 8 && BytesPerSample(info) == 2) {
      narrowed.resize(raw.size() / 2);
      for (size_t i = 0; i < narrowed.size(); ++i) narrowed[i] = raw[2 * i];
      source = narrowed;
    }
#ifdef PACS_HAVE_JLS_ENCODER
    // Our encoder writes the same bytes as charls::jpegls_encoder, faster.
    const jls::FrameFormat format{
        .width = info.columns,
        .height = info.rows,
        .bits_per_sample = precision,
        .component_count = info.samples_per_pixel,
        .interleave = info.samples_per_pixel == 3 && !info.planar ? jls::Interleave::kSample : jls::Interleave::kNone};
    static const bool use_ours = [] {
      const char* choice = std::getenv("PACS_JPEGLS_ENCODER");
      return choice == nullptr || std::strcmp(choice, "charls") != 0;
    }();
    if (use_ours && jls::SupportsFormat(format) && source.size() == jls::SourceBytes(format)) {
      auto encoded = jls::EncodeLossless(format, source);
      if (encoded.ok()) return std::move(*encoded);
    }
#endif
    try {
      charls::jpegls_encoder encoder;
      encoder.frame_info({info.columns, info.rows, precision, info.samples_per_pixel});
      if (info.samples_per_pixel == 3)
        encoder.interleave_mode(info.planar ? charls::interleave_mode::none : charls::interleave_mode::sample);
      std::vector<uint8_t> codestream(encoder.estimated_destination_size());
      encoder.destination(codestream);
      codestream.resize(encoder.encode(source.data(), source.size()));
      return codestream;
    } catch (const charls::jpegls_error& error) {
      return FromCharls(error, "encoding " + Describe(info));
    }
  }

  Result<std::vector<uint8_t>> Decode(const FrameInfo& info, std::span<const uint8_t> codestream) const override {
    if (codestream.empty()) return Status::Corruption(std::string(kName) + " codestream is empty");
    if (!IsCodableFormat(info))
      return Status::Unsupported(std::string(kName) + " cannot decode into frames of " + Describe(info));
    auto decoded = UseCharlsDecoder() ? DecodeWithCharls(info, codestream) : DecodeWithOurs(info, codestream);
    if (!decoded.ok()) return decoded.status();
    if (decoded->pixels.size() != info.FrameBytes())
      return Status::Corruption("JPEG-LS decoder returned " + std::to_string(decoded->pixels.size()) +
                                " bytes, expected " + std::to_string(info.FrameBytes()));
    // Both decoders return planes for interleave mode none and
    // pixel-interleaved samples otherwise; a codestream from elsewhere may
    // differ from `info`.
    if (info.samples_per_pixel == 3) {
      if (decoded->planar && !info.planar) {
        std::vector<uint8_t> native(decoded->pixels.size());
        PlanesToNative(info, decoded->pixels.data(), native.data());
        return native;
      }
      if (!decoded->planar && info.planar) {
        FrameInfo interleaved = info;
        interleaved.planar = false;
        const PlanarFrame planes(interleaved, decoded->pixels);
        return std::vector<uint8_t>(planes.plane(0), planes.plane(0) + decoded->pixels.size());
      }
    }
    return std::move(decoded->pixels);
  }

  // One component: our decoder writes the frame where the caller wants it.
  Status DecodeInto(const FrameInfo& info, std::span<const uint8_t> codestream, std::span<uint8_t> out) const override {
#ifdef PACS_HAVE_JLS_ENCODER
    if (!UseCharlsDecoder() && info.samples_per_pixel == 1 && IsCodableFormat(info) && !codestream.empty() &&
        out.size() == info.FrameBytes() && jls::DecodedBytes(Expected(info)) == out.size()) {
      auto frame = jls::DecodeFrame(codestream, Expected(info), out);  // checks the SOF first
      if (!frame.ok()) return frame.status().WithContext(std::string(kName) + " decoding into " + Describe(info));
      frames_decoded_by_ours.fetch_add(1, std::memory_order_relaxed);
      return Status::Ok();
    }
#endif
    return FrameCodec::DecodeInto(info, codestream, out);
  }

 private:
  struct Decoded {
    std::vector<uint8_t> pixels;  // info.FrameBytes() when all is well
    bool planar = false;          // component planes rather than interleaved samples
  };

#ifdef PACS_HAVE_JLS_ENCODER
  static jls::ExpectedFrame Expected(const FrameInfo& info) {
    return {.width = info.columns,
            .height = info.rows,
            .components = info.samples_per_pixel,
            .bits_allocated = info.bits_allocated,
            .bits_stored = info.bits_stored};
  }
#endif

  static Result<Decoded> DecodeWithOurs(const FrameInfo& info, std::span<const uint8_t> codestream) {
#ifdef PACS_HAVE_JLS_ENCODER
    Decoded out;
    out.pixels.resize(info.FrameBytes());
    auto frame = jls::DecodeFrame(codestream, Expected(info), out.pixels);  // checks the SOF first
    if (!frame.ok()) return frame.status().WithContext(std::string(kName) + " decoding into " + Describe(info));
    out.planar = frame->interleave == jls::Interleave::kNone;
    frames_decoded_by_ours.fetch_add(1, std::memory_order_relaxed);
    return out;
#else
    (void)info;
    (void)codestream;
    return Status::Unsupported("pacscore was built without its own JPEG-LS decoder");
#endif
  }

  static Result<Decoded> DecodeWithCharls(const FrameInfo& info, std::span<const uint8_t> codestream) {
    codestream = WithoutPadding(codestream);
#ifdef PACS_HAVE_JLS_ENCODER
    // The same frame header check as our decoder's, before CharLS reads a byte.
    PACS_RETURN_IF_ERROR(jls::CheckFrameHeader(codestream, Expected(info))
                             .WithContext(std::string(kName) + " decoding into " + Describe(info) + " (CharLS)"));
    if (!jls::EndsWithEndOfImage(codestream))
      return Status::Corruption(std::string(kName) +
                                " codestream does not end with EOI (truncated?); not handed to "
                                "CharLS, nothing decoded");
#endif
    Decoded out;
    int precision = 0;
    try {
      charls::jpegls_decoder decoder;
      decoder.source(codestream.data(), codestream.size());
      decoder.read_header();
      const charls::frame_info& frame = decoder.frame_info();
      precision = frame.bits_per_sample;
      // Without our header reader (a build without codecs/jls) this is the
      // check; with it, it repeats what CheckFrameHeader already refused.
      PACS_RETURN_IF_ERROR(
          CheckDecodedGeometry(info, kName, frame.width, frame.height, frame.component_count, frame.bits_per_sample));
      out.planar = decoder.interleave_mode() == charls::interleave_mode::none;
      out.pixels.resize(decoder.destination_size());
      decoder.decode(out.pixels);
    } catch (const charls::jpegls_error& error) {
      return FromCharls(error, "decoding into " + Describe(info));
    }
    // CharLS writes one byte per sample up to 8 bits of precision.
    if (precision <= 8 && BytesPerSample(info) == 2) {
      std::vector<uint8_t> widened(out.pixels.size() * 2, 0);
      for (size_t i = 0; i < out.pixels.size(); ++i) widened[2 * i] = out.pixels[i];
      out.pixels = std::move(widened);
    }
    frames_decoded_by_charls.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
};

}  // namespace

std::unique_ptr<FrameCodec> MakeJpegLsCodec() {
  return std::make_unique<JpegLsCodec>();
}

}  // namespace pacs::codecs::internal

namespace pacs::codecs {

std::string_view JpegLsDecoderName() {
  return internal::UseCharlsDecoder() ? "CharLS 2.4.1" : "pacs::jls";
}

JpegLsDecodeCounts JpegLsFramesDecoded() {
  return {.ours = internal::frames_decoded_by_ours.load(std::memory_order_relaxed),
          .charls = internal::frames_decoded_by_charls.load(std::memory_order_relaxed)};
}

}  // namespace pacs::codecs
