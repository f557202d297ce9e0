// `pacscore bench distinct-copies` and `pacscore bench settle`: does the data
// folder shrink to about the compressed size by itself after a sustained push
// of distinct images? Copies with new UIDs only would share their frames
// (dedup) and prove nothing, so the copies change a few pixels' lowest bit
// (dicom/distinct_copies.h). settle pushes them into a fresh pacscore and
// watches stored_bytes / received_bytes until it reaches --bound, with no
// manual compact.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "options.h"
#include "pacs/dicom/distinct_copies.h"
#include "pacs/dicom/multiframe_generator.h"
#include "peers.h"
#include "process.h"
#include "report.h"
#include "run_common.h"

namespace pacs::bench {
namespace fs = std::filesystem;
namespace {

Result<dicom::DistinctCopiesReport> MakeCopies(const std::string& corpus, const fs::path& out, uint32_t copies) {
  std::fprintf(stderr, "writing %u distinct copies of %s to %s\n", copies, corpus.c_str(), out.c_str());
  auto report = dicom::WriteDistinctCopies(corpus, out, copies);
  if (!report.ok()) return report.status();
  std::fprintf(stderr, "%llu files, %.1f MB written; %zu files of the corpus skipped\n",
               static_cast<unsigned long long>(report->files_written), static_cast<double>(report->bytes_written) / 1e6,
               report->skipped.size());
  for (size_t i = 0; i < report->skipped.size() && i < 5; ++i)
    std::fprintf(stderr, "  skipped %s\n", report->skipped[i].c_str());
  return report;
}

struct Sample {
  double seconds = 0;  // after the last acknowledgement
  uint64_t stored_bytes = 0;
  uint64_t received_bytes = 0;
  uint64_t awaiting_reencoding = 0;
  double ratio() const {
    return received_bytes > 0 ? static_cast<double>(stored_bytes) / static_cast<double>(received_bytes) : 0;
  }
};

}  // namespace

int RunDistinctCopies(const DistinctCopiesOptions& options) {
  auto report = MakeCopies(options.corpus, options.out, options.copies);
  if (!report.ok()) return Fail(report.status());
  return report->files_written > 0 ? 0 : 1;
}

int RunMultiFrame(const MultiFrameOptions& options) {
  auto bytes = dicom::WriteMultiFrame(options.series, options.out, options.megabytes * 1000 * 1000);
  if (!bytes.ok()) return Fail(bytes.status());
  std::printf("wrote %s: %.1f MB\n", options.out.c_str(), static_cast<double>(*bytes) / 1e6);
  return 0;
}

int RunSettle(const SettleOptions& options) {
  if (options.server.target) return Fail(Status::InvalidArgument("bench settle starts its own pacscore: no --target"));
  auto work = MakeWorkFolder(WorkParent(options.server.work_dir));
  if (!work.ok()) return Fail(work.status());
  const fs::path copies_dir = *work / "copies";
  auto made = MakeCopies(options.corpus, copies_dir, options.copies);
  if (!made.ok()) return Fail(made.status());
  auto corpus = LoadCorpus(copies_dir.string());
  if (!corpus.ok()) return Fail(corpus.status());

  PeerSpec spec{.kind = PeerKind::kPacscore,
                .codec = options.server.codec.value_or(""),
                .serve_args = options.server.serve_args,
                .associations = options.associations};
  auto server = RunningPeer::Start(spec, *work / "pacscore");
  if (!server.ok()) return Fail(server.status());
  Provenance provenance =
      MakeProvenance(options.command_line, *corpus, copies_dir.string(), options.associations, *work, {spec.kind});
  PushMeasurement m = MeasurePush(*corpus, server->target(), options.associations, server->pid(), PeerLabel(spec));
  PrintFailures(m);
  // The clock of the settle starts at the last acknowledgement.
  const auto acked = std::chrono::steady_clock::now();
  const std::optional<double> cpu_acked = ProcessTreeCpuSeconds(server->pid());

  // Each look is a GET /stats, which flushes the memtables to measure the
  // folder (as any look at the folder would need); nothing else is asked of
  // the server.
  std::vector<Sample> samples;
  std::optional<double> reached_after;
  std::string error;
  while (true) {
    auto stats = server->PacscoreStats();
    Sample s;
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - acked).count();
    if (!stats.ok()) {
      error = stats.status().ToString();
      break;
    }
    s.stored_bytes = StatsField(*stats, "stored_bytes").value_or(0);
    s.received_bytes = StatsField(*stats, "received_bytes").value_or(0);
    s.awaiting_reencoding = StatsField(*stats, "frames_awaiting_reencoding").value_or(0);
    samples.push_back(s);
    std::fprintf(stderr, "%7.1f s after the last ack: stored %.1f MB / received %.1f MB = %.3f, %llu frames queued\n",
                 s.seconds, static_cast<double>(s.stored_bytes) / 1e6, static_cast<double>(s.received_bytes) / 1e6,
                 s.ratio(), static_cast<unsigned long long>(s.awaiting_reencoding));
    if (s.received_bytes > 0 && s.ratio() <= options.bound) {
      reached_after = s.seconds;
      break;
    }
    if (s.seconds >= options.timeout_seconds) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(options.interval_seconds));
  }
  const std::optional<double> cpu_end = ProcessTreeCpuSeconds(server->pid());
  if (cpu_acked && cpu_end && m.server_cpu_seconds)
    m.server_cpu_seconds = *m.server_cpu_seconds + *cpu_end - *cpu_acked;
  if (reached_after) m.settle_seconds = reached_after;
  if (!samples.empty()) {
    m.stored_bytes = samples.back().stored_bytes;
    m.received_bytes = samples.back().received_bytes;
  }
  auto stopped = server->StopAndMeasureStored();
  if (!stopped.ok()) error += (error.empty() ? "" : "; ") + stopped.status().ToString();
  provenance.load_average_after = LoadAverage();

  std::printf(
      "\npacscore bench settle: %u distinct copies of %s, %llu instances, %.1f MB sent over %d association(s)\n",
      options.copies, options.corpus.c_str(), static_cast<unsigned long long>(m.push.succeeded),
      static_cast<double>(m.push.succeeded_bytes) / 1e6, options.associations);
  std::printf("acknowledged: %.1f s, %.1f MB/s, server CPU %s s\n", m.push.wall_seconds, m.mb_per_second(),
              Opt(m.push_cpu_seconds, 1).c_str());
  if (reached_after)
    std::printf(
        "stored/received <= %.2f %.1f s after the last acknowledgement (%.3f; %.1f MB/s until then, server "
        "CPU %s s in all)\n",
        options.bound, *reached_after, samples.back().ratio(), m.at_rest_mb_per_second(),
        Opt(m.server_cpu_seconds, 1).c_str());
  else
    std::printf("stored/received still %.3f > %.2f after %.0f s\n", samples.empty() ? 0.0 : samples.back().ratio(),
                options.bound, samples.empty() ? 0.0 : samples.back().seconds);
  if (!error.empty()) std::fprintf(stderr, "pacscore bench: %s\n", error.c_str());

  if (options.json) {
    ResultJson series = ResultJson::array();
    for (const auto& s : samples)
      series.push_back({{"seconds_after_last_ack", s.seconds},
                        {"stored_bytes", s.stored_bytes},
                        {"received_bytes", s.received_bytes},
                        {"stored_per_received", s.ratio()},
                        {"frames_awaiting_reencoding", s.awaiting_reencoding}});
    const ResultJson result = {{"benchmark", "settle"},
                               {"provenance", provenance.ToJson()},
                               {"copies", options.copies},
                               {"bound", options.bound},
                               {"timeout_seconds", options.timeout_seconds},
                               {"reached_bound_after_seconds", OrNull(reached_after)},
                               {"push", m.ToJson()},
                               {"samples", std::move(series)}};
    if (Status s = WriteText(*options.json, ToText(result) + "\n"); !s.ok()) return Fail(s);
  }
  std::error_code ec;
  if (!options.server.keep)
    fs::remove_all(*work, ec);
  else
    std::fprintf(stderr, "kept %s\n", work->c_str());
  if (!error.empty() || m.push.failed > 0) return 2;
  return reached_after ? 0 : 3;
}

}  // namespace pacs::bench
