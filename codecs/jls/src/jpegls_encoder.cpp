// The codestream around the scans: the marker segments charls::jpegls_encoder
// 2.4.1 writes with default options (its default encoding option
// include_pc_parameters_jai adds the LSE segment above 12 bits), in its order.
#include "pacs/jls/jpegls_encoder.h"

#include <string>

#include "coding_parameters.h"
#include "line_analysis.h"
#include "scan_encoder.h"

namespace pacs::jls {
namespace {

constexpr uint8_t kStartOfImage = 0xD8;
constexpr uint8_t kEndOfImage = 0xD9;
constexpr uint8_t kStartOfFrameJpegLs = 0xF7;      // SOF55
constexpr uint8_t kJpegLsPresetParameters = 0xF8;  // LSE
constexpr uint8_t kStartOfScan = 0xDA;
constexpr uint8_t kPresetCodingParametersId = 1;
constexpr uint32_t kMaxDimension = 65535;  // larger frames need an LSE oversize segment

class SegmentWriter {
 public:
  explicit SegmentWriter(std::vector<uint8_t>& out) : out_(out) {}
  void Marker(uint8_t code) {
    out_.push_back(0xFF);
    out_.push_back(code);
  }
  void Byte(uint32_t value) { out_.push_back(static_cast<uint8_t>(value)); }
  void Word(uint32_t value) {
    Byte(value >> 8);
    Byte(value & 0xFF);
  }

 private:
  std::vector<uint8_t>& out_;
};

std::string Describe(const FrameFormat& f) {
  return std::to_string(f.width) + "x" + std::to_string(f.height) + ", " + std::to_string(f.bits_per_sample) +
         " bits, " + std::to_string(f.component_count) + " component(s), interleave " +
         std::to_string(static_cast<int>(f.interleave));
}

}  // namespace

bool SupportsFormat(const FrameFormat& format) {
  if (format.width < 1 || format.width > kMaxDimension) return false;
  if (format.height < 1 || format.height > kMaxDimension) return false;
  if (format.bits_per_sample < 2 || format.bits_per_sample > 16) return false;
  // One component is coded with interleave mode none only, the mode callers
  // (and DICOM) use; CharLS's treatment of the others is not tested here.
  if (format.component_count == 1) return format.interleave == Interleave::kNone;
  if (format.component_count != 3) return false;
  return format.interleave == Interleave::kNone || format.interleave == Interleave::kLine ||
         format.interleave == Interleave::kSample;
}

size_t SourceBytes(const FrameFormat& format) {
  return static_cast<size_t>(format.width) * format.height * format.component_count *
         (format.bits_per_sample > 8 ? 2 : 1);
}

Result<std::vector<uint8_t>> EncodeLossless(const FrameFormat& format, std::span<const uint8_t> pixels) {
  if (!SupportsFormat(format))
    return Status::InvalidArgument("JPEG-LS encoder (pacs::jls): unsupported frame " + Describe(format) +
                                   "; nothing encoded");
  if (pixels.size() != SourceBytes(format))
    return Status::InvalidArgument("JPEG-LS encoder (pacs::jls): " + std::to_string(pixels.size()) +
                                   " bytes given for a frame of " + Describe(format) + " that needs " +
                                   std::to_string(SourceBytes(format)));

  const internal::CodingParameters params = internal::DefaultLosslessParameters(format.bits_per_sample);
  const int components = format.component_count;
  const Interleave interleave = format.interleave;

  std::vector<uint8_t> out;
  out.reserve(SourceBytes(format) / 2 + 1024);
  SegmentWriter segment(out);
  segment.Marker(kStartOfImage);

  segment.Marker(kStartOfFrameJpegLs);
  segment.Word(8 + 3 * components);
  segment.Byte(format.bits_per_sample);
  segment.Word(format.height);
  segment.Word(format.width);
  segment.Byte(components);
  for (int c = 0; c < components; ++c) {
    segment.Byte(c + 1);  // component id
    segment.Byte(0x11);   // no subsampling
    segment.Byte(0);      // no quantisation table
  }

  if (format.bits_per_sample > 12) {
    segment.Marker(kJpegLsPresetParameters);
    segment.Word(13);
    segment.Byte(kPresetCodingParametersId);
    segment.Word(params.max_value);
    segment.Word(params.t1);
    segment.Word(params.t2);
    segment.Word(params.t3);
    segment.Word(params.reset);
  }

  const auto start_of_scan = [&](int first_component, int scan_components) {
    segment.Marker(kStartOfScan);
    segment.Word(6 + 2 * scan_components);
    segment.Byte(scan_components);
    for (int c = 0; c < scan_components; ++c) {
      segment.Byte(first_component + c + 1);
      segment.Byte(0);  // no mapping table
    }
    segment.Byte(0);  // NEAR
    segment.Byte(static_cast<uint32_t>(interleave));
    segment.Byte(0);  // no point transform
  };

  const size_t plane = static_cast<size_t>(format.width) * format.height;
  if (interleave == Interleave::kNone) {
    for (int c = 0; c < components; ++c) {
      start_of_scan(c, 1);
      internal::ScanLayout layout;
      layout.width = format.width;
      layout.height = format.height;
      layout.first = c * plane;
      layout.row_stride = format.width;
      internal::EncodeScan(params, layout, pixels.data(), out);
    }
  } else if (interleave == Interleave::kLine) {
    start_of_scan(0, components);
    internal::ScanLayout layout;
    layout.width = format.width;
    layout.height = format.height;
    layout.components = components;
    // CharLS reads line-interleaved frames from pixel-interleaved memory
    // (RGBRGB...) too, and regroups each row itself.
    layout.row_stride = static_cast<size_t>(format.width) * components;
    layout.component_stride = 1;
    layout.pixel_stride = static_cast<size_t>(components);
    internal::EncodeScan(params, layout, pixels.data(), out);
  } else {
    start_of_scan(0, components);
    internal::EncodeSampleInterleavedScan(params, format.width, format.height, pixels.data(), out);
  }

  segment.Marker(kEndOfImage);
  return out;
}

const char* ActiveSimdTarget() {
  return internal::ActiveTargetName();
}

}  // namespace pacs::jls
