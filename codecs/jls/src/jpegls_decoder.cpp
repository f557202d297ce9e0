// The codestream around the scans: markers and segments read with bounds
// checks, the frame header checked against the DICOM attributes, and the
// coding parameters of each scan derived as CharLS 2.4.1 derives them.
#include "pacs/jls/jpegls_decoder.h"

#include <algorithm>
#include <string>

#include "coding_parameters.h"
#include "scan_decoder.h"

namespace pacs::jls {
namespace {

constexpr uint8_t kStartOfImage = 0xD8;
constexpr uint8_t kEndOfImage = 0xD9;
constexpr uint8_t kStartOfScan = 0xDA;
constexpr uint8_t kDefineRestartInterval = 0xDD;
constexpr uint8_t kStartOfFrameJpegLs = 0xF7;      // SOF55
constexpr uint8_t kJpegLsPresetParameters = 0xF8;  // LSE
constexpr uint8_t kComment = 0xFE;
constexpr uint8_t kApplicationData0 = 0xE0;
constexpr uint8_t kApplicationData8 = 0xE8;
constexpr int kDefaultReset = 64;

std::string Hex(uint8_t code) {
  constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string("0xFF") + kDigits[code >> 4] + kDigits[code & 15];
}

bool IsOtherJpegStartOfFrame(uint8_t code) {
  return (code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC) || code == 0xF9;
}

// The preset coding parameters of an LSE segment (0: use the default).
struct PresetParameters {
  int32_t max_value = 0, t1 = 0, t2 = 0, t3 = 0, reset = 0;
};

// Everything the segments before a scan say.
struct HeaderState {
  bool frame_seen = false;
  FrameHeader frame;
  PresetParameters preset;
  uint32_t restart_interval = 0;
  internal::ColorTransform transform = internal::ColorTransform::kNone;
};

// A cursor over the codestream that never reads past its end.
class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end) : pos_(begin), end_(end) {}
  size_t remaining() const { return static_cast<size_t>(end_ - pos_); }
  const uint8_t* position() const { return pos_; }
  const uint8_t* end() const { return end_; }
  void Seek(const uint8_t* p) { pos_ = p; }

  // A marker: 0xFF, any number of 0xFF fill bytes, the code.
  Result<uint8_t> Marker() {
    if (remaining() < 2) return Status::Corruption("the codestream ends where a marker should be (truncated)");
    if (*pos_ != 0xFF) return Status::Corruption("a marker was expected, found byte " + std::to_string(*pos_));
    ++pos_;
    while (pos_ < end_ && *pos_ == 0xFF) ++pos_;
    if (pos_ >= end_) return Status::Corruption("the codestream ends inside a marker (truncated)");
    return *pos_++;
  }

  // The payload of a marker segment (after its length field).
  Result<std::pair<const uint8_t*, size_t>> Segment(uint8_t code) {
    if (remaining() < 2) return Status::Corruption("segment " + Hex(code) + " is truncated");
    const size_t length = (static_cast<size_t>(pos_[0]) << 8) | pos_[1];
    if (length < 2) return Status::Corruption("segment " + Hex(code) + " has an invalid length");
    if (length > remaining()) return Status::Corruption("segment " + Hex(code) + " is longer than the codestream");
    const uint8_t* payload = pos_ + 2;
    pos_ += length;
    return std::make_pair(payload, length - 2);
  }

 private:
  const uint8_t* pos_;
  const uint8_t* end_;
};

uint32_t Word(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 8) | p[1];
}

Status ReadStartOfFrame(const uint8_t* p, size_t size, HeaderState& state) {
  if (state.frame_seen) return Status::Corruption("a second SOF segment");
  if (size < 6) return Status::Corruption("the SOF segment is too short");
  FrameHeader& frame = state.frame;
  frame.bits_per_sample = p[0];
  frame.height = Word(p + 1);
  frame.width = Word(p + 3);
  frame.component_count = p[5];
  if (frame.bits_per_sample < 2 || frame.bits_per_sample > 16)
    return Status::Corruption("SOF precision " + std::to_string(frame.bits_per_sample) + " is outside 2..16");
  if (frame.width == 0) return Status::Corruption("SOF width is 0");
  if (frame.height == 0)
    return Status::Unsupported("SOF height 0 (the height in a DNL segment after the scan) is not supported");
  if (frame.component_count == 0) return Status::Corruption("SOF has no components");
  if (size != 6 + 3 * static_cast<size_t>(frame.component_count))
    return Status::Corruption("the SOF segment length does not match its component count");
  for (int c = 0; c < frame.component_count; ++c) {
    // CharLS refuses a repeated identifier; a scan could not tell the two
    // components apart.
    for (int earlier = 0; earlier < c; ++earlier) {
      if (p[6 + 3 * c] == p[6 + 3 * earlier])
        return Status::Corruption("SOF component identifier " + std::to_string(p[6 + 3 * c]) + " appears twice");
    }
    if (p[6 + 3 * c + 1] != 0x11)
      return Status::Unsupported("SOF component " + std::to_string(c) + " is subsampled (not supported)");
  }
  state.frame_seen = true;
  return Status::Ok();
}

