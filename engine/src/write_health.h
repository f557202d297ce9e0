// File: write_health.h
// Whether the store may write: the free-space floor (serve --min-free-space)
// and read-only mode after a failed write. Shared by RocksStore and the
// RocksDB EventListener that reports background errors (flush, compaction),
// which exists before the store does.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/listener.h>

#include <cstdarg>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "pacs/base/mutex.h"
#include "pacs/base/thread_annotations.h"

namespace pacs::engine {

// Thread-safe: mutex_ guards the reason and the time of the last resume
// attempt; read_only_ is read without it on every write.
class WriteHealthState {
 public:
  // Enters read-only mode (logged once per entry, with `reason`).
  void Fail(const std::string& data_folder, const std::string& reason) EXCLUDES(mutex_);
  // Leaves it (logged).
  void Recovered(const std::string& data_folder, const std::string& how) EXCLUDES(mutex_);
  bool read_only() const { return read_only_.load(std::memory_order_acquire); }
  std::string reason() const EXCLUDES(mutex_);
  // True at most once per `interval`: whether to try resuming now.
  bool ResumeDue(std::chrono::milliseconds interval) EXCLUDES(mutex_);

 private:
  std::atomic<bool> read_only_{false};
  mutable Mutex mutex_;
  std::string reason_ GUARDED_BY(mutex_);
  std::chrono::steady_clock::time_point last_resume_ GUARDED_BY(mutex_){};
};

// Puts the store read-only when RocksDB reports a background error, and
// back when RocksDB's own recovery ends well. Runs on RocksDB's threads,
// sometimes under its mutex: it touches only the shared state.
class BackgroundErrorListener final : public rocksdb::EventListener {
 public:
  BackgroundErrorListener(std::shared_ptr<WriteHealthState> health, std::string data_folder)
      : health_(std::move(health)), data_folder_(std::move(data_folder)) {}
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override;
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override;

 private:
  const std::shared_ptr<WriteHealthState> health_;
  const std::string data_folder_;
};

// RocksDB's info log, sent to our log instead of a LOG file in the data
// folder. On a full disk RocksDB's own LOG file writer fails, and its next
// line (SstFileManager's recovery logs one) trips the assertion
// 'sync_without_flush_called_' in Debian's librocksdb (assertions on): a
// logger that writes no file cannot. Warnings and errors only.
class RocksLogger final : public rocksdb::Logger {
 public:
  explicit RocksLogger(std::string data_folder)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), data_folder_(std::move(data_folder)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;
  void Logv(rocksdb::InfoLogLevel level, const char* format, va_list ap) override;

 private:
  const std::string data_folder_;
};

// The file system of `path`: bytes free for an unprivileged writer and its
// size. False when statvfs fails.
bool FileSystemSpace(const std::string& path, uint64_t* available, uint64_t* capacity);

}  // namespace pacs::engine
