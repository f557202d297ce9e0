#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace pacs::bench {
namespace {

// Result files carry six significant digits, as they always have: finer
// digits are noise in a benchmark. (nlohmann prints a double's shortest
// round-trip form with Grisu2, so now and then a rounded value still comes
// out with 17 digits, e.g. 0.6881660000000001; it reads back the same.)
void RoundFractions(ResultJson& value) {
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d)) {
      value = nullptr;
      return;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", d);
    value = std::strtod(buf, nullptr);
    return;
  }
  if (value.is_structured())
    for (auto& element : value) RoundFractions(element);
}

// gnuplot string literal in double quotes.
std::string GnuplotQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string ToText(const ResultJson& value) {
  ResultJson rounded = value;
  RoundFractions(rounded);
  // Paths and peer messages are not always UTF-8: replace, never throw.
  return rounded.dump(2, ' ', false, ResultJson::error_handler_t::replace);
}

double PushMeasurement::mb_per_second() const {
  return push.wall_seconds > 0 ? static_cast<double>(push.succeeded_bytes) / push.wall_seconds / 1e6 : 0;
}

double PushMeasurement::at_rest_mb_per_second() const {
  const double seconds = push.wall_seconds + settle_seconds.value_or(0);
  return seconds > 0 ? static_cast<double>(push.succeeded_bytes) / seconds / 1e6 : 0;
}

double PushMeasurement::instances_per_second() const {
  return push.wall_seconds > 0 ? static_cast<double>(push.succeeded) / push.wall_seconds : 0;
}

double PushMeasurement::latency_percentile_ms(double p) const {
  if (push.latencies_ms.empty()) return 0;
  std::vector<double> sorted = push.latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::optional<double> PushMeasurement::stored_per_sent() const {
  if (!stored_bytes || push.succeeded_bytes == 0) return std::nullopt;
  return static_cast<double>(*stored_bytes) / static_cast<double>(push.succeeded_bytes);
}

ResultJson PushMeasurement::ToJson() const {
  ResultJson failures = ResultJson::array();
  for (const auto& f : push.failures) failures.push_back(f);
  std::optional<double> stored_per_received;
  if (stored_bytes && received_bytes && *received_bytes > 0)
    stored_per_received = static_cast<double>(*stored_bytes) / static_cast<double>(*received_bytes);
  ResultJson o = {
      {"system", system},
      {"run", run},
      {"pass", pass},
      {"instances_attempted", push.attempted},
      {"instances_stored", push.succeeded},
      {"instances_failed", push.failed},
      {"associations_opened", push.associations},
      {"sent_bytes", push.succeeded_bytes},
      {"wall_seconds", push.wall_seconds},
      {"settle_seconds", OrNull(settle_seconds)},
      {"instances_per_second", instances_per_second()},
      {"mb_per_second", mb_per_second()},
      {"at_rest_mb_per_second", at_rest_mb_per_second()},
      {"latency_ms_p50", latency_percentile_ms(50)},
      {"latency_ms_p95", latency_percentile_ms(95)},
      {"latency_ms_p99", latency_percentile_ms(99)},
      {"push_cpu_seconds", OrNull(push_cpu_seconds)},
      {"server_cpu_seconds", OrNull(server_cpu_seconds)},
      {"received_bytes", OrNull(received_bytes)},
      {"received_bytes_total", OrNull(received_bytes_total)},
      {"stored_bytes", OrNull(stored_bytes)},
      {"stored_per_received", OrNull(stored_per_received)},
      {"stored_per_sent", OrNull(stored_per_sent())},
      {"failures", std::move(failures)},
  };
  if (!error.empty()) o["error"] = error;
  return o;
}

ResultJson Provenance::ToJson() const {
  ResultJson versions_json = ResultJson::object();
  for (const auto& [name, version] : versions) versions_json[name] = version;
  return ResultJson{
      {"command_line", command_line},
      {"date_utc", date_utc},
      {"machine", ResultJson{{"cpu_model", machine.cpu_model},
                             {"cores", static_cast<int64_t>(machine.cores)},
                             {"memory_bytes", machine.memory_bytes},
                             {"kernel", machine.kernel},
                             {"work_filesystem", machine.work_filesystem},
                             {"load_average_before", machine.load_average},
                             {"load_average_after", load_average_after}}},
      {"versions", std::move(versions_json)},
      {"corpus", ResultJson{{"dir", corpus_dir},
                            {"files", corpus_files},
                            {"skipped_files", corpus_skipped},
                            {"dataset_bytes", corpus_dataset_bytes},
                            {"file_bytes", corpus_file_bytes}}},
      {"associations", associations},
      {"client_preloaded", client_preloaded},
  };
}

std::string Provenance::ToMarkdown() const {
  std::string versions_text;
  for (const auto& [name, version] : versions)
    versions_text += (versions_text.empty() ? "" : ", ") + name + " " + (version.empty() ? "?" : version);
  return "- Machine: " + machine.cpu_model + ", " + std::to_string(machine.cores) + " cores, " +
         FormatDouble(static_cast<double>(machine.memory_bytes) / (1024.0 * 1024 * 1024), 1) + " GiB memory, " +
         machine.kernel + "; servers write to " + machine.work_filesystem + "; load average " + machine.load_average +
         " before, " + load_average_after + " after\n" + "- Versions: " + versions_text + "\n" + "- Corpus: `" +
         corpus_dir + "`, " + std::to_string(corpus_files) + " files, " +
         FormatDouble(static_cast<double>(corpus_dataset_bytes) / 1e6, 1) + " MB of datasets (" +
         std::to_string(corpus_skipped) + " files skipped)\n" + "- " + std::to_string(associations) +
         " parallel association(s); date " + date_utc + "\n" + "- Command: `" + command_line + "`\n";
}

std::string NowUtc() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string FormatDouble(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string PlainTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const std::string pad(width[c] - cell.size(), ' ');
      out += (c ? "  " : "") + (c == 0 ? cell + pad : pad + cell);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  out += std::string(total - 2, '-') + "\n";
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string MarkdownTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const auto& h : header) out += " " + h + " |";
  out += "\n|";
  for (size_t c = 0; c < header.size(); ++c) out += c == 0 ? "---|" : "---:|";
  out += "\n";
  for (const auto& row : rows) {
    out += "|";
    for (const auto& cell : row) out += " " + cell + " |";
    out += "\n";
  }
  return out;
}

