// Unit tests of instance_split.h on real files: a dataset split into a
// header and pixel chunks (native frames, or encapsulated fragments as
// received), committed to a real store and rebuilt equal to the original,
// attribute by attribute. Malformed input is refused with an error value.
#include "pacs/dicom/instance_split.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dcmtk/dcmdata/dcxfer.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/dicom/dataset_compare.h"
#include "store_fixture.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
using engine::PixelLayout;

struct SplitCase {
  const char* name;
  fs::path path;
  PixelLayout layout;
  // Native: chunks that are frames. Encapsulated: frames whose decoded
  // pixels have an identity (0 for lossy input, which has none).
  size_t frames;
  // Native: chunks that are not frames (a padding byte, or pixel data that
  // does not divide into frames, kept as received).
  size_t other_chunks = 0;
};

void PrintTo(const SplitCase& c, std::ostream* os) {
  *os << c.name;
}

size_t FrameChunks(const engine::InstanceRecord& record) {
  size_t frames = 0;
  for (const auto& chunk : record.chunks) frames += chunk.pixel_hash == chunk.hash ? 1 : 0;
  return frames;
}

size_t ChunksWithIdentity(const engine::InstanceRecord& record) {
  size_t frames = 0;
  for (const auto& chunk : record.chunks) frames += chunk.pixel_hash != engine::ContentHash{} ? 1 : 0;
  return frames;
}

class InstanceSplitTest : public StoreTest {};

class SplitRebuildTest : public StoreTest, public ::testing::WithParamInterface<SplitCase> {};

