// File: bit_writer.h
// The JPEG-LS entropy-coded segment writer, in two steps:
//  - BitWriter appends codes MSB first to a scratch buffer, without stuffing
//    and without a branch: every Put stores the 64-bit accumulator and moves
//    the output pointer by the number of whole bytes in it.
//  - ByteStuffer copies that bit stream to the codestream, inserting the zero
//    bit that must follow every 0xFF byte (ISO/IEC 14495-1 A.1), so that no
//    marker can appear in the coded data. 0xFF bytes are rare, so it moves
//    7 bytes per step and falls back to one byte only around a 0xFF.
// The end of the scan is padded with zero bits, plus a 0x00 byte if the last
// byte was 0xFF: exactly CharLS's end_scan.
#pragma once

#include <cstdint>
#include <cstring>

#define PACS_JLS_INLINE inline __attribute__((always_inline))

namespace pacs::jls::internal {

PACS_JLS_INLINE void StoreBigEndian64(uint8_t* out, uint64_t value) {
  const uint64_t big_endian = __builtin_bswap64(value);
  std::memcpy(out, &big_endian, 8);
}

PACS_JLS_INLINE uint64_t LoadBigEndian64(const uint8_t* in) {
  uint64_t value;
  std::memcpy(&value, in, 8);
  return __builtin_bswap64(value);
}

// A value type: the scan encoder keeps a copy in a local variable during a
// line, so that the compiler holds its state in registers.
class BitWriter {
 public:
  // The unstuffed output. Each Put stores 8 bytes at the current position:
  // the buffer needs 8 bytes of slack behind the last whole byte.
  explicit BitWriter(uint8_t* out) : out_(out) {}

  // Appends the `count` low bits of `bits`: 1 <= count <= 56, upper bits zero.
  // Between calls fewer than 8 bits are pending, and the byte at position()
  // holds them (left-aligned, zero below). The accumulator is right-aligned
  // and keeps older bits above the pending ones: they are shifted out of the
  // stored word, so they never need clearing.
  PACS_JLS_INLINE void Put(uint64_t bits, int count) {
    pending_ = (pending_ << count) | bits;
    count_ += static_cast<uint32_t>(count);  // 1..63
    StoreBigEndian64(out_, pending_ << (-count_ & 63));
    out_ += count_ >> 3;
    count_ &= 7;
  }

  // Appends `count` zero bits, any number.
  PACS_JLS_INLINE void PutZeros(int count) {
    while (count > 0) {
      const int chunk = count < 56 ? count : 56;
      Put(0, chunk);
      count -= chunk;
    }
  }

  // The first byte not yet complete (it holds pending_bits() bits).
  uint8_t* position() const { return out_; }
  int pending_bits() const { return static_cast<int>(count_); }

  // Moves the output to `out`, whose first byte must hold the pending bits
  // (as position() did).
  void Rebase(uint8_t* out) { out_ = out; }

 private:
  uint64_t pending_ = 0;  // the count_ pending bits at the bottom, older bits above
  uint32_t count_ = 0;    // < 8 between calls (unsigned: no sign extension for out_)
  uint8_t* out_;
};

// Copies a bit stream to the codestream with a 0 bit stuffed after each 0xFF.
class ByteStuffer {
 public:
  // Copies whole bytes of the bit stream [`begin`, `end`) that are at least
  // 8 bytes before `end`, and returns the first not consumed: the caller
  // moves the rest (and its bit offset is kept here) to the front of its
  // buffer before writing more. `out` needs 8 bytes of slack per call
  // beyond 8/7 of the bytes consumed.
  const uint8_t* Copy(const uint8_t* begin, const uint8_t* end, uint8_t*& out) {
    const uint8_t* in = begin;
    uint8_t* dst = out;
    while (end - in >= 8) {
      const uint64_t word = LoadBigEndian64(in) << bit_offset_;  // >= 57 valid bits
      int consumed;
      if (__builtin_expect(last_was_ff_, 0)) {
        *dst++ = static_cast<uint8_t>(word >> 57);  // 7 bits and a stuffed 0
        consumed = 7;
        last_was_ff_ = false;
      } else {
        // A 0x80 in every byte of `ff` that is 0xFF in `word` (exact: no
        // borrow crosses bytes), top 7 bytes only.
        const uint64_t inverted = ~word;
        constexpr uint64_t kLow7 = 0x7F7F7F7F7F7F7F7Full;
        const uint64_t ff = ~(((inverted & kLow7) + kLow7) | inverted | kLow7) & ~uint64_t{0xFF};
        StoreBigEndian64(dst, word);
        if (__builtin_expect(ff == 0, 1)) {
          dst += 7;
          consumed = 56;
        } else {
          const int bytes = __builtin_clzll(ff) / 8 + 1;  // up to the first 0xFF
          dst += bytes;
          consumed = 8 * bytes;
          last_was_ff_ = true;
        }
      }
      consumed += bit_offset_;
      in += consumed >> 3;
      bit_offset_ = consumed & 7;
    }
    out = dst;
    return in;
  }

  // Copies the rest of the bit stream, bits [bit_offset(), `end_bit`) from
  // `begin` (the first byte Copy did not consume), pads the last byte with
  // zeros and ends the scan as CharLS does. `begin` must be readable 2 bytes
  // past `end_bit`.
  void Finish(const uint8_t* begin, int64_t end_bit, uint8_t*& out) {
    const int64_t bits = end_bit;
    int64_t position = bit_offset_;
    while (position < bits) {
      const int width = last_was_ff_ ? 7 : 8;
      const uint32_t two_bytes = (uint32_t{begin[position >> 3]} << 8) | begin[(position >> 3) + 1];
      const uint32_t window = (two_bytes << (position & 7)) & 0xFFFF;
      uint32_t byte = window >> (16 - width);
      if (bits - position < width) byte &= ~((1u << (width - (bits - position))) - 1);  // zero padding
      *out++ = static_cast<uint8_t>(byte);
      last_was_ff_ = byte == 0xFF;
      position += width;
    }
    if (last_was_ff_) *out++ = 0;
  }

  int bit_offset() const { return bit_offset_; }

 private:
  int bit_offset_ = 0;  // bits of the first byte already consumed
  bool last_was_ff_ = false;
};

}  // namespace pacs::jls::internal
