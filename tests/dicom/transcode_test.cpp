// Unit tests of transcode.h on real files: every way a frame can be stored
// (raw, JPEG-LS, JPEG 2000, HTJ2K, or compressed as received) built in every
// lossless syntax the transcoder produces, written as a Part 10 file, read
// back and decoded by a decoder other than the encoder where there is one
// (DCMTK for RLE and JPEG, CharLS for JPEG-LS, OpenJPEG for HTJ2K): the
// pixels are the original's. Lossy and unknown syntaxes are refused.
#include "pacs/dicom/transcode.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "pacs/codecs/frame_codec.h"
#include "store_fixture.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
using codecs::CodecId;

// How the instance is stored: a file, and the codec policy its native
// frames are stored with (compressed input is kept as received).
struct StoredSource {
  const char* name;
  fs::path path;
  const char* codec_policy;
  size_t frames;
};

void PrintTo(const StoredSource& s, std::ostream* os) {
  *os << s.name;
}

const StoredSource kSources[] = {
    {"Raw", CorpusFile("dcm_qa_enh/siemens_xa10/6_3.dcm"), "none", 6},
    {"JpegLs", CorpusFile("dcm_qa_enh/siemens_xa10/6_3.dcm"), "jpegls", 6},
    {"J2k", CorpusFile("dcm_qa_enh/siemens_xa10/6_3.dcm"), "j2k", 6},
    {"Htj2k", CorpusFile("dcm_qa_enh/siemens_xa10/6_3.dcm"), "htj2k", 6},
    {"RgbAuto", CorpusFile("nema_wg04/US1/US1_UNC.dcm"), "auto", 1},
    {"ReceivedJpegLs", CorpusFile("pydicom_data/emri_small_jpeg_ls_lossless.dcm"), "auto", 10},
    {"ReceivedJ2kSigned", PydicomFile("MR_small_jp2klossless.dcm"), "auto", 1},
    {"ReceivedRle", PydicomFile("MR_small_RLE.dcm"), "auto", 1},
    {"ReceivedJpegLossless", CorpusFile("fo_dicom/pt_GH184_jpll.dcm"), "auto", 1},
};

struct Target {
  const char* name;
  const char* uid;
};

void PrintTo(const Target& t, std::ostream* os) {
  *os << t.name;
}

const Target kTargets[] = {
    {"ExplicitLittle", UID_LittleEndianExplicitTransferSyntax},
    {"ImplicitLittle", UID_LittleEndianImplicitTransferSyntax},
    {"ExplicitBig", UID_BigEndianExplicitTransferSyntax},
    {"JpegLs", UID_JPEGLSLosslessTransferSyntax},
    {"J2k", UID_JPEG2000LosslessOnlyTransferSyntax},
    {"Htj2k", dicom::kHtj2kLosslessUid},
    {"Rle", UID_RLELosslessTransferSyntax},
    {"JpegLosslessSv1", UID_JPEGProcess14SV1TransferSyntax},
};

void RegisterDcmtkDecoders() {
  static const bool registered = [] {
    DJDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    return true;
  }();
  (void)registered;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The frames of encapsulated pixel data (one fragment per frame) decoded
// with `codec`, concatenated; empty on failure (with a test failure).
std::string DecodeFragments(DcmDataset& dataset, E_TransferSyntax xfer, CodecId codec, size_t frames) {
  auto info = dicom::FrameInfoFromDataset(dataset);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  const std::vector<std::string> items = PixelItems(dataset, xfer);
  EXPECT_EQ(items.size(), frames + 1) << "expected one fragment per frame";
  if (!info.ok() || items.size() != frames + 1) return {};
  std::string pixels;
  for (size_t f = 1; f < items.size(); ++f) {
    auto decoded = codecs::MakeCodec(codec)->Decode(*info, Bytes(items[f]));
    EXPECT_TRUE(decoded.ok()) << "frame " << f - 1 << ": " << decoded.status().ToString();
    if (!decoded.ok()) return {};
    pixels.append(decoded->begin(), decoded->end());
  }
  return pixels;
}

// The native pixels of `dataset`, as received in `xfer`: DCMTK decodes RLE
// and JPEG, our codecs (CharLS, OpenJPEG) JPEG-LS and JPEG 2000.
std::string NativePixels(DcmDataset& dataset, E_TransferSyntax xfer, size_t frames) {
  if (xfer == EXS_JPEGLSLossless) return DecodeFragments(dataset, xfer, CodecId::kJpegLs, frames);
  if (xfer == EXS_JPEG2000LosslessOnly) return DecodeFragments(dataset, xfer, CodecId::kJ2k, frames);
  if (DcmXfer(xfer).isEncapsulated()) {
    RegisterDcmtkDecoders();
    const bool decoded = dataset.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).good() &&
                         dataset.canWriteXfer(EXS_LittleEndianExplicit);
    EXPECT_TRUE(decoded) << "DCMTK cannot decode " << DcmXfer(xfer).getXferName();
    if (!decoded) return {};
  }
  auto info = dicom::FrameInfoFromDataset(dataset);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  if (!info.ok()) return {};
  // Without a padding byte, if any.
  std::string pixels = NativePixelBytes(dataset).substr(0, info->FrameBytes() * frames);
  if (!info->planar) return pixels;
  // Colour by plane (DCMTK's RLE decoder writes it so): interleave, the order
  // the originals here hold.
  const size_t plane = info->FrameBytes() / 3, sample = info->bits_allocated / 8;
  std::string interleaved(pixels.size(), '\0');
  for (size_t f = 0; f < frames; ++f)
    for (size_t i = 0; i < plane / sample; ++i)
      for (size_t c = 0; c < 3; ++c)
        interleaved.replace(f * info->FrameBytes() + (i * 3 + c) * sample, sample, pixels,
                            f * info->FrameBytes() + c * plane + i * sample, sample);
  return interleaved;
}

