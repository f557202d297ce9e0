// `pacscore bench ingest`: pushes the corpus through C-STORE, once or
// --repeat times, into the pacscore it starts or into --target, and reports
// rates, latencies, the server's CPU time and what it stored.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin_http.h"
#include "options.h"
#include "pacs/dicom/store_scu.h"
#include "peers.h"
#include "process.h"
#include "report.h"
#include "run_common.h"

namespace pacs::bench {
namespace fs = std::filesystem;
namespace {

// All passes together; the server's byte counts are those after the last.
PushMeasurement AllPasses(const std::vector<PushMeasurement>& passes, const std::string& system) {
  PushMeasurement all;
  all.system = system;
  all.pass = 0;
  double cpu = 0;
  bool have_cpu = true;
  for (const auto& m : passes) {
    all.push.wall_seconds += m.push.wall_seconds;
    all.push.attempted += m.push.attempted;
    all.push.succeeded += m.push.succeeded;
    all.push.failed += m.push.failed;
    all.push.succeeded_bytes += m.push.succeeded_bytes;
    all.push.associations += m.push.associations;
    all.push.latencies_ms.insert(all.push.latencies_ms.end(), m.push.latencies_ms.begin(), m.push.latencies_ms.end());
    if (m.server_cpu_seconds)
      cpu += *m.server_cpu_seconds;
    else
      have_cpu = false;
  }
  if (have_cpu) all.server_cpu_seconds = cpu;
  all.received_bytes = passes.back().received_bytes;
  all.received_bytes_total = passes.back().received_bytes_total;
  all.stored_bytes = passes.back().stored_bytes;
  return all;
}

}  // namespace

int RunIngest(const IngestOptions& options) {
  const std::string& corpus_dir = options.corpus;
  const int associations = options.associations;
  const int repeat = options.repeat;
  const ServerOptions& server_options = options.server;
  const bool external = server_options.target.has_value();
  if (external && server_options.codec)
    return Fail(Status::InvalidArgument("--codec is for the server bench starts, not with --target"));

  auto corpus = LoadCorpus(corpus_dir);
  if (!corpus.ok()) return Fail(corpus.status());

  const fs::path work_parent = WorkParent(server_options.work_dir);
  std::optional<fs::path> work;
  std::optional<RunningPeer> server;
  dicom::ScuPeer target;
  pid_t server_pid = 0;
  std::optional<tools::AdminEndpoint> admin;
  std::string system = "pacscore", setup;
  PeerSpec spec{.kind = PeerKind::kPacscore,
                .codec = server_options.codec.value_or(""),
                .serve_args = server_options.serve_args,
                .associations = associations};
  if (external && !spec.serve_args.empty())
    return Fail(Status::InvalidArgument("--serve-arg is for the server bench starts, not with --target"));
  if (external) {
    auto t = ParseTarget(*server_options.target);
    if (!t.ok()) return Fail(t.status());
    target = *t;
    system = *server_options.target;
    setup = "external node " + system;
    if (options.target_admin_socket) admin = tools::AdminEndpoint{.socket_path = *options.target_admin_socket};
    server_pid = server_options.target_pid.value_or(0);
    if (Status echo = dicom::Echo(target, 10); !echo.ok()) return Fail(echo);
  } else {
    auto folder = MakeWorkFolder(work_parent);
    if (!folder.ok()) return Fail(folder.status());
    work = *folder;
    auto started = RunningPeer::Start(spec, *work / "pacscore");
    if (!started.ok()) return Fail(started.status());
    server.emplace(std::move(*started));
    target = server->target();
    server_pid = server->pid();
    system = PeerLabel(spec);
    setup = PeerSetup(spec);
  }
  auto stats = [&]() -> Result<nlohmann::json> {
    if (server) return server->PacscoreStats();
    if (admin) {
      auto reply = tools::AdminRequest(*admin, "GET", "/stats", "", 600);
      if (!reply.ok()) return reply.status();
      return ParseStatsReply(reply->body);
    }
    return Status::Unsupported("no admin endpoint");
  };

  Provenance provenance = MakeProvenance(options.command_line, *corpus, corpus_dir, associations,
                                         work ? *work : work_parent, {PeerKind::kPacscore});
  std::vector<PushMeasurement> passes;
  for (int pass = 1; pass <= repeat; ++pass) {
    PushMeasurement m = MeasurePush(*corpus, target, associations, server_pid, system);
    m.pass = pass;
    if (server) Settle(*server, m);
    if (auto s = stats(); s.ok()) {
      m.received_bytes = StatsField(*s, "received_bytes");
      m.received_bytes_total = StatsField(*s, "received_bytes_total");
      m.stored_bytes = StatsField(*s, "stored_bytes");
    } else if (server || admin) {
      m.error = "GET /stats failed: " + s.status().ToString();
      std::fprintf(stderr, "pacscore bench: %s\n", m.error.c_str());
    }
    PrintFailures(m);
    passes.push_back(std::move(m));
  }
  int exit_code = 0;
  if (server) {
    auto stored_after_stop = server->StopAndMeasureStored();
    if (!stored_after_stop.ok()) {
      std::fprintf(stderr, "pacscore bench: %s\n%s\n", stored_after_stop.status().ToString().c_str(),
                   server->LogTail().c_str());
      exit_code = 1;
    }
  }

  provenance.load_average_after = LoadAverage();
  const PushMeasurement all = AllPasses(passes, system);

  // Dedup on repeats: what the repeats sent, minus what they added to the store.
  std::optional<uint64_t> repeat_traffic, dedup_savings;
  std::optional<double> dedup_fraction;
  if (passes.size() > 1 && passes.front().received_bytes_total && passes.back().received_bytes_total &&
      passes.front().stored_bytes && passes.back().stored_bytes) {
    repeat_traffic = *passes.back().received_bytes_total - *passes.front().received_bytes_total;
    const int64_t growth =
        static_cast<int64_t>(*passes.back().stored_bytes) - static_cast<int64_t>(*passes.front().stored_bytes);
    dedup_savings = static_cast<uint64_t>(std::max<int64_t>(0, static_cast<int64_t>(*repeat_traffic) - growth));
    if (*repeat_traffic > 0)
      dedup_fraction = static_cast<double>(*dedup_savings) / static_cast<double>(*repeat_traffic);
  }
  std::optional<double> stored_per_received;
  if (all.stored_bytes && all.received_bytes && *all.received_bytes > 0)
    stored_per_received = static_cast<double>(*all.stored_bytes) / static_cast<double>(*all.received_bytes);

  std::vector<std::vector<std::string>> rows;
  auto row = [&](const std::string& name, const PushMeasurement& m) {
    rows.push_back({name, std::to_string(m.push.succeeded), std::to_string(m.push.failed),
                    FormatDouble(m.instances_per_second(), 1), FormatDouble(m.mb_per_second(), 1),
                    FormatDouble(m.latency_percentile_ms(50), 2), FormatDouble(m.latency_percentile_ms(95), 2),
                    FormatDouble(m.latency_percentile_ms(99), 2), Opt(m.server_cpu_seconds, 2),
                    Mb(m.received_bytes_total), Mb(m.stored_bytes)});
  };
  for (const auto& m : passes) row("pass " + std::to_string(m.pass), m);
  if (passes.size() > 1) row("all", all);
  std::printf("\npacscore bench ingest: %s, %zu files (%.1f MB), %d association(s), %d pass(es)\n", system.c_str(),
              corpus->files().size(), static_cast<double>(corpus->dataset_bytes()) / 1e6, associations, repeat);
  std::printf("%s", PlainTable({"", "stored", "failed", "inst/s", "MB/s", "p50 ms", "p95 ms", "p99 ms", "server CPU s",
                                "received MB", "stored MB"},
                               rows)
                        .c_str());
  std::printf("received_bytes %s, stored_bytes %s, stored/received %s\n",
              all.received_bytes ? std::to_string(*all.received_bytes).c_str() : "-",
              all.stored_bytes ? std::to_string(*all.stored_bytes).c_str() : "-", Opt(stored_per_received, 3).c_str());
  if (repeat_traffic)
    std::printf("dedup on repeats: %.1f MB sent again, %.1f MB not stored again (%s)\n",
                static_cast<double>(*repeat_traffic) / 1e6, static_cast<double>(*dedup_savings) / 1e6,
                (Opt(dedup_fraction ? std::optional<double>(*dedup_fraction * 100) : std::nullopt, 1) + "%").c_str());
  std::printf("%s, %s; MB = 10^6 bytes of datasets as sent; latency = one C-STORE round trip\n",
              provenance.machine.cpu_model.c_str(), setup.c_str());

  if (options.json) {
    ResultJson pass_json = ResultJson::array();
    for (const auto& m : passes) pass_json.push_back(m.ToJson());
    // Totals over every pass; run/pass and the per-pass stored/sent ratio do not apply.
    ResultJson summary = ResultJson::object();
    const ResultJson all_json = all.ToJson();
    for (auto it = all_json.begin(); it != all_json.end(); ++it)
      if (it.key() != "run" && it.key() != "pass" && it.key() != "stored_per_sent" && it.key() != "stored_per_received")
        summary[it.key()] = it.value();
    summary["repeat_traffic_bytes"] = OrNull(repeat_traffic);
    summary["dedup_savings_bytes"] = OrNull(dedup_savings);
    summary["dedup_savings_fraction"] = OrNull(dedup_fraction);
    summary["stored_per_received"] = OrNull(stored_per_received);
    const ResultJson result = {{"benchmark", "ingest"},
                               {"provenance", provenance.ToJson()},
                               {"system", system},
                               {"setup", setup},
                               {"codec", spec.codec.empty() ? std::string("server default") : spec.codec},
                               {"repeat", repeat},
                               {"summary", std::move(summary)},
                               {"passes", std::move(pass_json)}};
    if (Status s = WriteText(*options.json, ToText(result) + "\n"); !s.ok()) return Fail(s);
  }
  if (work && !server_options.keep) {
    std::error_code ec;
    fs::remove_all(*work, ec);
  } else if (work) {
    std::fprintf(stderr, "kept the server's folder %s\n", work->c_str());
  }
  if (exit_code != 0) return exit_code;
  return all.push.failed == 0 ? 0 : 2;
}

}  // namespace pacs::bench
