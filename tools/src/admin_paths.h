// File: admin_paths.h
// The folders that /export and /import through the admin endpoint may
// touch (`serve --admin-allow-dir DIR`, repeatable). With none, both are
// refused: a server often runs as a user that can read and write more than
// its callers should. Paths are absolute, may not contain `..`, have their
// parent folder resolved (symlinks included) before the check, and their
// last component is never followed if it is a symlink.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::tools {

// An open file descriptor, closed on destruction.
class FileHandle {
 public:
  explicit FileHandle(int fd = -1) : fd_(fd) {}
  ~FileHandle();
  FileHandle(FileHandle&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileHandle& operator=(FileHandle&& other) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }
  // A path that opens this very file again (/proc/self/fd/N), for readers
  // that take a path: no later rename or symlink can redirect it.
  std::string ProcPath() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// Immutable after Resolve: safe to share between the handler threads.
class AllowedFolders {
 public:
  // Each folder must exist; it is kept resolved (realpath). Errors name the folder.
  static Result<AllowedFolders> Resolve(const std::vector<std::string>& folders);
  bool empty() const { return folders_.empty(); }
  const std::vector<std::filesystem::path>& folders() const { return folders_; }

  // A regular file inside an allowed folder, opened for reading without
  // following a symlink at its last component. InvalidArgument (refused) or
  // IOError, naming the path.
  Result<FileHandle> OpenForImport(const std::string& path) const;
  // A folder inside an allowed folder to export into, created (mode 0750) if
  // missing; not a symlink. Returns its resolved path.
  Result<std::filesystem::path> PrepareExportFolder(const std::string& path) const;

 private:
  // The path with its parent resolved, if it is inside an allowed folder.
  Result<std::filesystem::path> Inside(const std::string& path, const std::string& what) const;
  bool Contains(const std::filesystem::path& resolved) const;
  std::vector<std::filesystem::path> folders_;
};

}  // namespace pacs::tools
