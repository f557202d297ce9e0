// The frame source (pacs/dicom/frame_source.h) and the builds that read it:
// frames leave as stored, byte for byte and without decoding, when the
// target syntax is the one they are stored in; "the syntax an instance is
// stored in" follows the background encoder; and pixel data nested in an
// Icon Image Sequence is transcoded with the instance.
#include "pacs/dicom/frame_source.h"

#include <gtest/gtest.h>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/dicom/background_encoder.h"
#include "pacs/dicom/transcode.h"
#include "store_fixture.h"

namespace pacs::testing {
namespace {

using codecs::CodecId;
const std::string kExplicitLE = UID_LittleEndianExplicitTransferSyntax;
const std::string kJpegLs = UID_JPEGLSLosslessTransferSyntax;
const std::string kJ2k = UID_JPEG2000LosslessOnlyTransferSyntax;

// Six 16-bit frames, received uncompressed.
const char kMultiFrame[] = "dcm_qa_enh/siemens_xa10/6_3.dcm";
constexpr size_t kFrames = 6;

class FrameSourceTest : public StoreTest {
 protected:
  Result<dicom::BuiltInstance> Build(const engine::InstanceRecord& record, const std::string& target) {
    auto parsed = dicom::ParseTargetSyntax(target);
    if (!parsed.ok()) return parsed.status();
    return dicom::BuildInstance(*store_, record, *parsed);
  }
  // The frames of a built instance's encapsulated Pixel Data (Basic Offset Table dropped).
  static std::vector<std::string> Codestreams(dicom::BuiltInstance& built) {
    auto items = PixelItems(*built.file->getDataset(), built.dcmtk_xfer);
    if (!items.empty()) items.erase(items.begin());
    return items;
  }
  static uint64_t Decoded() { return dicom::ReadFrameCounters().decoded; }
};

TEST_F(FrameSourceTest, StoredSyntaxFollowsTheBackgroundEncoderAndPassThroughDecodesNothing) {
  auto file = LoadDicomFile(CorpusFile(kMultiFrame));
  ASSERT_NE(file, nullptr);
  DcmDataset& original = *file->getDataset();
  const std::string pixels = NativePixelBytes(original);
  dicom::PixelCodecPolicy policy;
  policy.forced = CodecId::kJpegLs;
  policy.background = true;  // stored raw now, re-encoded by the background encoder
  auto record = SplitAndCommit(original, original.getOriginalXfer(), policy);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  ASSERT_EQ(record->chunks.size(), kFrames);

  // Before re-encoding: stored raw, so uncompressed leaves with no decoding.
  auto stored = dicom::StoredTransferSyntax(*store_, *record);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(*stored, kExplicitLE);
  uint64_t before = Decoded();
  auto raw = Build(*record, kExplicitLE);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(NativePixelBytes(*raw->file->getDataset()), pixels);
  EXPECT_EQ(Decoded() - before, 0u);

  dicom::BackgroundEncoder encoder(*store_, /*verify_encode=*/true);
  encoder.Start();
  ASSERT_TRUE(encoder.WaitIdle(std::chrono::seconds(60)));
  encoder.Stop();

  // The record still says raw (the codec as committed); the store says JPEG-LS.
  EXPECT_EQ(dicom::StoredTransferSyntaxOf(*record), kExplicitLE);
  stored = dicom::StoredTransferSyntax(*store_, *record);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(*stored, kJpegLs);

  // As stored: every frame's codestream exactly as the store holds it, in order.
  before = Decoded();
  for (const std::string& target : {std::string("stored"), kJpegLs}) {
    auto built = Build(*record, target);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    EXPECT_EQ(built->transfer_syntax_uid, kJpegLs);
    auto codestreams = Codestreams(*built);
    ASSERT_EQ(codestreams.size(), kFrames);
    for (size_t f = 0; f < kFrames; ++f) {
      auto chunk = store_->ReadChunk(record->chunks[f].hash);
      ASSERT_TRUE(chunk.ok());
      EXPECT_EQ(chunk->codec, static_cast<uint8_t>(CodecId::kJpegLs));
      // DCMTK pads an odd-length item with one zero byte.
      EXPECT_EQ(codestreams[f].substr(0, chunk->bytes.size()), chunk->bytes) << "frame " << f;
      EXPECT_LE(codestreams[f].size() - chunk->bytes.size(), 1u);
    }
  }
  EXPECT_EQ(Decoded() - before, 0u) << "a pass-through build decoded frames";

  // Uncompressed now decodes each frame once, exactly.
  before = Decoded();
  raw = Build(*record, kExplicitLE);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(NativePixelBytes(*raw->file->getDataset()), pixels);
  EXPECT_EQ(Decoded() - before, kFrames);

  // Into another codec: decoded and re-encoded, still the same pixels.
  before = Decoded();
  auto j2k = Build(*record, kJ2k);
  ASSERT_TRUE(j2k.ok()) << j2k.status().ToString();
  EXPECT_EQ(Decoded() - before, kFrames);
  auto info = dicom::FrameInfoFromDataset(*j2k->file->getDataset());
  ASSERT_TRUE(info.ok());
  auto codestreams = Codestreams(*j2k);
  ASSERT_EQ(codestreams.size(), kFrames);
  for (size_t f = 0; f < kFrames; ++f) {
    auto decoded =
        codecs::MakeCodec(CodecId::kJ2k)
            ->Decode(*info, {reinterpret_cast<const uint8_t*>(codestreams[f].data()), codestreams[f].size()});
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), pixels.substr(f * info->FrameBytes(), info->FrameBytes()))
        << "frame " << f;
  }
}