TEST_P(SplitRebuildTest, SplitsIntoFramesAndRebuildsTheOriginal) {
  const SplitCase& c = GetParam();
  auto file = LoadDicomFile(c.path);
  ASSERT_NE(file, nullptr) << c.path;
  DcmDataset& dataset = *file->getDataset();
  const E_TransferSyntax xfer = dataset.getOriginalXfer();
  auto split = dicom::SplitInstance(dataset, xfer);
  ASSERT_TRUE(split.ok()) << c.path << ": " << split.status().ToString();
  const engine::InstanceRecord& record = split->record;
  EXPECT_EQ(record.pixel_layout, c.layout);
  EXPECT_EQ(record.transfer_syntax_uid, DcmXfer(xfer).getXferID());
  EXPECT_EQ(record.received_bytes, dicom::EncodedDatasetSize(dataset, xfer));
  ASSERT_EQ(split->chunk_bytes.size(), record.chunks.size());

  if (c.layout == PixelLayout::kNative) {
    EXPECT_EQ(FrameChunks(record), c.frames);
    EXPECT_EQ(record.chunks.size() - FrameChunks(record), c.other_chunks);
    // Each frame, decoded from what is stored, is the slice of Pixel Data it came from.
    const std::string pixels = NativePixelBytes(dataset);
    ASSERT_EQ(record.pixel_length, pixels.size());
    auto info = dicom::FrameInfoFromDataset(dataset);
    size_t offset = 0;
    for (size_t i = 0; i < record.chunks.size(); ++i) {
      const auto& chunk = record.chunks[i];
      std::string frame = split->chunk_bytes[i];
      if (chunk.codec != static_cast<uint8_t>(codecs::CodecId::kRaw)) {
        ASSERT_TRUE(info.ok());
        auto decoded = codecs::MakeCodec(static_cast<codecs::CodecId>(chunk.codec))
                           ->Decode(*info, {reinterpret_cast<const uint8_t*>(frame.data()), frame.size()});
        ASSERT_TRUE(decoded.ok()) << "chunk " << i << ": " << decoded.status().ToString();
        frame.assign(decoded->begin(), decoded->end());
      }
      ASSERT_EQ(frame.size(), chunk.size) << "chunk " << i;
      EXPECT_TRUE(pixels.compare(offset, frame.size(), frame) == 0) << "chunk " << i << " differs from Pixel Data";
      offset += frame.size();
    }
    EXPECT_EQ(offset, pixels.size());
  } else if (c.layout == PixelLayout::kEncapsulated) {
    // Every fragment is a chunk, byte for byte; the offset table is kept.
    const std::vector<std::string> items = PixelItems(dataset, xfer);
    ASSERT_GE(items.size(), 2u) << c.path;
    EXPECT_EQ(record.offset_table, items[0]);
    ASSERT_EQ(record.chunks.size(), items.size() - 1);
    for (size_t i = 0; i < record.chunks.size(); ++i) {
      EXPECT_EQ(record.chunks[i].codec, engine::kChunkAsReceived);
      EXPECT_TRUE(split->chunk_bytes[i] == items[i + 1]) << "fragment " << i;
    }
    EXPECT_EQ(ChunksWithIdentity(record), c.frames);
  }

  // The split leaves the dataset as it was; the rebuild equals it.
  auto reloaded = LoadDicomFile(c.path);
  ASSERT_NE(reloaded, nullptr);
  Status unchanged = dicom::CompareDatasets(*reloaded->getDataset(), dataset);
  EXPECT_TRUE(unchanged.ok()) << unchanged.ToString();
  ASSERT_TRUE(store_->CommitInstance(*split).ok());
  auto stored = store_->GetInstance(record.sop_instance_uid);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  auto rebuilt = dicom::RebuildInstance(*store_, *stored);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  Status equal = dicom::CompareDatasets(dataset, *(*rebuilt)->getDataset());
  EXPECT_TRUE(equal.ok()) << c.path << ": " << equal.ToString();
  Status deep = dicom::VerifyInstanceDeep(*store_, *stored);
  EXPECT_TRUE(deep.ok()) << deep.ToString();
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, SplitRebuildTest,
    ::testing::Values(
        SplitCase{"NativeCtExplicitLittle", CorpusFile("nema_wg04/CT1/CT1_UNC.dcm"), PixelLayout::kNative, 1},
        SplitCase{"NativeMrImplicitLittle", CorpusFile("dcm_qa_ts/2.dcm"), PixelLayout::kNative, 1},
        SplitCase{"NativeMrExplicitBig", CorpusFile("dcm_qa_ts/3.dcm"), PixelLayout::kNative, 1},
        SplitCase{"NativeSignedTwelveBit", CorpusFile("dcm_qa_12bit/12bitSigned_0x0F0F.dcm"), PixelLayout::kNative, 1},
        SplitCase{"MultiFrameEnhancedMr", CorpusFile("fo_dicom/mr_enhanced_MOVEKNEE_19fr.dcm"), PixelLayout::kNative,
                  19},
        SplitCase{"MultiFramePhilipsMap", CorpusFile("dcm_qa_enh/philips_IM_0027_fMAP.dcm"), PixelLayout::kNative, 64},
        SplitCase{"NativeRgb", CorpusFile("nema_wg04/US1/US1_UNC.dcm"), PixelLayout::kNative, 1},
        SplitCase{"MultiFrameRgbImplicit", CorpusFile("dicomparser/us_IM00001_8fr_rgb_implicit.dcm"),
                  PixelLayout::kNative, 8},
        // 169 x 211 bytes: Pixel Data of odd length, as the file has it.
        SplitCase{"OddValueLength", CorpusFile("highdicom/dx_image.dcm"), PixelLayout::kNative, 1},
        // 3 x 3 RGB: an odd frame and its padding byte.
        SplitCase{"OddRgbPydicom", PydicomFile("SC_rgb_small_odd.dcm"), PixelLayout::kNative, 1, 1},
        // YBR_FULL_422 holds two samples per pixel: no frames, one chunk as received.
        SplitCase{"SubsampledYbrKeptWhole", CorpusFile("cornerstone_wado/US-YBR_FULL_422-EVRLE.dcm"),
                  PixelLayout::kNative, 0, 1},
        SplitCase{"DeflatedPydicom", PydicomFile("image_dfl.dcm"), PixelLayout::kNative, 1},
        SplitCase{"JpegLsLossless", CorpusFile("nema_wg04/CT1/CT1_JLSL.dcm"), PixelLayout::kEncapsulated, 1},
        SplitCase{"JpegLsLosslessMultiFrame", CorpusFile("pydicom_data/emri_small_jpeg_ls_lossless.dcm"),
                  PixelLayout::kEncapsulated, 10},
        SplitCase{"Jpeg2000Lossless", CorpusFile("nema_wg04/CT1/CT1_J2KR.dcm"), PixelLayout::kEncapsulated, 1},
        SplitCase{"Jpeg2000RgbColourTransform", CorpusFile("nema_wg04/VL2/VL2_J2KR.dcm"), PixelLayout::kEncapsulated,
                  1},
        SplitCase{"Rle", CorpusFile("nema_wg04/CT1/CT1_RLE.dcm"), PixelLayout::kEncapsulated, 1},
        SplitCase{"RleMultiFramePalette", CorpusFile("barre_samples/US-PAL-8-10x-echo.dcm"), PixelLayout::kEncapsulated,
                  10},
        SplitCase{"JpegLossless", CorpusFile("nema_wg04/CT1/CT1_JPLL.dcm"), PixelLayout::kEncapsulated, 1},
        SplitCase{"Jpeg2000LossyHasNoIdentity", CorpusFile("nema_wg04/CT1/CT1_J2KI.dcm"), PixelLayout::kEncapsulated,
                  0},
        SplitCase{"JpegBaselineMultiFrameLossy", CorpusFile("fo_dicom/xa_HasFragmentSequence_96fr_jpeg.dcm"),
                  PixelLayout::kEncapsulated, 0}),
    [](const ::testing::TestParamInfo<SplitCase>& info) { return std::string(info.param.name); });

