// RocksDB checksums every write-ahead log record, blob record and table
// block with CRC32C. Debian's librocksdb 7.8 is built portable (no
// -msse4.2), so its crc32c is a table loop: 2.4 % of the server's CPU while
// it ingests a CT series and 2.8 % while it serves one by C-GET (perf), for
// work the CPU does with one instruction per 8 bytes.
//
// librocksdb.so calls its own exported rocksdb::crc32c::Extend through the
// PLT (all 37 call sites in 7.8.3), so a definition in the executable takes
// those calls (ELF symbol interposition). The executable exports it:
// engine/CMakeLists.txt links with --export-dynamic-symbol. The function is
// the same, so the bytes on disk are the same; tests check the values against
// the standard's vectors and against the table version.
#include "rocksdb_crc32c.h"

#include <dlfcn.h>

#include <array>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace pacs::engine::internal {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // Castagnoli, reflected

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) != 0 ? kPolynomial : 0u);
    table[i] = crc;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const char* data, size_t size) {
  uint64_t state = ~crc;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  while (size > 0 && (reinterpret_cast<uintptr_t>(bytes) & 7u) != 0) {
    state = _mm_crc32_u8(static_cast<uint32_t>(state), *bytes++);
    --size;
  }
  for (; size >= 8; size -= 8, bytes += 8) {
    uint64_t word;
    __builtin_memcpy(&word, bytes, 8);
    state = _mm_crc32_u64(state, word);
  }
  for (; size > 0; --size) state = _mm_crc32_u8(static_cast<uint32_t>(state), *bytes++);
  return ~static_cast<uint32_t>(state);
}
#endif

// Asked once, at the first checksum (which may come before the static
// constructors of this file have run).
bool HasSse42() {
#if defined(__x86_64__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace

uint32_t Crc32cExtendPortable(uint32_t crc, const char* data, size_t size) {
  uint32_t state = ~crc;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) state = (state >> 8) ^ kTable[(state ^ bytes[i]) & 0xFFu];
  return ~state;
}

uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t size) {
#if defined(__x86_64__)
  if (HasSse42()) return ExtendSse42(crc, data, size);
#endif
  return Crc32cExtendPortable(crc, data, size);
}

bool Crc32cUsesHardware() {
  return HasSse42();
}

}  // namespace pacs::engine::internal

// RocksDB's declaration (util/crc32c.h, not installed by Debian).
namespace rocksdb::crc32c {
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);

uint32_t Extend(uint32_t init_crc, const char* data, size_t n) {
  return pacs::engine::internal::Crc32cExtend(init_crc, data, n);
}
}  // namespace rocksdb::crc32c

namespace pacs::engine::internal {

bool RocksDbUsesOurCrc32c() {
  // What the dynamic linker binds librocksdb.so's calls to: the first
  // definition in load order, the executable's if it exports one.
  void* bound = ::dlsym(RTLD_DEFAULT, "_ZN7rocksdb6crc32c6ExtendEjPKcm");
  return bound == reinterpret_cast<void*>(&rocksdb::crc32c::Extend);
}

}  // namespace pacs::engine::internal