TEST_F(FrameSourceTest, ReadGivesEachFrameAsStoredAndDecodeCountsOnlyRealDecodes) {
  auto file = LoadDicomFile(CorpusFile(kMultiFrame));
  ASSERT_NE(file, nullptr);
  DcmDataset& original = *file->getDataset();
  const std::string pixels = NativePixelBytes(original);
  dicom::PixelCodecPolicy policy;
  policy.forced = CodecId::kJ2k;
  auto record = SplitAndCommit(original, original.getOriginalXfer(), policy);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  auto header = dicom::LoadStoredHeader(*store_, *record);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  auto source = dicom::FrameSource::Open(*store_, *record, *(*header)->getDataset());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_EQ(source->frame_count(), kFrames);
  ASSERT_TRUE(source->info().ok());
  const size_t frame_bytes = source->info()->FrameBytes();
  for (size_t f = 0; f < kFrames; ++f) {
    auto frame = source->Read(f);
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    EXPECT_EQ(frame->codec, CodecId::kJ2k);
    const uint64_t before = Decoded();
    auto native = source->Decode(f, *frame);
    ASSERT_TRUE(native.ok()) << native.status().ToString();
    EXPECT_EQ(Decoded() - before, 1u);
    EXPECT_EQ(*native, pixels.substr(f * frame_bytes, frame_bytes)) << "frame " << f;
  }
  EXPECT_FALSE(source->Read(kFrames).ok());
  // A raw frame is its own native pixels: no decode counted.
  const uint64_t before = Decoded();
  auto same = source->Decode(0, dicom::StoredFrame{CodecId::kRaw, "abcd"});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, "abcd");
  EXPECT_EQ(Decoded() - before, 0u);
}

