// pacs::jls::DecodeFrame against CharLS's decoder on real data: every frame
// of every JPEG-LS file of the shared corpus and of pydicom's test files
// (same pixels, or both refuse; a frame whose SOF disagrees with its DICOM
// attributes is refused by our header check, and counted), and our
// encoder's output for every native grayscale frame of the corpus (decoded
// by both, equal to the source).
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "charls_decoder_reference.h"
#include "corpus_frames.h"
#include "decode_every_isa.h"
#include "pacs/jls/jpegls_decoder.h"
#include "pacs/jls/jpegls_encoder.h"

namespace pacs::jls {
namespace {

using testing::AsBitsAllocated;
using testing::CharlsDecode;

struct EncapsulatedFile {
  ExpectedFrame expected;
  std::vector<std::vector<uint8_t>> frames;  // one codestream per frame
};

bool IsJpegLs(const std::string& uid) {
  return uid == "1.2.840.10008.1.2.4.80" || uid == "1.2.840.10008.1.2.4.81";
}

uint16_t GetUint16(DcmDataset* dataset, const DcmTagKey& tag, uint16_t fallback = 0) {
  Uint16 value = fallback;
  return dataset->findAndGetUint16(tag, value).good() ? value : fallback;
}

// The frames of a JPEG-LS file, or nothing for any other file.
bool ReadJpegLsFile(const std::string& path, EncapsulatedFile& out) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return false;
  DcmDataset* dataset = file.getDataset();
  OFString syntax;
  if (file.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, syntax).bad() || !IsJpegLs(syntax.c_str()))
    return false;
  out.expected.width = GetUint16(dataset, DCM_Columns);
  out.expected.height = GetUint16(dataset, DCM_Rows);
  out.expected.components = GetUint16(dataset, DCM_SamplesPerPixel, 1);
  out.expected.bits_allocated = GetUint16(dataset, DCM_BitsAllocated);
  out.expected.bits_stored = GetUint16(dataset, DCM_BitsStored, static_cast<uint16_t>(out.expected.bits_allocated));
  Sint32 frames = 1;
  if (dataset->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  DcmElement* element = nullptr;
  if (dataset->findAndGetElement(DCM_PixelData, element).bad()) return false;
  auto* pixel_data = static_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  if (pixel_data->getEncapsulatedRepresentation(dataset->getOriginalXfer(), nullptr, sequence).bad() || !sequence)
    return false;
  for (unsigned long i = 1; i < sequence->card(); ++i) {  // item 0 is the offset table
    DcmPixelItem* item = nullptr;
    if (sequence->getItem(item, i).bad()) break;
    Uint8* data = nullptr;
    if (item->getUint8Array(data).bad() || data == nullptr) continue;
    std::vector<uint8_t> fragment(data, data + item->getLength());
    // One frame may span fragments: a fragment that does not start with SOI
    // continues the previous frame.
    const bool starts_frame = fragment.size() >= 2 && fragment[0] == 0xFF && fragment[1] == 0xD8;
    if ((frames == 1 || !starts_frame) && !out.frames.empty()) {
      out.frames.back().insert(out.frames.back().end(), fragment.begin(), fragment.end());
    } else {
      out.frames.push_back(std::move(fragment));
    }
  }
  return true;
}

struct Tally {
  int files = 0;
  int compared = 0;
  int both_refused = 0;
  int header_refused = 0;
};

void CompareFrame(const std::string& what, const std::vector<uint8_t>& codestream, const ExpectedFrame& expected,
                  Tally& tally) {
  std::string charls_error;
  const auto reference = CharlsDecode(codestream, &charls_error);
  std::vector<uint8_t> ours(DecodedBytes(expected));
  const auto decoded = testing::DecodeWithEveryIsa(codestream, expected, ours, what);
  if (!reference) {
    EXPECT_FALSE(decoded.ok()) << what << ": CharLS refused (" << charls_error << "), we decoded";
    ++tally.both_refused;
    std::printf("  both refuse %s: CharLS: %s; ours: %s\n", what.c_str(), charls_error.c_str(),
                decoded.status().ToString().c_str());
    return;
  }
  if (!decoded.ok()) {
    // Allowed only where the production header check refuses the frame.
    const Status check = CheckFrameHeader(codestream, expected);
    EXPECT_FALSE(check.ok()) << what << ": CharLS decoded, we refused: " << decoded.status().ToString();
    ++tally.header_refused;
    std::printf("  header check refuses %s: %s\n", what.c_str(), decoded.status().ToString().c_str());
    return;
  }
  EXPECT_TRUE(ours == AsBitsAllocated(*reference, expected.bits_allocated)) << what << ": pixels differ from CharLS";
  ++tally.compared;
}

void CompareFiles(const std::vector<std::string>& paths, const std::string& root, Tally& tally, bool listed) {
  for (const std::string& path : paths) {
    EncapsulatedFile file;
    if (!ReadJpegLsFile(path, file)) {
      if (listed) std::printf("  unreadable by DCMTK (malformed on purpose): %s\n", path.substr(root.size()).c_str());
      continue;
    }
    ++tally.files;
    const std::string name = path.substr(root.size());
    if (file.expected.bits_allocated != 8 && file.expected.bits_allocated != 16) {
      std::printf("  skipped %s: bits allocated %d\n", name.c_str(), file.expected.bits_allocated);
      continue;
    }
    for (size_t f = 0; f < file.frames.size(); ++f)
      CompareFrame(name + " frame " + std::to_string(f), file.frames[f], file.expected, tally);
  }
}

TEST(JlsDecoderCorpusTest, EveryJpegLsFileOfTheCorpus) {
  const std::string root = testing::CorpusDir() + "/";
  std::ifstream manifest(root + "MANIFEST.tsv");
  ASSERT_TRUE(manifest.good()) << "corpus missing at " << root;
  std::vector<std::string> paths;
  std::string line;
  std::getline(manifest, line);
  while (std::getline(manifest, line)) {
    std::vector<std::string> columns;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, '\t')) columns.push_back(field);
    if (columns.size() > 12 && IsJpegLs(columns[12])) paths.push_back(root + columns[0]);
  }
  Tally tally;
  CompareFiles(paths, root, tally, /*listed=*/true);
  std::printf(
      "corpus: %zu JPEG-LS files listed, %d read, %d frames identical to CharLS, %d refused by both, %d "
      "refused by our header check\n",
      paths.size(), tally.files, tally.compared, tally.both_refused, tally.header_refused);
  // 11 files listed, two of them deliberately malformed (DCMTK cannot read them).
  EXPECT_GE(tally.files, 9);
  EXPECT_GE(tally.compared, 18);
}

