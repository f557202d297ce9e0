#include "pacs/dicom/frame_source.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk_codecs.h"
#include "fragments.h"
#include "pacs/codecs/codec_choice.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/pixel_codec_policy.h"
#include "transfer_syntaxes.h"

namespace pacs::dicom {
namespace {

std::atomic<uint64_t> frames_decoded{0};
std::atomic<uint64_t> frames_as_stored{0};

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

size_t NumberOfFrames(DcmItem& ds) {
  OFString s;
  if (ds.findAndGetOFString(DCM_NumberOfFrames, s).good() && !s.empty())
    return static_cast<size_t>(std::max(1L, std::atol(s.c_str())));
  return 1;
}

}  // namespace

FrameCounters ReadFrameCounters() {
  return {frames_decoded.load(), frames_as_stored.load()};
}

void CountFramesAsStored(uint64_t frames) {
  frames_as_stored += frames;
}

Result<StoredFrame> ReadStoredChunk(const engine::Store& store, const engine::ContentHash& hash) {
  auto chunk = store.ReadChunk(hash);
  if (!chunk.ok()) return chunk.status();
  StoredFrame frame;
  if (chunk->codec != engine::kChunkAsReceived) frame.codec = static_cast<codecs::CodecId>(chunk->codec);
  frame.bytes = std::move(chunk->bytes);
  return frame;
}

std::string StoredTransferSyntaxOf(const engine::InstanceRecord& record) {
  if (record.pixel_layout != engine::PixelLayout::kNative) return record.transfer_syntax_uid;
  std::optional<uint8_t> codec;
  for (const auto& c : record.chunks) {
    if (c.size == 0 || c.codec == static_cast<uint8_t>(codecs::CodecId::kRaw)) continue;
    if (codec && *codec != c.codec) return record.transfer_syntax_uid;  // mixed: decoded either way
    codec = c.codec;
  }
  if (!codec) return record.transfer_syntax_uid;  // all raw: native as received
  return std::string(codecs::TransferSyntaxUid(static_cast<codecs::CodecId>(*codec)));
}

Result<std::string> StoredTransferSyntax(const engine::Store& store, const engine::InstanceRecord& record) {
  if (record.pixel_layout != engine::PixelLayout::kNative) return record.transfer_syntax_uid;
  engine::InstanceRecord current = record;
  for (auto& chunk : current.chunks) {
    auto codec = store.HasChunk(chunk.hash);  // as stored now, not as committed
    if (!codec.ok()) return codec.status().WithContext("instance " + record.sop_instance_uid);
    chunk.codec = codec->value_or(chunk.codec);
  }
  return StoredTransferSyntaxOf(current);
}

Result<FrameSource> FrameSource::Open(const engine::Store& store, const engine::InstanceRecord& record,
                                      DcmDataset& header) {
  FrameSource source(store, record, header);
  source.info_ = FrameInfoFromDataset(header);
  source.frames_ = NumberOfFrames(header);
  if (record.pixel_layout == engine::PixelLayout::kEncapsulated) {
    source.received_codec_ = OurCodecFor(record.transfer_syntax_uid);
    source.fragments_.reserve(record.chunks.size());
    for (const auto& chunk : record.chunks) {
      auto bytes = store.GetChunk(chunk.hash);
      if (!bytes.ok()) return bytes.status().WithContext("instance " + record.sop_instance_uid);
      source.fragments_.push_back(std::move(*bytes));
    }
  }
  return source;
}

Result<StoredFrame> FrameSource::Read(size_t f) const {
  if (f >= frames_) return Status::InvalidArgument("frame " + std::to_string(f) + " of " + std::to_string(frames_));
  if (record_->pixel_layout == engine::PixelLayout::kNative) {
    if (record_->chunks.size() < frames_) return Status::Unsupported("pixel data does not split into frames");
    return ReadStoredChunk(*store_, record_->chunks[f].hash);
  }
  if (record_->pixel_layout != engine::PixelLayout::kEncapsulated) return Status::NotFound("no pixel data");
  if (!grouped_) {
    auto grouped = GroupFragments(record_->offset_table, fragments_, frames_);
    if (!grouped.ok()) return grouped.status();
    grouped_ = std::move(*grouped);
  }
  return StoredFrame{received_codec_, (*grouped_)[f]};
}

Result<std::string> FrameSource::Decode(size_t f, StoredFrame frame) const {
  if (frame.codec == codecs::CodecId::kRaw) return std::move(frame.bytes);
  if (!info_.ok()) return info_.status().WithContext("the stored header does not describe the frames");
  std::string native(info_->FrameBytes(), '\0');
  PACS_RETURN_IF_ERROR(
      DecodeInto(f, std::move(frame), std::span(reinterpret_cast<uint8_t*>(native.data()), native.size())));
  return native;
}

Status FrameSource::DecodeInto(size_t f, StoredFrame frame, std::span<uint8_t> out) const {
  const auto where = [&] { return "frame " + std::to_string(f) + " of instance " + record_->sop_instance_uid; };
  const auto copy = [&](const std::string& bytes) {
    if (bytes.size() != out.size())
      return Status::Corruption(where() + " is " + std::to_string(bytes.size()) + " bytes, expected " +
                                std::to_string(out.size()));
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return Status::Ok();
  };
  if (frame.codec == codecs::CodecId::kRaw) return copy(frame.bytes);
  if (!info_.ok()) return info_.status().WithContext("the stored header does not describe the frames");
  if (!frame.codec) {
    if (!dcmtk_decoded_) PACS_RETURN_IF_ERROR(DecodeReceivedWithDcmtk().WithContext(where()));
    return copy((*dcmtk_decoded_)[f]);
  }
  if (out.size() != info_->FrameBytes())
    return Status::Corruption(where() + " decodes to " + std::to_string(info_->FrameBytes()) + " bytes, expected " +
                              std::to_string(out.size()));
  const Status decoded = codecs::MakeCodec(*frame.codec)->DecodeInto(*info_, Bytes(frame.bytes), out);
  if (!decoded.ok()) return decoded.WithContext(where() + " does not decode");
  ++frames_decoded;
  return Status::Ok();
}

Status FrameSource::DecodeReceivedWithDcmtk() const {
  const TransferSyntaxInfo* syntax = FindTransferSyntax(record_->transfer_syntax_uid);
  if (syntax == nullptr || syntax->coding != PixelCoding::kDcmtkCodec)
    return Status::Unsupported("no lossless decoder for transfer syntax " + record_->transfer_syntax_uid);
  // DCMTK's decoders work on a dataset: a copy of the header with the pixel
  // sequence as received.
  RegisterDcmtkCodecs();
  DcmDataset copy(*header_);
  auto* seq = new DcmPixelSequence(DCM_PixelSequenceTag);
  auto* bot = new DcmPixelItem(DCM_PixelItemTag);
  bot->putUint8Array(reinterpret_cast<const Uint8*>(record_->offset_table.data()),
                     static_cast<unsigned long>(record_->offset_table.size()));
  seq->insert(bot);
  for (const auto& fragment : fragments_) {
    auto* item = new DcmPixelItem(DCM_PixelItemTag);
    item->putUint8Array(reinterpret_cast<const Uint8*>(fragment.data()), static_cast<unsigned long>(fragment.size()));
    seq->insert(item);
  }
  auto* px = new DcmPixelData(DCM_PixelData);
  px->putOriginalRepresentation(ReceivedTransferSyntax(*record_), nullptr, seq);
  copy.insert(px, true);
  if (copy.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad())
    return Status::Unsupported("DCMTK cannot decode transfer syntax " + record_->transfer_syntax_uid);
  const Uint8* data = nullptr;
  unsigned long count = 0;
  const size_t frame_bytes = info_->FrameBytes();
  if (copy.findAndGetUint8Array(DCM_PixelData, data, &count).bad() || data == nullptr || count < frame_bytes * frames_)
    return Status::Corruption("decoded pixel data is shorter than the frames");
  std::vector<std::string> out;
  out.reserve(frames_);
  for (size_t f = 0; f < frames_; ++f)
    out.emplace_back(reinterpret_cast<const char*>(data) + f * frame_bytes, frame_bytes);
  dcmtk_decoded_ = std::move(out);
  frames_decoded += frames_;
  return Status::Ok();
}

Result<std::unique_ptr<DcmPixelData>> NewNativePixelData(DcmEVR vr, size_t length,
                                                         const std::function<Status(std::span<uint8_t>)>& fill) {
  if (length > std::numeric_limits<Uint32>::max() - 1)
    return Status::InvalidArgument("pixel data of " + std::to_string(length) + " bytes does not fit one element");
  auto px = std::make_unique<DcmPixelData>(DcmTag(DCM_PixelData, vr));
  uint8_t* value = nullptr;
  OFCondition created;
  if (vr == EVR_OW && length % 2 == 0) {
    Uint16* words = nullptr;  // the same bytes: hosts are little-endian, like the frames
    created = px->createUint16Array(static_cast<Uint32>(length / 2), words);
    value = reinterpret_cast<uint8_t*>(words);
  } else {
    Uint8* bytes = nullptr;
    created = px->createUint8Array(static_cast<Uint32>(length), bytes);
    value = bytes;
  }
  if (created.bad() || (length > 0 && value == nullptr))
    return Status::IOError("cannot allocate " + std::to_string(length) + " bytes of pixel data: " + created.text());
  PACS_RETURN_IF_ERROR(fill(std::span(value, length)));
  return px;
}

Status FrameSource::NativePixelDataInto(std::span<uint8_t> out) const {
  if (record_->pixel_layout != engine::PixelLayout::kNative) return Status::InvalidArgument("not native pixel data");
  if (out.size() != record_->pixel_length)
    return Status::InvalidArgument("pixel data buffer of " + std::to_string(out.size()) + " bytes, record says " +
                                   std::to_string(record_->pixel_length));
  size_t offset = 0;
  for (size_t i = 0; i < record_->chunks.size(); ++i) {
    const auto& chunk = record_->chunks[i];
    if (chunk.size > out.size() - offset)
      return Status::Corruption("pixel chunks of instance " + record_->sop_instance_uid + " add up to more than " +
                                std::to_string(record_->pixel_length) + " bytes, the record's pixel length");
    auto stored = ReadStoredChunk(*store_, chunk.hash);
    if (!stored.ok()) return stored.status();
    if (stored->codec == codecs::CodecId::kRaw && i < frames_) CountFramesAsStored(1);
    PACS_RETURN_IF_ERROR(DecodeInto(i, std::move(*stored), out.subspan(offset, chunk.size))
                             .WithContext("chunk " + engine::ToHex(chunk.hash)));
    offset += chunk.size;
  }
  if (offset != out.size())
    return Status::Corruption("pixel chunks add up to " + std::to_string(offset) + " bytes, record says " +
                              std::to_string(record_->pixel_length));
  return Status::Ok();
}

}  // namespace pacs::dicom
