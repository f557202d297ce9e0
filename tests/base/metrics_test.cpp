// The Prometheus registry and its text exposition: names checked at
// registration, escapes, histogram buckets, values, and counting from many
// threads at once.
#include "pacs/base/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pacs::metrics {
namespace {

TEST(MetricsTest, CounterRendersHelpTypeAndLabelledSamplesInLabelOrder) {
  Registry registry;
  auto& requests = registry.AddCounter("pacs_requests_total", "Requests served.", {"operation", "status"});
  requests.With({"store", "success"}).Increment(3);
  requests.With({"echo", "success"}).Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP pacs_requests_total Requests served.\n"
            "# TYPE pacs_requests_total counter\n"
            "pacs_requests_total{operation=\"echo\",status=\"success\"} 1\n"
            "pacs_requests_total{operation=\"store\",status=\"success\"} 3\n");
}

TEST(MetricsTest, UnlabelledGaugeAndFamiliesInRegistrationOrder) {
  Registry registry;
  registry.AddGauge("pacs_open", "Open now.").Get().Set(2);
  registry.AddCounter("pacs_done_total", "Done.").Get().Increment(7);
  EXPECT_EQ(registry.Render(),
            "# HELP pacs_open Open now.\n# TYPE pacs_open gauge\npacs_open 2\n"
            "# HELP pacs_done_total Done.\n# TYPE pacs_done_total counter\npacs_done_total 7\n");
}

TEST(MetricsTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue(R"(C:\dir "x")" + std::string("\nend")), R"(C:\\dir \"x\"\nend)");
  Registry registry;
  registry.AddGauge("pacs_peer", "By peer.", {"peer"}).With({"A\\B\"C\nD"}).Set(1);
  EXPECT_NE(registry.Render().find("pacs_peer{peer=\"A\\\\B\\\"C\\nD\"} 1\n"), std::string::npos) << registry.Render();
}

TEST(MetricsTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("a \\ b\n\"c\""), "a \\\\ b\\n\"c\"");
  Registry registry;
  registry.AddGauge("pacs_g", "line one\nline \"two\" \\").Get();
  EXPECT_EQ(registry.Render().substr(0, registry.Render().find('\n') + 1),
            "# HELP pacs_g line one\\nline \"two\" \\\\\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  auto& latency = registry.AddHistogram("pacs_latency_seconds", "Latency.", {0.1, 0.5, 1}, {"op"});
  Histogram& store = latency.With({"store"});
  for (double v : {0.05, 0.1, 0.3, 0.7, 2.0, 5.0}) store.Observe(v);  // 0.1 is counted in le="0.1"
  EXPECT_EQ(registry.Render(),
            "# HELP pacs_latency_seconds Latency.\n"
            "# TYPE pacs_latency_seconds histogram\n"
            "pacs_latency_seconds_bucket{op=\"store\",le=\"0.1\"} 2\n"
            "pacs_latency_seconds_bucket{op=\"store\",le=\"0.5\"} 3\n"
            "pacs_latency_seconds_bucket{op=\"store\",le=\"1\"} 4\n"
            "pacs_latency_seconds_bucket{op=\"store\",le=\"+Inf\"} 6\n"
            "pacs_latency_seconds_sum{op=\"store\"} 8.15\n"
            "pacs_latency_seconds_count{op=\"store\"} 6\n");
}

TEST(MetricsTest, EmptyHistogramWithoutLabelsHasZeroBucketsAndCount) {
  Registry registry;
  registry.AddHistogram("pacs_wait_seconds", "Wait.", {1}).Get();
  EXPECT_EQ(registry.Render(),
            "# HELP pacs_wait_seconds Wait.\n# TYPE pacs_wait_seconds histogram\n"
            "pacs_wait_seconds_bucket{le=\"1\"} 0\npacs_wait_seconds_bucket{le=\"+Inf\"} 0\n"
            "pacs_wait_seconds_sum 0\npacs_wait_seconds_count 0\n");
}

TEST(MetricsTest, ValuesAreFormattedAsTheFormatSpellsThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(1048576), "1048576");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.001), "0.001");
  EXPECT_EQ(FormatValue(2.6315789473684212), "2.6315789473684212");  // shortest that reads back the same
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(MetricsTest, CounterRaiseToNeverLowers) {
  Counter counter;
  counter.RaiseTo(10);
  counter.RaiseTo(4);
  EXPECT_EQ(counter.value(), 10u);
  counter.Increment();
  EXPECT_EQ(counter.value(), 11u);
}