std::string ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class TranscodeTest : public StoreTest {
 protected:
  // Loads and stores `source`; its record, the loaded file in `original`.
  engine::InstanceRecord StoreSource(const StoredSource& source) {
    original_ = LoadDicomFile(source.path);
    EXPECT_NE(original_, nullptr) << source.path;
    if (!original_) return {};
    auto policy = dicom::ParseCodecPolicy(source.codec_policy);
    EXPECT_TRUE(policy.ok());
    DcmDataset& dataset = *original_->getDataset();
    auto record = SplitAndCommit(dataset, dataset.getOriginalXfer(), *policy);
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    return record.ok() ? *record : engine::InstanceRecord{};
  }

  Result<dicom::BuiltInstance> Build(const engine::InstanceRecord& record, const std::string& target) {
    auto parsed = dicom::ParseTargetSyntax(target);
    if (!parsed.ok()) return parsed.status();
    return dicom::BuildInstance(*store_, record, *parsed);
  }

  std::unique_ptr<DcmFileFormat> original_;
};

class TranscodeMatrixTest : public TranscodeTest,
                            public ::testing::WithParamInterface<std::tuple<StoredSource, Target>> {};

TEST_P(TranscodeMatrixTest, BuiltFileDecodesToTheOriginalPixels) {
  const auto& [source, target] = GetParam();
  const engine::InstanceRecord record = StoreSource(source);
  ASSERT_FALSE(record.sop_instance_uid.empty());
  EXPECT_TRUE(dicom::CanTranscode(record));
  DcmDataset& original = *original_->getDataset();
  const std::string expected = NativePixels(original, original.getOriginalXfer(), source.frames);
  auto info = dicom::FrameInfoFromDataset(original);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(expected.size(), info->FrameBytes() * source.frames);

  auto built = Build(record, target.uid);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->transfer_syntax_uid, target.uid);
  const fs::path path = dir_ / "built.dcm";
  Status written = dicom::WritePart10(*built, path);
  ASSERT_TRUE(written.ok()) << written.ToString();

  std::string actual;
  if (std::string(target.uid) == dicom::kHtj2kLosslessUid) {
    // DCMTK does not know HTJ2K: the file's meta header names it, and the
    // codestreams decode with OpenJPEG (not OpenJPH, which wrote them).
    const std::string bytes = ReadWholeFile(path);
    ASSERT_GT(bytes.size(), 132u);
    EXPECT_EQ(bytes.substr(128, 4), "DICM");
    EXPECT_NE(bytes.find(std::string(dicom::kHtj2kLosslessUid)), std::string::npos);
    actual = DecodeFragments(*built->file->getDataset(), built->dcmtk_xfer, CodecId::kJ2k, source.frames);
  } else {
    auto reread = LoadDicomFile(path);
    ASSERT_NE(reread, nullptr) << "the written file does not parse";
    OFString meta_syntax;
    ASSERT_TRUE(reread->getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, meta_syntax).good());
    EXPECT_EQ(std::string(meta_syntax.c_str()), target.uid);
    DcmDataset& dataset = *reread->getDataset();
    OFString sop;
    dataset.findAndGetOFString(DCM_SOPInstanceUID, sop);
    EXPECT_EQ(std::string(sop.c_str()), record.sop_instance_uid);
    actual = NativePixels(dataset, dataset.getOriginalXfer(), source.frames);
  }
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_TRUE(actual == expected) << source.name << " built in " << target.name << " has other pixels";
}

INSTANTIATE_TEST_SUITE_P(StoredToTarget, TranscodeMatrixTest,
                         ::testing::Combine(::testing::ValuesIn(kSources), ::testing::ValuesIn(kTargets)),
                         [](const ::testing::TestParamInfo<std::tuple<StoredSource, Target>>& info) {
                           return std::string(std::get<0>(info.param).name) + "To" + std::get<1>(info.param).name;
                         });

