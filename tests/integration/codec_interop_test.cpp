// Pixels stored compressed come back exact, through our own export and
// through other implementations' decoders: DCMTK's dcmdjpls, GDCM's
// gdcmconv and OpenJPEG's opj_decompress decode `export --transfer-syntax
// stored` output to the original pixels.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "corpus.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

// Uncompressed inputs covering the pixel formats of docs/codecs.md.
const char* const kInputs[] = {
    "dcm_qa_ct/ge_hispeed_dual_head/01.dcm",        // 16/16 signed CT
    "dcm_qa_12bit/12bitSigned_0x0F0F.dcm",          // signed 12 in 16, bits above BitsStored
    "nema_wg04/US1/US1_UNC.dcm",                    // RGB 8-bit
    "nema_wg04/NM1/NM1_UNC.dcm",                    // signed 16, 1024x256
    "pydicom_data/693_UNCR.dcm",                    // 14 bits stored, signed
    "pydicom_data/eCT_Supplemental.dcm",            // multi-frame (2)
    "pydicom_data/OBXXXX1A.dcm",                    // 8-bit palette colour
    "dicomparser/us_IM00001_8fr_rgb_implicit.dcm",  // multi-frame RGB, implicit VR
    "highdicom/dx_image.dcm",                       // 169x211: odd sizes, odd length
    "dcm_qa_decubitus/HFS_3_t1_fl2d_sag/0001.dcm",  // 12 in 16 unsigned MR
};
constexpr int kExpectedFrames = 1 + 1 + 1 + 1 + 1 + 2 + 1 + 8 + 1 + 1;

struct Pixels {
  std::string bytes;
  long rows = 0, columns = 0, samples = 1, bits = 16, planar = 0, frames = 1;
  std::string photometric;
};

// Native pixel data of a file, normalised to colour-by-pixel.
std::optional<Pixels> ReadNative(const fs::path& path) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return std::nullopt;
  DcmDataset& ds = *file.getDataset();
  Pixels p;
  Uint16 v = 0;
  if (ds.findAndGetUint16(DCM_Rows, v).good()) p.rows = v;
  if (ds.findAndGetUint16(DCM_Columns, v).good()) p.columns = v;
  if (ds.findAndGetUint16(DCM_SamplesPerPixel, v).good()) p.samples = v;
  if (ds.findAndGetUint16(DCM_BitsAllocated, v).good()) p.bits = v;
  if (ds.findAndGetUint16(DCM_PlanarConfiguration, v).good()) p.planar = v;
  OFString s;
  if (ds.findAndGetOFString(DCM_NumberOfFrames, s).good() && !s.empty()) p.frames = std::atol(s.c_str());
  if (ds.findAndGetOFString(DCM_PhotometricInterpretation, s).good()) p.photometric = s.c_str();
  const Uint8* data = nullptr;
  unsigned long count = 0;
  if (ds.findAndGetUint8Array(DCM_PixelData, data, &count).bad() || data == nullptr) return std::nullopt;
  const size_t frame_bytes = static_cast<size_t>(p.rows) * p.columns * p.samples * (p.bits / 8);
  p.bytes.assign(reinterpret_cast<const char*>(data), std::min<size_t>(count, frame_bytes * p.frames));
  if (p.samples == 3 && p.planar == 1) {
    const size_t plane = static_cast<size_t>(p.rows) * p.columns, bps = p.bits / 8;
    std::string interleaved(p.bytes.size(), '\0');
    for (long f = 0; f < p.frames; ++f)
      for (size_t i = 0; i < plane; ++i)
        for (int c = 0; c < 3; ++c)
          std::memcpy(&interleaved[f * frame_bytes + (i * 3 + c) * bps],
                      &p.bytes[f * frame_bytes + (c * plane + i) * bps], bps);
    p.bytes = std::move(interleaved);
    p.planar = 0;
  }
  return p;
}

