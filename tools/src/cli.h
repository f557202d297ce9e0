// File: cli.h
// Flag parsing and the pieces every subcommand shares: finding the running
// server that holds a data folder, progress output, stats as JSON.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "json.h"
#include "pacs/base/result.h"
#include "pacs/engine/store.h"

namespace pacs::tools {

struct Args {
  std::map<std::string, std::vector<std::string>> flags;  // repeatable flags keep every value
  std::vector<std::string> positional;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = flags.find(name);
    return it == flags.end() || it->second.empty() ? fallback : it->second.back();
  }
};

// Parses argv after the subcommand. `value_flags` take a value, `bool_flags` do not;
// anything else is an error naming the flag.
Result<Args> ParseArgs(int argc, char** argv, const std::set<std::string>& value_flags,
                       const std::set<std::string>& bool_flags);
Result<uint16_t> ParsePort(const std::string& text, const std::string& flag);

// The file in the data folder where `serve` publishes its admin port.
std::string AdminPortFile(const std::string& data_dir);
// The admin port of a live server holding `data_dir`, if one answers.
std::optional<uint16_t> FindRunningServer(const std::string& data_dir);

JsonValue StatsToJson(const engine::StoreStats& stats);

// A one-line progress bar on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(uint64_t total);
  void Update(uint64_t done, uint64_t bytes);
  void Finish();

 private:
  uint64_t total_;
  bool enabled_;
  double start_;
};

// Prints "pacscore: <status>" on stderr; returns 1.
int Fail(const Status& status);
// Opens a data folder (read-only: a point-in-time view that writes nothing).
// A writer gets the query index installed. Busy when another process holds it.
Result<std::unique_ptr<engine::Store>> OpenFolder(const std::string& dir, engine::DuplicatePolicy policy,
                                                  bool read_only = false);
// delete / compact / verify on an open store, for the CLI and the admin
// endpoint alike. `request` holds the flags as JSON ("study", "gc_grace_ms",
// "deep", ...); the reply has "error" on failure.
JsonValue HandleMaintenance(engine::Store& store, const std::string& action, const JsonValue& request);
Result<int64_t> ParseDurationMs(const std::string& text, const std::string& flag);

int RunServe(int argc, char** argv);
int RunDelete(int argc, char** argv);
int RunCompact(int argc, char** argv);
int RunVerify(int argc, char** argv);
int RunImport(int argc, char** argv);
int RunExport(int argc, char** argv);
int RunStats(int argc, char** argv);

}  // namespace pacs::tools