// An MR stored as JPEG 2000 whose Icon Image Sequence carries its own
// encapsulated JPEG 2000 pixel data (made here from the corpus file, which
// has no icon): `export --transfer-syntax 1.2.840.10008.1.2.1` used to fail
// with DCMTK's "Pixel representation not found". The icon is decoded too.
TEST_F(FrameSourceTest, IconImageSequenceInJpeg2000IsTranscodedWithTheInstance) {
  auto file = LoadDicomFile(CorpusFile("dcm_qa_ts/9.dcm"));
  ASSERT_NE(file, nullptr);
  DcmDataset& original = *file->getDataset();
  ASSERT_EQ(original.getOriginalXfer(), EXS_JPEG2000LosslessOnly);
  // A 64x64 16-bit icon with a gradient, encoded with our J2K encoder.
  codecs::FrameInfo icon_info;
  icon_info.rows = 64;
  icon_info.columns = 64;
  icon_info.bits_allocated = 16;
  icon_info.bits_stored = 12;
  std::string icon_pixels(icon_info.FrameBytes(), '\0');
  for (size_t i = 0; i < icon_pixels.size() / 2; ++i) {
    const auto v = static_cast<uint16_t>((i * 37) % 4096);
    icon_pixels[2 * i] = static_cast<char>(v & 0xff);
    icon_pixels[2 * i + 1] = static_cast<char>(v >> 8);
  }
  auto encoded = codecs::MakeCodec(CodecId::kJ2k)
                     ->Encode(icon_info, {reinterpret_cast<const uint8_t*>(icon_pixels.data()), icon_pixels.size()});
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  auto* icon = new DcmItem();
  icon->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  icon->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  icon->putAndInsertUint16(DCM_Rows, 64);
  icon->putAndInsertUint16(DCM_Columns, 64);
  icon->putAndInsertUint16(DCM_BitsAllocated, 16);
  icon->putAndInsertUint16(DCM_BitsStored, 12);
  icon->putAndInsertUint16(DCM_HighBit, 11);
  icon->putAndInsertUint16(DCM_PixelRepresentation, 0);
  auto* seq = new DcmPixelSequence(DCM_PixelSequenceTag);
  seq->insert(new DcmPixelItem(DCM_PixelItemTag));
  DcmOffsetList offsets;
  ASSERT_TRUE(seq->storeCompressedFrame(offsets, encoded->data(), static_cast<Uint32>(encoded->size()), 0).good());
  auto* icon_px = new DcmPixelData(DCM_PixelData);
  icon_px->putOriginalRepresentation(EXS_JPEG2000LosslessOnly, nullptr, seq);
  icon->insert(icon_px);
  auto* icons = new DcmSequenceOfItems(DCM_IconImageSequence);
  icons->append(icon);
  original.insert(icons);

  auto record = SplitAndCommit(original, EXS_JPEG2000LosslessOnly);
  ASSERT_TRUE(record.ok()) << record.status().ToString();

  for (const std::string& target : {kExplicitLE, kJpegLs}) {
    auto built = Build(*record, target);
    ASSERT_TRUE(built.ok()) << target << ": " << built.status().ToString();
    DcmDataset& ds = *built->file->getDataset();
    DcmItem* built_icon = nullptr;
    ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_IconImageSequence, built_icon, 0).good()) << target;
    const Uint8* data = nullptr;
    unsigned long count = 0;
    ASSERT_TRUE(built_icon->findAndGetUint8Array(DCM_PixelData, data, &count).good()) << target;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(data), count), icon_pixels) << target;
    // And it is written: Part 10 in the target syntax, read back with the same icon.
    const auto path = dir_ / ("icon_" + target + ".dcm");
    ASSERT_TRUE(dicom::WritePart10(*built, path).ok()) << target;
    DcmFileFormat back;
    ASSERT_TRUE(back.loadFile(path.c_str()).good()) << target;
    EXPECT_EQ(back.getDataset()->getOriginalXfer(), DcmXfer(target.c_str()).getXfer());
    DcmItem* back_icon = nullptr;
    ASSERT_TRUE(back.getDataset()->findAndGetSequenceItem(DCM_IconImageSequence, back_icon, 0).good());
    ASSERT_TRUE(back_icon->findAndGetUint8Array(DCM_PixelData, data, &count).good()) << target;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(data), count), icon_pixels) << target;
  }
  // As received, the icon stays as it came.
  auto as_received = Build(*record, "original");
  ASSERT_TRUE(as_received.ok()) << as_received.status().ToString();
  DcmItem* kept = nullptr;
  ASSERT_TRUE(as_received->file->getDataset()->findAndGetSequenceItem(DCM_IconImageSequence, kept, 0).good());
  DcmElement* kept_px = nullptr;
  ASSERT_TRUE(kept->findAndGetElement(DCM_PixelData, kept_px).good());
  DcmPixelSequence* kept_seq = nullptr;
  EXPECT_TRUE(static_cast<DcmPixelData*>(kept_px)
                  ->getEncapsulatedRepresentation(EXS_JPEG2000LosslessOnly, nullptr, kept_seq)
                  .good());
}

}  // namespace
}  // namespace pacs::testing