Status ReadPresetParameters(const uint8_t* p, size_t size, HeaderState& state) {
  if (size < 1) return Status::Corruption("empty LSE segment");
  switch (p[0]) {
    case 1:
      if (size != 11) return Status::Corruption("the LSE preset coding parameters segment has a wrong length");
      state.preset = {static_cast<int32_t>(Word(p + 1)), static_cast<int32_t>(Word(p + 3)),
                      static_cast<int32_t>(Word(p + 5)), static_cast<int32_t>(Word(p + 7)),
                      static_cast<int32_t>(Word(p + 9))};
      return Status::Ok();
    case 2:
    case 3:
      return Status::Unsupported("JPEG-LS mapping tables (LSE type " + std::to_string(p[0]) + ") are not supported");
    case 4:
      return Status::Unsupported("JPEG-LS oversize image dimensions (LSE type 4) are not supported");
    default:
      return Status::Corruption("unknown LSE segment type " + std::to_string(p[0]));
  }
}

Status ReadRestartInterval(const uint8_t* p, size_t size, HeaderState& state) {
  if (size == 2) {
    state.restart_interval = Word(p);
  } else if (size == 3) {
    state.restart_interval = (Word(p) << 8) | p[2];
  } else if (size == 4) {
    state.restart_interval = (Word(p) << 16) | Word(p + 2);
  } else {
    return Status::Corruption("the DRI segment has a wrong length");
  }
  return Status::Ok();
}

Status ReadApplicationData8(const uint8_t* p, size_t size, HeaderState& state) {
  // HP's colour transform segment: "mrfx" and the transform id. CharLS
  // 2.4.1 refuses ids above 3 (HP's own 4 and 5 included), whatever the
  // frame; so do we.
  if (size == 5 && p[0] == 'm' && p[1] == 'r' && p[2] == 'f' && p[3] == 'x') {
    if (p[4] > 3)
      return Status::Unsupported("HP colour transform " + std::to_string(p[4]) + " (only 1 to 3 are supported)");
    state.transform = static_cast<internal::ColorTransform>(p[4]);
  }
  return Status::Ok();
}

// Reads marker segments until a SOS (returned with its payload) or, with
// `stop_after_frame`, until the SOF has been read.
Result<std::pair<const uint8_t*, size_t>> ReadSegments(Reader& reader, HeaderState& state, bool stop_after_frame) {
  for (;;) {
    auto marker = reader.Marker();
    if (!marker.ok()) return marker.status();
    const uint8_t code = *marker;
    if (code == kEndOfImage) return Status::Corruption("end of image before the scan data");
    if (code == kStartOfImage) return Status::Corruption("a second SOI marker");
    if (code >= 0xD0 && code <= 0xD7) return Status::Corruption("a restart marker outside the scan data");
    const bool known = code == kStartOfScan || code == kDefineRestartInterval || code == kStartOfFrameJpegLs ||
                       code == kJpegLsPresetParameters || code == kComment ||
                       (code >= kApplicationData0 && code <= kApplicationData0 + 15);
    if (!known) {
      if (IsOtherJpegStartOfFrame(code))
        return Status::Unsupported("not a JPEG-LS codestream (SOF marker " + Hex(code) + ")");
      return Status::Corruption("marker " + Hex(code) + " does not belong in a JPEG-LS codestream");
    }
    auto segment = reader.Segment(code);
    if (!segment.ok()) return segment.status();
    const auto [payload, size] = *segment;
    switch (code) {
      case kStartOfFrameJpegLs:
        PACS_RETURN_IF_ERROR(ReadStartOfFrame(payload, size, state));
        if (stop_after_frame) return *segment;
        break;
      case kStartOfScan:
        if (!state.frame_seen) return Status::Corruption("SOS before SOF");
        return *segment;
      case kJpegLsPresetParameters:
        PACS_RETURN_IF_ERROR(ReadPresetParameters(payload, size, state));
        break;
      case kDefineRestartInterval:
        PACS_RETURN_IF_ERROR(ReadRestartInterval(payload, size, state));
        break;
      case kApplicationData8:
        PACS_RETURN_IF_ERROR(ReadApplicationData8(payload, size, state));
        break;
      default:  // APPn, COM: skipped
        break;
    }
  }
}

