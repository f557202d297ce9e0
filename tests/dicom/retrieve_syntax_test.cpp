// Which transfer syntax a stored instance goes out in on C-MOVE / C-GET
// (pacs/dicom/retrieve.h), for each way an instance can be stored and for
// peers that accept different sets of syntaxes.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/retrieve.h"

namespace pacs::dicom {
namespace {

using Syntaxes = std::vector<std::string>;

const std::string kImplicitLE = "1.2.840.10008.1.2";
const std::string kExplicitLE = "1.2.840.10008.1.2.1";
const std::string kDeflated = "1.2.840.10008.1.2.1.99";
const std::string kExplicitBE = "1.2.840.10008.1.2.2";
const std::string kJpegBaseline = "1.2.840.10008.1.2.4.50";
const std::string kJpegLosslessSV1 = "1.2.840.10008.1.2.4.70";
const std::string kJpegLs = "1.2.840.10008.1.2.4.80";
const std::string kJpegLsNearLossless = "1.2.840.10008.1.2.4.81";
const std::string kJ2kLossless = "1.2.840.10008.1.2.4.90";
const std::string kJ2kLossy = "1.2.840.10008.1.2.4.91";
const std::string kHtj2k = "1.2.840.10008.1.2.4.201";
const std::string kRle = "1.2.840.10008.1.2.5";
const std::string kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";

engine::PixelChunk Chunk(codecs::CodecId codec, uint64_t size = 1000) {
  engine::PixelChunk chunk;
  chunk.size = size;
  chunk.codec = static_cast<uint8_t>(codec);
  return chunk;
}

// What retrieval offers and chooses for a record whose chunk codecs are as
// stored now (StoredTransferSyntaxOf; the store's own view is tested in
// transcode_test and the integration tests).
Syntaxes Offered(const engine::InstanceRecord& rec) {
  return RetrievalSyntaxes(rec, StoredTransferSyntaxOf(rec));
}
std::string Choose(const engine::InstanceRecord& rec, const Syntaxes& accepted) {
  return ChooseSyntax(rec, StoredTransferSyntaxOf(rec), accepted);
}

// Native pixel data received in Explicit VR Little Endian, one chunk per
// frame, each stored with `codecs` (kRaw: kept as received).
engine::InstanceRecord Native(std::vector<codecs::CodecId> codecs) {
  engine::InstanceRecord rec;
  rec.sop_instance_uid = "1.2.3.4";
  rec.sop_class_uid = kCtImageStorage;
  rec.transfer_syntax_uid = kExplicitLE;
  rec.pixel_layout = engine::PixelLayout::kNative;
  for (auto codec : codecs) rec.chunks.push_back(Chunk(codec));
  return rec;
}

// Compressed pixel data kept as received in `transfer_syntax`.
engine::InstanceRecord Encapsulated(const std::string& transfer_syntax) {
  engine::InstanceRecord rec;
  rec.sop_instance_uid = "1.2.3.5";
  rec.sop_class_uid = kCtImageStorage;
  rec.transfer_syntax_uid = transfer_syntax;
  rec.pixel_layout = engine::PixelLayout::kEncapsulated;
  engine::PixelChunk fragment;
  fragment.size = 2000;
  fragment.codec = engine::kChunkAsReceived;
  rec.chunks.push_back(fragment);
  return rec;
}

TEST(RetrievalSyntaxes, StoredRawGoesOutAsReceivedThenUncompressed) {
  EXPECT_EQ(Offered(Native({codecs::CodecId::kRaw})), (Syntaxes{kExplicitLE, kImplicitLE, kExplicitBE}));
}

TEST(RetrievalSyntaxes, StoredCompressedGoesOutAsStoredFirst) {
  EXPECT_EQ(Offered(Native({codecs::CodecId::kJpegLs, codecs::CodecId::kJpegLs})),
            (Syntaxes{kJpegLs, kExplicitLE, kImplicitLE, kExplicitBE}));
  EXPECT_EQ(Offered(Native({codecs::CodecId::kJ2k})), (Syntaxes{kJ2kLossless, kExplicitLE, kImplicitLE, kExplicitBE}));
}

TEST(RetrievalSyntaxes, RawFramesBesideCompressedOnesDoNotHideTheStoredSyntax) {
  // A frame the codec could not shrink is kept raw; an empty chunk carries no frame.
  auto rec = Native({codecs::CodecId::kJpegLs, codecs::CodecId::kRaw, codecs::CodecId::kJpegLs});
  rec.chunks.push_back(Chunk(codecs::CodecId::kJ2k, 0));
  EXPECT_EQ(Offered(rec).front(), kJpegLs);
}

TEST(RetrievalSyntaxes, FramesInDifferentCodecsGoOutAsReceived) {
  EXPECT_EQ(Offered(Native({codecs::CodecId::kJpegLs, codecs::CodecId::kJ2k})),
            (Syntaxes{kExplicitLE, kImplicitLE, kExplicitBE}));
}

TEST(RetrievalSyntaxes, StoredHtj2kIsNeverSentSinceDcmtkDoesNotKnowIt) {
  EXPECT_EQ(Offered(Native({codecs::CodecId::kHtj2k})), (Syntaxes{kExplicitLE, kImplicitLE, kExplicitBE}));
}

TEST(RetrievalSyntaxes, ReceivedLosslessGoesOutAsReceivedThenUncompressed) {
  EXPECT_EQ(Offered(Encapsulated(kJpegLs)), (Syntaxes{kJpegLs, kExplicitLE, kImplicitLE, kExplicitBE}));
  EXPECT_EQ(Offered(Encapsulated(kJpegLosslessSV1)),
            (Syntaxes{kJpegLosslessSV1, kExplicitLE, kImplicitLE, kExplicitBE}));
  EXPECT_EQ(Offered(Encapsulated(kRle)), (Syntaxes{kRle, kExplicitLE, kImplicitLE, kExplicitBE}));
}

TEST(RetrievalSyntaxes, ReceivedLossyGoesOutOnlyAsReceived) {
  EXPECT_EQ(Offered(Encapsulated(kJ2kLossy)), (Syntaxes{kJ2kLossy}));
  EXPECT_EQ(Offered(Encapsulated(kJpegBaseline)), (Syntaxes{kJpegBaseline}));
  EXPECT_EQ(Offered(Encapsulated(kJpegLsNearLossless)), (Syntaxes{kJpegLsNearLossless}));
}

TEST(RetrievalSyntaxes, ReceivedHtj2kHasNoSyntaxToGoOutIn) {
  EXPECT_TRUE(Offered(Encapsulated(kHtj2k)).empty());
}

TEST(RetrievalSyntaxes, WithoutPixelDataOnlyUncompressed) {
  engine::InstanceRecord sr;
  sr.sop_class_uid = "1.2.840.10008.5.1.4.1.1.88.11";
  sr.transfer_syntax_uid = kImplicitLE;
  EXPECT_EQ(Offered(sr), (Syntaxes{kImplicitLE, kExplicitLE, kExplicitBE}));
}

TEST(CanProduce, StoredRawTranscodesToEveryLosslessSyntaxDcmtkKnows) {
  const auto rec = Native({codecs::CodecId::kRaw});
  for (const auto& ts : {kExplicitLE, kImplicitLE, kExplicitBE, kJpegLs, kJ2kLossless, kJpegLosslessSV1, kRle})
    EXPECT_TRUE(CanProduce(rec, ts)) << ts;
  for (const auto& ts : {kJpegBaseline, kJ2kLossy, kJpegLsNearLossless}) EXPECT_FALSE(CanProduce(rec, ts)) << ts;
  EXPECT_FALSE(CanProduce(rec, kHtj2k)) << "DCMTK 3.6.7 cannot send HTJ2K";
  EXPECT_FALSE(CanProduce(rec, kDeflated)) << "deflate is only sent as received";
  EXPECT_FALSE(CanProduce(rec, "1.2.3.4.5")) << "an unknown UID";
}

TEST(CanProduce, ReceivedLosslessTranscodes) {
  const auto rec = Encapsulated(kJ2kLossless);
  EXPECT_TRUE(CanProduce(rec, kJ2kLossless));
  EXPECT_TRUE(CanProduce(rec, kJpegLs));
  EXPECT_TRUE(CanProduce(rec, kExplicitLE));
  EXPECT_FALSE(CanProduce(rec, kJ2kLossy));
}

TEST(CanProduce, ReceivedLossyPassesThroughUnchangedOrNotAtAll) {
  const auto rec = Encapsulated(kJpegBaseline);
  EXPECT_TRUE(CanProduce(rec, kJpegBaseline));
  for (const auto& ts : {kExplicitLE, kImplicitLE, kJpegLs, kJ2kLossless, kJ2kLossy})
    EXPECT_FALSE(CanProduce(rec, ts)) << ts;
}

TEST(CanProduce, DeflatedOnlyAsReceived) {
  engine::InstanceRecord rec;
  rec.transfer_syntax_uid = kDeflated;
  EXPECT_TRUE(CanProduce(rec, kDeflated));
  EXPECT_TRUE(CanProduce(rec, kExplicitLE));
}

TEST(ChooseSyntax, PrefersTheStoredSyntaxWhenThePeerAcceptsIt) {
  const auto jls = Native({codecs::CodecId::kJpegLs});
  EXPECT_EQ(Choose(jls, {kImplicitLE, kExplicitLE, kJpegLs}), kJpegLs);
  EXPECT_EQ(Choose(jls, {kImplicitLE, kExplicitLE}), kExplicitLE);
  EXPECT_EQ(Choose(jls, {kImplicitLE}), kImplicitLE);
  const auto j2k = Native({codecs::CodecId::kJ2k});
  EXPECT_EQ(Choose(j2k, {kJpegLs, kJ2kLossless, kExplicitLE}), kJ2kLossless);
}

TEST(ChooseSyntax, UncompressedPeerGetsRawAsReceived) {
  const auto raw = Native({codecs::CodecId::kRaw});
  EXPECT_EQ(Choose(raw, {kExplicitBE, kImplicitLE, kExplicitLE}), kExplicitLE);
  EXPECT_EQ(Choose(raw, {kExplicitBE}), kExplicitBE);
}

TEST(ChooseSyntax, TranscodesToACompressedSyntaxOnlyThePeerAccepted) {
  // A C-GET requester chose its contexts: one it accepts that we did not
  // list first still serves when the transcoder writes it losslessly.
  const auto raw = Native({codecs::CodecId::kRaw});
  EXPECT_EQ(Choose(raw, {kJpegLs}), kJpegLs);
  EXPECT_EQ(Choose(raw, {kJ2kLossy, kRle}), kRle);
  EXPECT_EQ(Choose(Native({codecs::CodecId::kJpegLs}), {kJ2kLossless}), kJ2kLossless);
}

TEST(ChooseSyntax, HTJ2KStoredInstanceIsSentUncompressed) {
  const auto htj2k = Native({codecs::CodecId::kHtj2k});
  EXPECT_EQ(Choose(htj2k, {kHtj2k, kExplicitLE}), kExplicitLE);
  EXPECT_EQ(Choose(htj2k, {kHtj2k}), "");
}

TEST(ChooseSyntax, ReceivedCompressedLossless) {
  const auto jls = Encapsulated(kJpegLs);
  EXPECT_EQ(Choose(jls, {kExplicitLE, kJpegLs}), kJpegLs);
  EXPECT_EQ(Choose(jls, {kImplicitLE}), kImplicitLE);
  EXPECT_EQ(Choose(jls, {kJ2kLossless}), kJ2kLossless);
}

TEST(ChooseSyntax, ReceivedLossyNeedsAPeerThatAcceptsItsOwnSyntax) {
  const auto lossy = Encapsulated(kJ2kLossy);
  EXPECT_EQ(Choose(lossy, {kExplicitLE, kImplicitLE, kJ2kLossless}), "");
  EXPECT_EQ(Choose(lossy, {kExplicitLE, kJ2kLossy}), kJ2kLossy);
}

TEST(ChooseSyntax, NothingAcceptedNothingChosen) {
  EXPECT_EQ(Choose(Native({codecs::CodecId::kRaw}), {}), "");
}

}  // namespace
}  // namespace pacs::dicom
