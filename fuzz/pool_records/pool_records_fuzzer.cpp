// libFuzzer target: the bytes a node reads back from its RADOS pool besides
// chunk bytes (docs/scale-out.md): the reply of the refcount class's `read`
// method (DecodeRefcountReadReply). The pool is shared with other nodes and
// other Ceph versions, so the decoder must turn any bytes into either tags
// or a Corruption status, never a crash, and must not allocate more than the
// input justifies.
//
// Beyond "no crash": a decoded reply re-encodes (in Ceph's encoding) to the
// input up to any trailing fields a newer version appends, and every refusal
// is a Corruption status.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pacs/engine/chunk_store.h"

namespace {

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

void AppendLe32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tags = pacs::engine::DecodeRefcountReadReply(bytes);
  if (!tags.ok()) {
    if (tags.status().code() != pacs::StatusCode::kCorruption)
      Finding("a refusal that is not Corruption: " + tags.status().ToString());
    return 0;
  }
  std::string list;
  AppendLe32(list, static_cast<uint32_t>(tags->size()));
  for (const auto& tag : *tags) {
    AppendLe32(list, static_cast<uint32_t>(tag.size()));
    list += tag;
  }
  if (bytes.substr(6, list.size()) != list) Finding("the decoded tags do not re-encode to the input's list");
  return 0;
}
