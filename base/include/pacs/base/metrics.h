// File: metrics.h
// Prometheus metrics without a client library (Debian packages none for
// C++): a registry of counters, gauges and histograms, each a family of
// children told apart by label values, and its text exposition (format
// 0.0.4, what `promtool check metrics` reads). Any module may count; the
// tools' HTTP endpoint renders.
//
//   metrics::Registry registry;
//   auto& requests = registry.AddCounter("pacscore_requests_total", "Requests served.", {"operation"});
//   metrics::Counter& stores = requests.With({"store"});  // resolve once, count on the hot path
//   stores.Increment();
//   std::string body = registry.Render();
//
// Thread safety: every method of every class here may be called from any
// thread at any time. Counting is one relaxed atomic operation; With() takes
// the family's lock (resolve children once, outside hot loops). Children and
// families live as long as the registry, so references to them stay valid.
//
// Names are checked when a family is registered (metric and label names
// Prometheus accepts, counters ending in `_total`, no name twice, help text
// present): a bad name is a programming error and throws
// std::invalid_argument, as does With() given the wrong number of label
// values. Nothing in here depends on input from outside the program.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/base/mutex.h"
#include "pacs/base/thread_annotations.h"

namespace pacs::metrics {

// A count that only goes up (since the process started).
class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  // For a counter that mirrors a monotonic count kept elsewhere (RocksDB's
  // stall counts, the background encoder's frames): raises the value to
  // `total`, never lowers it.
  void RaiseTo(uint64_t total);
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets by upper bound (`le`): the bucket of
// bound b counts observations <= b; one more bucket, +Inf, takes the rest.
class Histogram {
 public:
  // `bounds`: finite, strictly increasing; checked by the registry.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf (= count)
    double sum = 0;
  };
  // The +Inf bucket and the count are the sum of the buckets read, so a
  // snapshot taken while others observe is still consistent in itself.
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// Every child of one metric name, by label values.
template <class Metric>
class Family {
 public:
  // The child with these label values (one per label name, in order),
  // created at 0 on first use.
  Metric& With(const std::vector<std::string>& label_values);
  // The only child of a family without labels.
  Metric& Get() { return With({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls `visit(label_values, child)` for each child, in label order.
  template <class Visit>
  void ForEach(Visit&& visit) const {
    MutexLock lock(mutex_);
    for (const auto& [values, child] : children_) visit(values, *child);
  }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable Mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_ GUARDED_BY(mutex_);
};

// Bucket bounds for latencies, in seconds: 1 ms to 30 s.
std::vector<double> LatencyBucketsSeconds();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                                  std::vector<std::string> label_names = {});

  // Every family in the order registered, each with `# HELP` and `# TYPE`,
  // in the Prometheus text format 0.0.4.
  std::string Render() const;

 private:
  struct Entry {
    MetricType type;
    Family<Counter>* counters = nullptr;
    Family<Gauge>* gauges = nullptr;
    Family<Histogram>* histograms = nullptr;
  };
  // Checks the names, the help and the bounds, and that `name` is new.
  void CheckNew(MetricType type, const std::string& name, const std::string& help,
                const std::vector<std::string>& label_names, const std::vector<double>& bounds) REQUIRES(mutex_);

  mutable Mutex mutex_;
  std::vector<Entry> entries_ GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Family<Counter>>> counter_families_ GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Family<Gauge>>> gauge_families_ GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Family<Histogram>>> histogram_families_ GUARDED_BY(mutex_);
};

// The Content-Type of Registry::Render()'s output.
inline constexpr const char* kTextFormatContentType = "text/plain; version=0.0.4; charset=utf-8";

// The exposition format's escapes, exposed for the tests: a label value
// escapes backslash, double quote and line feed; help text backslash and
// line feed.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value: integers exactly, others in the shortest form that reads
// back the same; NaN, +Inf and -Inf as the format spells them.
std::string FormatValue(double value);

}  // namespace pacs::metrics
