// File: bit_reader.h
// The JPEG-LS entropy-coded segment reader: bits MSB first; after a 0xFF byte
// the next byte carries 7 bits (its stuffed zero MSB is dropped); a 0xFF
// followed by a byte >= 0x80 is a marker and ends the coded data (A.1).
// Past the end the reader yields zero bits and counts them as an overrun,
// which the scan decoder checks once per line: no read ever leaves the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "decoder_kernels.h"

#define PACS_JLS_INLINE inline __attribute__((always_inline))

namespace pacs::jls::internal {

// A value type: the scan decoder keeps a copy in a local variable during a
// line so that its state lives in registers. The slow paths run on a copy
// (`Slow*`, by value in and out): a member function called out of line
// would take the address of the reader, and GCC then keeps the cache and
// the bit count in memory for the whole loop (a store and a load on the
// serial chain of every sample).
class BitReader {
 public:
  BitReader(const uint8_t* begin, const uint8_t* end) : pos_(begin), end_(end) { FindFastLimit(); }

  // A reader of coded data without stuffed bits (DestuffCodedData): `bits`
  // bits from `begin`, the last byte padded with zero bits. Its refill never
  // looks for a 0xFF: the 8-byte load is possible up to the last 8 bytes.
  static BitReader OverDestuffed(const uint8_t* begin, size_t bits) {
    BitReader reader(begin, begin);
    reader.end_ = begin + (bits + 7) / 8;
    reader.pad_bits_ = static_cast<uint8_t>((8 - bits % 8) % 8);
    reader.destuffed_ = true;
    reader.FindFastLimit();
    return reader;
  }

  // At least 56 valid bits afterwards, unless the coded data ended.
  PACS_JLS_INLINE void Refill() {
    if (FastLoadPossible()) {
      uint64_t word;
      std::memcpy(&word, pos_, 8);
      word = __builtin_bswap64(word);
      // Bits of the partially taken last byte land below valid_ + 8*bytes;
      // the next refill ORs the same bits again. 0 <= valid_ <= 63 here
      // (negative only once the data is exhausted, and then no fast load
      // is possible): valid_ + 8 * bytes is valid_ | 56.
      cache_ |= word >> valid_;
      pos_ += static_cast<uint32_t>(63 - valid_) >> 3;  // unsigned: no sign extension
      valid_ |= 56;
      return;
    }
    *this = SlowRefill(*this);
  }

  // Refill() on every call where the 8-byte load is possible (a branch on
  // the bit count mispredicts; loading again what is loaded costs less), the
  // slow path only when fewer than 32 bits are left.
  PACS_JLS_INLINE void RefillAlways() {
    if (__builtin_expect(FastLoadPossible(), 1)) {
      uint64_t word;
      std::memcpy(&word, pos_, 8);
      word = __builtin_bswap64(word);
      cache_ |= word >> valid_;                         // as in Refill()
      pos_ += static_cast<uint32_t>(63 - valid_) >> 3;  // unsigned: no sign extension
      valid_ |= 56;
      return;
    }
    if (valid_ < 32) *this = SlowRefill(*this);
  }

  PACS_JLS_INLINE void EnsureBits(int count) {
    if (valid_ < count) Refill();
  }

  // Reads `count` bits, 1 <= count <= 31; EnsureBits(count) first.
  PACS_JLS_INLINE uint32_t ReadBitsUnchecked(int count) {
    const auto value = static_cast<uint32_t>(cache_ >> (64 - count));
    cache_ <<= count;
    valid_ -= count;
    return value;
  }

  PACS_JLS_INLINE uint32_t ReadBits(int count) {
    EnsureBits(count);
    return ReadBitsUnchecked(count);
  }

  PACS_JLS_INLINE bool ReadBit() {
    EnsureBits(1);
    const bool bit = (cache_ >> 63) != 0;
    cache_ <<= 1;
    --valid_;
    return bit;
  }