Result<HeaderState> ReadHeader(Reader& reader) {
  auto first = reader.Marker();
  if (!first.ok() || *first != kStartOfImage) return Status::Corruption("the codestream does not start with SOI");
  return HeaderState{};
}

std::string Describe(const FrameHeader& f) {
  return std::to_string(f.width) + "x" + std::to_string(f.height) + ", " + std::to_string(f.component_count) +
         " component(s), " + std::to_string(f.bits_per_sample) + " bits";
}

Status CheckExpected(const ExpectedFrame& e) {
  if (e.width == 0 || e.height == 0 || e.components < 1 || e.components > 4 ||
      (e.bits_allocated != 8 && e.bits_allocated != 16) || e.bits_stored < 1 || e.bits_stored > e.bits_allocated)
    return Status::InvalidArgument("JPEG-LS decoder (pacs::jls): unusable frame description " +
                                   std::to_string(e.width) + "x" + std::to_string(e.height) + ", " +
                                   std::to_string(e.components) + " component(s), bits allocated " +
                                   std::to_string(e.bits_allocated) + ", stored " + std::to_string(e.bits_stored));
  return Status::Ok();
}

Status CompareFrame(const FrameHeader& f, const ExpectedFrame& e) {
  if (f.width != e.width || f.height != e.height || f.component_count != e.components ||
      f.bits_per_sample < e.bits_stored || f.bits_per_sample > e.bits_allocated)
    return Status::Corruption(
        "JPEG-LS frame header (" + Describe(f) + ") disagrees with the DICOM attributes (" + std::to_string(e.width) +
        "x" + std::to_string(e.height) + ", " + std::to_string(e.components) + " component(s), bits stored " +
        std::to_string(e.bits_stored) + ", allocated " + std::to_string(e.bits_allocated) + "); nothing decoded");
  return Status::Ok();
}

// Default thresholds of C.2.4.1.1.1 for MAXVAL and NEAR, with CharLS's clamp.
internal::CodingParameters DefaultThresholds(int32_t max_value, int32_t near) {
  internal::CodingParameters p;
  constexpr int32_t kBasicT1 = 3, kBasicT2 = 7, kBasicT3 = 21;
  if (max_value >= 128) {
    const int32_t factor = (std::min(max_value, 4095) + 128) / 256;
    p.t1 = internal::ClampThreshold(factor * (kBasicT1 - 2) + 2 + 3 * near, near + 1, max_value);
    p.t2 = internal::ClampThreshold(factor * (kBasicT2 - 3) + 3 + 5 * near, p.t1, max_value);
    p.t3 = internal::ClampThreshold(factor * (kBasicT3 - 4) + 4 + 7 * near, p.t2, max_value);
  } else {
    const int32_t factor = 256 / (max_value + 1);
    p.t1 = internal::ClampThreshold(std::max(2, kBasicT1 / factor + 3 * near), near + 1, max_value);
    p.t2 = internal::ClampThreshold(std::max(3, kBasicT2 / factor + 5 * near), p.t1, max_value);
    p.t3 = internal::ClampThreshold(std::max(4, kBasicT3 / factor + 7 * near), p.t2, max_value);
  }
  return p;
}

int32_t CeilLog2(int32_t n) {
  int32_t x = 0;
  while (n > (1 << x)) ++x;
  return x;
}

