#include "pacs/base/log.h"

#include "utc_timestamp.h"

#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace pacs {
namespace {

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarning:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::info:
      return "INFO";
    case spdlog::level::warn:
      return "WARN";
    default:
      return "ERROR";
  }
}

// spdlog 1.10 has no JSON formatter, and its pattern formatter writes local
// time: one formatter of ours writes both of our line formats.
class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view message(msg.payload.data(), msg.payload.size());
    std::string line;
    if (format_ == LogFormat::kJson) {
      // ordered_json keeps time, level, message in that order; bytes that are
      // not UTF-8 are written as U+FFFD rather than dropping the line.
      nlohmann::ordered_json object = {
          {"time", UtcTimestamp(msg.time)}, {"level", LevelName(msg.level)}, {"message", message}};
      line = object.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::replace);
    } else {
      char level[8];
      std::snprintf(level, sizeof level, "%-5s", LevelName(msg.level));
      line = UtcTimestamp(msg.time) + " " + level + " " + std::string(message);
    }
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<LineFormatter>(format_); }

 private:
  const LogFormat format_;
};

std::atomic<LogFormat> g_format{LogFormat::kText};

// stderr_sink_mt keeps lines from different threads whole (spdlog's console
// mutex). The logger is never destroyed: threads may still log during exit.
spdlog::logger& Logger() {
  static spdlog::logger* const logger = [] {
    auto* created = new spdlog::logger("pacscore", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    created->set_formatter(std::make_unique<LineFormatter>(LogFormat::kText));
    created->set_level(spdlog::level::info);
    return created;
  }();
  return *logger;
}

}  // namespace

void SetLogLevel(LogLevel level) {
  Logger().set_level(ToSpdlog(level));
}

void SetLogFormat(LogFormat format) {
  g_format = format;
  Logger().set_formatter(std::make_unique<LineFormatter>(format));
}

Status SetLogFile(const std::string& path) {
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IOError("cannot open the log file " + path + ": " + e.what());
  }
  spdlog::logger& logger = Logger();
  sink->set_formatter(std::make_unique<LineFormatter>(g_format.load()));
  logger.sinks().assign({sink});
  // Each line reaches the file as it is logged: a crash or a `tail -f` misses none.
  logger.flush_on(spdlog::level::trace);
  return Status::Ok();
}

LogFormat GetLogFormat() {
  return g_format;
}

void Log(LogLevel level, std::string_view message) {
  Logger().log(ToSpdlog(level), spdlog::string_view_t(message.data(), message.size()));
}

// spdlog's log_clock is std::chrono::system_clock.
std::string UtcTimestamp(std::chrono::system_clock::time_point time) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(time);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[40];
  const size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(ms));
  return stamp;
}

void LogLimiter::Warn(const std::string& line) {
  uint64_t left_out = 0;
  {
    MutexLock lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_ >= std::chrono::seconds(1)) {
      window_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= per_second_) {
      ++suppressed_;
      return;
    }
    ++in_window_;
    left_out = std::exchange(suppressed_, 0);
  }
  LogWarning(left_out == 0 ? line : line + " (" + std::to_string(left_out) + " similar lines left out)");
}

}  // namespace pacs
