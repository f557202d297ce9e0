// File: instance_record.h
// What the engine keeps per stored instance: identifying UIDs, where its
// header and pixel chunks live, and how to put them back together.
// The binary encoding is versioned; see docs/storage-format.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/engine/content_hash.h"

namespace pacs::engine {

enum class PixelLayout : uint8_t {
  kNone = 0,          // no Pixel Data element
  kNative = 1,        // uncompressed; chunks are frames (or one chunk for odd sizes)
  kEncapsulated = 2,  // compressed as received; chunks are the fragments
};

// PixelChunk::codec of an encapsulated fragment kept exactly as received.
constexpr uint8_t kChunkAsReceived = 0xFF;

// One piece of pixel data: a native frame or an encapsulated fragment.
struct PixelChunk {
  ContentHash hash{};  // key of the stored bytes in the frames column family
  uint64_t size = 0;   // bytes of the chunk as it appears in the dataset
  uint8_t codec = 0;   // pacs::codecs::CodecId of the stored bytes, or kChunkAsReceived
  // Identity of the decoded pixels of the frame this chunk starts (native
  // frames: the chunk key itself; compressed frames: the hash the native
  // frame would have); all zero when unknown or not the start of a frame.
  ContentHash pixel_hash{};
  bool operator==(const PixelChunk& o) const { return hash == o.hash && size == o.size; }
};

struct InstanceRecord {
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string patient_id;
  std::string issuer_of_patient_id;
  std::string transfer_syntax_uid;         // as received
  std::string header_transfer_syntax_uid;  // how the stored header bytes are encoded
  ContentHash header_hash{};
  uint64_t header_size = 0;
  uint64_t received_bytes = 0;  // size of the dataset as received
  int64_t received_unix_ms = 0;
  PixelLayout pixel_layout = PixelLayout::kNone;
  std::string pixel_vr;       // "OB" or "OW"
  uint64_t pixel_length = 0;  // native value length (kNative)
  std::string offset_table;   // Basic Offset Table item bytes (kEncapsulated)
  std::vector<PixelChunk> chunks;

  // Same content: same header bytes, same pixel chunks, same syntax.
  bool SameContentAs(const InstanceRecord& other) const;

  std::string Encode() const;
  static Result<InstanceRecord> Decode(std::string_view bytes);
};

}  // namespace pacs::engine
