// Every frame of the corpus and of pydicom's test files, read with DCMTK
// (compressed JPEG and RLE files decoded by DCMTK first), through every codec
// that applies to its pixel format (the table of docs/codecs.md): encoded,
// decoded, compared bit for bit. The frame counts are asserted so that a
// reader change cannot silently test nothing.
#include <gtest/gtest.h>

#include "corpus.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "pacs/codecs/codec_choice.h"
#include "pacs/codecs/codec_options.h"
#include "pacs/dicom/instance_split.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

struct Counts {
  std::map<std::string, int> frames;  // codec -> frames round-tripped
  int files = 0;
};

// Round-trips the native frames of one file through every codec that supports them.
void RoundTripFile(const fs::path& path, Counts& counts) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return;
  DcmDataset& ds = *file.getDataset();
  if (DcmXfer(ds.getOriginalXfer()).isEncapsulated()) {
    // JPEG and RLE: the frames as DCMTK decodes them. JPEG-LS and JPEG 2000
    // input is decoded by our own codecs, which these frames are testing.
    if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() || !ds.canWriteXfer(EXS_LittleEndianExplicit))
      return;
  }
  auto info = dicom::FrameInfoFromDataset(ds);
  if (!info.ok()) return;
  const Uint8* data = nullptr;
  unsigned long count = 0;
  if (ds.findAndGetUint8Array(DCM_PixelData, data, &count).bad() || data == nullptr) return;
  OFString frames_text, photometric;
  ds.findAndGetOFString(DCM_NumberOfFrames, frames_text);
  ds.findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  const size_t frames = frames_text.empty() ? 1 : std::max(1L, std::atol(frames_text.c_str()));
  const size_t frame_bytes = info->FrameBytes();
  if (count < frames * frame_bytes) return;
  // What the table stores this format with; formats it keeps raw are not coded.
  const auto choice = codecs::ChooseCodecAndOptions(*info, photometric.c_str(), "");
  if (choice.codec == codecs::CodecId::kRaw) return;
  ++counts.files;
  for (auto id : {codecs::CodecId::kJpegLs, codecs::CodecId::kJ2k, codecs::CodecId::kHtj2k}) {
    codecs::CodecOptions options;
    options.rgb_colour_transform = id != codecs::CodecId::kJpegLs && choice.options.rgb_colour_transform;
    auto codec = codecs::MakeCodec(id, options);
    if (!codec->Supports(*info)) continue;
    for (size_t f = 0; f < frames; ++f) {
      std::span<const uint8_t> raw(data + f * frame_bytes, frame_bytes);
      auto encoded = codec->Encode(*info, raw);
      ASSERT_TRUE(encoded.ok()) << path << " frame " << f << ": " << encoded.status().ToString();
      auto decoded = codec->Decode(*info, *encoded);
      ASSERT_TRUE(decoded.ok()) << path << " frame " << f << ": " << decoded.status().ToString();
      ASSERT_TRUE(std::equal(decoded->begin(), decoded->end(), raw.begin(), raw.end()))
          << std::string(codecs::CodecName(id)) << " is not lossless on " << path << " frame " << f;
      ++counts.frames[std::string(codecs::CodecName(id))];
    }
  }
}

void Init() {
  dicom::InitDicomLibrary();
  static bool registered = [] {
    DJDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    return true;
  }();
  (void)registered;
}

TEST(AllFramesCodecTest, CorpusFramesRoundTripThroughEveryApplicableCodec) {
  Init();
  Counts counts;
  for (const auto& f : LoadCorpus().files) RoundTripFile(f.path, counts);
  std::printf("corpus: %d files; frames jpegls %d, j2k %d, htj2k %d\n", counts.files, counts.frames["jpegls"],
              counts.frames["j2k"], counts.frames["htj2k"]);
  // Measured: 435 files, 690 frames per codec (the rest are 1-bit, subsampled
  // YBR or JPEG-LS/JPEG 2000 input, which tests/codecs decodes with our codecs).
  EXPECT_GE(counts.files, 430);
  for (const char* codec : {"jpegls", "j2k", "htj2k"}) EXPECT_GE(counts.frames[codec], 680) << codec;
}

TEST(AllFramesCodecTest, PydicomFramesRoundTripThroughEveryApplicableCodec) {
  Init();
  Counts counts;
  for (const auto& f : LoadPydicomValid().files) RoundTripFile(f.path, counts);
  std::printf("pydicom: %d files; frames jpegls %d, j2k %d, htj2k %d\n", counts.files, counts.frames["jpegls"],
              counts.frames["j2k"], counts.frames["htj2k"]);
  // Measured: 30 files, 32 frames per codec.
  EXPECT_GE(counts.files, 28);
  for (const char* codec : {"jpegls", "j2k", "htj2k"}) EXPECT_GE(counts.frames[codec], 30) << codec;
}

}  // namespace
}  // namespace pacs::testing
