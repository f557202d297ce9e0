#include "pacs/dicom/background_encoder.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "pacs/base/log.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/pixel_codec_policy.h"

namespace pacs::dicom {

namespace {
constexpr uint8_t kJobVersion = 1;

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
bool Take(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}
}  // namespace

std::string EncodeJob::Serialize() const {
  std::string out;
  Put<uint8_t>(out, kJobVersion);
  Put<uint8_t>(out, static_cast<uint8_t>(codec));
  Put<uint8_t>(out, rgb_colour_transform ? 1 : 0);
  Put<uint32_t>(out, info.rows);
  Put<uint32_t>(out, info.columns);
  Put<uint16_t>(out, info.bits_allocated);
  Put<uint16_t>(out, info.bits_stored);
  Put<uint16_t>(out, info.samples_per_pixel);
  Put<uint8_t>(out, info.is_signed ? 1 : 0);
  Put<uint8_t>(out, info.planar ? 1 : 0);
  return out;
}

Result<EncodeJob> EncodeJob::Parse(std::string_view in) {
  EncodeJob job;
  uint8_t version = 0, codec = 0, rct = 0, is_signed = 0, planar = 0;
  if (!Take(in, version) || version != kJobVersion || !Take(in, codec) || !Take(in, rct) || !Take(in, job.info.rows) ||
      !Take(in, job.info.columns) || !Take(in, job.info.bits_allocated) || !Take(in, job.info.bits_stored) ||
      !Take(in, job.info.samples_per_pixel) || !Take(in, is_signed) || !Take(in, planar) ||
      codec > static_cast<uint8_t>(codecs::CodecId::kHtj2k))
    return Status::Corruption("malformed re-encoding job");
  job.codec = static_cast<codecs::CodecId>(codec);
  job.rgb_colour_transform = rct != 0;
  job.info.is_signed = is_signed != 0;
  job.info.planar = planar != 0;
  return job;
}

BackgroundEncoder::BackgroundEncoder(engine::Store& store, bool verify_encode, unsigned threads,
                                     std::chrono::milliseconds quiet_before_release)
    : store_(store),
      verify_(verify_encode),
      threads_wanted_(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency())),
      quiet_before_release_(quiet_before_release) {}

BackgroundEncoder::~BackgroundEncoder() {
  Stop();
}

void BackgroundEncoder::Start() {
  if (!threads_.empty()) return;
  {
    MutexLock lock(mutex_);
    started_ = true;
    stopping_ = false;
    rescan_ = true;  // jobs left by an earlier run
    idle_ = false;
  }
  for (unsigned i = 0; i < threads_wanted_; ++i) threads_.emplace_back([this] { Work(); });
}

void BackgroundEncoder::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.SignalAll();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  MutexLock lock(mutex_);
  started_ = false;
  queue_.clear();  // still in the store: the next Start scans them again
}

void BackgroundEncoder::Notify() {
  {
    MutexLock lock(mutex_);
    ++announced_;
    last_notify_ = std::chrono::steady_clock::now();
    rescan_ = true;
    idle_ = false;
  }
  wake_.Signal();
}

void BackgroundEncoder::NoteActivity() {
  MutexLock lock(mutex_);
  last_notify_ = std::chrono::steady_clock::now();
}

void BackgroundEncoder::SenderOpened() {
  MutexLock lock(mutex_);
  ++senders_;
}

void BackgroundEncoder::SenderClosed() {
  {
    MutexLock lock(mutex_);
    if (senders_ > 0) --senders_;
    last_sender_closed_ = std::chrono::steady_clock::now();
  }
  wake_.SignalAll();  // a thread waiting out the quiet time decides again
}

unsigned BackgroundEncoder::senders() const {
  MutexLock lock(mutex_);
  return senders_;
}

uint64_t BackgroundEncoder::backlog() const {
  MutexLock lock(mutex_);
  return announced_ + queue_.size() + in_hand_.size();
}

bool BackgroundEncoder::WaitIdle(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(mutex_);
  if (!started_) return false;  // nothing would ever drain
  // Make the pool look even if nothing was announced.
  rescan_ = true;
  idle_ = false;
  wake_.SignalAll();
  while (!idle_) {
    if (!idle_cv_.WaitUntil(mutex_, deadline)) return idle_;
  }
  return true;
}

void BackgroundEncoder::NoteFailure(const std::string& what) {
  backoff_ = std::clamp(backoff_ * 2, kFirstBackoff, kMaxBackoff);
  const auto now = std::chrono::steady_clock::now();
  backoff_until_ = now + backoff_;
  ++failures_unlogged_;
  if (now - last_failure_log_ < kMaxBackoff) return;
  LogError("background encoder: " + what +
           (failures_unlogged_ > 1 ? " (" + std::to_string(failures_unlogged_) + " failures since the last such line)"
                                   : std::string()) +
           "; the frames stay stored raw, retrying in " + std::to_string(backoff_.count()) + " ms");
  last_failure_log_ = now;
  failures_unlogged_ = 0;
}

void BackgroundEncoder::NoteSuccess() {
  if (backoff_.count() == 0) return;
  if (failures_unlogged_ > 0)
    LogInfo("background encoder: working again after " + std::to_string(failures_unlogged_) + " more failures");
  else
    LogInfo("background encoder: working again");
  backoff_ = std::chrono::milliseconds(0);
  failures_unlogged_ = 0;
  last_failure_log_ = {};
}

