// File: report.h
// What a benchmark run measured and how it is written down: the numbers of
// one push, the machine and versions they came from, plain-text tables,
// result JSON, Markdown and a gnuplot bar chart.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pacs/base/result.h"
#include "pacs/dicom/store_scu.h"
#include "process.h"

namespace pacs::bench {

// A result file's JSON: objects keep their keys in insertion order so result
// files read top-down.
using ResultJson = nlohmann::ordered_json;
// An absent number is null.
template <typename T>
ResultJson OrNull(const std::optional<T>& value) {
  return value ? ResultJson(*value) : ResultJson();
}
// Two-space indented text, one key per line; fractional numbers keep six
// significant digits, and numbers that are not finite are null.
std::string ToText(const ResultJson& value);

// The numbers of one push of the whole corpus to one system.
struct PushMeasurement {
  std::string system;
  int run = 1;   // compare: which interleaved run
  int pass = 1;  // ingest --repeat: which pass over the corpus
  dicom::PushResult push;
  std::optional<double> push_cpu_seconds;    // server CPU until the last C-STORE response
  std::optional<double> server_cpu_seconds;  // push and settle
  // pacscore: seconds after the push until background re-encoding was done
  // and the staged raw frames' space released, without any manual compact
  // (what stored_bytes is measured after). Others: absent (they answer with
  // the data at rest).
  std::optional<double> settle_seconds;
  // From the server's own accounting (pacscore's GET /stats) where it has one.
  std::optional<uint64_t> received_bytes;
  std::optional<uint64_t> received_bytes_total;
  std::optional<uint64_t> stored_bytes;
  std::string error;  // the system could not be measured in this run

  double mb_per_second() const;  // dataset bytes of succeeded C-STOREs / wall time, MB = 1e6 bytes
  // The same bytes over the push and the settle: the rate until the data is
  // compressed at rest.
  double at_rest_mb_per_second() const;
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

}  // namespace pacs::bench
