// The data folder settles by itself: after a push of distinct images, and
// once background encoding is done, stored_bytes comes down to about the
// compressed size within a bounded time, with no `compact` (issue 11). The
// copies come from `pacscore bench distinct-copies`, which changes a few
// pixels' lowest bit: copies with new UIDs only would share their frames
// (dedup) and prove nothing. `pacscore bench settle` runs the same check on
// 1 GB (docs/benchmarks.md); here, two copies of the CT series and one plain push.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
constexpr double kBound = 0.45;  // stored / received, from the issue
// Bounded: background encoding of the ~150 MB pushed here takes well under
// a minute even on a loaded CI machine.
constexpr auto kSettleTimeout = std::chrono::seconds(240);

std::vector<SampleFile> CtSeries(const fs::path& dir) {
  std::vector<SampleFile> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file()) files.push_back(SampleFile{.path = it->path()});
  std::sort(files.begin(), files.end(), [](const SampleFile& a, const SampleFile& b) { return a.path < b.path; });
  return files;
}

// Polls `stats` (which flushes memtables but compacts nothing) until
// stored/received is at most kBound; returns the last ratio.
double WaitForRatio(const fs::path& data, std::chrono::steady_clock::time_point acked, double& seconds) {
  double ratio = 0;
  while (true) {
    auto st = StatsJson(data);
    const auto received = tools::JsonInt(st, "received_bytes");
    ratio = received > 0 ? static_cast<double>(tools::JsonInt(st, "stored_bytes")) / static_cast<double>(received) : 0;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - acked).count();
    std::printf("%6.1f s after the last ack: stored/received %.3f, %lld frames awaiting re-encoding\n", seconds, ratio,
                static_cast<long long>(tools::JsonInt(st, "frames_awaiting_reencoding")));
    if (received > 0 && ratio <= kBound) return ratio;
    if (std::chrono::steady_clock::now() - acked > kSettleTimeout) return ratio;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

TEST(SettleTest, DistinctCopiesSettleToTheCompressedSizeWithoutCompact) {
  const fs::path dir = MakeTempDir("settle");
  const fs::path copies = dir / "copies", data = dir / "data";
  auto made = RunCommand({PacscoreBinary(), "bench", "distinct-copies", "--corpus",
                          (CorpusDir() / "dcm_qa_ct/philips_ct_140_slices").string(), "--copies", "2", "--out",
                          copies.string()});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const auto files = CtSeries(copies);
  ASSERT_EQ(files.size(), 280u);

  ServerProcess server(data);
  ASSERT_TRUE(server.Start()) << server.Log();
  std::string log;
  ASSERT_EQ(PushWithStorescu(files, server.port(), 2, log), 280u) << log;
  const auto acked = std::chrono::steady_clock::now();
  double seconds = 0;
  const double ratio = WaitForRatio(data, acked, seconds);
  std::printf("2 distinct copies of the CT series: stored/received %.3f after %.1f s, no compact\n", ratio, seconds);
  EXPECT_LE(ratio, kBound) << server.Log();
  auto st = StatsJson(data);
  EXPECT_EQ(tools::JsonInt(st, "instances"), 280);
  // Distinct pixels: no frame was shared between the copies.
  EXPECT_EQ(tools::JsonInt(st.value("codecs", tools::Json::object()).value("jpegls", tools::Json::object()), "chunks"),
            280);
  auto v = RunCommand({PacscoreBinary(), "verify", "--data", data.string()});
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

TEST(SettleTest, OnePlainPushOfTheCtSeriesSettlesWithoutCompact) {
  const fs::path dir = MakeTempDir("settle_plain");
  const fs::path data = dir / "data";
  const auto files = CtSeries(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices");
  ASSERT_EQ(files.size(), 140u);
  ServerProcess server(data);
  ASSERT_TRUE(server.Start()) << server.Log();
  std::string log;
  ASSERT_EQ(PushWithStorescu(files, server.port(), 1, log), 140u) << log;
  double seconds = 0;
  const double ratio = WaitForRatio(data, std::chrono::steady_clock::now(), seconds);
  std::printf("the CT series: stored/received %.3f after %.1f s, no compact\n", ratio, seconds);
  EXPECT_LE(ratio, kBound) << server.Log();
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