TEST_F(TranscodeTest, OriginalIsTheFileAsReceived) {
  const engine::InstanceRecord record = StoreSource(kSources[5]);  // JPEG-LS as received
  auto built = Build(record, "original");
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->transfer_syntax_uid, UID_JPEGLSLosslessTransferSyntax);
  EXPECT_EQ(built->dcmtk_xfer, EXS_JPEGLSLossless);
  const auto expected = PixelItems(*original_->getDataset(), EXS_JPEGLSLossless);
  ASSERT_EQ(expected.size(), 11u);
  EXPECT_TRUE(PixelItems(*built->file->getDataset(), EXS_JPEGLSLossless) == expected);
}

TEST_F(TranscodeTest, StoredSendsTheStoredCodestreamsWithoutReencoding) {
  const engine::InstanceRecord record = StoreSource(kSources[1]);  // frames stored as JPEG-LS
  ASSERT_EQ(record.chunks.size(), 6u);
  auto built = Build(record, "stored");
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->transfer_syntax_uid, UID_JPEGLSLosslessTransferSyntax);
  const auto items = PixelItems(*built->file->getDataset(), EXS_JPEGLSLossless);
  ASSERT_EQ(items.size(), 7u);
  for (size_t f = 0; f < 6; ++f) {
    auto stored = store_->ReadChunk(record.chunks[f].hash);
    ASSERT_TRUE(stored.ok());
    // Item values have even length: an odd codestream gets one padding byte.
    const std::string& item = items[f + 1];
    EXPECT_EQ(item.size(), stored->bytes.size() + stored->bytes.size() % 2) << "frame " << f;
    EXPECT_TRUE(item.compare(0, stored->bytes.size(), stored->bytes) == 0) << "frame " << f << " was encoded again";
  }
}

TEST_F(TranscodeTest, StoredOfRawFramesIsTheOriginalSyntax) {
  const engine::InstanceRecord record = StoreSource(kSources[0]);
  auto built = Build(record, "stored");
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->transfer_syntax_uid, UID_LittleEndianExplicitTransferSyntax);
}

TEST_F(TranscodeTest, LossyTargetIsRefused) {
  const engine::InstanceRecord record = StoreSource(kSources[0]);
  for (const char* lossy :
       {UID_JPEGProcess1TransferSyntax, UID_JPEGLSLossyTransferSyntax, UID_JPEG2000TransferSyntax}) {
    auto built = Build(record, lossy);
    ASSERT_FALSE(built.ok()) << lossy;
    EXPECT_EQ(built.status().code(), StatusCode::kUnsupported) << lossy;
    EXPECT_NE(built.status().message().find("lossy"), std::string::npos) << built.status().ToString();
  }
}

TEST_F(TranscodeTest, LossyInputIsPassedThroughButNotTranscoded) {
  const engine::InstanceRecord record = StoreSource({"J2kLossy", CorpusFile("nema_wg04/CT1/CT1_J2KI.dcm"), "auto", 1});
  ASSERT_FALSE(record.sop_instance_uid.empty());
  EXPECT_FALSE(dicom::CanTranscode(record));
  for (const char* target : {UID_LittleEndianExplicitTransferSyntax, UID_JPEGLSLosslessTransferSyntax}) {
    auto built = Build(record, target);
    ASSERT_FALSE(built.ok()) << target;
    EXPECT_EQ(built.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(built.status().message().find(record.sop_instance_uid), std::string::npos) << built.status().ToString();
  }
  auto original = Build(record, "original");
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  EXPECT_EQ(original->transfer_syntax_uid, UID_JPEG2000TransferSyntax);
}

TEST_F(TranscodeTest, UnknownTransferSyntaxIsRefused) {
  const engine::InstanceRecord record = StoreSource(kSources[0]);
  auto built = Build(record, "1.2.3.4.5.6");
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(built.status().message().find("unknown transfer syntax"), std::string::npos) << built.status().ToString();
}

TEST(ParseTargetSyntaxTest, AcceptsOriginalStoredAndUidsOnly) {
  auto empty = dicom::ParseTargetSyntax("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->kind, dicom::TargetSyntax::Kind::kOriginal);
  auto original = dicom::ParseTargetSyntax("original");
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(original->kind, dicom::TargetSyntax::Kind::kOriginal);
  auto stored = dicom::ParseTargetSyntax("stored");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->kind, dicom::TargetSyntax::Kind::kStored);
  auto uid = dicom::ParseTargetSyntax("1.2.840.10008.1.2.4.80");
  ASSERT_TRUE(uid.ok());
  EXPECT_EQ(uid->kind, dicom::TargetSyntax::Kind::kUid);
  EXPECT_EQ(uid->uid, "1.2.840.10008.1.2.4.80");
  for (const char* bad : {"jpegls", "JPEG-LS", "1.2.840.10008.1.2.4.80 ", "stored;"}) {
    auto parsed = dicom::ParseTargetSyntax(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace pacs::testing
