// The token file: its format, the permission and owner checks on load, and
// lookups that find exactly the right entry.
#include "pacs/base/token_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace pacs {
namespace {

namespace fs = std::filesystem;

const char* kAdminToken = "0123456789abcdef-admin";
const char* kReader = "fedcba9876543210-reader";

std::string Sample() {
  return std::string("# pacscore tokens\n\n") + kAdminToken + " admin\n  " + kReader + "\tread,write  \n";
}

fs::path WriteFile(const std::string& name, const std::string& text, mode_t mode) {
  const fs::path path = fs::temp_directory_path() / ("pacs_token_" + std::to_string(getpid()) + "_" + name);
  fs::remove(path);
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
  return path;
}

TEST(TokenFileTest, ParsesTokensRolesCommentsAndBlankLines) {
  auto file = TokenFile::Parse(Sample(), "sample");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->size(), 2u);
  const TokenEntry* admin = file->Find(kAdminToken);
  ASSERT_NE(admin, nullptr);
  EXPECT_TRUE(admin->Has(TokenRole::kAdmin));
  EXPECT_FALSE(admin->Has(TokenRole::kRead));
  EXPECT_EQ(admin->line, 3);
  EXPECT_EQ(admin->fingerprint, TokenFingerprint(kAdminToken));
  EXPECT_EQ(admin->fingerprint.size(), std::string("sha256:12345678").size());
  const TokenEntry* reader = file->Find(kReader);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->RoleNames(), "read,write");
  EXPECT_FALSE(reader->Has(TokenRole::kAdmin));
}

TEST(TokenFileTest, FindsNothingForAWrongPrefixOrLongerOrEmptyToken) {
  auto file = TokenFile::Parse(Sample(), "sample");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->Find(""), nullptr);
  EXPECT_EQ(file->Find("0123456789abcdef-admiN"), nullptr);
  EXPECT_EQ(file->Find(std::string(kAdminToken) + "x"), nullptr);
  EXPECT_EQ(file->Find(std::string(kAdminToken).substr(0, 10)), nullptr);
}

TEST(TokenFileTest, RefusesMalformedLinesNamingTheLine) {
  struct Case {
    std::string text, expected;
  };
  for (const Case& c : std::vector<Case>{
           {"0123456789abcdef\n", "line 1: expected 'TOKEN ROLE[,ROLE]'"},
           {"# c\nshort admin\n", "line 2: a token has 16-128 characters"},
           {"0123456789abcdef root\n", "unknown role 'root'"},
           {"0123456789abcdef read, write\n", "more fields"},
           {"0123456789abcdef read\n0123456789abcdef admin\n", "line 2: the same token as line 1"},
           {"# only a comment\n", "no token"},
       }) {
    auto file = TokenFile::Parse(c.text, "t");
    ASSERT_FALSE(file.ok()) << c.text;
    EXPECT_NE(file.status().message().find(c.expected), std::string::npos) << file.status().ToString();
  }
}

TEST(TokenFileTest, LoadsAnOwnerOnlyFileAndRefusesOneOthersCanReadOrWrite) {
  const fs::path good = WriteFile("good", Sample(), 0600);
  auto loaded = TokenFile::Load(good.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_NE(loaded->Find(kAdminToken), nullptr);
  for (mode_t mode : {0640, 0604, 0620, 0602}) {
    const fs::path open = WriteFile("open", Sample(), mode);
    auto refused = TokenFile::Load(open.string());
    ASSERT_FALSE(refused.ok()) << std::oct << mode;
    EXPECT_NE(refused.status().message().find("lets group or others read or write it"), std::string::npos)
        << refused.status().ToString();
    fs::remove(open);
  }
  // A symlink to a good file is not followed.
  const fs::path link = good.string() + ".link";
  fs::remove(link);
  fs::create_symlink(good, link);
  EXPECT_FALSE(TokenFile::Load(link.string()).ok());
  fs::remove(link);
  fs::remove(good);
}

TEST(TokenFileTest, RefusesAFileOwnedBySomeoneElse) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the file to another user";
  const fs::path path = WriteFile("foreign", Sample(), 0600);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  auto refused = TokenFile::Load(path.string());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("owned by uid 65534"), std::string::npos) << refused.status().ToString();
  fs::remove(path);
}

}  // namespace
}  // namespace pacs
