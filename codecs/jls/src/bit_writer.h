// File: bit_writer.h
// The JPEG-LS entropy-coded segment writer: bits MSB first, and after every
// 0xFF byte a zero bit stuffed as the most significant bit of the next byte
// (ISO/IEC 14495-1 A.1), so that no marker can appear in the coded data.
// The end of the scan is padded with zero bits, plus a 0x00 byte if the last
// byte was 0xFF: exactly CharLS's end_scan.
#pragma once

#include <cstdint>
#include <cstring>

#define PACS_JLS_INLINE inline __attribute__((always_inline))

namespace pacs::jls::internal {

// A value type: the scan encoder keeps a copy in a local variable during a
// line, so that the compiler holds its state in registers.
class BitWriter {
 public:
  // `out` must have room for everything written; the scan encoder checks the
  // capacity once per line (WrittenBytes() and Rebase()).
  explicit BitWriter(uint8_t* out) : out_(out) {}

  // Appends the `count` low bits of `bits` (count <= 32, upper bits zero).
  PACS_JLS_INLINE void Put(uint32_t bits, int count) {
    pending_ = (pending_ << count) | bits;
    pending_count_ += count;
    if (pending_count_ >= 32) Drain();
  }

  // Appends `count` zero bits, any number.
  PACS_JLS_INLINE void PutZeros(int count) {
    while (count > 32) {
      Put(0, 32);
      count -= 32;
    }
    Put(0, count);
  }

  void Finish() {
    while (pending_count_ > 0) EmitSlow();  // the last byte is padded with zeros
    if (last_was_ff_) *out_++ = 0;
  }

  uint8_t* position() const { return out_; }
  void Rebase(uint8_t* out) { out_ = out; }

 private:
  // Brings pending_count_ below 32. The fast path writes four bytes at once
  // when no stuffing is involved: the previous byte was not 0xFF and none of
  // the first three new bytes is (a 0xFF in the fourth only matters later).
  PACS_JLS_INLINE void Drain() {
    if (!last_was_ff_) {
      const auto word = static_cast<uint32_t>(pending_ >> (pending_count_ - 32));
      // A zero byte of ~word is a 0xFF of word; the test may flag a byte
      // above a real one too, which only costs the slow path.
      const uint32_t inverted = ~word;
      const bool has_ff = ((inverted - 0x01010101u) & ~inverted & 0x80808000u) != 0;
      if (!has_ff) {
        const uint32_t big_endian = __builtin_bswap32(word);
        std::memcpy(out_, &big_endian, 4);
        out_ += 4;
        pending_count_ -= 32;
        last_was_ff_ = (word & 0xFFu) == 0xFFu;
        return;
      }
    }
    DrainSlow();
  }

  __attribute__((noinline)) void DrainSlow() {
    while (pending_count_ >= 32) EmitSlow();
  }

  // Writes one byte: 8 bits, or 7 after a 0xFF. Pads with zeros when fewer
  // bits are pending (only at the end of the scan).
  void EmitSlow() {
    const int width = last_was_ff_ ? 7 : 8;
    uint32_t byte;
    if (pending_count_ >= width) {
      byte = static_cast<uint32_t>(pending_ >> (pending_count_ - width)) & ((1u << width) - 1);
      pending_count_ -= width;
    } else {
      byte = static_cast<uint32_t>(pending_ << (width - pending_count_)) & ((1u << width) - 1);
      pending_count_ = 0;
    }
    *out_++ = static_cast<uint8_t>(byte);
    last_was_ff_ = byte == 0xFF;
  }

  uint64_t pending_ = 0;   // the low pending_count_ bits are not yet written
  int pending_count_ = 0;  // < 32 between calls
  uint8_t* out_;
  bool last_was_ff_ = false;
};

}  // namespace pacs::jls::internal
