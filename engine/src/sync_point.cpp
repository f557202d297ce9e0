#include "pacs/engine/sync_point.h"

#include <atomic>
#include <map>
#include <mutex>

namespace pacs::engine {
namespace {
std::atomic<bool> g_any{false};
std::mutex g_mutex;  // guards g_callbacks
std::map<std::string, std::function<void()>, std::less<>>& Callbacks() {
  static std::map<std::string, std::function<void()>, std::less<>> callbacks;
  return callbacks;
}
}  // namespace

void SyncPoints::Set(const std::string& name, std::function<void()> callback) {
  std::lock_guard lock(g_mutex);
  Callbacks()[name] = std::move(callback);
  g_any = true;
}

void SyncPoints::ClearAll() {
  std::lock_guard lock(g_mutex);
  Callbacks().clear();
  g_any = false;
}

void SyncPoints::Process(std::string_view name) {
  if (!g_any.load(std::memory_order_relaxed)) return;
  std::function<void()> callback;
  {
    std::lock_guard lock(g_mutex);
    auto it = Callbacks().find(name);
    if (it == Callbacks().end()) return;
    callback = it->second;
  }
  callback();  // outside the lock: it may block on another thread's progress
}

}  // namespace pacs::engine
