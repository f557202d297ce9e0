// The RADOS chunk store in builds that cannot compile librados: clang 14 in
// C++20 mode rejects librados 16.2's buffer.h (an ambiguous reversed
// operator==), so clang builds (the fuzzers', engine/CMakeLists.txt) use this
// instead of rados_chunk_store.cpp. `--frames rados:POOL` then fails clearly.
#include "pacs/engine/chunk_store.h"

namespace pacs::engine {

Result<std::unique_ptr<ChunkStore>> OpenRadosChunkStore(const RadosOptions& options) {
  return Status::Unsupported("cannot open RADOS pool " + options.pool +
                             ": this pacscore was built without RADOS support (a clang build; build with GCC)");
}

std::string ChunkObjectName(const ContentHash& hash) {
  return "chunk." + ToHex(hash);
}

}  // namespace pacs::engine
