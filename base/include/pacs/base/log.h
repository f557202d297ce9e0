// File: log.h
// One line per event on stderr, with a UTC timestamp and a level. Thread-safe.
#pragma once

#include <string_view>

namespace pacs {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

void Log(LogLevel level, std::string_view message);
void SetLogLevel(LogLevel level);
inline void LogInfo(std::string_view m) {
  Log(LogLevel::kInfo, m);
}
inline void LogWarning(std::string_view m) {
  Log(LogLevel::kWarning, m);
}
inline void LogError(std::string_view m) {
  Log(LogLevel::kError, m);
}

}  // namespace pacs
