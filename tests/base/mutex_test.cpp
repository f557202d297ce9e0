// Unit tests of mutex.h: the annotated wrappers really exclude, and CondVar
// waits time out or wake when signalled.
#include "pacs/base/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace pacs {
namespace {

using namespace std::chrono_literals;

// A counter whose increment is a separate read and write, so that lost
// updates show if the lock does not exclude.
class Counter {
 public:
  void Add() EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    const uint64_t seen = value_;
    std::this_thread::yield();  // widen the window between read and write
    value_ = seen + 1;
  }
  uint64_t value() EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return value_;
  }

 private:
  Mutex mutex_;
  uint64_t value_ GUARDED_BY(mutex_) = 0;
};

TEST(MutexTest, MutexLockExcludesUnderContention) {
  constexpr int kThreads = 8;
  constexpr int kAddsPerThread = 5000;
  Counter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&counter] {
      for (int i = 0; i < kAddsPerThread; ++i) counter.Add();
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), static_cast<uint64_t>(kThreads) * kAddsPerThread);
}

TEST(MutexTest, TryLockFailsWhileHeldAndSucceedsAfterwards) {
  Mutex mutex;
  bool acquired_while_held = true;
  {
    MutexLock lock(mutex);
    std::thread other([&] {
      if (mutex.TryLock()) {
        mutex.Unlock();
      } else {
        acquired_while_held = false;
      }
    });
    other.join();
  }
  EXPECT_FALSE(acquired_while_held);
  if (mutex.TryLock()) {
    mutex.Unlock();
  } else {
    ADD_FAILURE() << "TryLock failed on a free mutex";
  }
}

TEST(MutexTest, WriterLockExcludesReaders) {
  SharedMutex mutex;
  std::atomic<bool> reader_in{false};
  std::thread reader;
  {
    WriterLock lock(mutex);
    reader = std::thread([&] {
      ReaderLock read(mutex);
      reader_in = true;
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(reader_in.load()) << "a reader got in while the writer held the lock";
  }
  reader.join();
  EXPECT_TRUE(reader_in.load());
}

TEST(CondVarTest, WaitForTimesOutWithoutASignal) {
  Mutex mutex;
  CondVar cv;
  MutexLock lock(mutex);
  const auto start = std::chrono::steady_clock::now();
  // Spurious wake-ups are allowed, so wait until the deadline has passed.
  bool signalled = true;
  while (std::chrono::steady_clock::now() - start < 50ms) signalled = cv.WaitFor(mutex, 50ms);
  EXPECT_FALSE(signalled);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(CondVarTest, WaitForWakesWhenSignalledAndTheLockIsHeldAgain) {
  Mutex mutex;
  CondVar cv;
  bool ready = false;  // guarded by mutex (a local: GUARDED_BY applies to members)
  std::thread signaller([&] {
    std::this_thread::sleep_for(20ms);
    MutexLock lock(mutex);
    ready = true;
    cv.Signal();
  });
  {
    MutexLock lock(mutex);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!ready && std::chrono::steady_clock::now() < deadline) cv.WaitFor(mutex, 30s);
    EXPECT_TRUE(ready);
    // The wait returned with the lock held again: another thread cannot take it.
    bool other_got_it = false;
    std::thread probe([&] {
      if (mutex.TryLock()) {
        other_got_it = true;
        mutex.Unlock();
      }
    });
    probe.join();
    EXPECT_FALSE(other_got_it);
  }
  signaller.join();
}

TEST(CondVarTest, SignalAllWakesEveryWaiter) {
  constexpr int kWaiters = 4;
  Mutex mutex;
  CondVar cv;
  bool go = false;
  int waiting = 0;
  int timed_out = 0;
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i)
    waiters.emplace_back([&] {
      MutexLock lock(mutex);
      ++waiting;
      while (!go) {
        if (!cv.WaitFor(mutex, 10s)) ++timed_out;
      }
    });
  // Signal once all are waiting (each holds the lock from its count to its
  // wait), so that the one SignalAll has to reach them all.
  while (true) {
    MutexLock lock(mutex);
    if (waiting == kWaiters) {
      go = true;
      cv.SignalAll();
      break;
    }
    std::this_thread::yield();
  }
  for (auto& waiter : waiters) waiter.join();
  MutexLock lock(mutex);
  EXPECT_EQ(timed_out, 0) << "a waiter was not woken by SignalAll";
}

}  // namespace
}  // namespace pacs