Status PlotBars(const std::string& gnuplot, const std::string& stem, const std::string& title,
                const std::string& y_label, const std::vector<Bar>& bars) {
  if (bars.empty()) return Status::InvalidArgument("nothing to plot");
  double max_value = 0;
  {
    std::ofstream dat(stem + ".dat");
    for (const auto& b : bars) {
      // pacscore's bars in blue, the peers' in grey.
      const int colour = b.label.rfind("pacscore", 0) == 0 ? 0x4477aa : 0x999999;
      dat << GnuplotQuote(b.label) << " " << FormatDouble(b.value, 3) << " " << GnuplotQuote(b.annotation) << " "
          << colour << " " << GnuplotQuote(b.second_annotation) << "\n";
      max_value = std::max(max_value, b.value);
    }
    if (!dat) return Status::IOError("cannot write " + stem + ".dat");
  }
  const std::string png = stem + ".png";
  {
    std::ofstream gp(stem + ".gp");
    gp << "set terminal pngcairo size 1000,600 font 'Sans,11'\n"
       << "set output " << GnuplotQuote(png) << "\n"
       << "set title " << GnuplotQuote(title) << " noenhanced\n"
       << "set ylabel " << GnuplotQuote(y_label) << " noenhanced\n"
       << "set style fill solid 0.85 border -1\n"
       << "set boxwidth 0.6\n"
       << "set xrange [-0.6:" << FormatDouble(static_cast<double>(bars.size()) - 0.4, 1) << "]\n"
       << "set yrange [0:" << FormatDouble(std::max(1.0, max_value * 1.25), 3) << "]\n"
       << "set grid ytics\n"
       << "set xtics noenhanced\n"
       << "unset key\n"
       << "plot " << GnuplotQuote(stem + ".dat") << " using 0:2:4:xtic(1) with boxes linecolor rgb variable, \\\n"
       << "     '' using 0:2:3 with labels offset 0,1.0 noenhanced, \\\n"
       << "     '' using 0:2:5 with labels offset 0,2.2 noenhanced\n";
    if (!gp) return Status::IOError("cannot write " + stem + ".gp");
  }
  std::string output;
  const int code = RunToCompletion({gnuplot, stem + ".gp"}, output, std::chrono::seconds(60));
  if (code != 0) return Status::IOError("gnuplot exited with " + std::to_string(code) + ": " + output);
  std::error_code ec;
  if (std::filesystem::file_size(png, ec) == 0 || ec) return Status::IOError("gnuplot wrote no " + png);
  return Status::Ok();
}

}  // namespace pacs::bench
