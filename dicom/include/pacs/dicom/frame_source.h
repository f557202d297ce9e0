// File: frame_source.h
// The one way stored pixel frames leave the store. The engine gives each
// chunk as {codec, bytes} (Store::ReadChunk, the codec as stored now, which
// the background encoder may have changed since the commit); a FrameSource
// turns an instance's chunks into frames and decodes a frame only when a
// caller asks for its native pixels. Retrieval (C-GET, C-MOVE), export,
// RebuildInstance and the background encoder all read frames through it, and
// its process-wide counters say how many frames were decoded to be sent and
// how many left exactly as stored.
//
//   auto source = FrameSource::Open(store, record, header_dataset);
//   for (size_t f = 0; f < source->frame_count(); ++f) {
//     auto frame = source->Read(f);                  // as stored: no decoding
//     if (frame->codec == wanted) { send frame->bytes; continue; }
//     auto pixels = source->Decode(f, *frame);       // counted in FrameCounters
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "pacs/base/result.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

// One frame (or chunk) as stored.
struct StoredFrame {
  // The encoding of `bytes`: one of our codecs, kRaw for native pixels
  // (samples little endian, as DCMTK holds them in memory), or nullopt for a
  // frame kept as received in a syntax only DCMTK decodes (RLE, JPEG
  // lossless) or nobody does (lossy, unknown).
  std::optional<codecs::CodecId> codec;
  std::string bytes;
};

// Frames read by every FrameSource of this process since it started.
struct FrameCounters {
  uint64_t decoded = 0;    // decoded to native pixels, to be sent, exported or rebuilt
  uint64_t as_stored = 0;  // left byte for byte as stored (see CountFramesAsStored)
};
FrameCounters ReadFrameCounters();
// Called by whoever puts a stored frame into outgoing pixel data unchanged.
void CountFramesAsStored(uint64_t frames);

// One chunk by key, in the codec it is stored in now (the background
// encoder's read: it has a chunk key, not an instance).
Result<StoredFrame> ReadStoredChunk(const engine::Store& store, const engine::ContentHash& hash);

// THE definition of the transfer syntax an instance is stored in: the one
// its pixel data can leave in with the least work. Encapsulated pixel data
// and instances without pixels: the syntax they arrived in. Native frames:
// the syntax of our codec when every compressed frame is stored with that
// one codec (raw frames beside them are encoded when sent), else the syntax
// they arrived in. It reads each chunk's codec as stored now, so it follows
// the background encoder.
Result<std::string> StoredTransferSyntax(const engine::Store& store, const engine::InstanceRecord& record);
// The same, from chunk codecs already known (record.chunks[i].codec).
std::string StoredTransferSyntaxOf(const engine::InstanceRecord& record);

// A new Pixel Data element of `vr` (OW: 16-bit words, else OB) whose value,
// `length` bytes, `fill` writes in place: a decoder writes frames straight
// into the dataset, with no copy of the whole value in between.
Result<std::unique_ptr<DcmPixelData>> NewNativePixelData(DcmEVR vr, size_t length,
                                                         const std::function<Status(std::span<uint8_t>)>& fill);

// The frames of one stored instance. Not thread-safe; one per build. Holds
// references to `store`, `record` and `header`, which must outlive it.
class FrameSource {
 public:
  // `header` is the instance's stored header (without Pixel Data); its
  // Image Pixel module describes the frames. Reads the fragments of
  // encapsulated pixel data; native frames are read one by one.
  static Result<FrameSource> Open(const engine::Store& store, const engine::InstanceRecord& record, DcmDataset& header);

  // NumberOfFrames (1 when absent).
  size_t frame_count() const { return frames_; }
  // The frame description of the header, or its error.
  const Result<codecs::FrameInfo>& info() const { return info_; }

  // Frame `f` as stored, no decoding. Encapsulated pixel data: the frame's
  // fragments concatenated (Unsupported when the fragments cannot be told
  // apart into frames).
  Result<StoredFrame> Read(size_t f) const;
  // The native pixels (info().FrameBytes() bytes) of frame `f`, given what
  // Read(f) returned; decodes unless it is raw, and counts the decode.
  Result<std::string> Decode(size_t f, StoredFrame frame) const;
  // The same into `out`, info().FrameBytes() long (a raw frame: as long as
  // it is): the codec writes there directly where it can.
  Status DecodeInto(size_t f, StoredFrame frame, std::span<uint8_t> out) const;

  // Native records: the whole Pixel Data value (frames, then any trailing
  // chunk), compressed frames decoded, into `out`, which must be
  // record.pixel_length long (NewNativePixelData's value). Reads every chunk.
  Status NativePixelDataInto(std::span<uint8_t> out) const;
  // Encapsulated records: the Basic Offset Table and the fragments, as received.
  const std::string& offset_table() const { return record_->offset_table; }
  const std::vector<std::string>& fragments() const { return fragments_; }

 private:
  FrameSource(const engine::Store& store, const engine::InstanceRecord& record, DcmDataset& header)
      : store_(&store), record_(&record), header_(&header) {}
  Status DecodeReceivedWithDcmtk() const;

  const engine::Store* store_;
  const engine::InstanceRecord* record_;
  DcmDataset* header_;
  Result<codecs::FrameInfo> info_ = Status::Unsupported("not described");
  size_t frames_ = 1;
  std::vector<std::string> fragments_;                             // encapsulated records
  std::optional<codecs::CodecId> received_codec_;                  // encapsulated in one of our codecs' syntaxes
  mutable std::optional<std::vector<std::string>> grouped_;        // frames of the fragments, once grouped
  mutable std::optional<std::vector<std::string>> dcmtk_decoded_;  // RLE / JPEG lossless, decoded once
};

}  // namespace pacs::dicom
