#include "pacs/base/token_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace pacs {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 128;
constexpr size_t kMaxFileBytes = 1 << 20;

std::string Sha256(std::string_view text) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[(static_cast<unsigned char>(c) >> 4) & 0xf]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 0xf]);
  }
  return out;
}

std::string Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return "";
  const size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

Result<unsigned> ParseRoles(const std::string& text, const std::string& where) {
  unsigned roles = 0;
  std::stringstream list(text);
  std::string name;
  while (std::getline(list, name, ',')) {
    if (name == "read")
      roles |= static_cast<unsigned>(TokenRole::kRead);
    else if (name == "write")
      roles |= static_cast<unsigned>(TokenRole::kWrite);
    else if (name == "admin")
      roles |= static_cast<unsigned>(TokenRole::kAdmin);
    else
      return Status::InvalidArgument(
          std::string(where).append(": unknown role '").append(name).append("' (roles: read, write, admin)"));
  }
  if (roles == 0) return Status::InvalidArgument(where + ": no role after the token (roles: read, write, admin)");
  return roles;
}

}  // namespace

std::string TokenFingerprint(std::string_view token) {
  return "sha256:" + Hex(Sha256(token)).substr(0, 8);
}

std::string TokenEntry::RoleNames() const {
  std::string out;
  for (auto [role, name] : {std::pair{TokenRole::kRead, "read"}, std::pair{TokenRole::kWrite, "write"},
                            std::pair{TokenRole::kAdmin, "admin"}})
    if (Has(role)) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

Result<TokenFile> TokenFile::Parse(std::string_view text, const std::string& origin) {
  TokenFile file;
  std::stringstream lines{std::string(text)};
  std::string raw;
  int number = 0;
  while (std::getline(lines, raw)) {
    ++number;
    const std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = origin + " line " + std::to_string(number);
    std::stringstream fields(line);
    std::string token, roles, extra;
    fields >> token >> roles >> extra;
    if (roles.empty()) return Status::InvalidArgument(where + ": expected 'TOKEN ROLE[,ROLE]', found one field");
    if (!extra.empty())
      return Status::InvalidArgument(where + ": expected 'TOKEN ROLE[,ROLE]', found more fields (no spaces in roles)");
    if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength)
      return Status::InvalidArgument(where + ": a token has " + std::to_string(kMinTokenLength) + "-" +
                                     std::to_string(kMaxTokenLength) + " characters, this one " +
                                     std::to_string(token.size()));
    for (char c : token)
      if (c <= 0x20 || c >= 0x7f) return Status::InvalidArgument(where + ": a token is printable ASCII");
    auto parsed_roles = ParseRoles(roles, where);
    if (!parsed_roles.ok()) return parsed_roles.status();
    TokenEntry entry{
        .roles = *parsed_roles, .fingerprint = TokenFingerprint(token), .line = number, .digest = Sha256(token)};
    for (const auto& other : file.entries_)
      if (other.digest == entry.digest)
        return Status::InvalidArgument(where + ": the same token as line " + std::to_string(other.line));
    file.entries_.push_back(std::move(entry));
  }
  if (file.entries_.empty()) return Status::InvalidArgument(origin + ": no token in it");
  return file;
}

Result<std::string> ReadOwnerOnlyFile(const std::string& path, const std::string& what, OwnerOnlyFileRules rules) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | (rules.follow_symlink ? 0 : O_NOFOLLOW));
  if (fd < 0) return Status::IOError(what + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) return Status::IOError(what + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(what + ": not a regular file; refused");
  if (rules.owned_by_this_user && st.st_uid != geteuid())
    return Status::InvalidArgument(what + ": owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
                                   std::to_string(geteuid()) + " that runs pacscore; refused");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::InvalidArgument(what + ": mode " + mode +
                                   " lets group or others read or write it; refused (chmod 600 " + path + ")");
  }
  if (static_cast<uint64_t>(st.st_size) > rules.max_bytes)
    return Status::InvalidArgument(what + ": larger than " + std::to_string(rules.max_bytes) + " bytes; refused");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(what + ": cannot read: " + std::strerror(errno));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

Result<TokenFile> TokenFile::Load(const std::string& path) {
  const std::string origin = "token file " + path;
  auto text = ReadOwnerOnlyFile(path, origin,
                                {.follow_symlink = false, .owned_by_this_user = true, .max_bytes = kMaxFileBytes});
  if (!text.ok()) return text.status();
  return Parse(*text, origin);
}

const TokenEntry* TokenFile::Find(std::string_view presented) const {
  const std::string digest = Sha256(presented);
  const TokenEntry* found = nullptr;
  for (const auto& entry : entries_) {
    // No early exit: every entry costs the same whether it matches or not.
    const bool same = CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (same) found = &entry;
  }
  return found;
}

}  // namespace pacs
