// `pacscore bench compare`: the same push, interleaved over --runs runs,
// into pacscore (one per --codec), Orthanc, Orthanc with JPEG-LS ingest
// transcoding and DCMTK's storescp; writes a table, Markdown, JSON and a chart.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "options.h"
#include "peers.h"
#include "process.h"
#include "report.h"
#include "run_common.h"

namespace pacs::bench {
namespace fs = std::filesystem;
namespace {

struct SystemResult {
  PeerSpec spec;
  std::string skipped;  // why it was not measured
  std::vector<PushMeasurement> runs;
};

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int RunCompare(const CompareOptions& options) {
  const std::string& corpus_dir = options.corpus;
  const int associations = options.associations;
  const int runs = options.runs;

  std::vector<SystemResult> systems;
  std::vector<std::string> codecs = SplitCommas(options.codecs);
  if (codecs.empty()) codecs.emplace_back();
  systems.reserve(systems.size() + codecs.size());
  for (const auto& codec : codecs)
    systems.push_back({PeerSpec{.kind = PeerKind::kPacscore,
                                .codec = codec,
                                .serve_args = options.serve_args,
                                .associations = associations},
                       "",
                       {}});
  for (PeerKind kind : {PeerKind::kOrthanc, PeerKind::kOrthancJpegLs, PeerKind::kStorescp})
    systems.push_back({PeerSpec{.kind = kind, .codec = "", .serve_args = {}, .associations = associations}, "", {}});
  std::vector<PeerKind> kinds;
  for (auto& s : systems) {
    std::string why;
    if (!PeerProgram(s.spec.kind, why))
      s.skipped = why;
    else
      kinds.push_back(s.spec.kind);
  }

  auto corpus = LoadCorpus(corpus_dir);
  if (!corpus.ok()) return Fail(corpus.status());
  const fs::path out_dir = options.out.empty() ? std::string("bench-compare") : options.out;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Fail(Status::IOError("cannot create " + out_dir.string() + ": " + ec.message()));
  auto work = MakeWorkFolder(WorkParent(options.work_dir));
  if (!work.ok()) return Fail(work.status());
  Provenance provenance = MakeProvenance(options.command_line, *corpus, corpus_dir, associations, *work, kinds);
  std::optional<std::string> gnuplot = FindProgram("gnuplot");
  if (gnuplot) {
    std::string version = FirstOutputLine({*gnuplot, "--version"});  // "gnuplot 5.4 patchlevel 4"
    if (version.rfind("gnuplot ", 0) == 0) version = version.substr(8);
    provenance.versions.emplace_back("gnuplot", version);
  }

  for (const auto& s : systems)
    if (!s.skipped.empty()) std::fprintf(stderr, "skipping %s: %s\n", PeerLabel(s.spec).c_str(), s.skipped.c_str());

  // Interleaved: every run visits every system, starting one further along
  // each time, so drift of the machine during the benchmark hits all alike.
  std::vector<size_t> active;
  for (size_t i = 0; i < systems.size(); ++i)
    if (systems[i].skipped.empty()) active.push_back(i);
  for (int run = 1; run <= runs; ++run) {
    for (size_t k = 0; k < active.size(); ++k) {
      SystemResult& sys = systems[active[(k + static_cast<size_t>(run - 1)) % active.size()]];
      const std::string label = PeerLabel(sys.spec);
      std::fprintf(stderr, "run %d/%d: %s\n", run, runs, label.c_str());
      const fs::path folder = *work / ("run" + std::to_string(run) + "-" + std::to_string(k));
      PushMeasurement m;
      m.system = label;
      m.run = run;
      auto peer = RunningPeer::Start(sys.spec, folder);
      if (!peer.ok()) {
        m.error = peer.status().ToString();
        std::fprintf(stderr, "pacscore bench: %s: %s\n", label.c_str(), m.error.c_str());
      } else {
        m = MeasurePush(*corpus, peer->target(), associations, peer->pid(), label);
        m.run = run;
        if (sys.spec.kind == PeerKind::kPacscore) {
          Settle(*peer, m);
          if (auto stats = peer->PacscoreStats(); stats.ok()) {
            m.received_bytes = StatsField(*stats, "received_bytes");
            m.received_bytes_total = StatsField(*stats, "received_bytes_total");
            m.stored_bytes = StatsField(*stats, "stored_bytes");
          } else {
            m.error = "GET /stats failed: " + stats.status().ToString();
          }
        }
        auto stored = peer->StopAndMeasureStored();
        if (!stored.ok()) {
          m.error += (m.error.empty() ? "" : "; ") + stored.status().ToString();
          std::fprintf(stderr, "pacscore bench: %s\n%s\n", stored.status().ToString().c_str(), peer->LogTail().c_str());
        }
        if (!m.stored_bytes && stored.ok()) m.stored_bytes = *stored;
        PrintFailures(m);
      }
      if (!options.keep) fs::remove_all(folder, ec);
      sys.runs.push_back(std::move(m));
    }
  }

  provenance.load_average_after = LoadAverage();
  // Medians per system; ratios against the first pacscore.
  struct Summary {
    double mb_s = 0, rest_mb_s = 0, inst_s = 0, p50 = 0, p99 = 0;
    std::optional<double> push_cpu, cpu, ratio;
    uint64_t failed = 0;
    int measured = 0;
  };
  auto summarize = [](const SystemResult& s) {
    Summary out;
    std::vector<double> mb, rest_mb, inst, p50, p99, push_cpu, cpu, ratio;
    for (const auto& m : s.runs) {
      out.failed += m.push.failed;
      if (!m.error.empty() && m.push.attempted == 0) continue;
      ++out.measured;
      mb.push_back(m.mb_per_second());
      rest_mb.push_back(m.at_rest_mb_per_second());
      inst.push_back(m.instances_per_second());
      p50.push_back(m.latency_percentile_ms(50));
      p99.push_back(m.latency_percentile_ms(99));
      if (m.push_cpu_seconds) push_cpu.push_back(*m.push_cpu_seconds);
      if (m.server_cpu_seconds) cpu.push_back(*m.server_cpu_seconds);
      if (auto r = m.stored_per_sent()) ratio.push_back(*r);
    }
    out.mb_s = Median(mb);
    out.rest_mb_s = Median(rest_mb);
    out.inst_s = Median(inst);
    out.p50 = Median(p50);
    out.p99 = Median(p99);
    if (!push_cpu.empty()) out.push_cpu = Median(push_cpu);
    if (!cpu.empty()) out.cpu = Median(cpu);
    if (!ratio.empty()) out.ratio = Median(ratio);
    return out;
  };
  std::vector<Summary> summaries;
  summaries.reserve(systems.size());
  for (const auto& s : systems) summaries.push_back(summarize(s));
  const Summary& reference = summaries.front();

  const std::vector<std::string> header = {"system",          "acked MB/s",       "CPU s to ack",   "at rest MB/s",
                                           "CPU s to rest",   "inst/s",           "p50 ms",         "p99 ms",
                                           "stored/received", "pacscore speed x", "pacscore size x"};
  std::vector<std::vector<std::string>> rows;
  std::vector<Bar> bars;
  int exit_code = 0;
  for (size_t i = 0; i < systems.size(); ++i) {
    const auto& s = systems[i];
    const Summary& sum = summaries[i];
    const std::string label = PeerLabel(s.spec);
    if (!s.skipped.empty()) {
      rows.push_back({label, "skipped", "", "", "", "", "", "", "", "", ""});
      continue;
    }
    if (sum.measured == 0) {
      rows.push_back({label, "failed", "", "", "", "", "", "", "", "", ""});
      exit_code = 2;
      continue;
    }
    if (sum.failed > 0) exit_code = 2;
    // Speed ratio on the rate until the data is at rest: what an archive's
    // sustained intake is limited by.
    std::string speed =
        sum.rest_mb_s > 0 && reference.measured ? FormatDouble(reference.rest_mb_s / sum.rest_mb_s, 2) : "-";
    std::string size =
        reference.ratio && sum.ratio && *sum.ratio > 0 ? FormatDouble(*reference.ratio / *sum.ratio, 2) : "-";
    rows.push_back({label + (sum.failed ? " (" + std::to_string(sum.failed) + " failed)" : ""),
                    FormatDouble(sum.mb_s, 1), Opt(sum.push_cpu, 2), FormatDouble(sum.rest_mb_s, 1), Opt(sum.cpu, 2),
                    FormatDouble(sum.inst_s, 1), FormatDouble(sum.p50, 2), FormatDouble(sum.p99, 2), Opt(sum.ratio, 3),
                    speed, size});
    bars.push_back(
        {label, sum.rest_mb_s, "stores " + Opt(sum.ratio, 2) + "x", FormatDouble(sum.mb_s, 1) + " MB/s acked"});
  }

  fs::path corpus_name = fs::path(corpus_dir).lexically_normal();
  if (corpus_name.filename().empty()) corpus_name = corpus_name.parent_path();
  const std::string title =
      "C-STORE ingest of " + corpus_name.filename().string() + " (" + std::to_string(corpus->files().size()) +
      " files, " + FormatDouble(static_cast<double>(corpus->dataset_bytes()) / 1e6, 1) + " MB), " +
      std::to_string(associations) + " association(s), median of " + std::to_string(runs) + " run(s)";
  std::string notes;
  for (const auto& s : systems) {
    notes +=
        "- `" + PeerLabel(s.spec) + "`: " + (s.skipped.empty() ? PeerSetup(s.spec) : "skipped, " + s.skipped) + "\n";
    for (const auto& m : s.runs)
      if (!m.error.empty()) notes += "  - run " + std::to_string(m.run) + ": " + m.error + "\n";
  }
  notes +=
      "- acked MB/s: dataset bytes of the successful C-STOREs (as sent by the client, MB = 10^6 bytes) divided by the "
      "wall time from the first association request to the last response. at rest MB/s: the same bytes divided by "
      "the time until the data is compressed at rest: for pacscore, until its background re-encoding finished, "
      "released the raw frames' space by itself and its memtables were flushed to their files (no manual compact; "
      "settle_seconds in the JSON); the others answer "
      "with the data already at rest, so both rates are the same. Each run starts every system fresh on an empty "
      "folder. CPU s to ack / to rest: user+system time of the server process (and its children) during the push, "
      "and during the push and the settle.\n"
      "- stored/received: bytes the system keeps after the run (pacscore: `stored_bytes` of GET /stats; others: "
      "apparent size of their storage and index folder after a clean stop) per byte sent. pacscore speed x: pacscore's "
      "MB/s divided by the system's; pacscore size x: pacscore's stored/received divided by the system's.\n";

  const std::string md = "# pacscore bench compare\n\n" + title + ".\n\n" + MarkdownTable(header, rows) + "\n" + notes +
                         "\n" + provenance.ToMarkdown();
  const fs::path stem = out_dir / "compare";
  if (Status s = WriteText(stem.string() + ".md", md); !s.ok()) return Fail(s);

  std::string png_note;
  if (!gnuplot) {
    png_note = "no chart: gnuplot is not installed (Debian: apt-get install gnuplot-nox)";
  } else if (bars.empty()) {
    png_note = "no chart: no system was measured";
  } else if (Status s = PlotBars(*gnuplot, stem.string(), title,
                                 "MB/s until compressed at rest (median; MB = 10^6 bytes)", bars);
             !s.ok()) {
    png_note = "no chart: " + s.ToString();
    exit_code = 1;
  }

  ResultJson systems_json = ResultJson::array();
  for (size_t i = 0; i < systems.size(); ++i) {
    const auto& s = systems[i];
    ResultJson runs_json = ResultJson::array();
    for (const auto& m : s.runs) runs_json.push_back(m.ToJson());
    ResultJson o = {{"system", PeerLabel(s.spec)},
                    {"setup", PeerSetup(s.spec)},
                    {"skipped", s.skipped.empty() ? ResultJson() : ResultJson(s.skipped)}};
    if (s.skipped.empty()) {
      const Summary& sum = summaries[i];
      o["runs_measured"] = sum.measured;
      o["median_mb_per_second"] = sum.mb_s;
      o["median_at_rest_mb_per_second"] = sum.rest_mb_s;
      o["median_push_cpu_seconds"] = OrNull(sum.push_cpu);
      o["median_instances_per_second"] = sum.inst_s;
      o["median_latency_ms_p50"] = sum.p50;
      o["median_latency_ms_p99"] = sum.p99;
      o["median_server_cpu_seconds"] = OrNull(sum.cpu);
      o["median_stored_per_sent"] = OrNull(sum.ratio);
      o["instances_failed"] = sum.failed;
      o["pacscore_speed_ratio"] =
          sum.rest_mb_s > 0 && reference.measured ? ResultJson(reference.rest_mb_s / sum.rest_mb_s) : ResultJson();
      o["pacscore_size_ratio"] =
          reference.ratio && sum.ratio && *sum.ratio > 0 ? ResultJson(*reference.ratio / *sum.ratio) : ResultJson();
    }
    o["runs"] = std::move(runs_json);
    systems_json.push_back(std::move(o));
  }
  ResultJson result = {{"benchmark", "compare"},
                       {"provenance", provenance.ToJson()},
                       {"runs", runs},
                       {"title", title},
                       {"chart", png_note.empty() ? ResultJson(stem.string() + ".png") : ResultJson()},
                       {"chart_note", png_note},
                       {"systems", std::move(systems_json)}};
  const std::string json_text = ToText(result) + "\n";
  if (Status s = WriteText(stem.string() + ".json", json_text); !s.ok()) return Fail(s);
  if (options.json)
    if (Status s = WriteText(*options.json, json_text); !s.ok()) return Fail(s);

  std::printf("\n%s\n%s", title.c_str(), PlainTable(header, rows).c_str());
  for (const auto& s : systems)
    if (!s.skipped.empty()) std::printf("%s skipped: %s\n", PeerLabel(s.spec).c_str(), s.skipped.c_str());
  std::printf("%s, %u cores; written %s.md, %s.json%s\n", provenance.machine.cpu_model.c_str(),
              provenance.machine.cores, stem.c_str(), stem.c_str(),
              png_note.empty() ? (", " + stem.string() + ".png").c_str() : "");
  if (!png_note.empty()) std::fprintf(stderr, "pacscore bench: %s\n", png_note.c_str());
  if (!options.keep)
    fs::remove_all(*work, ec);
  else
    std::fprintf(stderr, "kept the servers' folders under %s\n", work->c_str());
  return exit_code;
}

}  // namespace pacs::bench