void BackgroundEncoder::Work() {
  mutex_.Lock();
  while (!stopping_) {
    if (backoff_.count() > 0 && std::chrono::steady_clock::now() < backoff_until_) {
      (void)wake_.WaitUntil(mutex_, backoff_until_);
      continue;  // stopping_ is checked again; Notify() does not cut a backoff short
    }
    if (!queue_.empty()) {
      Job job = std::move(queue_.front());
      queue_.pop_front();
      in_hand_.insert(job.hash);
      ++in_hand_count_;
      mutex_.Unlock();
      const Status done = EncodeOne(job);
      mutex_.Lock();
      --in_hand_count_;
      if (done.ok())
        NoteSuccess();
      else if (std::chrono::steady_clock::now() >= backoff_until_)  // one failure per backoff step, across threads
        NoteFailure(done.ToString());
      in_hand_.erase(job.hash);
      if (scanning_) done_during_scan_.insert(job.hash);
      release_due_ = true;
      continue;
    }
    if (rescan_ && !scanning_) {
      scanning_ = true;
      rescan_ = false;
      const uint64_t announced = announced_;
      announced_ = 0;  // the scan sees every job committed before it
      done_during_scan_.clear();
      mutex_.Unlock();
      Status scanned = Status::Ok();
      std::vector<Job> found = Scan(scanned);
      mutex_.Lock();
      scanning_ = false;
      if (!scanned.ok()) {
        rescan_ = true;  // after the backoff
        NoteFailure(scanned.ToString());
      }
      if (found.size() >= kScanBatch) {
        rescan_ = true;  // more may wait behind these
        announced_ += announced > found.size() ? announced - found.size() : 0;
      }
      for (auto& job : found)
        if (!in_hand_.contains(job.hash) && !done_during_scan_.contains(job.hash)) queue_.push_back(std::move(job));
      done_during_scan_.clear();
      wake_.SignalAll();
      continue;
    }
    const bool drained = queue_.empty() && in_hand_.empty() && !scanning_ && !rescan_ && !releasing_;
    if (drained && release_due_) {
      // The jobs ran dry: give back the staged raw frames' space once no
      // new work has come for kQuietBeforeRelease (and at most once per
      // kMinReleaseInterval), or at once when the push's associations
      // have all ended. Not while a push goes on
      // (its flushes would slow it); then the staging column family's own
      // compactions and the bounded write-ahead log keep the space in check.
      // Every storing association has ended since the last dataset came:
      // no need to wait for a pause.
      const bool push_over = senders_ == 0 && last_sender_closed_ && *last_sender_closed_ >= last_notify_;
      const auto quiet_from = std::max(push_over ? last_notify_ : last_notify_ + quiet_before_release_,
                                       last_release_ + kMinReleaseInterval);
      if (std::chrono::steady_clock::now() < quiet_from) {
        (void)wake_.WaitUntil(mutex_, quiet_from);
        continue;
      }
      releasing_ = true;
      release_due_ = false;
      last_release_ = std::chrono::steady_clock::now();
      mutex_.Unlock();
      Status released = store_.ReleaseStagingSpace();
      mutex_.Lock();
      if (!released.ok()) {
        release_due_ = true;  // after the backoff
        NoteFailure(released.ToString());
      }
      releasing_ = false;
      wake_.SignalAll();
      continue;
    }
    if (drained && !release_due_ && !idle_) {
      idle_ = true;
      idle_cv_.SignalAll();
    }
    wake_.Wait(mutex_);
  }
  mutex_.Unlock();
}

std::vector<BackgroundEncoder::Job> BackgroundEncoder::Scan(Status& status) {
  std::vector<Job> jobs;
  status = store_.ForEachDeferredWork([&](const engine::ContentHash& h, std::string_view job) {
    jobs.push_back(Job{h, std::string(job)});
    return jobs.size() < kScanBatch;
  });
  return jobs;
}

Status BackgroundEncoder::EncodeOne(const Job& job_entry) {
  const engine::ContentHash& hash = job_entry.hash;
  // A full disk or a read-only store: do not spend the encoding on a write
  // that will be refused.
  PACS_RETURN_IF_ERROR(store_.CheckWritable(engine::WriteKind::kAdds));
  auto job = EncodeJob::Parse(job_entry.text);
  auto chunk = ReadStoredChunk(store_, hash);  // the frame source's read: {codec, bytes} as stored now
  std::optional<std::pair<uint8_t, std::string>> result;
  if (job.ok() && chunk.ok() && chunk->codec == codecs::CodecId::kRaw &&
      chunk->bytes.size() == job->info.FrameBytes()) {
    codecs::CodecOptions options;
    options.rgb_colour_transform = job->rgb_colour_transform;
    auto [codec, bytes] = EncodeFrameLosslessly(job->info, chunk->bytes, job->codec, options, verify_,
                                                "background encoding of frame " + engine::ToHex(hash));
    if (codec != codecs::CodecId::kRaw) result.emplace(static_cast<uint8_t>(codec), std::move(bytes));
  }
  auto done = store_.CompleteDeferredWork(hash, static_cast<uint8_t>(codecs::CodecId::kRaw), std::move(result));
  if (!done.ok()) return done.status();
  if (*done) ++encoded_;
  return Status::Ok();
}

}  // namespace pacs::dicom
