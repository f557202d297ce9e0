// File: sync_point.h
// Test hooks: named points in engine code where tests can run a callback, to
// force an interleaving of concurrent operations deterministically (RocksDB's
// TEST_SYNC_POINT in miniature). Free when no callback is installed.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace pacs::engine {

// Thread-safe: callbacks may be installed while other threads pass the points.
class SyncPoints {
 public:
  // Installs `callback` for `name`, replacing any earlier one.
  static void TEST_Set(const std::string& name, std::function<void()> callback);
  static void TEST_ClearAll();
  // Runs the callback installed for `name`, if any (outside the registry's
  // lock: it may wait on another thread's progress).
  static void Process(std::string_view name);
};

}  // namespace pacs::engine

// Marks a point in production code where a test may run a callback.
#define PACS_TEST_SYNC_POINT(name) ::pacs::engine::SyncPoints::Process(name)