// The first encapsulated fragment of a file (the first frame's codestream),
// found by scanning: this also works for HTJ2K files, which DCMTK 3.6.7 cannot read.
std::string FirstFragment(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  const std::string marker("\xE0\x7F\x10\x00OB\x00\x00\xFF\xFF\xFF\xFF", 12);
  size_t pos = data.rfind(marker);
  if (pos == std::string::npos) return {};
  pos += marker.size();
  auto item_length = [&](size_t at) {
    uint32_t len = 0;
    std::memcpy(&len, data.data() + at + 4, 4);
    return len;
  };
  pos += 8 + item_length(pos);  // skip the Basic Offset Table item
  const uint32_t len = item_length(pos);
  return data.substr(pos + 8, len);
}

std::map<std::string, fs::path> BySopUid(const fs::path& dir) {
  std::map<std::string, fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    out[e.path().stem().string()] = e.path();  // export names files by SOP Instance UID
  }
  return out;
}

class CodecInteropTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("interop_" + GetParam());
    std::vector<std::string> argv = {PacscoreBinary(),         "import",  "--data",
                                     (dir_ / "data").string(), "--codec", GetParam()};
    for (const char* rel : kInputs) {
      if (!fs::exists(CorpusDir() / rel)) continue;
      argv.push_back((CorpusDir() / rel).string());
      DcmFileFormat f;
      ASSERT_TRUE(f.loadFile((CorpusDir() / rel).c_str()).good());
      OFString uid;
      f.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid);
      sources_[uid.c_str()] = CorpusDir() / rel;
    }
    auto r = RunCommand(argv);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto ex = RunCommand({PacscoreBinary(), "export", "--data", (dir_ / "data").string(), "--out",
                          (dir_ / "stored").string(), "--transfer-syntax", "stored"});
    ASSERT_EQ(ex.exit_code, 0) << ex.output;
    exported_ = BySopUid(dir_ / "stored");
    ASSERT_EQ(exported_.size(), sources_.size());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Decodes every exported file with `tool` (argv with IN/OUT placeholders) and compares.
  void DecodeAllWith(const std::vector<std::string>& tool) {
    int compared = 0;
    for (const auto& [uid, path] : exported_) {
      const fs::path out = dir_ / (uid + ".decoded.dcm");
      std::vector<std::string> argv;
      for (const auto& a : tool) argv.push_back(a == "IN" ? path.string() : a == "OUT" ? out.string() : a);
      auto r = RunCommand(argv);
      ASSERT_EQ(r.exit_code, 0) << tool[0] << " on " << sources_[uid] << ": " << r.output;
      auto want = ReadNative(sources_[uid]);
      auto got = ReadNative(out);
      ASSERT_TRUE(want && got) << sources_[uid];
      EXPECT_EQ(got->bytes.size(), want->bytes.size()) << sources_[uid];
      EXPECT_TRUE(got->bytes == want->bytes) << tool[0] << " decodes " << sources_[uid] << " to different pixels";
      ++compared;
    }
    EXPECT_EQ(compared, static_cast<int>(sources_.size()));
  }

  // Decodes the first frame's codestream with opj_decompress and compares.
  void DecodeFirstFramesWithOpenJpeg() {
    int compared = 0;
    for (const auto& [uid, path] : exported_) {
      const std::string codestream = FirstFragment(path);
      ASSERT_FALSE(codestream.empty()) << path;
      const fs::path j2k = dir_ / (uid + ".j2k"), raw = dir_ / (uid + ".rawl");
      std::ofstream(j2k, std::ios::binary).write(codestream.data(), static_cast<std::streamsize>(codestream.size()));
      auto r = RunCommand({"opj_decompress", "-i", j2k.string(), "-o", raw.string()});
      ASSERT_EQ(r.exit_code, 0) << r.output;
      std::ifstream in(raw, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string planar = ss.str();  // .rawl: component planes, little endian
      auto want = ReadNative(sources_[uid]);
      ASSERT_TRUE(want);
      const size_t plane = static_cast<size_t>(want->rows) * want->columns, bps = want->bits / 8;
      const size_t frame_bytes = plane * want->samples * bps;
      std::string got(frame_bytes, '\0');
      ASSERT_EQ(planar.size(), frame_bytes) << sources_[uid];
      for (size_t i = 0; i < plane; ++i)
        for (long c = 0; c < want->samples; ++c)
          std::memcpy(&got[(i * want->samples + c) * bps], &planar[(c * plane + i) * bps], bps);
      if (want->photometric == "RGB" && want->samples == 3) {
        // opj_decompress undoes the colour transform itself: planes are R, G, B.
      }
      EXPECT_TRUE(got == want->bytes.substr(0, frame_bytes))
          << "opj_decompress decodes " << sources_[uid] << " differently";
      ++compared;
    }
    EXPECT_EQ(compared, static_cast<int>(sources_.size()));
  }

  fs::path dir_;
  std::map<std::string, fs::path> sources_;   // SOP Instance UID -> corpus file
  std::map<std::string, fs::path> exported_;  // SOP Instance UID -> exported file
};

