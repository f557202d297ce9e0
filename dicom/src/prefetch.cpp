#include "pacs/dicom/prefetch.h"

#include <atomic>

namespace pacs::dicom {
namespace {

std::atomic<uint64_t> queued_bytes{0};
std::atomic<uint64_t> peak_queued_bytes{0};

}  // namespace

PrefetchCounters ReadPrefetchCounters() {
  return {queued_bytes.load(), peak_queued_bytes.load()};
}

namespace prefetch_internal {

void AddQueuedBytes(uint64_t add, uint64_t remove) {
  const uint64_t now = queued_bytes.fetch_add(add) + add;
  if (remove != 0) queued_bytes.fetch_sub(remove);
  uint64_t peak = peak_queued_bytes.load();
  while (now > peak && !peak_queued_bytes.compare_exchange_weak(peak, now)) {
  }
}

size_t DefaultThreads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 2 : cores;
}

}  // namespace prefetch_internal
}  // namespace pacs::dicom
