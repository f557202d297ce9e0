// Real frames from the shared corpus: every codec round-trips them bit for
// bit, and our decoders read the JPEG-LS / JPEG 2000 codestreams other
// encoders wrote (NEMA WG04, dcm_qa_ts) to the same pixels as the
// uncompressed originals.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pacs/codecs/codec_choice.h"
#include "pacs/codecs/codec_options.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/codecs/pixel_scan.h"
#include "test_frames.h"

namespace pacs::codecs {
namespace {

using testing::CorpusEntry;

// Enough of each folder to cover its pixel formats without making the test
// slow: whole series are many slices of the same format.
constexpr int kFilesPerFolder = 3;
constexpr uint32_t kFramesPerFile = 8;

struct RealFrames {
  CorpusEntry entry;
  std::vector<std::vector<uint8_t>> frames;
};

const std::vector<RealFrames>& Selection() {
  static const std::vector<RealFrames> selection = [] {
    std::vector<RealFrames> chosen;
    std::map<std::string, int> per_folder;
    for (CorpusEntry& entry : testing::ReadManifest()) {
      if (!testing::IsNativeLittleEndian(entry.transfer_syntax) || entry.relative_path.starts_with("malformed/"))
        continue;
      if (ChooseCodec(entry.info, entry.photometric, entry.modality) == CodecId::kRaw) continue;
      const std::string folder = std::filesystem::path(entry.relative_path).parent_path();
      if (per_folder[folder] >= kFilesPerFolder) continue;
      auto file = testing::ReadWholeFile(testing::CorpusDir() + "/" + entry.relative_path);
      if (!file) continue;
      entry.info.planar = testing::ReadPlanarConfiguration(*file);
      const uint32_t frames = std::min(entry.frames, kFramesPerFile);
      const size_t frame_bytes = entry.info.FrameBytes();
      auto pixels = testing::FindNativePixelData(*file, frame_bytes * entry.frames);
      if (!pixels) {
        ADD_FAILURE() << "no native Pixel Data of " << frame_bytes * entry.frames << " bytes in "
                      << entry.relative_path;
        continue;
      }
      RealFrames real{entry, {}};
      for (uint32_t f = 0; f < frames; ++f)
        real.frames.emplace_back(pixels->begin() + f * frame_bytes, pixels->begin() + (f + 1) * frame_bytes);
      ++per_folder[folder];
      chosen.push_back(std::move(real));
    }
    return chosen;
  }();
  return selection;
}

class CorpusRoundTrip : public ::testing::TestWithParam<CodecId> {};

TEST_P(CorpusRoundTrip, RealFramesAreBitExact) {
  const auto codec = MakeCodec(GetParam());
  size_t frames = 0, raw_bytes = 0, coded_bytes = 0;
  size_t signed_frames = 0, colour_frames = 0, above_stored_frames = 0, multi_frame_frames = 0;
  for (const RealFrames& real : Selection()) {
    const FrameInfo& info = real.entry.info;
    ASSERT_TRUE(codec->Supports(info)) << real.entry.relative_path;
    for (size_t f = 0; f < real.frames.size(); ++f) {
      const std::vector<uint8_t>& raw = real.frames[f];
      const auto encoded = codec->Encode(info, raw);
      ASSERT_TRUE(encoded.ok()) << real.entry.relative_path << ": " << encoded.status().ToString();
      const auto decoded = codec->Decode(info, *encoded);
      ASSERT_TRUE(decoded.ok()) << real.entry.relative_path << ": " << decoded.status().ToString();
      ASSERT_TRUE(*decoded == raw) << real.entry.relative_path << " frame " << f << " did not round-trip through "
                                   << CodecName(GetParam());
      ++frames;
      raw_bytes += raw.size();
      coded_bytes += encoded->size();
      signed_frames += info.is_signed;
      colour_frames += info.samples_per_pixel == 3;
      above_stored_frames += HasBitsAboveStored(info, raw);
      multi_frame_frames += real.entry.frames > 1;
    }
  }
  std::printf(
      "%s: %zu real frames from %zu files bit-exact, %.3f stored/raw; signed %zu, colour %zu, "
      "bits above BitsStored %zu, from multi-frame objects %zu\n",
      std::string(CodecName(GetParam())).c_str(), frames, Selection().size(),
      raw_bytes ? static_cast<double>(coded_bytes) / raw_bytes : 0.0, signed_frames, colour_frames, above_stored_frames,
      multi_frame_frames);
  RecordProperty("frames", static_cast<int>(frames));
  // The selection must keep covering every kind of frame the table names.
  EXPECT_GE(frames, 60u);
  EXPECT_GT(signed_frames, 0u);
  EXPECT_GT(colour_frames, 0u);
  EXPECT_GT(above_stored_frames, 0u);
  EXPECT_GT(multi_frame_frames, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CorpusRoundTrip,
                         ::testing::Values(CodecId::kJpegLs, CodecId::kJ2k, CodecId::kHtj2k),
                         [](const auto& info) { return std::string(CodecName(info.param)); });

// What the dicom layer will do: the table's codec and options per file.
TEST(CorpusChosenCodec, RoundTripsWithTheTableChoice) {
  std::map<std::string, size_t> frames_per_choice;
  for (const RealFrames& real : Selection()) {
    const FrameInfo& info = real.entry.info;
    const CodecChoice choice = ChooseCodecAndOptions(info, real.entry.photometric, real.entry.modality);
    const auto codec = MakeCodec(choice.codec, choice.options);
    for (const auto& raw : real.frames) {
      const auto encoded = codec->Encode(info, raw);
      ASSERT_TRUE(encoded.ok()) << real.entry.relative_path << ": " << encoded.status().ToString();
      const auto decoded = codec->Decode(info, *encoded);
      ASSERT_TRUE(decoded.ok() && *decoded == raw) << real.entry.relative_path;
      ++frames_per_choice[std::string(CodecName(choice.codec)) + (choice.options.rgb_colour_transform ? "+rct" : "")];
    }
  }
  for (const auto& [name, count] : frames_per_choice) std::printf("%s: %zu frames\n", name.c_str(), count);
  EXPECT_GT(frames_per_choice["jpegls"], 0u);
  EXPECT_GT(frames_per_choice["j2k+rct"], 0u);
}

// Pairs of corpus files that hold the same pixels, uncompressed and encoded
// by someone else's encoder.
struct GoldenPair {
  const char* uncompressed;
  const char* compressed;
  CodecId decoder;
};

class ForeignCodestreams : public ::testing::TestWithParam<GoldenPair> {};

TEST_P(ForeignCodestreams, DecodeToTheUncompressedPixels) {
  const GoldenPair pair = GetParam();
  const auto manifest = testing::ReadManifest();
  const auto row = std::find_if(manifest.begin(), manifest.end(),
                                [&](const CorpusEntry& e) { return e.relative_path == pair.uncompressed; });
  ASSERT_NE(row, manifest.end()) << pair.uncompressed << " not in MANIFEST.tsv";
  const FrameInfo info = row->info;
  const auto unc_file = testing::ReadWholeFile(testing::CorpusDir() + "/" + pair.uncompressed);
  const auto enc_file = testing::ReadWholeFile(testing::CorpusDir() + "/" + pair.compressed);
  ASSERT_TRUE(unc_file && enc_file);
  const auto expected = testing::FindNativePixelData(*unc_file, info.FrameBytes());
  ASSERT_TRUE(expected.has_value());
  const auto frames = testing::FindEncapsulatedFrames(*enc_file, 1);
  ASSERT_EQ(frames.size(), 1u) << pair.compressed;
  const auto decoded = MakeCodec(pair.decoder)->Decode(info, frames[0]);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(std::equal(decoded->begin(), decoded->end(), expected->begin(), expected->end()))
      << pair.compressed << " decodes differently from " << pair.uncompressed;
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, ForeignCodestreams,
    ::testing::Values(GoldenPair{"nema_wg04/CT1/CT1_UNC.dcm", "nema_wg04/CT1/CT1_JLSL.dcm", CodecId::kJpegLs},
                      GoldenPair{"nema_wg04/CT1/CT1_UNC.dcm", "nema_wg04/CT1/CT1_J2KR.dcm", CodecId::kJ2k},
                      GoldenPair{"nema_wg04/MR2/MR2_UNC.dcm", "nema_wg04/MR2/MR2_JLSL.dcm", CodecId::kJpegLs},
                      GoldenPair{"dcm_qa_ts/1.dcm", "dcm_qa_ts/7.dcm", CodecId::kJpegLs},
                      GoldenPair{"dcm_qa_ts/1.dcm", "dcm_qa_ts/8.dcm", CodecId::kJpegLs},
                      GoldenPair{"dcm_qa_ts/1.dcm", "dcm_qa_ts/9.dcm", CodecId::kJ2k}),
    [](const auto& info) {
      std::string name = std::filesystem::path(info.param.compressed).stem().string();
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return "ts_" + name;
    });

}  // namespace
}  // namespace pacs::codecs
