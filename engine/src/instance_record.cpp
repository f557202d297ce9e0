#include "pacs/engine/instance_record.h"

#include <cstring>

namespace pacs::engine {
namespace {

constexpr uint8_t kRecordVersion = 1;  // pre-release: the format may still change within version 1

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutBytes(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

// Reads the encoding written above; every read checks bounds.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      auto byte = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  bool Bytes(std::string& s) {
    uint64_t n = 0;
    if (!Varint(n) || n > data_.size() - pos_) return false;
    s.assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool Raw(void* dst, size_t n) {
    if (n > data_.size() - pos_) return false;
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool AtEnd() const { return pos_ == data_.size(); }
  size_t Remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

bool InstanceRecord::SameContentAs(const InstanceRecord& other) const {
  return header_hash == other.header_hash && chunks == other.chunks &&
         transfer_syntax_uid == other.transfer_syntax_uid && pixel_layout == other.pixel_layout &&
         pixel_vr == other.pixel_vr && offset_table == other.offset_table;
}

std::string InstanceRecord::Encode() const {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  for (const std::string* s : {&sop_instance_uid, &sop_class_uid, &study_instance_uid, &series_instance_uid,
                               &patient_id, &issuer_of_patient_id, &transfer_syntax_uid, &header_transfer_syntax_uid}) {
    PutBytes(out, *s);
  }
  out.append(AsKey(header_hash));
  PutVarint(out, header_size);
  PutVarint(out, received_bytes);
  PutVarint(out, static_cast<uint64_t>(received_unix_ms));
  out.push_back(static_cast<char>(pixel_layout));
  PutBytes(out, pixel_vr);
  PutVarint(out, pixel_length);
  PutBytes(out, offset_table);
  PutVarint(out, chunks.size());
  for (const auto& c : chunks) {
    out.append(AsKey(c.hash));
    PutVarint(out, c.size);
    out.push_back(static_cast<char>(c.codec));
    out.append(AsKey(c.pixel_hash));
  }
  return out;
}

Result<InstanceRecord> InstanceRecord::Decode(std::string_view bytes) {
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kRecordVersion)
    return Status::Corruption("instance record has an unknown version");
  Reader r(bytes.substr(1));
  InstanceRecord rec;
  bool ok = true;
  for (std::string* s :
       {&rec.sop_instance_uid, &rec.sop_class_uid, &rec.study_instance_uid, &rec.series_instance_uid, &rec.patient_id,
        &rec.issuer_of_patient_id, &rec.transfer_syntax_uid, &rec.header_transfer_syntax_uid}) {
    ok = ok && r.Bytes(*s);
  }
  uint64_t ms = 0, count = 0;
  uint8_t layout = 0;
  ok = ok && r.Raw(rec.header_hash.data(), rec.header_hash.size()) && r.Varint(rec.header_size) &&
       r.Varint(rec.received_bytes) && r.Varint(ms) && r.Raw(&layout, 1) && r.Bytes(rec.pixel_vr) &&
       r.Varint(rec.pixel_length) && r.Bytes(rec.offset_table) && r.Varint(count);
  if (!ok || layout > 2 || count > (1u << 24)) return Status::Corruption("instance record is truncated");
  // Each chunk takes at least two hashes, a one-byte size and the codec: a
  // count the remaining bytes cannot hold is refused before allocating for it
  // (a 53-byte record claiming 2^24 chunks made this allocate 1.3 GB).
  constexpr size_t kMinChunkBytes = 2 * sizeof(ContentHash) + 2;
  if (count > r.Remaining() / kMinChunkBytes)
    return Status::Corruption("instance record lists " + std::to_string(count) + " chunks in " +
                              std::to_string(r.Remaining()) + " bytes");
  rec.received_unix_ms = static_cast<int64_t>(ms);
  rec.pixel_layout = static_cast<PixelLayout>(layout);
  rec.chunks.resize(count);
  for (auto& c : rec.chunks) {
    if (!r.Raw(c.hash.data(), c.hash.size()) || !r.Varint(c.size) || !r.Raw(&c.codec, 1) ||
        !r.Raw(c.pixel_hash.data(), c.pixel_hash.size()))
      return Status::Corruption("instance record chunk list is truncated");
  }
  if (!r.AtEnd()) return Status::Corruption("instance record has trailing bytes");
  return rec;
}

}  // namespace pacs::engine
