#include "admin_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace pacs::tools {
namespace fs = std::filesystem;

namespace {

Result<fs::path> RealPath(const fs::path& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr)
    return Status::IOError("cannot resolve " + path.string() + ": " + std::strerror(errno));
  return fs::path(resolved);
}

}  // namespace

FileHandle::~FileHandle() {
  if (fd_ >= 0) close(fd_);
}

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Result<AllowedFolders> AllowedFolders::Resolve(const std::vector<std::string>& folders) {
  AllowedFolders allowed;
  for (const auto& folder : folders) {
    auto resolved = RealPath(folder);
    if (!resolved.ok()) return resolved.status().WithContext("--admin-allow-dir " + folder);
    std::error_code ec;
    if (!fs::is_directory(*resolved, ec))
      return Status::InvalidArgument("--admin-allow-dir " + folder + ": not a folder");
    allowed.folders_.push_back(*resolved);
  }
  return allowed;
}

bool AllowedFolders::Contains(const fs::path& resolved) const {
  const std::string text = resolved.string();
  return std::any_of(folders_.begin(), folders_.end(), [&text](const fs::path& folder) {
    const std::string base = folder.string();
    if (text == base) return true;
    const std::string prefix = base.back() == '/' ? base : base + "/";
    return text.compare(0, prefix.size(), prefix) == 0;
  });
}

Result<fs::path> AllowedFolders::Inside(const std::string& path, const std::string& what) const {
  const std::string refused = what + " " + path + " refused: ";
  if (folders_.empty())
    return Status::InvalidArgument(refused +
                                   "this server allows no folder for it (serve --admin-allow-dir DIR); nothing done");
  const fs::path given(path);
  if (!given.is_absolute()) return Status::InvalidArgument(refused + "not an absolute path; nothing done");
  for (const auto& part : given)
    if (part == "..") return Status::InvalidArgument(refused + "'..' in the path; nothing done");
  fs::path normal = given.lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();  // "/x/y/" -> "/x/y"
  if (normal == normal.root_path()) return Status::InvalidArgument(refused + "the root folder; nothing done");
  auto parent = RealPath(normal.parent_path());
  if (!parent.ok()) return Status::InvalidArgument(refused + parent.status().message());
  const fs::path candidate = *parent / normal.filename();
  if (!Contains(candidate))
    return Status::InvalidArgument(refused + "it resolves to " + candidate.string() +
                                   ", outside the folders this server allows; nothing done");
  return candidate;
}

Result<FileHandle> AllowedFolders::OpenForImport(const std::string& path) const {
  auto inside = Inside(path, "import of");
  if (!inside.ok()) return inside.status();
  // O_NONBLOCK: a FIFO planted there must not hang the request.
  FileHandle file(open(inside->c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (file.fd() < 0) {
    if (errno == ELOOP)
      return Status::InvalidArgument("import of " + path + " refused: it is a symlink; nothing stored");
    return Status::IOError("import of " + path + ": cannot open: " + std::strerror(errno) + "; nothing stored");
  }
  struct stat st {};
  if (fstat(file.fd(), &st) != 0 || !S_ISREG(st.st_mode))
    return Status::InvalidArgument("import of " + path + " refused: not a regular file; nothing stored");
  return file;
}

Result<fs::path> AllowedFolders::PrepareExportFolder(const std::string& path) const {
  auto inside = Inside(path, "export to");
  if (!inside.ok()) return inside.status();
  if (mkdir(inside->c_str(), 0750) != 0 && errno != EEXIST)
    return Status::IOError("export to " + path + ": cannot create it: " + std::strerror(errno) + "; nothing written");
  struct stat st {};
  if (lstat(inside->c_str(), &st) != 0)
    return Status::IOError("export to " + path + ": " + std::strerror(errno) + "; nothing written");
  if (S_ISLNK(st.st_mode))
    return Status::InvalidArgument("export to " + path + " refused: it is a symlink; nothing written");
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("export to " + path + " refused: not a folder; nothing written");
  // Checked again once it exists, resolved as a whole.
  auto resolved = RealPath(*inside);
  if (!resolved.ok()) return resolved.status();
  if (!Contains(*resolved))
    return Status::InvalidArgument("export to " + path + " refused: it resolves to " + resolved->string() +
                                   ", outside the folders this server allows; nothing written");
  return *resolved;
}

}  // namespace pacs::tools
