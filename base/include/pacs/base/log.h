// File: log.h
// One line per event on stderr, thread-safe. Text (the default): a UTC
// timestamp with milliseconds, the level and the message. JSON, for log
// shippers: one object per line with "time", "level" and "message".
//
//   SetLogFormat(LogFormat::kJson);
//   LogInfo("admin endpoint on 127.0.0.1:8043");
//   // {"time":"2026-01-02T03:04:05.678Z","level":"INFO","message":"admin endpoint on 127.0.0.1:8043"}
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "pacs/base/mutex.h"
#include "pacs/base/result.h"

namespace pacs {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class LogFormat { kText, kJson };

void Log(LogLevel level, std::string_view message);
void SetLogLevel(LogLevel level);
// Set once at start-up, before other threads log; lines already written keep theirs.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
// Sends every line to `path` (appended to, created if missing) instead of
// stderr, each line written out at once. Set once at start-up, after
// SetLogFormat and before other threads log. Fails, naming the file, when it
// cannot be opened; stderr stays the destination then.
Status SetLogFile(const std::string& path);
inline void LogInfo(std::string_view m) {
  Log(LogLevel::kInfo, m);
}
inline void LogWarning(std::string_view m) {
  Log(LogLevel::kWarning, m);
}
inline void LogError(std::string_view m) {
  Log(LogLevel::kError, m);
}

// Warnings that an attacker can cause by the thousand (refused and timed-out
// connections): at most `per_second` lines a second, the next line allowed
// saying how many were left out. Thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(int per_second) : per_second_(per_second) {}
  void Warn(const std::string& line);

 private:
  const int per_second_;
  Mutex mutex_;
  std::chrono::steady_clock::time_point window_ GUARDED_BY(mutex_);
  int in_window_ GUARDED_BY(mutex_) = 0;
  uint64_t suppressed_ GUARDED_BY(mutex_) = 0;
};

}  // namespace pacs
