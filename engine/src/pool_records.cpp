// What a node keeps in a chunk store besides the chunks (docs/scale-out.md,
// "Rebuilding a node"): the object names, and the decoder of the refcount
// class's `read` reply. Built in every configuration (also without librados,
// for the fuzzer of the decoder).
#include <cstring>

#include "pacs/engine/chunk_store.h"

namespace pacs::engine {
namespace {

// A little-endian u32 at `pos`, advancing it; false when fewer than 4 bytes remain.
bool ReadLe32(std::string_view bytes, size_t& pos, uint32_t& value) {
  if (bytes.size() - pos < 4) return false;
  value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos + i])) << (8 * i);
  pos += 4;
  return true;
}

Status Bad(const std::string& what) {
  return Status::Corruption("refcount.read reply from the cluster: " + what);
}

}  // namespace

std::string NodeObjectName(std::string_view node) {
  return "node." + std::string(node);
}

std::string InstanceObjectName(std::string_view node, std::string_view sop_instance_uid) {
  return "inst." + std::string(node) + "." + std::string(sop_instance_uid);
}

Result<std::vector<std::string>> DecodeRefcountReadReply(std::string_view bytes) {
  // ENCODE_START(1, 1): u8 version, u8 compat (what a reader must know), le32 length.
  if (bytes.size() < 6) return Bad(std::to_string(bytes.size()) + " bytes, shorter than its 6-byte envelope");
  const auto compat = static_cast<uint8_t>(bytes[1]);
  if (compat > 1) return Bad("encoding compat version " + std::to_string(compat) + ", this build reads 1");
  size_t pos = 2;
  uint32_t length = 0;
  ReadLe32(bytes, pos, length);
  if (length != bytes.size() - pos)
    return Bad("envelope says " + std::to_string(length) + " bytes, " + std::to_string(bytes.size() - pos) + " follow");
  uint32_t count = 0;
  if (!ReadLe32(bytes, pos, count)) return Bad("no tag count");
  // Each tag takes at least its 4-byte length: a count beyond that is a lie,
  // refused before anything is reserved.
  if (count > (bytes.size() - pos) / 4) return Bad("tag count " + std::to_string(count) + " exceeds the bytes");
  std::vector<std::string> tags;
  tags.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t size = 0;
    if (!ReadLe32(bytes, pos, size) || size > bytes.size() - pos)
      return Bad("tag " + std::to_string(i) + " runs past the end");
    tags.emplace_back(bytes.substr(pos, size));
    pos += size;
  }
  // A newer version may append fields after the list (compat 1 allows it).
  return tags;
}

}  // namespace pacs::engine
