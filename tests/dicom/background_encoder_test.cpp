// The background encoder's pool against a real store: every job is encoded
// once, the backlog estimate never wraps below zero (it once did: WaitIdle's
// increment-then-decrement raced with the worker resetting it to 0), and
// WaitIdle returns only once the queue is dry; the staging space goes back
// as soon as the last storing association has ended.
#include "pacs/dicom/background_encoder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "pacs/dicom/pixel_codec_policy.h"

namespace pacs::dicom {
namespace {

constexpr uint32_t kSide = 64;

// A smooth 16-bit frame, different per `seed`: JPEG-LS shrinks it.
std::string Frame(uint32_t seed) {
  std::string bytes(kSide * kSide * 2, '\0');
  for (uint32_t y = 0; y < kSide; ++y)
    for (uint32_t x = 0; x < kSide; ++x) {
      const auto v = static_cast<uint16_t>((x * 7 + y * 3 + seed * 11) & 0x0fff);
      bytes[2 * (y * kSide + x)] = static_cast<char>(v & 0xff);
      bytes[2 * (y * kSide + x) + 1] = static_cast<char>(v >> 8);
    }
  return bytes;
}

engine::InstanceWrite Instance(uint32_t n, uint32_t frames, const std::string& job) {
  engine::InstanceWrite w;
  w.record.sop_instance_uid = "1.2.3." + std::to_string(n);
  w.record.study_instance_uid = "1.2.3";
  w.record.series_instance_uid = "1.2.3.0";
  w.record.patient_id = "P";
  w.header_bytes = "header " + std::to_string(n);
  w.record.header_hash =
      engine::Sha256(std::span(reinterpret_cast<const uint8_t*>(w.header_bytes.data()), w.header_bytes.size()));
  w.record.header_size = w.header_bytes.size();
  w.record.pixel_layout = engine::PixelLayout::kNative;
  for (uint32_t f = 0; f < frames; ++f) {
    std::string bytes = Frame(n * frames + f);
    const auto hash = engine::Sha256(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    w.record.chunks.push_back({hash, bytes.size(), 0});
    w.record.received_bytes += bytes.size();
    w.deferred_work.emplace_back(hash, job);
    w.chunk_bytes.push_back(std::move(bytes));
  }
  return w;
}

std::string JpegLsJob() {
  EncodeJob job;
  job.codec = codecs::CodecId::kJpegLs;
  job.info = {.rows = kSide, .columns = kSide, .bits_allocated = 16, .bits_stored = 12, .samples_per_pixel = 1};
  return job.Serialize();
}

std::filesystem::path FreshDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(BackgroundEncoderTest, PoolEncodesEveryJobOnceAndTheBacklogNeverWraps) {
  const auto dir = FreshDir("pacs_bg_encoder_test");
  auto store = engine::Store::Open({.path = dir.string()});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string job_text = JpegLsJob();

  constexpr uint32_t kInstances = 60, kFramesEach = 3;
  {
    BackgroundEncoder encoder(**store, /*verify_encode=*/true, 3);
    EXPECT_EQ(encoder.threads(), 3u);
    encoder.Start();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> largest{0};
    // Another thread keeps asking what the admin endpoint asks: the backlog,
    // and WaitIdle with no time to wait.
    std::thread watcher([&] {
      while (!stop.load()) {
        largest = std::max(largest.load(), encoder.backlog());
        (void)encoder.WaitIdle(std::chrono::milliseconds(0));
      }
    });
    for (uint32_t n = 0; n < kInstances; ++n) {
      ASSERT_TRUE((*store)->CommitInstance(Instance(n, kFramesEach, job_text)).ok());
      encoder.Notify();
    }
    EXPECT_TRUE(encoder.WaitIdle(std::chrono::seconds(120)));
    stop = true;
    watcher.join();
    EXPECT_LE(largest.load(), uint64_t{kInstances * kFramesEach + BackgroundEncoder::kScanBatch})
        << "the backlog wrapped below zero";
    EXPECT_EQ(encoder.backlog(), 0u);
    EXPECT_EQ(encoder.frames_encoded(), uint64_t{kInstances * kFramesEach});
    encoder.Stop();
  }
  auto stats = (*store)->Stats(false);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->chunks_awaiting_reencoding, 0u);
  EXPECT_EQ(stats->per_codec["jpegls"].chunks, uint64_t{kInstances * kFramesEach});
  EXPECT_EQ(stats->per_codec.count("raw"), 0u);
  auto verify = (*store)->VerifyStructure(std::chrono::hours(1));
  ASSERT_TRUE(verify.ok());
  for (const auto& p : verify->problems) ADD_FAILURE() << p;
  store->reset();
  std::filesystem::remove_all(dir);
}

// The pause that marks the end of a push without associations (STOW-RS,
// import) is set to an hour here: the release can then only come from the
// last storing association ending.
TEST(BackgroundEncoderTest, StagingIsReleasedWhenTheLastSenderLeaves) {
  const auto dir = FreshDir("pacs_bg_encoder_release_test");
  auto store = engine::Store::Open({.path = dir.string()});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  {
    BackgroundEncoder encoder(**store, /*verify_encode=*/true, 1, std::chrono::hours(1));
    encoder.Start();
    encoder.SenderOpened();
    encoder.SenderOpened();
    ASSERT_TRUE((*store)->CommitInstance(Instance(0, 3, JpegLsJob())).ok());
    encoder.Notify();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (encoder.frames_encoded() < 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(encoder.frames_encoded(), 3u);
    EXPECT_FALSE(encoder.WaitIdle(std::chrono::milliseconds(300))) << "released while two senders are open";
    encoder.SenderClosed();
    EXPECT_FALSE(encoder.WaitIdle(std::chrono::milliseconds(300))) << "released while a sender is open";
    encoder.SenderClosed();
    EXPECT_TRUE(encoder.WaitIdle(std::chrono::minutes(2))) << "not released when the last sender left";
    encoder.Stop();
  }
  auto stats = (*store)->Stats(false);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->chunks_awaiting_reencoding, 0u);
  EXPECT_EQ(stats->per_codec["jpegls"].chunks, 3u);
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pacs::dicom
