// File: utc_timestamp.h (base-internal)
// The one timestamp format of our log lines and audit trail:
// 2026-01-02T03:04:05.678Z (UTC, milliseconds).
#pragma once

#include <chrono>
#include <string>

namespace pacs {

std::string UtcTimestamp(std::chrono::system_clock::time_point time);

}  // namespace pacs