// Each codec ingest can store native frames with: the frames come back bit
// for bit.
class SplitCodecTest : public StoreTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(SplitCodecTest, StoresEveryFrameWithTheForcedCodecAndRebuildsTheOriginal) {
  auto policy = dicom::ParseCodecPolicy(GetParam());
  ASSERT_TRUE(policy.ok());
  auto file = LoadDicomFile(CorpusFile("dcm_qa_enh/siemens_xa10/6_1.dcm"));
  ASSERT_NE(file, nullptr);
  DcmDataset& dataset = *file->getDataset();
  auto record = SplitAndCommit(dataset, dataset.getOriginalXfer(), *policy);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  ASSERT_EQ(record->chunks.size(), 6u);
  for (const auto& chunk : record->chunks) {
    EXPECT_EQ(chunk.codec, static_cast<uint8_t>(*policy->forced)) << GetParam();
    EXPECT_EQ(chunk.size, 64u * 64u * 2u);
    auto stored = store_->ReadChunk(chunk.hash);
    ASSERT_TRUE(stored.ok());
    if (*policy->forced != codecs::CodecId::kRaw) {
      EXPECT_LT(stored->bytes.size(), chunk.size);
    }
  }
  auto rebuilt = dicom::RebuildInstance(*store_, *record);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  Status equal = dicom::CompareDatasets(dataset, *(*rebuilt)->getDataset());
  EXPECT_TRUE(equal.ok()) << equal.ToString();
}

INSTANTIATE_TEST_SUITE_P(Codecs, SplitCodecTest, ::testing::Values("none", "jpegls", "j2k", "htj2k"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

TEST_F(InstanceSplitTest, BackgroundPolicyStoresRawAndQueuesOneJobPerFrame) {
  auto file = LoadDicomFile(CorpusFile("fo_dicom/mr_enhanced_bruker_4fr.dcm"));
  ASSERT_NE(file, nullptr);
  DcmDataset& dataset = *file->getDataset();
  dicom::PixelCodecPolicy policy;
  policy.background = true;
  auto split = dicom::SplitInstance(dataset, dataset.getOriginalXfer(), policy);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_EQ(split->record.chunks.size(), 4u);
  ASSERT_EQ(split->deferred_work.size(), 4u);
  for (size_t f = 0; f < 4; ++f) {
    EXPECT_EQ(split->record.chunks[f].codec, static_cast<uint8_t>(codecs::CodecId::kRaw));
    EXPECT_EQ(split->deferred_work[f].first, split->record.chunks[f].hash);
    auto job = dicom::EncodeJob::Parse(split->deferred_work[f].second);
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    EXPECT_NE(job->codec, codecs::CodecId::kRaw);
    EXPECT_EQ(job->info.FrameBytes(), split->record.chunks[f].size);
  }
}

TEST_F(InstanceSplitTest, FramesAlreadyStoredAreReferencedNotSentAgain) {
  auto file = LoadDicomFile(CorpusFile("dcm_qa_enh/siemens_xa10/6_2.dcm"));
  ASSERT_NE(file, nullptr);
  DcmDataset& dataset = *file->getDataset();
  auto first = SplitAndCommit(dataset, dataset.getOriginalXfer());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = dicom::SplitInstance(dataset, dataset.getOriginalXfer(), {}, store_.get());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->record.chunks.size(), first->chunks.size());
  for (size_t f = 0; f < again->chunk_bytes.size(); ++f) {
    EXPECT_TRUE(again->chunk_bytes[f].empty()) << "frame " << f << " was split again";
    EXPECT_EQ(again->record.chunks[f].hash, first->chunks[f].hash);
    EXPECT_EQ(again->record.chunks[f].codec, first->chunks[f].codec);
  }
}

TEST_F(InstanceSplitTest, MalformedCorpusFilesAreRefusedByTheReader) {
  std::vector<fs::path> bad;
  for (const auto& entry : fs::directory_iterator(CorpusFile("malformed"))) bad.push_back(entry.path());
  bad.push_back(PydicomFile("MR_truncated.dcm"));
  bad.push_back(PydicomFile("rtplan_truncated.dcm"));
  ASSERT_GE(bad.size(), 7u);
  for (const auto& path : bad) EXPECT_EQ(LoadDicomFile(path), nullptr) << path << " was read as valid";
}

// What DCMTK salvages from a broken file (a network peer can send the same
// bytes) is refused by the split when its Pixel Data is broken.
struct SalvagedCase {
  const char* name;
  fs::path path;
  const char* reason;
};

void PrintTo(const SalvagedCase& c, std::ostream* os) {
  *os << c.name;
}

class SalvagedDatasetTest : public StoreTest, public ::testing::WithParamInterface<SalvagedCase> {};

TEST_P(SalvagedDatasetTest, SplitRefusesBrokenPixelData) {
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(GetParam().path.c_str()).bad()) << "no longer malformed?";
  DcmDataset& salvaged = *file.getDataset();
  auto split = dicom::SplitInstance(salvaged, salvaged.getOriginalXfer());
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(split.status().message().find(GetParam().reason), std::string::npos) << split.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, SalvagedDatasetTest,
    ::testing::Values(
        // Declares JPEG-LS, holds native pixels with an explicit length.
        SalvagedCase{"WrongTransferSyntax", CorpusFile("malformed/dicom_test_files_20-wrong-transfer-syntax.dcm"),
                     "Pixel Data element has an unexpected type"},
        SalvagedCase{"TruncatedInPixelData", CorpusFile("malformed/pydicom_MR_truncated.dcm"),
                     "Pixel Data value cannot be read"},
        SalvagedCase{"PydicomTruncated", PydicomFile("MR_truncated.dcm"), "Pixel Data value cannot be read"}),
    [](const ::testing::TestParamInfo<SalvagedCase>& info) { return std::string(info.param.name); });

