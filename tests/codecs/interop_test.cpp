// Our codestreams read by other implementations, run as the real command
// line tools: OpenJPEG's opj_decompress for J2K and HTJ2K, DCMTK's dcmdjpls
// and GDCM's gdcmconv for JPEG-LS and J2K wrapped in a minimal DICOM file.
// Each test skips when its tool is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pacs/codecs/codec_choice.h"
#include "pacs/codecs/codec_options.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/codecs/pixel_scan.h"
#include "test_frames.h"

namespace pacs::codecs {
namespace {

namespace fs = std::filesystem;
using testing::Pattern;

bool HaveTool(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

int RunQuietly(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

class ScratchDir {
 public:
  ScratchDir() : path_(fs::temp_directory_path() / ("pacs_codecs_interop_" + std::to_string(getpid()))) {
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void WriteFile(const std::string& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

struct NamedFrame {
  std::string name;
  FrameInfo info;
  std::vector<uint8_t> raw;
};

// A real CT slice (12 of 16 bits), a signed CT slice, the 12-bit signed MR
// with 0x0F0F stripes above BitsStored, the RGB ultrasound, and generated
// signed values stored without sign extension.
std::vector<NamedFrame> Frames() {
  std::vector<NamedFrame> frames;
  const char* files[] = {"dcm_qa_ct/philips_ct_140_slices/I10.dcm", "nema_wg04/CT1/CT1_UNC.dcm",
                         "dcm_qa_12bit/12bitSigned_0x0F0F.dcm", "nema_wg04/US1/US1_UNC.dcm"};
  const auto manifest = testing::ReadManifest();
  for (const char* relative : files) {
    for (const auto& entry : manifest) {
      if (entry.relative_path != relative) continue;
      auto file = testing::ReadWholeFile(testing::CorpusDir() + "/" + relative);
      if (!file) break;
      FrameInfo info = entry.info;
      info.planar = testing::ReadPlanarConfiguration(*file);
      auto pixels = testing::FindNativePixelData(*file, info.FrameBytes());
      if (!pixels) break;
      std::string name = fs::path(relative).stem().string();
      frames.push_back({name, info, std::vector<uint8_t>(pixels->begin(), pixels->end())});
    }
  }
  const FrameInfo masked{.rows = 37, .columns = 41, .bits_allocated = 16, .bits_stored = 12, .is_signed = true};
  frames.push_back({"signed_masked", masked, testing::MakeFrame(masked, Pattern::kSignedMasked)});
  const FrameInfo planar{
      .rows = 30, .columns = 31, .bits_allocated = 8, .bits_stored = 8, .samples_per_pixel = 3, .planar = true};
  frames.push_back({"rgb_planar", planar, testing::MakeFrame(planar, Pattern::kSmooth)});
  return frames;
}

uint32_t Sample(const FrameInfo& info, std::span<const uint8_t> raw, size_t index) {
  return info.bits_allocated == 8 ? raw[index] : raw[2 * index] | raw[2 * index + 1] << 8;
}

// Same pixel values: every bit when the codestream carried the whole word,
// else the BitsStored bits (a decoder may sign-extend above them).
void ExpectSamePixelValues(const FrameInfo& info, std::span<const uint8_t> expected, std::span<const uint8_t> actual,
                           const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  const bool whole_word = HasBitsAboveStored(info, expected);
  const uint32_t mask = whole_word ? (1u << info.bits_allocated) - 1u : (1u << info.bits_stored) - 1u;
  const size_t count = info.FrameBytes() / (info.bits_allocated / 8);
  for (size_t i = 0; i < count; ++i)
    ASSERT_EQ(Sample(info, expected, i) & mask, Sample(info, actual, i) & mask) << what << ": sample " << i;
}

// PGX as opj_decompress writes it: "PG ML +|- prec width height\n", then
// big-endian samples of 1 or 2 bytes. Returns the bit patterns.
std::optional<std::vector<uint32_t>> ReadPgx(const std::string& path, int* precision) {
  auto bytes = testing::ReadWholeFile(path);
  if (!bytes) return std::nullopt;
  const auto newline = std::find(bytes->begin(), bytes->end(), '\n');
  if (newline == bytes->end()) return std::nullopt;
  char sign = 0;
  int width = 0, height = 0;
  const std::string header(bytes->begin(), newline);
  if (std::sscanf(header.c_str(), "PG ML %c %d %d %d", &sign, precision, &width, &height) != 4) return std::nullopt;
  const size_t bytes_per = *precision > 8 ? 2 : 1;
  const uint8_t* data = &*newline + 1;
  std::vector<uint32_t> values(static_cast<size_t>(width) * height);
  if (static_cast<size_t>(bytes->end() - newline - 1) < values.size() * bytes_per) return std::nullopt;
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = bytes_per == 1 ? data[i] : (data[2 * i] << 8 | data[2 * i + 1]);
  return values;
}

struct J2kVariant {
  CodecId codec;
  bool rct;
};

class OpjDecompressInterop : public ::testing::TestWithParam<J2kVariant> {};

TEST_P(OpjDecompressInterop, DecodesOurCodestreamsBitExact) {
  if (!HaveTool("opj_decompress")) GTEST_SKIP() << "opj_decompress not installed";
  ScratchDir dir;
  size_t checked = 0;
  for (const NamedFrame& frame : Frames()) {
    const auto encoded = MakeCodec(GetParam().codec, CodecOptions{.rgb_colour_transform = GetParam().rct})
                             ->Encode(frame.info, frame.raw);
    ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
    const std::string j2k = dir / (frame.name + ".j2k");
    WriteFile(j2k, *encoded);
    ASSERT_EQ(RunQuietly("opj_decompress -i " + j2k + " -o " + (dir / (frame.name + ".pgx"))), 0) << frame.name;
    const size_t pixels = static_cast<size_t>(frame.info.rows) * frame.info.columns;
    for (int c = 0; c < frame.info.samples_per_pixel; ++c) {
      int precision = 0;
      const auto values = ReadPgx(dir / (frame.name + "_" + std::to_string(c) + ".pgx"), &precision);
      ASSERT_TRUE(values.has_value()) << frame.name << " component " << c;
      ASSERT_EQ(precision, ChooseEncodingPrecision(frame.info, frame.raw)) << frame.name;
      ASSERT_EQ(values->size(), pixels);
      const uint32_t mask = (1u << precision) - 1u;
      for (size_t i = 0; i < pixels; ++i) {
        const size_t index = frame.info.samples_per_pixel == 1 ? i : frame.info.planar ? c * pixels + i : 3 * i + c;
        ASSERT_EQ((*values)[i] & mask, Sample(frame.info, frame.raw, index))
            << frame.name << " component " << c << " pixel " << i;
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 4u);
}

INSTANTIATE_TEST_SUITE_P(J2kAndHtj2k, OpjDecompressInterop,
                         ::testing::Values(J2kVariant{CodecId::kJ2k, false}, J2kVariant{CodecId::kJ2k, true},
                                           J2kVariant{CodecId::kHtj2k, false}, J2kVariant{CodecId::kHtj2k, true}),
                         [](const auto& info) {
                           return std::string(CodecName(info.param.codec)) + (info.param.rct ? "_rct" : "");
                         });

// --- Minimal DICOM Part 10 writer, enough for dcmdjpls and gdcmconv. ---

void PutTag(std::vector<uint8_t>& out, uint16_t group, uint16_t element) {
  out.insert(out.end(), {static_cast<uint8_t>(group), static_cast<uint8_t>(group >> 8), static_cast<uint8_t>(element),
                         static_cast<uint8_t>(element >> 8)});
}
void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.insert(out.end(), {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)});
}
void Put32(std::vector<uint8_t>& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v));
  Put16(out, static_cast<uint16_t>(v >> 16));
}
void PutString(std::vector<uint8_t>& out, uint16_t group, uint16_t element, const char* vr, std::string value) {
  if (value.size() % 2) value.push_back(std::string_view(vr) == "UI" ? '\0' : ' ');
  PutTag(out, group, element);
  out.insert(out.end(), vr, vr + 2);
  Put16(out, static_cast<uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
}
void PutUs(std::vector<uint8_t>& out, uint16_t group, uint16_t element, uint16_t value) {
  PutTag(out, group, element);
  out.insert(out.end(), {'U', 'S'});
  Put16(out, 2);
  Put16(out, value);
}

std::vector<uint8_t> EncapsulatedDicom(const FrameInfo& info, std::string_view transfer_syntax,
                                       std::span<const uint8_t> codestream, const std::string& colour_photometric) {
  const std::string sop_class = "1.2.840.10008.5.1.4.1.1.7";  // Secondary Capture
  const std::string instance = "1.2.826.0.1.3680043.10.1234.1";
  std::vector<uint8_t> meta;
  PutTag(meta, 0x0002, 0x0001);
  meta.insert(meta.end(), {'O', 'B', 0, 0});
  Put32(meta, 2);
  meta.insert(meta.end(), {0, 1});
  PutString(meta, 0x0002, 0x0002, "UI", sop_class);
  PutString(meta, 0x0002, 0x0003, "UI", instance);
  PutString(meta, 0x0002, 0x0010, "UI", std::string(transfer_syntax));
  PutString(meta, 0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.10.1234");
  std::vector<uint8_t> file(128, 0);
  file.insert(file.end(), {'D', 'I', 'C', 'M'});
  PutTag(file, 0x0002, 0x0000);
  file.insert(file.end(), {'U', 'L'});
  Put16(file, 4);
  Put32(file, static_cast<uint32_t>(meta.size()));
  file.insert(file.end(), meta.begin(), meta.end());
  PutString(file, 0x0008, 0x0016, "UI", sop_class);
  PutString(file, 0x0008, 0x0018, "UI", instance);
  PutUs(file, 0x0028, 0x0002, info.samples_per_pixel);
  PutString(file, 0x0028, 0x0004, "CS", info.samples_per_pixel == 3 ? colour_photometric : "MONOCHROME2");
  if (info.samples_per_pixel == 3) PutUs(file, 0x0028, 0x0006, info.planar ? 1 : 0);
  PutUs(file, 0x0028, 0x0010, static_cast<uint16_t>(info.rows));
  PutUs(file, 0x0028, 0x0011, static_cast<uint16_t>(info.columns));
  PutUs(file, 0x0028, 0x0100, info.bits_allocated);
  PutUs(file, 0x0028, 0x0101, info.bits_stored);
  PutUs(file, 0x0028, 0x0102, static_cast<uint16_t>(info.bits_stored - 1));
  PutUs(file, 0x0028, 0x0103, info.is_signed ? 1 : 0);
  PutTag(file, 0x7FE0, 0x0010);
  file.insert(file.end(), {'O', 'B', 0, 0});
  Put32(file, 0xFFFFFFFFu);
  PutTag(file, 0xFFFE, 0xE000);  // empty basic offset table
  Put32(file, 0);
  PutTag(file, 0xFFFE, 0xE000);
  Put32(file, static_cast<uint32_t>((codestream.size() + 1) / 2 * 2));
  file.insert(file.end(), codestream.begin(), codestream.end());
  if (codestream.size() % 2) file.push_back(0);
  PutTag(file, 0xFFFE, 0xE0DD);
  Put32(file, 0);
  return file;
}

struct DicomTool {
  const char* name;
  CodecId codec;
  const char* command;  // "<tool> IN OUT"
  bool rct = false;     // RGB coded with the colour transform, declared YBR_RCT
};

class DicomToolInterop : public ::testing::TestWithParam<DicomTool> {};

TEST_P(DicomToolInterop, DecodesOurCodestreamsToTheSamePixels) {
  const DicomTool tool = GetParam();
  const std::string binary = std::string(tool.command).substr(0, std::string(tool.command).find(' '));
  if (!HaveTool(binary)) GTEST_SKIP() << binary << " not installed";
  ScratchDir dir;
  size_t checked = 0;
  for (const NamedFrame& frame : Frames()) {
    const auto encoded =
        MakeCodec(tool.codec, CodecOptions{.rgb_colour_transform = tool.rct})->Encode(frame.info, frame.raw);
    ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
    const std::string in = dir / (frame.name + ".dcm");
    const std::string out = dir / (frame.name + "_raw.dcm");
    WriteFile(in, EncapsulatedDicom(frame.info, TransferSyntaxUid(tool.codec), *encoded, tool.rct ? "YBR_RCT" : "RGB"));
    std::string command = tool.command;
    command.replace(command.find("IN"), 2, in);
    command.replace(command.find("OUT"), 3, out);
    ASSERT_EQ(RunQuietly(command), 0) << command;
    const auto decoded_file = testing::ReadWholeFile(out);
    ASSERT_TRUE(decoded_file.has_value());
    const auto pixels = testing::FindNativePixelData(*decoded_file, frame.info.FrameBytes());
    ASSERT_TRUE(pixels.has_value()) << tool.name << " wrote no native pixel data for " << frame.name;
    // DICOM says PlanarConfiguration is irrelevant for JPEG-LS and JPEG 2000
    // (the codestream orders the components); GDCM writes its decoded output
    // colour-by-pixel, so compare in the layout the output file declares.
    std::vector<uint8_t> expected = frame.raw;
    if (frame.info.samples_per_pixel == 3 && testing::ReadPlanarConfiguration(*decoded_file) != frame.info.planar) {
      const size_t pixels = static_cast<size_t>(frame.info.rows) * frame.info.columns;
      for (size_t i = 0; i < pixels; ++i)
        for (size_t c = 0; c < 3; ++c) {
          const size_t planar_index = c * pixels + i, interleaved_index = 3 * i + c;
          expected[frame.info.planar ? interleaved_index : planar_index] =
              frame.raw[frame.info.planar ? planar_index : interleaved_index];
        }
    }
    ExpectSamePixelValues(frame.info, expected, *pixels, std::string(tool.name) + " " + frame.name);
    ++checked;
  }
  EXPECT_GE(checked, 4u);
}

INSTANTIATE_TEST_SUITE_P(Tools, DicomToolInterop,
                         ::testing::Values(DicomTool{"dcmdjpls", CodecId::kJpegLs, "dcmdjpls IN OUT"},
                                           DicomTool{"gdcmconv_jpegls", CodecId::kJpegLs, "gdcmconv --raw IN OUT"},
                                           DicomTool{"gdcmconv_j2k", CodecId::kJ2k, "gdcmconv --raw IN OUT"},
                                           DicomTool{"gdcmconv_j2k_rct", CodecId::kJ2k, "gdcmconv --raw IN OUT", true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace pacs::codecs
