// JPEG 2000 reversible 5/3 (1.2.840.10008.1.2.4.90) through OpenJPEG 2.5.
//
// Writes a bare J2K codestream (no JP2 box wrapper, as DICOM encapsulates
// it), one tile, one quality layer. Colour is coded as is unless the caller
// asks for the reversible colour transform (CodecOptions): RCT makes RGB
// 2.2x smaller (WG04 US1: 6.05:1 vs 2.76:1) but the DICOM dataset must then
// say YBR_RCT. Signed samples use the SIZ component's signed flag. The decoder also reads HTJ2K
// codestreams (OpenJPEG 2.5 decodes HT code-blocks).
#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "codec_common.h"
#include "codec_factories.h"
#include "pacs/codecs/pixel_scan.h"

namespace pacs::codecs::internal {
namespace {

constexpr std::string_view kName = "JPEG 2000";

struct CodecDeleter {
  void operator()(opj_codec_t* codec) const { opj_destroy_codec(codec); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* stream) const { opj_stream_destroy(stream); }
};
struct ImageDeleter {
  void operator()(opj_image_t* image) const { opj_image_destroy(image); }
};
using CodecPtr = std::unique_ptr<opj_codec_t, CodecDeleter>;
using StreamPtr = std::unique_ptr<opj_stream_t, StreamDeleter>;
using ImagePtr = std::unique_ptr<opj_image_t, ImageDeleter>;

// OpenJPEG reports through callbacks; errors are collected for the Status.
void CollectError(const char* message, void* user) {
  auto* errors = static_cast<std::string*>(user);
  std::string_view text(message);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (!errors->empty()) errors->append("; ");
  errors->append(text);
}
void Ignore(const char* /*message*/, void* /*client_data*/) {}

void InstallHandlers(opj_codec_t* codec, std::string* errors) {
  opj_set_error_handler(codec, CollectError, errors);
  opj_set_warning_handler(codec, Ignore, nullptr);
  opj_set_info_handler(codec, Ignore, nullptr);
}

Status OpenJpegFailure(std::string_view what, const std::string& errors) {
  return Status::Corruption(std::string(kName) + " " + std::string(what) +
                            " failed (OpenJPEG): " + (errors.empty() ? "no detail" : errors));
}

struct OutputBuffer {
  std::vector<uint8_t> bytes;
  size_t position = 0;
};

OPJ_SIZE_T WriteOut(void* data, OPJ_SIZE_T size, void* user) {
  auto* out = static_cast<OutputBuffer*>(user);
  if (out->position + size > out->bytes.size()) out->bytes.resize(out->position + size);
  std::memcpy(out->bytes.data() + out->position, data, size);
  out->position += size;
  return size;
}
OPJ_OFF_T SkipOut(OPJ_OFF_T count, void* user) {
  auto* out = static_cast<OutputBuffer*>(user);
  if (count < 0 && static_cast<size_t>(-count) > out->position) return -1;
  out->position += count;
  if (out->position > out->bytes.size()) out->bytes.resize(out->position);
  return count;
}
OPJ_BOOL SeekOut(OPJ_OFF_T offset, void* user) {
  auto* out = static_cast<OutputBuffer*>(user);
  if (offset < 0) return OPJ_FALSE;
  out->position = static_cast<size_t>(offset);
  if (out->position > out->bytes.size()) out->bytes.resize(out->position);
  return OPJ_TRUE;
}

struct InputBuffer {
  std::span<const uint8_t> bytes;
  size_t position = 0;
};

OPJ_SIZE_T ReadIn(void* data, OPJ_SIZE_T size, void* user) {
  auto* in = static_cast<InputBuffer*>(user);
  if (in->position >= in->bytes.size()) return static_cast<OPJ_SIZE_T>(-1);
  const size_t count = std::min<size_t>(size, in->bytes.size() - in->position);
  std::memcpy(data, in->bytes.data() + in->position, count);
  in->position += count;
  return count;
}
OPJ_OFF_T SkipIn(OPJ_OFF_T count, void* user) {
  auto* in = static_cast<InputBuffer*>(user);
  if (count < 0) {
    const size_t back = std::min<size_t>(static_cast<size_t>(-count), in->position);
    in->position -= back;
    return -static_cast<OPJ_OFF_T>(back);
  }
  const size_t forward = std::min<size_t>(static_cast<size_t>(count), in->bytes.size() - in->position);
  in->position += forward;
  return static_cast<OPJ_OFF_T>(forward);
}
OPJ_BOOL SeekIn(OPJ_OFF_T offset, void* user) {
  auto* in = static_cast<InputBuffer*>(user);
  if (offset < 0 || static_cast<size_t>(offset) > in->bytes.size()) return OPJ_FALSE;
  in->position = static_cast<size_t>(offset);
  return OPJ_TRUE;
}

class J2kCodec final : public FrameCodec {
 public:
  explicit J2kCodec(bool colour_transform) : colour_transform_(colour_transform) {}
  CodecId id() const override { return CodecId::kJ2k; }
  bool Supports(const FrameInfo& info) const override { return IsCodableFormat(info); }