TEST_F(InstanceSplitTest, DatasetWithoutSopInstanceUidIsRefused) {
  auto file = LoadDicomFile(CorpusFile("dcm_qa_ts/1.dcm"));
  ASSERT_NE(file, nullptr);
  DcmDataset& dataset = *file->getDataset();
  delete dataset.remove(DCM_SOPInstanceUID);
  auto split = dicom::SplitInstance(dataset, dataset.getOriginalXfer());
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(split.status().message().find("SOP Instance UID"), std::string::npos) << split.status().ToString();
}

TEST_F(InstanceSplitTest, UnknownTransferSyntaxIsRefused) {
  auto file = LoadDicomFile(CorpusFile("dcm_qa_ts/1.dcm"));
  ASSERT_NE(file, nullptr);
  auto split = dicom::SplitInstance(*file->getDataset(), EXS_Unknown);
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().code(), StatusCode::kUnsupported);
}

TEST_F(InstanceSplitTest, RebuildWithoutItsHeaderFails) {
  auto file = LoadDicomFile(CorpusFile("dcm_qa_ts/1.dcm"));
  ASSERT_NE(file, nullptr);
  DcmDataset& dataset = *file->getDataset();
  auto split = dicom::SplitInstance(dataset, dataset.getOriginalXfer());
  ASSERT_TRUE(split.ok());
  // Never committed: the store holds neither its header nor its frames.
  auto rebuilt = dicom::RebuildInstance(*store_, split->record);
  EXPECT_FALSE(rebuilt.ok());
}

TEST_F(InstanceSplitTest, DeepVerifyFindsFrameBytesThatDoNotMatchTheirKey) {
  auto file = LoadDicomFile(CorpusFile("dcm_qa_ts/1.dcm"));
  ASSERT_NE(file, nullptr);
  DcmDataset& dataset = *file->getDataset();
  auto split = dicom::SplitInstance(dataset, dataset.getOriginalXfer(), *dicom::ParseCodecPolicy("none"));
  ASSERT_TRUE(split.ok());
  ASSERT_EQ(split->chunk_bytes.size(), 1u);
  split->chunk_bytes[0][100] ^= 0x01;  // one bit of one pixel, under the original frame's key
  ASSERT_TRUE(store_->CommitInstance(*split).ok());
  Status deep = dicom::VerifyInstanceDeep(*store_, split->record);
  EXPECT_EQ(deep.code(), StatusCode::kCorruption) << deep.ToString();
}

}  // namespace
}  // namespace pacs::testing
