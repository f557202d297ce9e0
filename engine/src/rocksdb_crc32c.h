// File: rocksdb_crc32c.h
// CRC32C (Castagnoli) for RocksDB's checksums, with the SSE4.2 instruction
// where the CPU has it. rocksdb_crc32c.cpp also defines RocksDB's own entry
// point, rocksdb::crc32c::Extend, in the executable (why: there).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pacs::engine::internal {

// The CRC32C of `size` bytes continued from `crc`, the CRC32C of what came
// before (0 for none): Extend(Extend(0, a), b) == Extend(0, a + b).
uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t size);
// The same with a table, one byte at a time (the reference for tests, and
// what runs without SSE4.2).
uint32_t Crc32cExtendPortable(uint32_t crc, const char* data, size_t size);
// Whether Crc32cExtend uses the CPU's crc32 instruction.
bool Crc32cUsesHardware();
// Whether calls into librocksdb.so reach Crc32cExtend: its symbol
// rocksdb::crc32c::Extend resolves to our definition (false when the
// executable does not export it, see engine/CMakeLists.txt).
bool RocksDbUsesOurCrc32c();

}  // namespace pacs::engine::internal