TEST(JlsDecoderCorpusTest, EveryJpegLsFileOfPydicom) {
  const std::string root = std::string(PACS_PYDICOM_DIR) + "/";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "pydicom test files not installed at " << root;
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  Tally tally;
  CompareFiles(paths, root, tally, /*listed=*/false);
  std::printf(
      "pydicom: %d JPEG-LS files, %d frames identical to CharLS, %d refused by both, %d refused by our "
      "header check\n",
      tally.files, tally.compared, tally.both_refused, tally.header_refused);
  EXPECT_GT(tally.files, 0);
}

TEST(JlsDecoderCorpusTest, OurEncoderOutputForEveryNativeFrame) {
  const std::vector<testing::CorpusFrame> frames = testing::GrayscaleFrames(/*native=*/true);
  ASSERT_GT(frames.size(), 500u);
  int compared = 0;
  for (const testing::CorpusFrame& frame : frames) {
    const int bits = std::max(2, frame.bits_stored);
    FrameFormat format;
    format.width = frame.columns;
    format.height = frame.rows;
    format.bits_per_sample = bits;
    const std::vector<uint8_t> input = testing::AsEncoderInput(frame, bits);
    const auto encoded = EncodeLossless(format, input);
    ASSERT_TRUE(encoded.ok()) << frame.file << ": " << encoded.status().ToString();
    const ExpectedFrame expected{frame.columns, frame.rows, 1, frame.bits_allocated, std::min(bits, frame.bits_stored)};
    std::vector<uint8_t> ours(DecodedBytes(expected));
    const auto decoded = testing::DecodeWithEveryIsa(*encoded, expected, ours, frame.file);
    ASSERT_TRUE(decoded.ok()) << frame.file << " frame " << frame.index << ": " << decoded.status().ToString();
    const auto reference = CharlsDecode(*encoded);
    ASSERT_TRUE(reference.has_value()) << frame.file;
    EXPECT_TRUE(ours == AsBitsAllocated(*reference, frame.bits_allocated)) << frame.file << " frame " << frame.index;
    // And the source samples, masked to the precision.
    const uint32_t mask = (1u << bits) - 1;
    bool equal = true;
    for (size_t i = 0; i < frame.samples.size() && equal; ++i) {
      const uint32_t value = frame.bits_allocated == 16 ? (ours[2 * i] | (ours[2 * i + 1] << 8)) : ours[i];
      equal = value == (frame.samples[i] & mask);
    }
    EXPECT_TRUE(equal) << frame.file << " frame " << frame.index << ": differs from the source";
    ++compared;
  }
  std::printf("our encoder's output: %d native corpus frames decoded by both, equal to the source\n", compared);
}

}  // namespace
}  // namespace pacs::jls
