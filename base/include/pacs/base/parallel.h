// File: parallel.h
// Runs independent, CPU-bound pieces of one request side by side, one
// thread per core (at most `max_threads`), and returns once all are done.
// For the few places where one request holds many independent items
// (a STOW-RS body's parts, a series' metadata, a commitment request's
// instances); long-lived work belongs on a pool instead.
//
//   std::vector<Result<X>> out(items.size());
//   ParallelFor(items.size(), 4, [&](size_t i) { out[i] = Work(items[i]); });
#pragma once

#include <cstddef>
#include <functional>

namespace pacs {

// Calls fn(0) .. fn(count - 1), each exactly once, on up to
// min(count, cores, max_threads) threads, the calling thread included. When
// no thread can be started, fewer threads do the rest. fn must not throw.
void ParallelFor(size_t count, size_t max_threads, const std::function<void(size_t)>& fn);

}  // namespace pacs
