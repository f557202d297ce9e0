// The JPEG-LS codec wrapper, the one way the product decodes JPEG-LS: every
// JPEG-LS frame of the shared corpus decodes through it to the same pixels as
// CharLS 2.4.1 (the oracle) gives; PACS_JPEGLS_DECODER=charls really switches
// it to CharLS (ctest runs this binary twice, once with the variable set);
// and with either decoder a codestream whose frame header disagrees with the
// frame description, or that is truncated, is refused before decoding.
#include <charls/charls.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pacs/codecs/frame_codec.h"
#include "test_frames.h"

namespace pacs::codecs {
namespace {

using testing::CorpusEntry;

bool CharlsSelected() {
  const char* choice = std::getenv("PACS_JPEGLS_DECODER");
  return choice != nullptr && std::strcmp(choice, "charls") == 0;
}

bool IsJpegLs(const std::string& uid) {
  return uid == "1.2.840.10008.1.2.4.80" || uid == "1.2.840.10008.1.2.4.81";
}

// CharLS's own decode of a grayscale frame, as native little-endian samples.
std::vector<uint8_t> CharlsNative(const FrameInfo& info, std::span<const uint8_t> codestream) {
  charls::jpegls_decoder decoder;
  decoder.source(codestream.data(), codestream.size());
  decoder.read_header();
  std::vector<uint8_t> pixels(decoder.destination_size());
  decoder.decode(pixels);
  if (decoder.frame_info().bits_per_sample > 8 || info.bits_allocated == 8) return pixels;
  std::vector<uint8_t> widened(pixels.size() * 2, 0);
  for (size_t i = 0; i < pixels.size(); ++i) widened[2 * i] = pixels[i];
  return widened;
}

struct CorpusFrame {
  CorpusEntry entry;
  std::vector<uint8_t> codestream;
};

std::vector<CorpusFrame> JpegLsCorpusFrames() {
  std::vector<CorpusFrame> out;
  for (const CorpusEntry& entry : testing::ReadManifest()) {
    // malformed/ holds two JPEG-LS files broken on purpose (below the pixels).
    if (!IsJpegLs(entry.transfer_syntax) || entry.relative_path.starts_with("malformed/")) continue;
    auto file = testing::ReadWholeFile(testing::CorpusDir() + "/" + entry.relative_path);
    if (!file) {
      ADD_FAILURE() << "cannot read " << entry.relative_path;
      continue;
    }
    for (auto& frame : testing::FindEncapsulatedFrames(*file, entry.frames)) out.push_back({entry, std::move(frame)});
  }
  return out;
}

TEST(JpegLsDecoderChoice, EnvironmentSelectsTheDecoder) {
  EXPECT_EQ(JpegLsDecoderName(), CharlsSelected() ? "CharLS 2.4.1" : "pacs::jls");
}

TEST(JpegLsDecoderChoice, EveryCorpusFrameDecodesAsCharlsDecodesIt) {
  const auto frames = JpegLsCorpusFrames();
  ASSERT_GE(frames.size(), 9u) << "the corpus has 9 readable JPEG-LS files";
  const JpegLsDecodeCounts before = JpegLsFramesDecoded();
  const auto codec = MakeCodec(CodecId::kJpegLs);
  uint64_t decoded_frames = 0;
  for (const CorpusFrame& frame : frames) {
    SCOPED_TRACE(frame.entry.relative_path);
    const auto decoded = codec->Decode(frame.entry.info, frame.codestream);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    ++decoded_frames;
    const std::vector<uint8_t> oracle = CharlsNative(frame.entry.info, frame.codestream);
    EXPECT_TRUE(*decoded == oracle) << "decodes differently from CharLS";
  }
  std::printf("%llu JPEG-LS corpus frames decoded by %s, identical to CharLS\n",
              static_cast<unsigned long long>(decoded_frames), std::string(JpegLsDecoderName()).c_str());
  // Every frame went through the selected decoder and none through the other.
  const JpegLsDecodeCounts after = JpegLsFramesDecoded();
  EXPECT_EQ(after.ours - before.ours, CharlsSelected() ? 0u : decoded_frames);
  EXPECT_EQ(after.charls - before.charls, CharlsSelected() ? decoded_frames : 0u);
}

// A CT frame of the corpus with a 16-bit SOF of 12-bit-stored data.
const CorpusFrame& SampleFrame() {
  static const CorpusFrame sample = [] {
    for (auto& frame : JpegLsCorpusFrames())
      if (frame.entry.relative_path == "dcm_qa_ts/7.dcm") return frame;
    return CorpusFrame{};
  }();
  return sample;
}

void ExpectRefused(const FrameInfo& info, std::span<const uint8_t> codestream, const std::string& what,
                   const std::string& message_part) {
  SCOPED_TRACE(what);
  const JpegLsDecodeCounts before = JpegLsFramesDecoded();
  const auto decoded = MakeCodec(CodecId::kJpegLs)->Decode(info, codestream);
  ASSERT_FALSE(decoded.ok()) << "accepted";
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption) << decoded.status().ToString();
  EXPECT_NE(decoded.status().message().find(message_part), std::string::npos) << decoded.status().ToString();
  const JpegLsDecodeCounts after = JpegLsFramesDecoded();
  EXPECT_EQ(after.ours, before.ours);
  EXPECT_EQ(after.charls, before.charls);
}

TEST(JpegLsDecoderChoice, FrameHeaderMustAgreeWithTheFrameDescription) {
  const CorpusFrame& sample = SampleFrame();
  ASSERT_FALSE(sample.codestream.empty()) << "dcm_qa_ts/7.dcm not found in the corpus";
  const FrameInfo info = sample.entry.info;  // 384x384, 16 allocated, 12 stored
  ASSERT_TRUE(MakeCodec(CodecId::kJpegLs)->Decode(info, sample.codestream).ok());

  FrameInfo wider = info;
  wider.columns += 1;
  ExpectRefused(wider, sample.codestream, "width", "disagrees with the DICOM attributes");
  FrameInfo taller = info;
  taller.rows -= 1;
  ExpectRefused(taller, sample.codestream, "height", "disagrees with the DICOM attributes");
  FrameInfo colour = info;
  colour.samples_per_pixel = 3;
  ExpectRefused(colour, sample.codestream, "components", "disagrees with the DICOM attributes");
  FrameInfo more_bits_stored = info;  // P (16 here, or 12) below BitsStored
  more_bits_stored.bits_stored = 16;
  std::vector<uint8_t> p12 = sample.codestream;
  // The SOF55 precision byte follows FF F7 and the two length bytes.
  for (size_t i = 0; i + 4 < p12.size(); ++i)
    if (p12[i] == 0xFF && p12[i + 1] == 0xF7) {
      ASSERT_GE(p12[i + 4], 12) << "unexpected SOF precision";
      p12[i + 4] = 12;
      break;
    }
  ExpectRefused(more_bits_stored, p12, "precision below BitsStored", "disagrees with the DICOM attributes");
  FrameInfo eight_bit = info;  // P above BitsAllocated
  eight_bit.bits_allocated = 8;
  eight_bit.bits_stored = 8;
  ExpectRefused(eight_bit, sample.codestream, "precision above BitsAllocated", "disagrees with the DICOM attributes");
}

TEST(JpegLsDecoderChoice, TruncatedStreamsAreRefused) {
  const CorpusFrame& sample = SampleFrame();
  ASSERT_FALSE(sample.codestream.empty()) << "dcm_qa_ts/7.dcm not found in the corpus";
  const std::span<const uint8_t> whole(sample.codestream);
  for (const size_t keep : {size_t{2}, size_t{20}, whole.size() / 3, whole.size() - 3}) {
    const auto decoded = MakeCodec(CodecId::kJpegLs)->Decode(sample.entry.info, whole.first(keep));
    ASSERT_FALSE(decoded.ok()) << "accepted the first " << keep << " bytes";
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption) << decoded.status().ToString();
  }
}

}  // namespace
}  // namespace pacs::codecs
