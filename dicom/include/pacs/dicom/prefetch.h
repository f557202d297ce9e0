// File: prefetch.h
// Builds the instances of one retrieval (C-GET, C-MOVE, export) on worker
// threads ahead of the one thread that sends or writes them, through a
// bounded queue: decoding and re-encoding run on every core while the sender
// talks to the peer, and the instances still come out in their order.
//
//   OrderedPrefetcher<Built> prefetch(records.size(), build, estimate, measure, options);
//   for (size_t i = 0; i < records.size(); ++i) {
//     Result<Built> built = prefetch.Next();   // instance i, or the error its build ended in
//     ...send it...
//   }
//
// The memory cap: the bytes of the instances built and not yet sent, those
// being built (reserved by their estimate until built), and the one the
// sender holds (until it asks for the next) never pass `max_queued_bytes`,
// except that one instance larger than the cap is built alone (nothing else
// held). An estimate lower than what an instance builds to (an instance
// received compressed and sent uncompressed) can pass the cap by the
// difference, once per worker.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pacs/base/mutex.h"
#include "pacs/base/result.h"

namespace pacs::dicom {

// The default cap of one retrieval's queue (`serve --retrieval-buffer`).
inline constexpr uint64_t kDefaultRetrievalBufferBytes = 64ull << 20;

struct PrefetchOptions {
  size_t threads = 0;  // 0: one per core (std::thread::hardware_concurrency)
  uint64_t max_queued_bytes = kDefaultRetrievalBufferBytes;
};

// Process-wide bytes held by every prefetch queue now, and the most they
// ever held at once (admin /stats: retrieval_queued_bytes,
// retrieval_peak_queued_bytes). The peak of one queue is its own peak_bytes().
struct PrefetchCounters {
  uint64_t queued_bytes = 0;
  uint64_t peak_queued_bytes = 0;
};
PrefetchCounters ReadPrefetchCounters();
namespace prefetch_internal {
void AddQueuedBytes(uint64_t add, uint64_t remove);
size_t DefaultThreads();
}  // namespace prefetch_internal

// Thread-safe between its workers and one consumer; Next() is called from
// one thread only. `mutex_` guards every field below it.
template <typename T>
class OrderedPrefetcher {
 public:
  using BuildFn = std::function<Result<T>(size_t)>;     // item i; called on a worker
  using EstimateFn = std::function<uint64_t(size_t)>;   // bytes item i may build to, before it is built
  using MeasureFn = std::function<uint64_t(const T&)>;  // bytes a built item holds

  OrderedPrefetcher(size_t count, BuildFn build, EstimateFn estimate, MeasureFn measure, PrefetchOptions options)
      : count_(count),
        build_(std::move(build)),
        estimate_(std::move(estimate)),
        measure_(std::move(measure)),
        cap_(options.max_queued_bytes),
        done_(count),
        held_by_(count, 0) {
    size_t threads = options.threads == 0 ? prefetch_internal::DefaultThreads() : options.threads;
    threads = std::max<size_t>(1, std::min(threads, count));
    workers_.reserve(threads);
    for (size_t t = 0; t < threads; ++t) workers_.emplace_back([this] { Work(); });
  }
  OrderedPrefetcher(const OrderedPrefetcher&) = delete;
  OrderedPrefetcher& operator=(const OrderedPrefetcher&) = delete;
  ~OrderedPrefetcher() { Stop(); }

  // The next item in order, or the error its build ended in. Blocks until
  // it is built. Releases the bytes of the item it returned before.
  Result<T> Next() {
    MutexLock lock(mutex_);
    ReleaseConsumedLocked();
    if (next_out_ >= count_) return Status::Internal("prefetch: no item left");
    while (!done_[next_out_] && !stop_) changed_.Wait(mutex_);
    if (!done_[next_out_]) return Status::Busy("retrieval stopped before the instance was built");
    Result<T> out = std::move(*done_[next_out_]);
    done_[next_out_].reset();
    consumed_ = next_out_++;
    return out;
  }

  // Stops the workers (each finishes the item it is building) and releases
  // every byte held. Called by the destructor; the consumer calls it when
  // the association fails or the request is cancelled.
  void Stop() {
    {
      MutexLock lock(mutex_);
      stop_ = true;
      changed_.SignalAll();
    }
    for (auto& worker : workers_)
      if (worker.joinable()) worker.join();
    MutexLock lock(mutex_);
    for (size_t i = 0; i < count_; ++i) done_[i].reset();
    prefetch_internal::AddQueuedBytes(0, held_);
    held_ = 0;
  }

  // The most bytes this queue held at once.
  uint64_t peak_bytes() {
    MutexLock lock(mutex_);
    return peak_;
  }
  size_t threads() const { return workers_.size(); }

 private:
  void ReleaseConsumedLocked() REQUIRES(mutex_) {
    if (!consumed_) return;
    const uint64_t bytes = held_by_[*consumed_];
    held_by_[*consumed_] = 0;
    held_ -= bytes;
    prefetch_internal::AddQueuedBytes(0, bytes);
    consumed_.reset();
    changed_.SignalAll();
  }

  void Work() {
    mutex_.Lock();
    while (true) {
      // Admit the next item when it fits under the cap, or when nothing at
      // all is held (an item larger than the cap is built alone). Items are
      // claimed in order, so the one the sender waits for is never behind a
      // later one that does not fit.
      while (!stop_ && next_claim_ < count_ && held_ != 0 && held_ + estimate_(next_claim_) > cap_)
        changed_.Wait(mutex_);
      if (stop_ || next_claim_ >= count_) break;
      const size_t i = next_claim_++;
      const uint64_t estimate = estimate_(i);
      Hold(i, estimate);
      mutex_.Unlock();
      std::optional<Result<T>> built;
      try {
        built.emplace(build_(i));
      } catch (const std::exception& e) {
        built.emplace(Status::Internal(std::string("building the instance threw: ") + e.what()));
      } catch (...) {
        built.emplace(Status::Internal("building the instance threw"));
      }
      const uint64_t actual = built->ok() ? measure_(**built) : 0;
      mutex_.Lock();
      // The estimate was a reservation: hold what was built instead.
      held_ -= held_by_[i];
      prefetch_internal::AddQueuedBytes(0, held_by_[i]);
      held_by_[i] = 0;
      Hold(i, actual);
      done_[i] = std::move(built);
      changed_.SignalAll();
    }
    mutex_.Unlock();
  }

  void Hold(size_t i, uint64_t bytes) REQUIRES(mutex_) {
    held_by_[i] += bytes;
    held_ += bytes;
    peak_ = std::max(peak_, held_);
    prefetch_internal::AddQueuedBytes(bytes, 0);
  }

  const size_t count_;
  const BuildFn build_;
  const EstimateFn estimate_;
  const MeasureFn measure_;
  const uint64_t cap_;
  std::vector<std::thread> workers_;

  Mutex mutex_;
  CondVar changed_;
  std::vector<std::optional<Result<T>>> done_ GUARDED_BY(mutex_);  // built, not yet taken, by index
  std::vector<uint64_t> held_by_ GUARDED_BY(mutex_);               // bytes each item holds or reserves
  size_t next_claim_ GUARDED_BY(mutex_) = 0;
  size_t next_out_ GUARDED_BY(mutex_) = 0;
  std::optional<size_t> consumed_ GUARDED_BY(mutex_);  // the item the consumer holds
  uint64_t held_ GUARDED_BY(mutex_) = 0;
  uint64_t peak_ GUARDED_BY(mutex_) = 0;
  bool stop_ GUARDED_BY(mutex_) = false;
};

}  // namespace pacs::dicom
