#include "pacs/base/parallel.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

namespace pacs {

void ParallelFor(size_t count, size_t max_threads, const std::function<void(size_t)>& fn) {
  const size_t cores = std::max(1U, std::thread::hardware_concurrency());
  const size_t threads = std::min({count, cores, std::max<size_t>(1, max_threads)});
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < count; i = next++) fn(i);
  };
  std::vector<std::thread> helpers;
  helpers.reserve(threads > 1 ? threads - 1 : 0);
  for (size_t t = 1; t < threads; ++t) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no thread to be had: fewer threads do the rest
    }
  }
  work();
  for (auto& helper : helpers) helper.join();
}

}  // namespace pacs
