// A full disk: the free-space floor, read-only mode after a failed write, and
// leaving it when space returns. docs/operations.md ("A full disk") says
// what an operator sees.
#include "write_health.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "pacs/base/log.h"
#include "rocks_store.h"

namespace pacs::engine {
namespace {

const char* ReasonName(rocksdb::BackgroundErrorReason reason) {
  switch (reason) {
    case rocksdb::BackgroundErrorReason::kFlush:
      return "flush";
    case rocksdb::BackgroundErrorReason::kCompaction:
      return "compaction";
    case rocksdb::BackgroundErrorReason::kWriteCallback:
      return "write";
    case rocksdb::BackgroundErrorReason::kMemTable:
      return "memtable";
    case rocksdb::BackgroundErrorReason::kManifestWrite:
      return "manifest write";
    case rocksdb::BackgroundErrorReason::kFlushNoWAL:
      return "flush";
    case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
      return "manifest write";
  }
  return "background work";
}

std::string Mib(uint64_t bytes) {
  return std::to_string(bytes / (uint64_t{1024} * 1024)) + " MiB";
}

// Between two attempts at leaving read-only mode.
constexpr std::chrono::seconds kResumeInterval{1};

}  // namespace

void WriteHealthState::Fail(const std::string& data_folder, const std::string& reason) {
  MutexLock lock(mutex_);
  if (read_only_.load()) return;  // the first failure is the one to report
  reason_ = reason;
  read_only_.store(true, std::memory_order_release);
  LogError("data folder " + data_folder + " is read-only after a write error (" + reason +
           "): C-STORE is answered A700 (Out of Resources), queries and retrievals go on; writes resume "
           "by themselves once the file system has room again");
}

void WriteHealthState::Recovered(const std::string& data_folder, const std::string& how) {
  MutexLock lock(mutex_);
  if (!read_only_.load()) return;
  read_only_.store(false, std::memory_order_release);
  LogInfo("data folder " + data_folder + " is writable again (" + how + "); it was read-only after: " + reason_);
  reason_.clear();
}

std::string WriteHealthState::reason() const {
  MutexLock lock(mutex_);
  return reason_;
}

bool WriteHealthState::ResumeDue(std::chrono::milliseconds interval) {
  MutexLock lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_resume_ < interval) return false;
  last_resume_ = now;
  return true;
}

void BackgroundErrorListener::OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) {
  health_->Fail(data_folder_, std::string("RocksDB background ") + ReasonName(reason) + ": " + error->ToString());
}

void BackgroundErrorListener::OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) {
  if (info.new_bg_error.ok()) health_->Recovered(data_folder_, "RocksDB recovered on its own");
}

void RocksLogger::Logv(const char* format, va_list ap) {
  Logv(rocksdb::InfoLogLevel::WARN_LEVEL, format, ap);
}

void RocksLogger::Logv(rocksdb::InfoLogLevel level, const char* format, va_list ap) {
  if (level < GetInfoLogLevel()) return;
  char line[1024];
  std::vsnprintf(line, sizeof line, format, ap);
  const std::string message = "RocksDB (" + data_folder_ + "): " + line;
  if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL)
    LogError(message);
  else
    LogWarning(message);
}

bool FileSystemSpace(const std::string& path, uint64_t* available, uint64_t* capacity) {
  struct statvfs fs {};
  if (::statvfs(path.c_str(), &fs) != 0) return false;
  *available = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  *capacity = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  return true;
}

uint64_t RocksStore::MinFreeBytes(uint64_t capacity) const {
  const auto& floor = options_.min_free_space;
  const auto by_percent = static_cast<uint64_t>(std::llround(static_cast<double>(capacity) * floor.percent / 100.0));
  return std::max(floor.bytes, by_percent);
}

WriteHealthReport RocksStore::WriteHealth() const {
  WriteHealthReport report;
  report.read_only_after_error = health_->read_only();
  if (report.read_only_after_error) report.reason = health_->reason();
  uint64_t capacity = 0;
  if (FileSystemSpace(options_.path, &report.available_bytes, &capacity))
    report.min_free_bytes = MinFreeBytes(capacity);
  else
    report.min_free_bytes = options_.min_free_space.bytes;
  return report;
}

Status RocksStore::CheckRoom(WriteKind kind, uint64_t write_bytes) {
  if (options_.read_only) return Status::Unsupported("data folder " + options_.path + " is open read-only");
  uint64_t available = 0, capacity = 0;
  const bool known = FileSystemSpace(options_.path, &available, &capacity);
  const uint64_t floor = known ? MinFreeBytes(capacity) : 0;
  const bool room = !known || available >= floor;
  // A large commit (a multi-frame dataset) must not take the floor's room.
  const bool room_for_write = !known || available >= floor + write_bytes;
  if (health_->read_only()) {
    // Resume only once there is room: a resume that fails again costs a
    // flush attempt and a log line.
    if (room && health_->ResumeDue(kResumeInterval)) {
      MutexLock lock(resume_mutex_);
      rocksdb::Status resumed = db_->Resume();
      if (resumed.ok())
        health_->Recovered(options_.path, Mib(available) + " free, at least " + Mib(floor) + " wanted");
      else
        LogWarning("data folder " + options_.path + ": leaving read-only mode failed (" + resumed.ToString() +
                   "); retrying at most once a second while C-STOREs come");
    }
    if (health_->read_only())
      return Status::IOError("data folder " + options_.path + " is read-only after a write error (" +
                             health_->reason() + "; " + Mib(available) + " free, at least " + Mib(floor) +
                             " wanted): refused, nothing stored");
  }
  if (kind == WriteKind::kAdds && !room_for_write)
    return Status::IOError("data folder " + options_.path + " has " + Mib(available) +
                           " free on its file system; a write of " + Mib(write_bytes) + " would leave less than " +
                           Mib(floor) + " (--min-free-space): refused, nothing stored");
  return Status::Ok();
}

void RocksStore::NoteWriteResult(const rocksdb::Status& status, const std::string& what) {
  if (status.ok() || status.IsNotFound() || status.IsBusy() || status.IsTryAgain() || status.IsInvalidArgument())
    return;
  health_->Fail(options_.path, what + ": " + status.ToString());
}

}  // namespace pacs::engine
