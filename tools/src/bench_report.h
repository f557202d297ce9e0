// File: bench_report.h
// What a benchmark run measured and how it is written down: the numbers of
// one push, the machine and versions they came from, plain-text tables,
// result JSON (with fractional numbers, which the admin JSON subset lacks),
// Markdown and a gnuplot bar chart.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "bench_process.h"
#include "bench_scu.h"
#include "pacs/base/result.h"

namespace pacs::tools::bench {

// A JSON value for result files: like JsonValue, plus doubles, and objects
// keep their keys in insertion order so result files read top-down.
struct ResultJson {
  using Object = std::vector<std::pair<std::string, ResultJson>>;
  using Array = std::vector<ResultJson>;
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array, Object> v = nullptr;

  ResultJson() = default;
  ResultJson(bool b) : v(b) {}                            // NOLINT
  ResultJson(int i) : v(static_cast<int64_t>(i)) {}       // NOLINT
  ResultJson(int64_t i) : v(i) {}                         // NOLINT
  ResultJson(uint64_t i) : v(static_cast<int64_t>(i)) {}  // NOLINT
  ResultJson(double d) : v(d) {}                          // NOLINT
  ResultJson(std::string s) : v(std::move(s)) {}          // NOLINT
  ResultJson(const char* s) : v(std::string(s)) {}        // NOLINT
  ResultJson(Array a) : v(std::move(a)) {}                // NOLINT
  ResultJson(Object o) : v(std::move(o)) {}               // NOLINT
  template <typename T>
  ResultJson(const std::optional<T>& o) {  // NOLINT: absent numbers are null
    if (o) *this = ResultJson(*o);
  }
};
std::string ToText(const ResultJson& value, int indent = 0);

// The numbers of one push of the whole corpus to one system.
struct PushMeasurement {
  std::string system;
  int run = 1;   // compare: which interleaved run
  int pass = 1;  // ingest --repeat: which pass over the corpus
  PushResult push;
  std::optional<double> server_cpu_seconds;  // push and settle
  // pacscore: seconds after the push until background re-encoding was done
  // and the archive compacted (what stored_bytes is measured after).
  std::optional<double> settle_seconds;
  // From the server's own accounting (pacscore's GET /stats) where it has one.
  std::optional<uint64_t> received_bytes;
  std::optional<uint64_t> received_bytes_total;
  std::optional<uint64_t> stored_bytes;
  std::string error;  // the system could not be measured in this run

  double mb_per_second() const;  // dataset bytes of succeeded C-STOREs / wall time, MB = 1e6 bytes
  double instances_per_second() const;
  double latency_percentile_ms(double p) const;  // nearest rank; 0 when nothing succeeded
  // stored_bytes / bytes the client sent successfully (the same yardstick for every system).
  std::optional<double> stored_per_sent() const;
  ResultJson ToJson() const;
};

// Where a result came from, recorded in every result file.
struct Provenance {
  std::string command_line;
  std::string date_utc;
  MachineInfo machine;
  std::vector<std::pair<std::string, std::string>> versions;  // name -> version
  std::string corpus_dir;
  uint64_t corpus_files = 0;
  uint64_t corpus_skipped = 0;
  uint64_t corpus_dataset_bytes = 0;
  uint64_t corpus_file_bytes = 0;
  bool client_preloaded = false;
  int associations = 1;
  std::string load_average_after;  // at the end of the benchmark
  ResultJson ToJson() const;
  std::string ToMarkdown() const;  // a few bullet lines
};
std::string NowUtc();

double Median(std::vector<double> values);
std::string FormatDouble(double v, int decimals);

// Columns padded to their widest cell; first column left-aligned, the rest right-aligned.
std::string PlainTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string MarkdownTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

struct Bar {
  std::string label;
  double value = 0;
  std::string annotation;         // printed above the bar
  std::string second_annotation;  // a line above that
};
// Writes `<stem>.dat`, `<stem>.gp` and `<stem>.png` with gnuplot; the PNG has
// one labelled bar per entry and `y_label` on the value axis.
Status PlotBars(const std::string& gnuplot, const std::string& stem, const std::string& title,
                const std::string& y_label, const std::vector<Bar>& bars);

}  // namespace pacs::tools::bench