TEST_P(CodecInteropTest, EveryFrameIsStoredWithTheCodecAndRoundTrips) {
  // Frame counts by codec: every frame of these formats is encoded (none grows).
  const tools::Json stats = StatsJson(dir_ / "data");
  const std::string stats_text = tools::ToJson(stats);
  EXPECT_EQ(tools::JsonInt(stats, "instances"), static_cast<int64_t>(sources_.size()));
  const tools::Json codecs = stats.value("codecs", tools::Json::object());
  ASSERT_TRUE(codecs.contains(GetParam())) << stats_text;
  EXPECT_EQ(tools::JsonInt(codecs[GetParam()], "chunks"), kExpectedFrames) << stats_text;
  EXPECT_FALSE(codecs.contains("raw")) << "no frame may stay raw: " << stats_text;
  EXPECT_LT(tools::JsonInt(codecs[GetParam()], "stored_bytes"), tools::JsonInt(codecs[GetParam()], "raw_bytes"));
  auto r = RunCommand(
      {PacscoreBinary(), "export", "--data", (dir_ / "data").string(), "--out", (dir_ / "original").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& [uid, path] : BySopUid(dir_ / "original"))
    EXPECT_EQ(CompareFiles(sources_[uid], path), "") << sources_[uid];
}

// Each decoder is run on the codecs it knows: GDCM 3.0 does not know the
// HTJ2K syntax, DCMTK 3.6.7 has no JPEG 2000 decoder, OpenJPEG decodes
// JPEG 2000 only.
class GdcmInteropTest : public CodecInteropTest {};
class DcmtkInteropTest : public CodecInteropTest {};
class OpenJpegInteropTest : public CodecInteropTest {};

TEST_P(GdcmInteropTest, GdcmDecodesStoredOutputToOriginalPixels) {
  DecodeAllWith({"gdcmconv", "--raw", "IN", "OUT"});
}

TEST_P(DcmtkInteropTest, DcmtkDecodesStoredJpegLsToOriginalPixels) {
  DecodeAllWith({"dcmdjpls", "IN", "OUT"});
}

TEST_P(OpenJpegInteropTest, OpenJpegDecodesStoredJ2kAndHtj2kToOriginalPixels) {
  DecodeFirstFramesWithOpenJpeg();
}

INSTANTIATE_TEST_SUITE_P(Codecs, CodecInteropTest, ::testing::Values("jpegls", "j2k", "htj2k"));
INSTANTIATE_TEST_SUITE_P(Codecs, GdcmInteropTest, ::testing::Values("jpegls", "j2k"));
INSTANTIATE_TEST_SUITE_P(Codecs, DcmtkInteropTest, ::testing::Values("jpegls"));
INSTANTIATE_TEST_SUITE_P(Codecs, OpenJpegInteropTest, ::testing::Values("j2k", "htj2k"));

}  // namespace
}  // namespace pacs::testing
