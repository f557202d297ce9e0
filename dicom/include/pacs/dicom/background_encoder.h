// File: background_encoder.h
// Re-encodes frames that ingest stored raw, off the C-STORE path: the
// modality is answered as soon as the raw frame is durable, and the archive
// reaches its compressed size behind it. The jobs live in the store (written
// in the instance's commit), so a restart resumes them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "pacs/engine/store.h"

namespace pacs::dicom {

// Thread-safe. One worker thread per instance of the class.
class BackgroundEncoder {
 public:
  BackgroundEncoder(engine::Store& store, bool verify_encode);
  ~BackgroundEncoder();
  void Start();
  void Stop();    // finishes the frame in hand, leaves the rest queued
  void Notify();  // new work was committed
  // Jobs not yet done (an estimate between scans).
  uint64_t backlog() const { return backlog_.load(); }
  // Waits until no job is left, at most `timeout`; true if drained.
  bool WaitIdle(std::chrono::milliseconds timeout);
  uint64_t frames_encoded() const { return encoded_.load(); }

 private:
  void Run();
  size_t RunOnePass();  // returns the number of jobs seen

  engine::Store& store_;
  const bool verify_;
  std::thread thread_;
  std::mutex mutex_;  // guards stopping_, pending_notify_ and idle_
  std::condition_variable wake_;
  std::condition_variable idle_cv_;
  bool stopping_ = false;
  bool pending_notify_ = false;
  bool idle_ = true;
  std::atomic<uint64_t> backlog_{0};
  std::atomic<uint64_t> encoded_{0};
};

}  // namespace pacs::dicom