  // The common case of a Golomb code (A.5.3) with remainder k: fewer than
  // `max_high` leading zeros, the whole code within the loaded bits. Sets
  // `mapped` and returns true, or reads nothing and returns false.
  // 0 <= k <= 31. Without kRefill it reads from the bits already loaded
  // only (the caller refilled before an earlier code).
  // `Mapped` is int32_t or intptr_t (the regular mode's chain in 64-bit
  // registers: no sign extension before the sample indexes a table).
  template <bool kRefill = true, class Mapped = int32_t>
  PACS_JLS_INLINE bool TryReadGolomb(int32_t k, int32_t max_high, Mapped& mapped) {
    if constexpr (kRefill) RefillAlways();
    const int zeros = __builtin_clzll(cache_ | 1);
    // The code is `zeros` 0 bits, a 1 bit and k bits: read as one number of
    // `length` bits it is 2^k + the k bits. length <= valid_ <= 63.
    const int length = zeros + 1 + k;
    if (zeros >= max_high || length > valid_) return false;
    // The top `length` bits: a shift by 64 - length, which is -length
    // modulo 64 (1 <= length <= 63; one negation, x86 masks the count).
    if constexpr (sizeof(Mapped) == 8) {
      mapped = static_cast<Mapped>((static_cast<uint64_t>(static_cast<int64_t>(zeros) - 1) << k) +
                                   (cache_ >> ((-length) & 63)));
    } else {
      mapped = static_cast<int32_t>((static_cast<uint32_t>(zeros - 1) << k) +
                                    static_cast<uint32_t>(cache_ >> ((-length) & 63)));
    }
    cache_ <<= length;
    valid_ -= length;
    return true;
  }

  // The number of 1 bits before the first 0 bit, if that 0 bit and `more`
  // bits after it are loaded (ones < 64), else -1. Reads nothing.
  PACS_JLS_INLINE int PeekOnes(int more) const {
    const int ones = __builtin_clzll(~cache_ | 1);
    return ones + 1 + more <= valid_ ? ones : -1;
  }

  // Skips `count` bits (1 <= count <= valid_) and returns the `bits` bits
  // after them (0 <= bits, count + bits <= valid_).
  PACS_JLS_INLINE uint32_t SkipAndReadBits(int count, int bits) {
    const uint64_t rest = cache_ << count;
    cache_ = rest << bits;
    valid_ -= count + bits;
    return static_cast<uint32_t>((rest >> 1) >> (63 - bits));  // bits = 0: 0
  }

  // The cache has at least 32 valid bits unless the data ended.
  PACS_JLS_INLINE void RefillForRun() { RefillAlways(); }

  // The number of 0 bits before the next 1 bit, which is consumed too.
  PACS_JLS_INLINE int32_t ReadUnary() {
    if (valid_ < 32) Refill();
    if (cache_ != 0) {
      const int zeros = __builtin_clzll(cache_);
      if (zeros < valid_) {
        cache_ = (cache_ << zeros) << 1;  // zeros + 1 may be 64
        valid_ -= zeros + 1;
        return zeros;
      }
    }
    BitReader copy = *this;
    const int32_t zeros = SlowReadUnary(copy);
    *this = copy;
    return zeros;
  }

  // Whether the coded data ends where CharLS expects it to: what is left
  // between the last bit read and `marker` (the marker after the coded
  // data) is zero bits, fewer than fill the byte of that last bit. (CharLS
  // counts a 0xFF byte as 7 bits and the byte after it as 8; its next marker
  // must start right after the byte the last bit was read from.)
  // A destuffed reader takes the marker that ends its coded data
  // (DestuffedData::data_end) and decides from the bits left, which is the
  // same verdict: the stuffed bit of a byte after a 0xFF is zero, a 0xFF is
  // not zero bits, and CharLS's count of one bit less when the last bit read
  // ends a 0xFF byte changes no verdict (then the byte after it must be
  // both zero and the last before the marker: 6 or 7 bits left, both < 8).
  bool OnlyPaddingBefore(const uint8_t* marker) const {
    if (destuffed_) {
      if (end_ - pos_ > 8) return false;
      if (valid_ > 0 && (cache_ >> (64 - valid_)) != 0) return false;
      for (const uint8_t* p = pos_; p < end_; ++p)
        if (*p != 0) return false;
      const int unread = valid_ + 8 * static_cast<int>(end_ - pos_) - (exhausted_ ? 0 : pad_bits_);
      return unread < (marker[-1] == 0xFF ? 7 : 8);
    }
    if (marker < pos_ || marker - pos_ > 8) return false;
    if (valid_ > 0 && (cache_ >> (64 - valid_)) != 0) return false;
    int unread = valid_ - (after_ff_ ? 1 : 0);
    for (const uint8_t* p = pos_; p < marker; ++p) {
      if (*p != 0) return false;
      unread += p[-1] == 0xFF ? 7 : 8;
    }
    return unread < (marker[-1] == 0xFF ? 7 : 8);
  }

