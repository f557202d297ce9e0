#include "pacs/engine/instance_record.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

// GCC 12 takes the replacement pair below for a mismatch once inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// The largest single allocation since the last reset, for the test that a
// decoder allocates no more than its input justifies. (Replaces the global
// operator new of this test binary; it only counts.)
namespace {
std::atomic<size_t> largest_allocation{0};
}  // namespace

void* operator new(size_t size) {
  size_t seen = largest_allocation.load(std::memory_order_relaxed);
  while (size > seen && !largest_allocation.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t /*size*/) noexcept {
  std::free(p);
}

namespace pacs::engine {
namespace {

TEST(InstanceRecordTest, EncodeDecodeRoundTrips) {
  InstanceRecord rec;
  rec.sop_instance_uid = "1.2.3";
  rec.study_instance_uid = "1.2";
  rec.patient_id = "P1";
  rec.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  rec.header_hash = Sha256(std::span<const uint8_t>());
  rec.received_bytes = 123456789;
  rec.pixel_layout = PixelLayout::kEncapsulated;
  rec.pixel_vr = "OB";
  rec.offset_table = std::string("\0\0\0\0", 4);
  rec.chunks.push_back({Sha256(std::span<const uint8_t>()), 77, 1});
  auto decoded = InstanceRecord::Decode(rec.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->SameContentAs(rec));
  EXPECT_EQ(decoded->sop_instance_uid, "1.2.3");
  EXPECT_EQ(decoded->received_bytes, 123456789u);
  EXPECT_EQ(decoded->chunks[0].size, 77u);
}

TEST(InstanceRecordTest, TruncatedRecordIsCorruption) {
  InstanceRecord rec;
  rec.sop_instance_uid = "1.2.3";
  std::string bytes = rec.Encode();
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto decoded = InstanceRecord::Decode(std::string_view(bytes).substr(0, cut));
    ASSERT_FALSE(decoded.ok()) << "cut at " << cut;
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  }
}

// Found by fuzz/stored_records (the input is
// fuzz/stored_records/regressions/instance_record_chunk_count_2p24 without its
// selector byte): 53 bytes claiming 2^24 chunks made Decode allocate 1.3 GB
// before it found the chunk list truncated.
TEST(InstanceRecordTest, ChunkCountBeyondTheBytesIsRefusedBeforeAllocating) {
  std::string bytes(1, '\x01');      // version
  bytes.append(8, '\0');             // eight empty strings
  bytes.append(32, '\0');            // header hash
  bytes.append(7, '\0');             // sizes, time, layout, VR, pixel length, offset table
  bytes.append("\x80\x80\x80\x08");  // 2^24 chunks, and no bytes for them
  largest_allocation = 0;
  auto decoded = InstanceRecord::Decode(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  EXPECT_LT(largest_allocation.load(), size_t{1} << 20) << "allocated for chunks the record cannot hold";
}

}  // namespace
}  // namespace pacs::engine
