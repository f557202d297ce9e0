#include "pacs/engine/sync_point.h"

#include <atomic>
#include <map>

#include "pacs/base/mutex.h"

namespace pacs::engine {
namespace {

struct Registry {
  Mutex mutex;
  std::map<std::string, std::function<void()>, std::less<>> callbacks GUARDED_BY(mutex);
  // Whether any callback is installed: lets Process skip the lock in production.
  std::atomic<bool> any{false};
};

Registry& TheRegistry() {
  static Registry registry;
  return registry;
}

}  // namespace

void SyncPoints::TEST_Set(const std::string& name, std::function<void()> callback) {
  Registry& registry = TheRegistry();
  MutexLock lock(registry.mutex);
  registry.callbacks[name] = std::move(callback);
  registry.any = true;
}

void SyncPoints::TEST_ClearAll() {
  Registry& registry = TheRegistry();
  MutexLock lock(registry.mutex);
  registry.callbacks.clear();
  registry.any = false;
}

void SyncPoints::Process(std::string_view name) {
  Registry& registry = TheRegistry();
  if (!registry.any.load(std::memory_order_relaxed)) return;
  std::function<void()> callback;
  {
    MutexLock lock(registry.mutex);
    auto it = registry.callbacks.find(name);
    if (it == registry.callbacks.end()) return;
    callback = it->second;
  }
  callback();  // outside the lock: it may block on another thread's progress
}

}  // namespace pacs::engine
