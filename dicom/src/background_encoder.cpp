#include "pacs/dicom/background_encoder.h"

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

BackgroundEncoder::BackgroundEncoder(engine::Store& store, bool verify_encode)
    : store_(store), verify_(verify_encode) {}

BackgroundEncoder::~BackgroundEncoder() {
  Stop();
}

void BackgroundEncoder::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void BackgroundEncoder::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void BackgroundEncoder::Notify() {
  ++backlog_;
  {
    MutexLock lock(mutex_);
    pending_notify_ = true;
    idle_ = false;
  }
  wake_.Signal();
}

bool BackgroundEncoder::WaitIdle(std::chrono::milliseconds timeout) {
  Notify();  // make the worker look even if nothing was announced
  --backlog_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(mutex_);
  while (!idle_ || pending_notify_) {
    if (!idle_cv_.WaitUntil(mutex_, deadline)) return idle_ && !pending_notify_;
  }
  return true;
}

void BackgroundEncoder::Run() {
  while (true) {
    {
      MutexLock lock(mutex_);
      pending_notify_ = false;
      if (stopping_) return;
    }
    const size_t seen = RunOnePass();
    MutexLock lock(mutex_);
    if (stopping_) return;
    if (seen == 0 && !pending_notify_) {
      idle_ = true;
      backlog_ = 0;
      idle_cv_.SignalAll();
      while (!stopping_ && !pending_notify_) wake_.Wait(mutex_);
    }
  }
}

size_t BackgroundEncoder::RunOnePass() {
  // Take a batch of jobs, then work without holding the iterator.
  std::vector<std::pair<engine::ContentHash, std::string>> jobs;
  Status scan = store_.ForEachDeferredWork([&](const engine::ContentHash& h, std::string_view job) {
    jobs.emplace_back(h, std::string(job));
    return jobs.size() < 64;
  });
  if (!scan.ok()) {
    LogError("background encoder: " + scan.ToString());
    return 0;
  }
  backlog_ = std::max<uint64_t>(backlog_.load(), jobs.size());
  for (const auto& [hash, text] : jobs) {
    {
      MutexLock lock(mutex_);
      if (stopping_) return jobs.size();
    }
    auto job = EncodeJob::Parse(text);
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
    if (!done.ok())
      LogError("background encoder: " + done.status().ToString());
    else if (*done)
      ++encoded_;
    if (backlog_ > 0) --backlog_;
  }
  return jobs.size();
}

}  // namespace pacs::dicom
