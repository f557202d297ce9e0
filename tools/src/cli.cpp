#include "cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "admin_http.h"

namespace pacs::tools {

std::string PortProblem(const std::string& text) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v > 65535) return "must be a port number 0-65535, not '" + text + "'";
  return "";
}

Result<uint16_t> ParsePort(const std::string& text, const std::string& flag) {
  if (std::string problem = PortProblem(text); !problem.empty())
    return Status::InvalidArgument("--" + flag + " " + problem);
  return static_cast<uint16_t>(std::strtol(text.c_str(), nullptr, 10));
}

namespace {

// Milliseconds per unit of a duration, or nullopt for an unknown unit.
std::optional<double> DurationScale(const std::string& unit) {
  if (unit.empty() || unit == "s") return 1000;
  if (unit == "ms") return 1;
  if (unit == "m") return 60e3;
  if (unit == "h") return 3600e3;
  if (unit == "d") return 86400e3;
  return std::nullopt;
}

}  // namespace

namespace {

std::optional<uint64_t> ByteSizeScale(const std::string& unit) {
  if (unit.empty() || unit == "B") return 1;
  if (unit == "KB") return 1000;
  if (unit == "MB") return 1000 * 1000;
  if (unit == "GB") return 1000ull * 1000 * 1000;
  if (unit == "TB") return 1000ull * 1000 * 1000 * 1000;
  if (unit == "KiB") return 1024;
  if (unit == "MiB") return 1024 * 1024;
  if (unit == "GiB") return 1024ull * 1024 * 1024;
  if (unit == "TiB") return 1024ull * 1024 * 1024 * 1024;
  // Single letters as df -h and systemd write them: binary.
  if (unit == "K") return 1024;
  if (unit == "M") return 1024 * 1024;
  if (unit == "G") return 1024ull * 1024 * 1024;
  if (unit == "T") return 1024ull * 1024 * 1024 * 1024;
  return std::nullopt;
}

}  // namespace

std::string ByteSizeProblem(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || !ByteSizeScale(end) || v < 0 || v > 1e18)
    return "must be a size like 0, 5000000, 500MB, 10GB, 2GiB, 2G; not '" + text + "'";
  return "";
}

Result<uint64_t> ParseByteSize(const std::string& text, const std::string& flag) {
  if (std::string problem = ByteSizeProblem(text); !problem.empty())
    return Status::InvalidArgument("--" + flag + " " + problem);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  return static_cast<uint64_t>(v * static_cast<double>(*ByteSizeScale(end)));
}

Result<engine::FreeSpaceFloor> ParseFreeSpaceFloor(const std::string& text) {
  if (!text.empty() && text.back() == '%') {
    char* end = nullptr;
    const std::string number = text.substr(0, text.size() - 1);
    const double percent = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || percent < 0 || percent > 100)
      return Status::InvalidArgument("--min-free-space must be a size like 2G or a percentage like 5%; not '" + text +
                                     "'");
    return engine::FreeSpaceFloor{.bytes = 0, .percent = percent};
  }
  auto bytes = ParseByteSize(text, "min-free-space");
  if (!bytes.ok())
    return Status::InvalidArgument("--min-free-space must be a size like 2G or a percentage like 5%; not '" + text +
                                   "'");
  return engine::FreeSpaceFloor{.bytes = *bytes, .percent = 0};
}

std::string DurationProblem(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || !DurationScale(end) || v < 0)
    return "must be a duration like 0, 90s, 30m, 1h; not '" + text + "'";
  return "";
}

Result<int64_t> ParseDurationMs(const std::string& text, const std::string& flag) {
  if (std::string problem = DurationProblem(text); !problem.empty())
    return Status::InvalidArgument("--" + flag + " " + problem);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  return static_cast<int64_t>(v * *DurationScale(end));
}

Result<Args> ParseArgs(int argc, char** argv, const std::set<std::string>& value_flags,
                       const std::set<std::string>& bool_flags) {
  Args args;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (bool_flags.contains(name)) {
      if (inline_value) return Status::InvalidArgument("--" + name + " takes no value");
      args.flags[name].push_back("true");
    } else if (value_flags.contains(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) return Status::InvalidArgument("--" + name + " needs a value");
        value = argv[++i];
      }
      args.flags[name].push_back(value);
    } else {
      return Status::InvalidArgument("unknown flag --" + name);
    }
  }
  return args;
}

Result<Json> ParseJson(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("invalid JSON: ") + e.what());
  }
}

