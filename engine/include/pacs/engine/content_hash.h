// File: content_hash.h
// SHA-256 content identity for frames and headers. Identity is never decided
// by a non-cryptographic hash.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pacs::engine {

using ContentHash = std::array<uint8_t, 32>;

// Hashes the concatenation of `parts` (e.g. a pixel description and the pixels).
ContentHash Sha256(std::initializer_list<std::span<const uint8_t>> parts);
inline ContentHash Sha256(std::span<const uint8_t> bytes) {
  return Sha256({bytes});
}

std::string ToHex(const ContentHash& hash);
std::string_view AsKey(const ContentHash& hash);

}  // namespace pacs::engine
