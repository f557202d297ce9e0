#include "pacs/engine/content_hash.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace pacs::engine {

ContentHash Sha256(std::initializer_list<std::span<const uint8_t>> parts) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  ContentHash out{};
  unsigned int len = 0;
  // EVP failures here mean a broken OpenSSL install, not bad input.
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL SHA-256 unavailable");
  for (auto part : parts) EVP_DigestUpdate(ctx.get(), part.data(), part.size());
  EVP_DigestFinal_ex(ctx.get(), out.data(), &len);
  return out;
}

std::string ToHex(const ContentHash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(hash.size() * 2);
  for (uint8_t b : hash) {
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 15]);
  }
  return hex;
}

std::string_view AsKey(const ContentHash& hash) {
  return {reinterpret_cast<const char*>(hash.data()), hash.size()};
}

}  // namespace pacs::engine
