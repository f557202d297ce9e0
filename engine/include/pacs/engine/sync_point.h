// File: sync_point.h
// Named points in engine code where tests can run a callback, to force an
// interleaving of concurrent operations deterministically (RocksDB's
// TEST_SYNC_POINT in miniature). Free when no callback is installed.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace pacs::engine {

class SyncPoints {
 public:
  // Installs `callback` for `name`, replacing any earlier one. Thread-safe.
  static void Set(const std::string& name, std::function<void()> callback);
  static void ClearAll();
  // Runs the callback installed for `name`, if any.
  static void Process(std::string_view name);
};

}  // namespace pacs::engine

#define PACS_SYNC_POINT(name) ::pacs::engine::SyncPoints::Process(name)
