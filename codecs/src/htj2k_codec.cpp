// HTJ2K lossless (1.2.840.10008.1.2.4.201) through OpenJPH 0.9: the
// high-throughput block coder with the reversible 5/3 wavelet, one tile,
// the reversible colour transform only when asked for (see j2k_codec.cpp). The codestream is plain JPEG 2000 Part 15,
// so OpenJPEG 2.5 decodes it too (tests/codecs check that bit for bit).
#include <openjph/ojph_arch.h>  // first: defines OJPH_EXPORT for the others
#include <openjph/ojph_codestream.h>
#include <openjph/ojph_file.h>
#include <openjph/ojph_mem.h>
#include <openjph/ojph_message.h>
#include <openjph/ojph_params.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "codec_common.h"
#include "codec_factories.h"
#include "j2k_header_check.h"
#include "pacs/codecs/pixel_scan.h"

namespace pacs::codecs::internal {
namespace {

constexpr std::string_view kName = "HTJ2K";

// OpenJPH 0.9.0's configure_error()/configure_warning() are no-ops (empty
// bodies in the shipped library), so its default handlers stay: they print
// the text to a FILE* and throw std::runtime_error("ojph error"). To keep the
// text for our Status, the error stream is an unbuffered glibc cookie stream
// that appends to a thread_local string: each fprintf runs in the thread that
// hit the error, so concurrent codecs do not mix messages.
thread_local std::string t_openjph_error;

ssize_t AppendToThreadError(void* /*unused*/, const char* data, size_t size) {
  t_openjph_error.append(data, size);
  return static_cast<ssize_t>(size);
}
ssize_t Discard(void* /*unused*/, const char* /*unused*/, size_t size) {
  return static_cast<ssize_t>(size);
}

void ConfigureOpenJphMessages() {
  // Set up once per process (a function-local static, other callers waiting).
  static const bool configured = [] {
    FILE* errors = fopencookie(nullptr, "w", {nullptr, AppendToThreadError, nullptr, nullptr});
    FILE* chatter = fopencookie(nullptr, "w", {nullptr, Discard, nullptr, nullptr});
    if (errors != nullptr) {
      std::setvbuf(errors, nullptr, _IONBF, 0);
      ojph::set_error_stream(errors);
    }
    if (chatter != nullptr) {
      ojph::set_warning_stream(chatter);
      ojph::set_info_stream(chatter);
    }
    return true;
  }();
  (void)configured;
  t_openjph_error.clear();
}

// The library's text if it printed one, else the exception's.
std::string OpenJphMessage(const char* exception_text) {
  std::string text = t_openjph_error.empty() ? exception_text : t_openjph_error;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

class Htj2kCodec final : public FrameCodec {
 public:
  explicit Htj2kCodec(bool colour_transform) : colour_transform_(colour_transform) {}
  CodecId id() const override { return CodecId::kHtj2k; }
  bool Supports(const FrameInfo& info) const override { return IsCodableFormat(info); }

  Result<std::vector<uint8_t>> Encode(const FrameInfo& info, std::span<const uint8_t> raw) const override {
    PACS_RETURN_IF_ERROR(CheckEncodeInput(info, raw.size(), kName));
    ConfigureOpenJphMessages();
    const int precision = ChooseEncodingPrecision(info, raw);
    const uint32_t components = info.samples_per_pixel;
    const PlanarFrame planes(info, raw);
    const size_t row_bytes = info.columns * BytesPerSample(info);
    try {
      ojph::codestream codestream;
      ojph::param_siz siz = codestream.access_siz();
      siz.set_image_extent(ojph::point(info.columns, info.rows));
      siz.set_image_offset(ojph::point(0, 0));
      siz.set_tile_size(ojph::size(info.columns, info.rows));
      siz.set_tile_offset(ojph::point(0, 0));
      siz.set_num_components(components);
      for (uint32_t c = 0; c < components; ++c)
        siz.set_component(c, ojph::point(1, 1), static_cast<ojph::ui32>(precision), info.is_signed);
      ojph::param_cod cod = codestream.access_cod();
      cod.set_num_decomposition(static_cast<ojph::ui32>(ResolutionLevels(info.columns, info.rows) - 1));
      cod.set_block_dims(64, 64);
      cod.set_color_transform(colour_transform_ && components == 3);
      cod.set_reversible(true);
      codestream.set_planar(false);

      ojph::mem_outfile out;
      out.open(raw.size() / 2 + 4096);
      codestream.write_headers(&out);
      // OpenJPH asks for lines component by component; follow its order.
      std::vector<uint32_t> next_row(components, 0);
      ojph::ui32 component = 0;
      ojph::line_buf* line = codestream.exchange(nullptr, component);
      for (size_t n = 0; n < static_cast<size_t>(info.rows) * components; ++n) {
        if (component >= components || next_row[component] >= info.rows)
          return Status::Internal("HTJ2K encoder asked for an unexpected line");
        SamplesToI32(info, planes.plane(component) + next_row[component]++ * row_bytes, info.columns, line->i32,
                     precision);
        line = codestream.exchange(line, component);
      }
      codestream.flush();
      std::vector<uint8_t> bytes(out.get_data(), out.get_data() + out.tell());
      codestream.close();
      return bytes;
    } catch (const std::exception& error) {
      return Status::Internal("HTJ2K encoding " + Describe(info) +
                              " failed (OpenJPH): " + OpenJphMessage(error.what()));
    } catch (const char* error) {  // OpenJPH throws string literals on allocation failure
      return Status::Internal("HTJ2K encoding " + Describe(info) + " failed (OpenJPH): " + OpenJphMessage(error));
    }
  }

  Result<std::vector<uint8_t>> Decode(const FrameInfo& info, std::span<const uint8_t> codestream_bytes) const override {
    if (codestream_bytes.empty()) return Status::Corruption(std::string(kName) + " codestream is empty");
    // OpenJPH trusts the headers (j2k_header_check.h): they are checked first.
    if (Status headers = CheckJ2kHeaders(codestream_bytes); !headers.ok())
      return Status::Corruption("HTJ2K decoding into " + Describe(info) + " refused: " + headers.message());
    ConfigureOpenJphMessages();
    try {
      ojph::mem_infile in;
      in.open(codestream_bytes.data(), codestream_bytes.size());
      ojph::codestream codestream;
      codestream.read_headers(&in);
      ojph::param_siz siz = codestream.access_siz();
      const ojph::point extent = siz.get_image_extent();
      const ojph::point offset = siz.get_image_offset();
      const uint32_t components = siz.get_num_components();
      PACS_RETURN_IF_ERROR(CheckDecodedGeometry(info, kName, extent.x - offset.x, extent.y - offset.y, components,
                                                components ? siz.get_bit_depth(0) : 0));
      std::vector<int> depth(components);
      for (uint32_t c = 0; c < components; ++c) {
        depth[c] = static_cast<int>(siz.get_bit_depth(c));
        const ojph::point sub = siz.get_downsampling(c);
        if (depth[c] < 1 || depth[c] > info.bits_allocated || sub.x != 1 || sub.y != 1)
          return Status::Corruption("HTJ2K component " + std::to_string(c) + " has " + std::to_string(depth[c]) +
                                    " bits, subsampling " + std::to_string(sub.x) + "x" + std::to_string(sub.y) +
                                    "; expected " + Describe(info));
      }
      codestream.set_planar(false);
      codestream.create();

      const size_t plane_bytes = PixelCount(info) * BytesPerSample(info);
      const size_t row_bytes = info.columns * BytesPerSample(info);
      std::vector<uint16_t> planes((info.FrameBytes() + 1) / 2);  // uint16_t for alignment
      auto* plane_base = reinterpret_cast<uint8_t*>(planes.data());
      std::vector<uint32_t> next_row(components, 0);
      for (size_t n = 0; n < static_cast<size_t>(info.rows) * components; ++n) {
        ojph::ui32 c = 0;
        ojph::line_buf* line = codestream.pull(c);
        if (line == nullptr || c >= components || next_row[c] >= info.rows)
          return Status::Corruption("HTJ2K decoder returned an unexpected line");
        I32ToSamples(info, line->i32, info.columns, plane_base + c * plane_bytes + next_row[c]++ * row_bytes, depth[c]);
      }
      codestream.close();
      std::vector<uint8_t> native(info.FrameBytes());
      PlanesToNative(info, plane_base, native.data());
      return native;
    } catch (const std::exception& error) {
      return Status::Corruption("HTJ2K decoding into " + Describe(info) +
                                " failed (OpenJPH): " + OpenJphMessage(error.what()));
    } catch (const char* error) {
      return Status::Corruption("HTJ2K decoding into " + Describe(info) +
                                " failed (OpenJPH): " + OpenJphMessage(error));
    }
  }

 private:
  bool colour_transform_;
};

}  // namespace

std::unique_ptr<FrameCodec> MakeHtj2kCodec(bool colour_transform) {
  return std::make_unique<Htj2kCodec>(colour_transform);
}

}  // namespace pacs::codecs::internal
