// File: background_encoder.h
// Re-encodes frames that ingest stored raw, off the C-STORE path: the
// modality is answered as soon as the raw frame is durable, and the archive
// reaches its compressed size behind it. The jobs live in the store (written
// in the instance's commit), so a restart resumes them. A bounded pool of
// threads (one per core by default) encodes them; when the jobs run dry the
// store is asked to return the staged raw frames' space.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pacs/base/mutex.h"
#include "pacs/base/thread_annotations.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

// Thread-safe: any thread may call any method except Start and Stop, which
// belong to the owner's thread. mutex_ guards the job queue shared by the
// pool threads, the scan / idle / stop handshake and the backlog estimate;
// the frame counter is an atomic read without it.
//
// Memory is bounded: the queue holds at most kScanBatch job descriptions
// (tens of bytes each) and each thread holds one frame (raw, encoded and
// the verification decode) at a time.
class BackgroundEncoder {
 public:
  // `threads` 0 means one per hardware thread. `quiet_before_release`:
  // kQuietBeforeRelease, but for tests.
  BackgroundEncoder(engine::Store& store, bool verify_encode, unsigned threads = 0,
                    std::chrono::milliseconds quiet_before_release = kQuietBeforeRelease);
  ~BackgroundEncoder();
  void Start();
  void Stop() EXCLUDES(mutex_);    // finishes the frames in hand, leaves the rest queued in the store
  void Notify() EXCLUDES(mutex_);  // new work was committed
  // Ingest committed a dataset with no work for the pool (its frames were
  // encoded inline): a push goes on, so the staging space is not released yet.
  void NoteActivity() EXCLUDES(mutex_);
  // A DICOM association that stores opened / ended. Once none is open and
  // nothing arrived after the last one ended, the push is over: the staging
  // space is released as soon as the jobs run dry, without waiting out
  // kQuietBeforeRelease (which still covers senders without an association:
  // STOW-RS, import, an association kept open between studies).
  void SenderOpened() EXCLUDES(mutex_);
  void SenderClosed() EXCLUDES(mutex_);
  unsigned senders() const EXCLUDES(mutex_);  // storing associations open now
  // Jobs not yet done: announced since the last scan (or left behind a full
  // scan batch), queued, and in hand. An estimate (a Notify may stand for
  // several frames), never negative: it is counted from sizes, not
  // decremented.
  uint64_t backlog() const EXCLUDES(mutex_);
  // Waits until no job is left and the staged raw frames' space has been
  // released, at most `timeout`; true if so.
  bool WaitIdle(std::chrono::milliseconds timeout) EXCLUDES(mutex_);
  uint64_t frames_encoded() const { return encoded_.load(); }
  unsigned threads() const { return threads_wanted_; }
  // Frames the pool is encoding right now (a snapshot): with ingest's own
  // encoders, how busy the cores are (Ingestor decides by it whether to
  // encode at ingest or stage the frames raw for the pool).
  unsigned frames_in_hand() const { return in_hand_count_.load(); }

  // Jobs taken from the store per scan.
  static constexpr size_t kScanBatch = 256;
  // Time without a Notify() or NoteActivity() before the staging space is
  // released: ingest has paused. A push notifies every few milliseconds;
  // the data is at rest this long after its last instance (measured: the
  // release itself, a flush and a key-only compaction, is tens of ms).
  static constexpr std::chrono::milliseconds kQuietBeforeRelease{250};
  // At most one release per this interval, so that a modality sending an
  // image every few hundred milliseconds does not cause a flush of every
  // column family after each.
  static constexpr std::chrono::seconds kMinReleaseInterval{5};
  // After a failure (a full disk, a read-only store, a read error) the pool
  // waits before touching the store again: kFirstBackoff, doubling up to
  // kMaxBackoff, back to none after a success. At most one log line per
  // kMaxBackoff, with the count of failures it stands for.
  static constexpr std::chrono::milliseconds kFirstBackoff{100};
  static constexpr std::chrono::milliseconds kMaxBackoff{30000};

 private:
  struct Job {
    engine::ContentHash hash;
    std::string text;
  };
  void Work() EXCLUDES(mutex_);  // the loop of one pool thread
  // Refills queue_ from the store; called with scanning_ set, without the lock.
  std::vector<Job> Scan(Status& status);
  // Ok when the job went through (or was dropped as done); else the failure,
  // which calls for backing off. The job stays in the store either way until done.
  Status EncodeOne(const Job& job);
  // Records a failure (rate-limited log line) and how long to back off.
  void NoteFailure(const std::string& what) REQUIRES(mutex_);
  void NoteSuccess() REQUIRES(mutex_);

  engine::Store& store_;
  const bool verify_;
  const unsigned threads_wanted_;
  const std::chrono::milliseconds quiet_before_release_;
  std::vector<std::thread> threads_;  // started and joined by the owner's thread only
  mutable Mutex mutex_;
  CondVar wake_;     // signalled when the queue, rescan_ or stopping_ change
  CondVar idle_cv_;  // signalled when the pool goes idle
  bool started_ GUARDED_BY(mutex_) = false;
  bool stopping_ GUARDED_BY(mutex_) = false;
  bool rescan_ GUARDED_BY(mutex_) = false;    // the store may hold jobs we have not queued
  bool scanning_ GUARDED_BY(mutex_) = false;  // one thread is reading the store
  bool releasing_ GUARDED_BY(mutex_) = false;
  bool release_due_ GUARDED_BY(mutex_) = false;  // jobs completed since the last release
  std::chrono::steady_clock::time_point last_notify_ GUARDED_BY(mutex_){};
  std::chrono::steady_clock::time_point last_release_ GUARDED_BY(mutex_){};
  unsigned senders_ GUARDED_BY(mutex_) = 0;  // storing associations open
  std::optional<std::chrono::steady_clock::time_point> last_sender_closed_ GUARDED_BY(mutex_);
  bool idle_ GUARDED_BY(mutex_) = true;
  std::deque<Job> queue_ GUARDED_BY(mutex_);
  std::set<engine::ContentHash> in_hand_ GUARDED_BY(mutex_);
  // Completed while a scan ran: the scan may have read them still queued.
  std::set<engine::ContentHash> done_during_scan_ GUARDED_BY(mutex_);
  uint64_t announced_ GUARDED_BY(mutex_) = 0;  // Notify() calls since the last scan began
  // Backing off after failures: no job is taken, no scan or release is made before backoff_until_.
  std::chrono::milliseconds backoff_ GUARDED_BY(mutex_){0};
  std::chrono::steady_clock::time_point backoff_until_ GUARDED_BY(mutex_){};
  std::chrono::steady_clock::time_point last_failure_log_ GUARDED_BY(mutex_){};
  uint64_t failures_unlogged_ GUARDED_BY(mutex_) = 0;
  std::atomic<uint64_t> encoded_{0};
  std::atomic<unsigned> in_hand_count_{0};
};

}  // namespace pacs::dicom
