// Our CRC32C, which librocksdb.so's checksums run through
// (engine/src/rocksdb_crc32c.cpp): the standard's values, the instruction
// and the table agreeing at every length and alignment, and the binding.
#include "rocksdb_crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace rocksdb::crc32c {
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);
}  // namespace rocksdb::crc32c

namespace pacs::engine::internal {
namespace {

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// RFC 3720 B.4 (iSCSI, the CRC32C RocksDB's own tests check) and the usual check value.
TEST(RocksDbCrc32cTest, StandardVectors) {
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  const std::vector<std::pair<std::string, uint32_t>> vectors = {
      {std::string(32, '\0'), 0x8A9136AAu},
      {std::string(32, '\xFF'), 0x62A8AB43u},
      {ascending, 0x46DD794Eu},
      {descending, 0x113FDB5Cu},
      {"123456789", 0xE3069283u},
      {"", 0u},
      {Bytes({0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
              0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}),
       0xD9963A56u},
  };
  for (const auto& [data, expected] : vectors) {
    EXPECT_EQ(Crc32cExtend(0, data.data(), data.size()), expected) << data.size() << " bytes";
    EXPECT_EQ(Crc32cExtendPortable(0, data.data(), data.size()), expected) << data.size() << " bytes";
    EXPECT_EQ(rocksdb::crc32c::Extend(0, data.data(), data.size()), expected) << data.size() << " bytes";
  }
}

TEST(RocksDbCrc32cTest, InstructionAndTableAgreeAtEveryLengthAndAlignment) {
  std::mt19937 random(20261203);
  std::vector<char> buffer(4096 + 16);
  for (char& c : buffer) c = static_cast<char>(random());
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t length = 0; length <= 300; ++length) {
      const char* data = buffer.data() + offset;
      ASSERT_EQ(Crc32cExtend(0x12345678u, data, length), Crc32cExtendPortable(0x12345678u, data, length))
          << "offset " << offset << " length " << length;
    }
    const char* data = buffer.data() + offset;
    ASSERT_EQ(Crc32cExtend(7, data, 4096), Crc32cExtendPortable(7, data, 4096)) << "offset " << offset;
  }
}

TEST(RocksDbCrc32cTest, ExtendingContinuesTheChecksum) {
  const std::string data = "RocksDB checksums a write-ahead log record in two parts: its type, then its payload.";
  const uint32_t whole = Crc32cExtend(0, data.data(), data.size());
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = Crc32cExtend(0, data.data(), split);
    EXPECT_EQ(Crc32cExtend(first, data.data() + split, data.size() - split), whole) << "split at " << split;
  }
}

// librocksdb.so's calls bind to the executable's definition only if the
// executable exports it (engine/CMakeLists.txt); this test binary is linked
// as every other one.
TEST(RocksDbCrc32cTest, RocksDbCallsBindToOurs) {
  EXPECT_TRUE(RocksDbUsesOurCrc32c());
#if defined(__x86_64__)
  if (!Crc32cUsesHardware()) GTEST_SKIP() << "this CPU has no SSE4.2: the table runs";
  EXPECT_TRUE(Crc32cUsesHardware());
#endif
}

}  // namespace
}  // namespace pacs::engine::internal
