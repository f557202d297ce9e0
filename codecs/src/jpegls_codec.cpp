// JPEG-LS lossless (1.2.840.10008.1.2.4.80): our own encoder (codecs/jls)
// where it applies, CharLS 2.4.1 otherwise and for decoding.
//
// Both write what the charls::jpegls_encoder object writes (the preset coding
// parameters segment for > 12 bits), byte-identical to DCMTK's dcmcjpls.
// Colour is coded without CharLS's HP colour transforms, which DICOM does not
// allow, with the interleave mode matching the native layout.
// PACS_JPEGLS_ENCODER=charls in the environment forces CharLS (benchmarks).
#include <charls/charls.h>

#include <cstdlib>
#include <cstring>

#include <algorithm>

#include "codec_common.h"
#include "codec_factories.h"
#include "pacs/codecs/pixel_scan.h"
#ifdef PACS_HAVE_JLS_ENCODER
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
    std::vector<uint8_t> decoded;
    charls::interleave_mode interleave;
    int precision;
    try {
      charls::jpegls_decoder decoder;
      decoder.source(codestream.data(), codestream.size());
      decoder.read_header();
      const charls::frame_info& frame = decoder.frame_info();
      precision = frame.bits_per_sample;
      PACS_RETURN_IF_ERROR(
          CheckDecodedGeometry(info, kName, frame.width, frame.height, frame.component_count, frame.bits_per_sample));
      interleave = decoder.interleave_mode();
      decoded.resize(decoder.destination_size());
      decoder.decode(decoded);
    } catch (const charls::jpegls_error& error) {
      return FromCharls(error, "decoding into " + Describe(info));
    }

    if (precision <= 8 && BytesPerSample(info) == 2) {
      std::vector<uint8_t> widened(decoded.size() * 2, 0);
      for (size_t i = 0; i < decoded.size(); ++i) widened[2 * i] = decoded[i];
      decoded = std::move(widened);
    }
    if (decoded.size() != info.FrameBytes())
      return Status::Corruption("JPEG-LS decoder returned " + std::to_string(decoded.size()) + " bytes, expected " +
                                std::to_string(info.FrameBytes()));
    // CharLS returns planes for interleave mode none and pixel-interleaved
    // samples otherwise; a codestream from elsewhere may differ from `info`.
    if (info.samples_per_pixel == 3) {
      const bool decoded_planar = interleave == charls::interleave_mode::none;
      if (decoded_planar && !info.planar) {
        std::vector<uint8_t> native(decoded.size());
        PlanesToNative(info, decoded.data(), native.data());
        return native;
      }
      if (!decoded_planar && info.planar) {
        FrameInfo interleaved = info;
        interleaved.planar = false;
        const PlanarFrame planes(interleaved, decoded);
        return std::vector<uint8_t>(planes.plane(0), planes.plane(0) + decoded.size());
      }
    }
    return decoded;
  }
};

}  // namespace

std::unique_ptr<FrameCodec> MakeJpegLsCodec() {
  return std::make_unique<JpegLsCodec>();
}

}  // namespace pacs::codecs::internal
