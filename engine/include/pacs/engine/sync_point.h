// File: sync_point.h
// Test hooks: named points in engine code where tests can run a callback, to
// force an interleaving of concurrent operations deterministically (RocksDB's
// TEST_SYNC_POINT in miniature). Free when no callback is installed.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "pacs/base/result.h"

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

  // Test hook for crash tests of a real process (tests/ceph/serve_kill_test):
  // when the environment variable PACS_TEST_KILL_AT is "NAME@N", installs a
  // callback that writes a line to stderr and raises SIGKILL at the Nth pass
  // (counted from 1, over all threads) through the sync point NAME. Returns
  // what it installed ("" when the variable is unset), or InvalidArgument
  // when the variable is malformed. `pacscore serve` calls it at start.
  static Result<std::string> TEST_InstallKillFromEnvironment();
};

}  // namespace pacs::engine

// Marks a point in production code where a test may run a callback.
#define PACS_TEST_SYNC_POINT(name) ::pacs::engine::SyncPoints::Process(name)
