#include "pacs/engine/sync_point.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>

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

Result<std::string> SyncPoints::TEST_InstallKillFromEnvironment() {
  const char* value = std::getenv("PACS_TEST_KILL_AT");
  if (value == nullptr || *value == 0) return std::string();
  const std::string spec(value);
  const size_t at = spec.rfind('@');
  char* end = nullptr;
  const long hit = at == std::string::npos ? 0 : std::strtol(spec.c_str() + at + 1, &end, 10);
  if (at == 0 || at == std::string::npos || hit < 1 || end == nullptr || *end != 0)
    return Status::InvalidArgument("PACS_TEST_KILL_AT=" + spec +
                                   ": expected SYNC_POINT@N (a test hook: kill -9 at the Nth pass, N >= 1)");
  const std::string name = spec.substr(0, at);
  auto passes = std::make_shared<std::atomic<long>>(0);
  // Written before it dies, so that the test knows where it died.
  auto line = std::make_shared<const std::string>("pacscore: test hook PACS_TEST_KILL_AT: SIGKILL at " + name +
                                                  " pass " + std::to_string(hit) + "\n");
  TEST_Set(name, [passes, line, hit] {
    if (passes->fetch_add(1) + 1 != hit) return;
    (void)!::write(STDERR_FILENO, line->data(), line->size());
    ::raise(SIGKILL);
  });
  return "TEST HOOK ACTIVE: PACS_TEST_KILL_AT=" + spec + ": this process kills itself (SIGKILL) at pass " +
         std::to_string(hit) + " of sync point " + name;
}

}  // namespace pacs::engine