  // Whether more bits were read than the coded data holds (zeros were
  // returned for them).
  bool overrun() const { return valid_ < 0; }

  // The first byte not yet loaded. After the last sample of a scan or of a
  // restart interval only padding may remain before the marker.
  // Only for a reader over the input (not destuffed()).
  const uint8_t* position() const { return pos_; }

  bool destuffed() const { return destuffed_; }

 private:
  static constexpr int32_t kNoOneBit = 1 << 20;

  void FindFastLimit() {
    if (destuffed_) {
      SetFastLimit(end_);
      return;
    }
    SetFastLimit(after_ff_ ? pos_ : FindNextFF(pos_, end_));
  }

  // The 8 bytes at pos_ hold no 0xFF and lie in the input. One compare with
  // a precomputed bound (the limit less 8: no valid pointer is below 8).
  PACS_JLS_INLINE bool FastLoadPossible() const { return reinterpret_cast<uintptr_t>(pos_) <= fast_end_; }
  void SetFastLimit(const uint8_t* limit) { fast_end_ = reinterpret_cast<uintptr_t>(limit) - 8; }

  __attribute__((noinline)) static BitReader SlowRefill(BitReader reader) {
    reader.RefillSlow();
    return reader;
  }

  __attribute__((noinline)) static int32_t SlowReadUnary(BitReader& reader) { return reader.ReadUnarySlow(); }

  // Fills to 56..63 bits (at most 63: a code of all the loaded bits is then
  // shifted out with a count below 64).
  void RefillSlow() {
    if (destuffed_) {
      // Within the last 8 bytes: byte by byte; the last byte's padding is
      // not data (the bit count then is exact, as at a marker).
      while (valid_ <= 55 && pos_ < end_) {
        cache_ |= static_cast<uint64_t>(*pos_) << (56 - valid_);
        valid_ += 8;
        ++pos_;
      }
      if (pos_ >= end_ && !exhausted_) {
        exhausted_ = true;
        valid_ -= pad_bits_;
      }
      return;
    }
    while (valid_ <= 55) {
      if (pos_ >= end_) {
        exhausted_ = true;
        break;
      }
      const uint8_t byte = *pos_;
      if (after_ff_) {
        cache_ |= static_cast<uint64_t>(byte & 0x7F) << (57 - valid_);
        valid_ += 7;
        after_ff_ = false;
        ++pos_;
        continue;
      }
      if (byte == 0xFF) {
        if (pos_ + 1 >= end_ || pos_[1] >= 0x80) {  // a marker, or the end: no more coded data
          exhausted_ = true;
          break;
        }
        after_ff_ = true;
      }
      cache_ |= static_cast<uint64_t>(byte) << (56 - valid_);
      valid_ += 8;
      ++pos_;
    }
    if (exhausted_) {
      SetFastLimit(pos_);
    } else {
      FindFastLimit();
    }
  }

  int32_t ReadUnarySlow() {
    int32_t zeros = 0;
    for (;;) {
      if (valid_ <= 0 && exhausted_) {
        valid_ = -1;  // no 1 bit left: an overrun, and a count no code has
        return kNoOneBit;
      }
      if (valid_ < 32) Refill();
      if (valid_ <= 0) continue;
      const uint64_t valid_bits = cache_ & (~0ull << (64 - valid_));
      if (valid_bits != 0) {
        const int z = __builtin_clzll(valid_bits);
        cache_ = (cache_ << z) << 1;  // z + 1 may be 64
        valid_ -= z + 1;
        return zeros + z;
      }
      zeros += valid_;
      cache_ = 0;
      valid_ = 0;
      if (zeros > kNoOneBit) {  // far longer than any code: corrupt
        valid_ = -1;
        return kNoOneBit;
      }
    }
  }

  uint64_t cache_ = 0;  // the next valid_ bits, MSB first
  int valid_ = 0;       // may go negative once the data is exhausted
  const uint8_t* pos_;
  const uint8_t* end_;
  uintptr_t fast_end_ = 0;  // 8-byte loads from up to here hold no 0xFF (the limit less 8)
  bool after_ff_ = false;   // the byte at pos_ follows a 0xFF
  bool exhausted_ = false;
  bool destuffed_ = false;  // over DestuffCodedData's output: no 0xFF to look for
  uint8_t pad_bits_ = 0;    // destuffed: the zero bits after the last coded bit
};

}  // namespace pacs::jls::internal
