// File: background_encoder.h
// Re-encodes frames that ingest stored raw, off the C-STORE path: the
// modality is answered as soon as the raw frame is durable, and the archive
// reaches its compressed size behind it. The jobs live in the store (written
// in the instance's commit), so a restart resumes them.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "pacs/base/mutex.h"
#include "pacs/base/thread_annotations.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

// Thread-safe: any thread may call any method. One worker thread per
// instance; mutex_ guards the worker's stop / wake-up / idle handshake, the
// counters are atomics read without it.
class BackgroundEncoder {
 public:
  BackgroundEncoder(engine::Store& store, bool verify_encode);
  ~BackgroundEncoder();
  void Start();
  void Stop() EXCLUDES(mutex_);    // finishes the frame in hand, leaves the rest queued
  void Notify() EXCLUDES(mutex_);  // new work was committed
  // Jobs not yet done (an estimate between scans).
  uint64_t backlog() const { return backlog_.load(); }
  // Waits until no job is left, at most `timeout`; true if drained.
  bool WaitIdle(std::chrono::milliseconds timeout) EXCLUDES(mutex_);
  uint64_t frames_encoded() const { return encoded_.load(); }

 private:
  void Run() EXCLUDES(mutex_);
  size_t RunOnePass() EXCLUDES(mutex_);  // returns the number of jobs seen

  engine::Store& store_;
  const bool verify_;
  std::thread thread_;  // started and joined by the owner's thread only
  Mutex mutex_;
  CondVar wake_;     // signalled with pending_notify_ or stopping_ set
  CondVar idle_cv_;  // signalled when the worker goes idle
  bool stopping_ GUARDED_BY(mutex_) = false;
  bool pending_notify_ GUARDED_BY(mutex_) = false;
  bool idle_ GUARDED_BY(mutex_) = true;
  std::atomic<uint64_t> backlog_{0};
  std::atomic<uint64_t> encoded_{0};
};

}  // namespace pacs::dicom
