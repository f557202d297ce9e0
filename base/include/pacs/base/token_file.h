// File: token_file.h
// Bearer tokens with roles, read from a file only its owner can read: the
// admin endpoint's TCP port uses it, and DICOMweb will. One token per line:
//
//   # comments and blank lines are ignored
//   3f9c0b7e5d2a41c8a6e1f0b2d4c6e8a0 admin
//   8b1d4f6a2c3e5b7d9f0a1c2e3b4d5f6a read,write
//
// A token is 16-128 printable ASCII characters without spaces; roles are
// `read`, `write` and `admin`, comma-separated. The file must be a regular
// file owned by the user running pacscore, with no permission for group or
// others (0600 or 0400), or it is refused.
//
//   auto tokens = TokenFile::Load("/etc/pacscore/admin.tokens");
//   if (const TokenEntry* who = tokens->Find(presented); who && who->Has(TokenRole::kAdmin)) ...
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/base/result.h"

namespace pacs {

enum class TokenRole : uint8_t { kRead = 1, kWrite = 2, kAdmin = 4 };

struct TokenEntry {
  unsigned roles = 0;       // TokenRole bits
  std::string fingerprint;  // "sha256:" and the first 8 hex digits of the token's SHA-256: safe to log
  int line = 0;             // in the file, for messages
  std::string digest;       // SHA-256 of the token (32 bytes); the token itself is not kept

  bool Has(TokenRole role) const { return (roles & static_cast<unsigned>(role)) != 0; }
  // "read,write", for log lines.
  std::string RoleNames() const;
};

// How ReadOwnerOnlyFile checks a file before it reads it.
struct OwnerOnlyFileRules {
  bool follow_symlink = false;      // true: a symlink as the last component is followed (certbot's key links)
  bool owned_by_this_user = true;   // true: the file's owner must be this process's effective user
  uint64_t max_bytes = 1ull << 20;  // larger: refused
};

// The bytes of `path`, a regular file whose mode gives group and others no
// permission at all (a secret: tokens, a TLS private key), within the
// rules. `what` names the file in errors ("token file /etc/x").
Result<std::string> ReadOwnerOnlyFile(const std::string& path, const std::string& what, OwnerOnlyFileRules rules);

// Immutable once loaded: safe to share between threads.
class TokenFile {
 public:
  // Reads `path` (not following a symlink as its last component) after
  // checking that it is a regular file owned by this process's effective
  // user with no group/other permission bits. Errors name the file and line.
  static Result<TokenFile> Load(const std::string& path);
  // The same rules for text already read; `origin` names it in errors.
  static Result<TokenFile> Parse(std::string_view text, const std::string& origin);

  // The entry whose token equals `presented`, or nullptr. Every entry is
  // compared, through SHA-256 digests and a constant-time comparison, so the
  // time taken says nothing about how much of a token was right.
  const TokenEntry* Find(std::string_view presented) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<TokenEntry> entries_;
};

// "sha256:" and the first 8 hex digits of SHA-256(token).
std::string TokenFingerprint(std::string_view token);

}  // namespace pacs