TEST(MetricsTest, GaugeAddsAndSets) {
  Gauge gauge;
  gauge.Add(2.5);
  gauge.Add(-1);
  EXPECT_EQ(gauge.value(), 1.5);
  gauge.Set(-4);
  EXPECT_EQ(gauge.value(), -4);
}

TEST(MetricsTest, RegistrationRefusesWhatPrometheusWouldNot) {
  Registry registry;
  registry.AddGauge("pacs_x", "X.");
  registry.AddHistogram("pacs_h", "H.", {1});
  EXPECT_THROW(registry.AddCounter("pacs_stores", "no _total"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs_open_total", "a gauge named like a counter"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("9lives", "starts with a digit"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs-x", "dash"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs_y", ""), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs_x", "twice"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs_h_count", "a histogram's sample name"), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs_z", "Z.", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs_z", "Z.", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("pacs_z", "Z.", {"a:b"}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("pacs_h2", "H.", {1}, {"le"}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("pacs_h3", "H.", {}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("pacs_h4", "H.", {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("pacs_h5", "H.", {1, std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
  auto& labelled = registry.AddCounter("pacs_ops_total", "Ops.", {"op"});
  EXPECT_THROW(labelled.With({}), std::invalid_argument);
  EXPECT_THROW(labelled.With({"a", "b"}), std::invalid_argument);
  // What was refused left nothing behind.
  EXPECT_EQ(registry.Render().find("pacs_stores"), std::string::npos);
  EXPECT_EQ(registry.Render().find("pacs_h2"), std::string::npos);
}

TEST(MetricsTest, WithReturnsTheSameChildForTheSameLabels) {
  Registry registry;
  auto& family = registry.AddCounter("pacs_ops_total", "Ops.", {"op"});
  Counter& first = family.With({"find"});
  family.With({"store"});  // a new child must not move the first
  EXPECT_EQ(&first, &family.With({"find"}));
}

TEST(MetricsTest, CountsFromManyThreadsAddUpAndRenderStaysConsistent) {
  Registry registry;
  Counter& counter = registry.AddCounter("pacs_n_total", "N.").Get();
  Histogram& histogram = registry.AddHistogram("pacs_v_seconds", "V.", {0.5}).Get();
  constexpr int kThreads = 4;
  constexpr int kEach = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        counter.Increment();
        histogram.Observe(t % 2 == 0 ? 0.25 : 1.0);
      }
    });
  // Scrapes while counting (for the sanitizers, and a count never beyond the total).
  for (int i = 0; i < 20; ++i) {
    const std::string text = registry.Render();
    const size_t at = text.find("\npacs_n_total ");
    EXPECT_NE(at, std::string::npos) << text;
    if (at != std::string::npos) {
      EXPECT_LE(std::stoull(text.substr(at + 14)), uint64_t{kThreads} * kEach);
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), uint64_t{kThreads} * kEach);
  const Histogram::Snapshot s = histogram.Read();
  EXPECT_EQ(s.cumulative_counts[0], uint64_t{kThreads / 2} * kEach);
  EXPECT_EQ(s.cumulative_counts[1], uint64_t{kThreads} * kEach);
  EXPECT_DOUBLE_EQ(s.sum, (kThreads / 2) * kEach * 0.25 + (kThreads / 2) * kEach * 1.0);
}

// promtool (Debian package prometheus) reads and lints what we render.
TEST(MetricsTest, PromtoolAcceptsTheRendering) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus): the rendering was not checked by it";
  Registry registry;
  registry.AddCounter("pacs_requests_total", "Requests \\ served,\nby operation.", {"operation", "status"})
      .With({"st\"ore\\\n", "success"})
      .Increment(3);
  registry.AddGauge("pacs_ratio", "A ratio.").Get().Set(std::numeric_limits<double>::quiet_NaN());
  registry.AddHistogram("pacs_latency_seconds", "Latency.", LatencyBucketsSeconds(), {"operation"})
      .With({"store"})
      .Observe(0.003);
  const std::string path = ::testing::TempDir() + "metrics_test_scrape.txt";
  {
    std::ofstream out(path);
    out << registry.Render();
  }
  const int rc = std::system(("promtool check metrics < " + path + " > " + path + ".out 2>&1").c_str());
  std::ifstream in(path + ".out");
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << said << "\n" << registry.Render();
  std::remove(path.c_str());
  std::remove((path + ".out").c_str());
}

}  // namespace
}  // namespace pacs::metrics