std::string ToJson(const Json& value, bool pretty) {
  return value.dump(pretty ? 2 : -1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

std::string JsonString(const Json& object, const std::string& key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t JsonInt(const Json& object, const std::string& key, int64_t fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return fallback;
  // Clamped to int64: casting 1e308 is undefined (x86 gives INT64_MIN), and
  // an unsigned above INT64_MAX would wrap negative (found by fuzzing).
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  if (it->is_number_unsigned()) return it->get<uint64_t>() > uint64_t{kMax} ? kMax : it->get<int64_t>();
  if (!it->is_number_float()) return it->get<int64_t>();
  const double value = it->get<double>();
  if (value >= 9223372036854775808.0) return kMax;  // 2^63
  if (value < -9223372036854775808.0) return kMin;
  return static_cast<int64_t>(value);
}

bool JsonBool(const Json& object, const std::string& key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string AdminPortFile(const std::string& data_dir) {
  return data_dir + "/admin.port";
}

std::string AdminSocketPath(const std::string& data_dir) {
  return data_dir + "/admin.sock";
}

std::optional<AdminEndpoint> FindRunningServer(const std::string& data_dir) {
  std::error_code ec;
  const AdminEndpoint endpoint{.socket_path = AdminSocketPath(data_dir)};
  if (!std::filesystem::is_socket(endpoint.socket_path, ec)) return std::nullopt;
  auto reply = AdminRequest(endpoint, "GET", "/health", "", 10);
  if (!reply.ok() || reply->status != 200) return std::nullopt;
  auto json = ParseJson(reply->body);
  if (!json.ok()) return std::nullopt;
  // The socket may have been moved with a copied folder: check the folder it serves.
  auto served = std::filesystem::weakly_canonical(JsonString(*json, "data"), ec);
  auto ours = std::filesystem::weakly_canonical(data_dir, ec);
  if (served != ours) return std::nullopt;
  return endpoint;
}

Json StatsToJson(const engine::StoreStats& s) {
  Json codecs = Json::object();
  for (const auto& [name, usage] : s.per_codec)
    codecs[name] = {{"chunks", JsonCount(usage.chunks)},
                    {"raw_bytes", JsonCount(usage.raw_bytes)},
                    {"stored_bytes", JsonCount(usage.stored_bytes)}};
  Json json = {
      {"unique_frames", JsonCount(s.chunks)},
      {"frame_references", JsonCount(s.chunk_references)},
      {"dedup_saved_bytes", JsonCount(s.dedup_saved_bytes)},
      {"frames_in_several_encodings", JsonCount(s.frames_in_several_encodings)},
      {"frames_awaiting_collection", JsonCount(s.chunks_awaiting_collection)},
      {"frame_bytes_awaiting_collection", JsonCount(s.chunk_bytes_awaiting_collection)},
      {"frames_awaiting_reencoding", JsonCount(s.chunks_awaiting_reencoding)},
      {"pixel_raw_bytes", JsonCount(s.pixel_raw_bytes)},
      {"pixel_stored_bytes", JsonCount(s.pixel_stored_bytes)},
      {"codecs", std::move(codecs)},
      {"patients", JsonCount(s.patients)},
      {"studies", JsonCount(s.studies)},
      {"series", JsonCount(s.series)},
      {"instances", JsonCount(s.instances)},
      {"received_bytes", JsonCount(s.received_bytes)},
      {"received_bytes_total", JsonCount(s.received_bytes_total)},
      {"stored_bytes", JsonCount(s.stored_bytes)},
      {"disk_usage_bytes", JsonCount(s.disk_usage_bytes)},
      {"pixel_chunks", JsonCount(s.chunks)},
      {"pixel_chunk_bytes", JsonCount(s.chunk_bytes)},
  };
  if (!s.frames_node.empty()) json["frames_node"] = s.frames_node;
  if (s.pool) {
    json["pool"] = s.pool->pool;
    json["pool_chunk_objects_held"] = JsonCount(s.pool->chunk_objects);
    json["pool_chunk_bytes_held"] = JsonCount(s.pool->chunk_bytes);
    json["pool_references_held"] = JsonCount(s.pool->references);
    json["pool_references_in_flight"] = JsonCount(s.pool->references_in_flight);
    json["pool_instance_objects"] = JsonCount(s.pool->instance_objects);
    if (s.pool->totals) {
      json["pool_objects"] = JsonCount(s.pool->totals->objects);
      json["pool_bytes"] = JsonCount(s.pool->totals->bytes);
    } else {
      json["pool_totals_error"] = s.pool->totals_error;
    }
  }
  return json;
}

static double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(uint64_t total) : total_(total), enabled_(isatty(STDERR_FILENO) != 0), start_(NowSeconds()) {}

void Progress::Update(uint64_t done, uint64_t bytes) const {
  if (!enabled_) return;
  constexpr int kWidth = 30;
  const int filled = total_ ? static_cast<int>(kWidth * done / total_) : kWidth;
  const double secs = std::max(1e-6, NowSeconds() - start_);
  std::fprintf(stderr, "\r[%s%s] %llu/%llu files, %.1f MB/s ", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total_), bytes / secs / 1e6);
  std::fflush(stderr);
}

void Progress::Finish() const {
  if (enabled_) std::fprintf(stderr, "\n");
}

}  // namespace pacs::tools