// The parameters of a scan: the preset values validated as CharLS does
// (Table C.1), the defaults filled in, and CharLS's choice of traits.
Result<internal::ScanParameters> MakeScanParameters(const HeaderState& state, int32_t near, Interleave interleave,
                                                    int components) {
  const int32_t bits = state.frame.bits_per_sample;
  const int32_t full = (1 << bits) - 1;
  const PresetParameters& pc = state.preset;
  if (pc.max_value != 0 && pc.max_value > full)
    return Status::Corruption("LSE MAXVAL " + std::to_string(pc.max_value) + " exceeds the precision");
  const int32_t max_value = pc.max_value != 0 ? pc.max_value : full;
  if (near > std::min(255, max_value / 2))
    return Status::Corruption("NEAR " + std::to_string(near) + " is too large for MAXVAL " + std::to_string(max_value));
  const internal::CodingParameters defaults = DefaultThresholds(max_value, near);
  if (pc.t1 != 0 && (pc.t1 < near + 1 || pc.t1 > max_value)) return Status::Corruption("invalid LSE T1");
  const int32_t t1 = pc.t1 != 0 ? pc.t1 : defaults.t1;
  if (pc.t2 != 0 && (pc.t2 < t1 || pc.t2 > max_value)) return Status::Corruption("invalid LSE T2");
  const int32_t t2 = pc.t2 != 0 ? pc.t2 : defaults.t2;
  if (pc.t3 != 0 && (pc.t3 < t2 || pc.t3 > max_value)) return Status::Corruption("invalid LSE T3");
  const int32_t t3 = pc.t3 != 0 ? pc.t3 : defaults.t3;
  if (pc.reset != 0 && (pc.reset < 3 || pc.reset > std::max(255, max_value)))
    return Status::Corruption("invalid LSE RESET");
  const int32_t reset = pc.reset != 0 ? pc.reset : kDefaultReset;

  internal::ScanParameters p;
  p.bits_per_sample = bits;
  p.near = near;
  p.range = (full + 2 * near) / (2 * near + 1) + 1;
  p.qbpp = CeilLog2(p.range);
  const int32_t bpp = CeilLog2(full);
  p.limit = 2 * (bpp + std::max(8, bpp));
  p.t1 = t1;
  p.t2 = t2;
  p.t3 = t3;
  p.reset = reset;
  // CharLS 2.4.1 passes RESET to its run mode contexts as a byte: there 258
  // acts as 2 (streams with RESETs above 255 are decoded as it does).
  p.run_reset = reset & 0xFF;
  if (reset == kDefaultReset) {
    // CharLS's specialised codecs: MAXVAL from the precision, the masking
    // lossless traits for the common formats.
    p.max_value = full;
    if (near == 0) {
      if (interleave == Interleave::kSample && components > 1) {
        p.mask_reconstruction = bits == 8;
      } else {
        p.mask_reconstruction = bits == 8 || bits == 12 || bits == 16;
      }
    }
  } else {
    // CharLS's general codec (used for any RESET but 64) has no
    // pixel-interleaved form: it codes one component's samples per line of a
    // sample-interleaved scan, which neither its encoder (an assertion
    // fails) nor anyone else writes. Refused rather than imitated.
    if (interleave == Interleave::kSample && components > 1)
      return Status::Unsupported("sample interleave with a RESET of " + std::to_string(reset) +
                                 " (CharLS 2.4.1 mis-codes it)");
    p.max_value = max_value;
  }
  return p;
}

}  // namespace

Result<FrameHeader> ReadFrameHeader(std::span<const uint8_t> codestream) {
  Reader reader(codestream.data(), codestream.data() + codestream.size());
  auto header = ReadHeader(reader);
  if (!header.ok()) return header.status();
  HeaderState& state = *header;
  auto segment = ReadSegments(reader, state, /*stop_after_frame=*/true);
  if (!segment.ok()) return segment.status();
  return state.frame;
}

Status CheckFrameHeader(std::span<const uint8_t> codestream, const ExpectedFrame& expected) {
  PACS_RETURN_IF_ERROR(CheckExpected(expected));
  auto frame = ReadFrameHeader(codestream);
  if (!frame.ok()) return frame.status().WithContext("JPEG-LS frame header unreadable; nothing decoded");
  return CompareFrame(*frame, expected);
}

bool EndsWithEndOfImage(std::span<const uint8_t> codestream) {
  const size_t n = codestream.size();
  return n >= 2 && codestream[n - 2] == 0xFF && codestream[n - 1] == kEndOfImage;
}

size_t DecodedBytes(const ExpectedFrame& e) {
  return static_cast<size_t>(e.width) * e.height * static_cast<size_t>(e.components) *
         static_cast<size_t>(e.bits_allocated == 16 ? 2 : 1);
}

