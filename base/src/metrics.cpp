#include "pacs/base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace pacs::metrics {
namespace {

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  // Names starting with "__" are reserved for Prometheus itself.
  return IsMetricName(name) && name.find(':') == std::string_view::npos && !name.starts_with("__");
}

// Exchange-add for atomic<double> (C++20's fetch_add on floating atomics is
// a CAS loop too; spelling it out keeps the memory order explicit).
void AtomicAdd(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

// `{a="x",b="y"}` with `extra` (le="...") last; "" for no labels at all.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extra = "") {
  if (names.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + '"';
  }
  if (!extra.empty()) out += (names.empty() ? "" : ",") + extra;
  return out + "}";
}

void AppendHeader(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + ' ' + EscapeHelp(help) + '\n';
  out += "# TYPE " + name + ' ' + type + '\n';
}

}  // namespace

void Counter::RaiseTo(uint64_t total) {
  uint64_t current = value_.load(std::memory_order_relaxed);
  while (current < total && !value_.compare_exchange_weak(current, total, std::memory_order_relaxed)) {
  }
}

void Gauge::Add(double delta) {
  AtomicAdd(value_, delta);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  // The first bound >= value; NaN and values above every bound go to +Inf.
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[static_cast<size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  snapshot.cumulative_counts.reserve(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(running);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

template <class Metric>
Metric& Family<Metric>::With(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size())
    throw std::invalid_argument("metric " + name_ + " has " + std::to_string(label_names_.size()) + " labels, given " +
                                std::to_string(label_values.size()) + " values");
  MutexLock lock(mutex_);
  auto& child = children_[label_values];
  if (!child) {
    if constexpr (std::is_same_v<Metric, Histogram>)
      child = std::make_unique<Histogram>(bounds_);
    else
      child = std::make_unique<Metric>();
  }
  return *child;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

std::vector<double> LatencyBucketsSeconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

void Registry::CheckNew(MetricType type, const std::string& name, const std::string& help,
                        const std::vector<std::string>& label_names, const std::vector<double>& bounds) {
  auto reject = [&](const std::string& why) { throw std::invalid_argument("metric " + name + ": " + why); };
  if (!IsMetricName(name)) reject("not a valid metric name");
  if (help.empty()) reject("no help text");
  if (type == MetricType::kCounter && !name.ends_with("_total")) reject("a counter's name ends in _total");
  if (type != MetricType::kCounter && name.ends_with("_total")) reject("only counters end in _total");
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (!IsLabelName(label_names[i])) reject("'" + label_names[i] + "' is not a valid label name");
    if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i), label_names[i]) !=
        label_names.begin() + static_cast<std::ptrdiff_t>(i))
      reject("label '" + label_names[i] + "' given twice");
    if (type == MetricType::kHistogram && label_names[i] == "le") reject("a histogram cannot have a label 'le'");
  }
  if (type == MetricType::kHistogram) {
    if (bounds.empty()) reject("a histogram needs bucket bounds");
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i])) reject("bucket bounds are finite (+Inf is implicit)");
      if (i > 0 && !(bounds[i - 1] < bounds[i])) reject("bucket bounds must increase strictly");
    }
  }
  // A family's samples may carry its name plus a suffix (_bucket, _sum,
  // _count): refuse any name that would collide with another's samples.
  auto sample_names = [](MetricType t, const std::string& n) {
    std::vector<std::string> names{n};
    if (t == MetricType::kHistogram)
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.push_back(n + suffix);
    return names;
  };
  const std::vector<std::string> mine = sample_names(type, name);
  for (const Entry& entry : entries_) {
    const std::string& other = entry.counters ? entry.counters->name()
                               : entry.gauges ? entry.gauges->name()
                                              : entry.histograms->name();
    for (const std::string& theirs : sample_names(entry.type, other))
      if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) reject("clashes with metric " + other);
  }
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  MutexLock lock(mutex_);
  CheckNew(MetricType::kCounter, name, help, label_names, {});
  counter_families_.emplace_back(new Family<Counter>(name, help, std::move(label_names), {}));
  entries_.push_back({.type = MetricType::kCounter, .counters = counter_families_.back().get()});
  return *counter_families_.back();
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  MutexLock lock(mutex_);
  CheckNew(MetricType::kGauge, name, help, label_names, {});
  gauge_families_.emplace_back(new Family<Gauge>(name, help, std::move(label_names), {}));
  entries_.push_back({.type = MetricType::kGauge, .gauges = gauge_families_.back().get()});
  return *gauge_families_.back();
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                                          std::vector<std::string> label_names) {
  MutexLock lock(mutex_);
  CheckNew(MetricType::kHistogram, name, help, label_names, bounds);
  histogram_families_.emplace_back(new Family<Histogram>(name, help, std::move(label_names), std::move(bounds)));
  entries_.push_back({.type = MetricType::kHistogram, .histograms = histogram_families_.back().get()});
  return *histogram_families_.back();
}

std::string Registry::Render() const {
  std::string out;
  MutexLock lock(mutex_);
  for (const Entry& entry : entries_) {
    switch (entry.type) {
      case MetricType::kCounter: {
        const auto& family = *entry.counters;
        AppendHeader(out, family.name(), family.help(), "counter");
        family.ForEach([&](const std::vector<std::string>& values, const Counter& counter) {
          out += family.name() + LabelSet(family.label_names(), values) + ' ' + std::to_string(counter.value()) + '\n';
        });
        break;
      }
      case MetricType::kGauge: {
        const auto& family = *entry.gauges;
        AppendHeader(out, family.name(), family.help(), "gauge");
        family.ForEach([&](const std::vector<std::string>& values, const Gauge& gauge) {
          out += family.name() + LabelSet(family.label_names(), values) + ' ' + FormatValue(gauge.value()) + '\n';
        });
        break;
      }
      case MetricType::kHistogram: {
        const auto& family = *entry.histograms;
        AppendHeader(out, family.name(), family.help(), "histogram");
        family.ForEach([&](const std::vector<std::string>& values, const Histogram& histogram) {
          const Histogram::Snapshot s = histogram.Read();
          for (size_t i = 0; i <= s.bounds.size(); ++i) {
            const std::string le = i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
            out += family.name() + "_bucket" + LabelSet(family.label_names(), values, "le=\"" + le + '"') + ' ' +
                   std::to_string(s.cumulative_counts[i]) + '\n';
          }
          const std::string labels = LabelSet(family.label_names(), values);
          out += family.name() + "_sum" + labels + ' ' + FormatValue(s.sum) + '\n';
          out += family.name() + "_count" + labels + ' ' + std::to_string(s.cumulative_counts.back()) + '\n';
        });
        break;
      }
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Byte counts and the like read better as 1048576 than as 1.048576e+06.
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  if (std::trunc(value) == value && std::fabs(value) <= kExactIntegers)
    return std::to_string(static_cast<int64_t>(value));
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "NaN";  // cannot happen with 64 characters; never write a half number
  return {buffer, end};
}

}  // namespace pacs::metrics