  Result<std::vector<uint8_t>> Encode(const FrameInfo& info, std::span<const uint8_t> raw) const override {
    PACS_RETURN_IF_ERROR(CheckEncodeInput(info, raw.size(), kName));
    const int precision = ChooseEncodingPrecision(info, raw);
    const int components = info.samples_per_pixel;

    std::vector<opj_image_cmptparm_t> component_params(components);
    for (auto& param : component_params) {
      param = {};
      param.dx = param.dy = 1;
      param.w = info.columns;
      param.h = info.rows;
      param.prec = static_cast<OPJ_UINT32>(precision);
      param.sgnd = info.is_signed ? 1 : 0;
    }
    ImagePtr image(opj_image_create(static_cast<OPJ_UINT32>(components), component_params.data(),
                                    components == 3 ? OPJ_CLRSPC_SRGB : OPJ_CLRSPC_GRAY));
    if (!image) return Status::Internal("JPEG 2000: opj_image_create failed for " + Describe(info));
    image->x0 = image->y0 = 0;
    image->x1 = info.columns;
    image->y1 = info.rows;
    const PlanarFrame planes(info, raw);
    for (int c = 0; c < components; ++c)
      SamplesToI32(info, planes.plane(c), PixelCount(info), image->comps[c].data, precision);

    opj_cparameters_t params;
    opj_set_default_encoder_parameters(&params);
    // Lossless: one layer at rate 0 with distortion allocation on; without
    // cp_disto_alloc opj_encode crashes on memory streams (FACTS.md).
    params.tcp_numlayers = 1;
    params.tcp_rates[0] = 0;
    params.cp_disto_alloc = 1;
    params.irreversible = 0;
    params.tcp_mct = colour_transform_ && components == 3 ? 1 : 0;
    params.numresolution = ResolutionLevels(info.columns, info.rows);

    std::string errors;
    CodecPtr codec(opj_create_compress(OPJ_CODEC_J2K));
    if (!codec) return Status::Internal("JPEG 2000: opj_create_compress failed");
    InstallHandlers(codec.get(), &errors);
    if (!opj_setup_encoder(codec.get(), &params, image.get()))
      return OpenJpegFailure("encoder setup for " + Describe(info), errors);

    OutputBuffer out;
    out.bytes.reserve(raw.size() / 2);
    StreamPtr stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE));
    if (!stream) return Status::Internal("JPEG 2000: opj_stream_create failed");
    opj_stream_set_user_data(stream.get(), &out, nullptr);
    opj_stream_set_write_function(stream.get(), WriteOut);
    opj_stream_set_skip_function(stream.get(), SkipOut);
    opj_stream_set_seek_function(stream.get(), SeekOut);
    if (!opj_start_compress(codec.get(), image.get(), stream.get()) || !opj_encode(codec.get(), stream.get()) ||
        !opj_end_compress(codec.get(), stream.get()))
      return OpenJpegFailure("encoding " + Describe(info), errors);
    stream.reset();  // flushes
    return std::move(out.bytes);
  }

  Result<std::vector<uint8_t>> Decode(const FrameInfo& info, std::span<const uint8_t> codestream) const override {
    if (codestream.empty()) return Status::Corruption(std::string(kName) + " codestream is empty");
    std::string errors;
    CodecPtr codec(opj_create_decompress(OPJ_CODEC_J2K));
    if (!codec) return Status::Internal("JPEG 2000: opj_create_decompress failed");
    InstallHandlers(codec.get(), &errors);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec.get(), &params)) return OpenJpegFailure("decoder setup", errors);

    InputBuffer in{codestream};
    StreamPtr stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE));
    if (!stream) return Status::Internal("JPEG 2000: opj_stream_create failed");
    opj_stream_set_user_data(stream.get(), &in, nullptr);
    opj_stream_set_user_data_length(stream.get(), codestream.size());
    opj_stream_set_read_function(stream.get(), ReadIn);
    opj_stream_set_skip_function(stream.get(), SkipIn);
    opj_stream_set_seek_function(stream.get(), SeekIn);

    opj_image_t* header_image = nullptr;
    const bool header_ok = opj_read_header(stream.get(), codec.get(), &header_image);
    ImagePtr image(header_image);
    if (!header_ok) return OpenJpegFailure("reading the header", errors);
    if (image->numcomps == 0) return Status::Corruption("JPEG 2000 codestream has no components");
    PACS_RETURN_IF_ERROR(CheckDecodedGeometry(info, kName, image->x1 - image->x0, image->y1 - image->y0,
                                              image->numcomps, image->comps[0].prec));
    if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get()))
      return OpenJpegFailure("decoding into " + Describe(info), errors);

    const size_t plane_bytes = PixelCount(info) * BytesPerSample(info);
    std::vector<uint16_t> planes((info.FrameBytes() + 1) / 2);  // uint16_t for alignment
    auto* plane_base = reinterpret_cast<uint8_t*>(planes.data());
    for (uint32_t c = 0; c < image->numcomps; ++c) {
      const opj_image_comp_t& comp = image->comps[c];
      if (comp.w != info.columns || comp.h != info.rows || comp.dx != 1 || comp.dy != 1 || comp.prec < 1 ||
          comp.prec > info.bits_allocated || comp.data == nullptr)
        return Status::Corruption("JPEG 2000 component " + std::to_string(c) + " is " + std::to_string(comp.w) + "x" +
                                  std::to_string(comp.h) + " of " + std::to_string(comp.prec) + " bits; expected " +
                                  Describe(info));
      I32ToSamples(info, comp.data, PixelCount(info), plane_base + c * plane_bytes, static_cast<int>(comp.prec));
    }
    std::vector<uint8_t> native(info.FrameBytes());
    PlanesToNative(info, plane_base, native.data());
    return native;
  }

 private:
  bool colour_transform_;
};

}  // namespace

std::unique_ptr<FrameCodec> MakeJ2kCodec(bool colour_transform) {
  return std::make_unique<J2kCodec>(colour_transform);
}

}  // namespace pacs::codecs::internal