Result<DecodedFrame> DecodeFrame(std::span<const uint8_t> codestream, const ExpectedFrame& expected,
                                 std::span<uint8_t> out) {
  PACS_RETURN_IF_ERROR(CheckExpected(expected));
  if (out.size() != DecodedBytes(expected))
    return Status::InvalidArgument("JPEG-LS decoder (pacs::jls): output buffer of " + std::to_string(out.size()) +
                                   " bytes for a frame of " + std::to_string(DecodedBytes(expected)));
  const auto fail = [](const Status& status) {
    return status.WithContext("JPEG-LS decoder (pacs::jls): frame not decoded");
  };
  Reader reader(codestream.data(), codestream.data() + codestream.size());
  auto header = ReadHeader(reader);
  if (!header.ok()) return fail(header.status());
  HeaderState& state = *header;

  DecodedFrame result;
  const int components = expected.components;
  const int bytes_per_sample = expected.bits_allocated / 8;
  const size_t plane = static_cast<size_t>(expected.width) * expected.height;
  int components_done = 0;
  bool first_scan = true;
  while (components_done < components) {
    auto segment = ReadSegments(reader, state, /*stop_after_frame=*/false);
    if (!segment.ok()) return fail(segment.status());
    if (first_scan) {
      Status frame_check = CompareFrame(state.frame, expected);
      if (!frame_check.ok()) return frame_check;
      result.header = state.frame;
    }
    const auto [p, size] = *segment;
    if (size < 1) return fail(Status::Corruption("empty SOS segment"));
    const int scan_components = p[0];
    if (scan_components < 1 || scan_components > 4 || scan_components > components ||
        size != 4 + 2 * static_cast<size_t>(scan_components))
      return fail(Status::Corruption("invalid SOS segment (" + std::to_string(scan_components) + " components)"));
    for (int c = 0; c < scan_components; ++c) {
      // Component ids are not checked (CharLS does not either).
      if (p[2 + 2 * c] != 0)
        return fail(Status::Unsupported("JPEG-LS mapping table " + std::to_string(p[2 + 2 * c]) + " in SOS"));
    }
    const uint8_t* tail = p + 1 + (ptrdiff_t{2} * scan_components);
    const int32_t near = tail[0];
    const int interleave_code = tail[1];
    if (interleave_code > 2)
      return fail(Status::Corruption("invalid interleave mode " + std::to_string(interleave_code)));
    const auto interleave = static_cast<Interleave>(interleave_code);
    if (tail[2] != 0) return fail(Status::Unsupported("point transform " + std::to_string(tail[2]) + " in SOS"));
    if (components != 3 && components != 4 && interleave != Interleave::kNone)
      return fail(Status::Unsupported("interleave mode " + std::to_string(interleave_code) + " with " +
                                      std::to_string(components) + " components"));
    if ((interleave == Interleave::kNone) != (scan_components == 1) ||
        (interleave != Interleave::kNone && scan_components != components) ||
        (!first_scan && interleave != result.interleave))
      return fail(Status::Corruption("SOS with " + std::to_string(scan_components) +
                                     " components does not fit interleave mode " + std::to_string(interleave_code)));
    if (first_scan) {
      result.interleave = interleave;
      result.near_lossless = near;
    }
    first_scan = false;

    auto params = MakeScanParameters(state, near, interleave, scan_components);
    if (!params.ok()) return fail(params.status());
    internal::ScanGeometry geometry;
    geometry.width = expected.width;
    geometry.height = expected.height;
    geometry.components = scan_components;
    geometry.interleave = interleave;
    geometry.restart_interval = state.restart_interval;
    internal::OutputLayout layout;
    layout.bytes_per_sample = bytes_per_sample;
    layout.transform = state.transform;
    if (interleave == Interleave::kNone) {
      layout.base = out.data() + components_done * plane * bytes_per_sample;
      layout.pixel_stride = 1;
      layout.row_stride = expected.width;
      layout.component_stride = plane;
      layout.transform = internal::ColorTransform::kNone;
    } else {
      if (state.transform != internal::ColorTransform::kNone && scan_components != 3)
        return fail(Status::Unsupported("HP colour transform " + std::to_string(static_cast<int>(state.transform)) +
                                        " with " + std::to_string(scan_components) + " components"));
      // CharLS 2.4.1 applies the transforms to 8- and 16-bit samples only
      // and refuses other precisions in an interleaved scan.
      if (state.transform != internal::ColorTransform::kNone && state.frame.bits_per_sample != 8 &&
          state.frame.bits_per_sample != 16)
        return fail(Status::Unsupported("HP colour transform " + std::to_string(static_cast<int>(state.transform)) +
                                        " on " + std::to_string(state.frame.bits_per_sample) +
                                        "-bit samples (8 or 16 only)"));
      layout.base = out.data();
      layout.pixel_stride = static_cast<size_t>(components);
      layout.row_stride = static_cast<size_t>(expected.width) * components;
      layout.component_stride = 1;
    }
    auto next = internal::DecodeScan(*params, geometry, reader.position(), reader.end(), layout);
    if (!next.ok()) return fail(next.status());
    reader.Seek(*next);
    components_done += scan_components;
  }
  auto marker = reader.Marker();
  if (!marker.ok() || *marker != kEndOfImage)
    return fail(Status::Corruption("no end of image marker after the last scan"));
  return result;
}

}  // namespace pacs::jls
