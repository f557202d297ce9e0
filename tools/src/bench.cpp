// `pacscore bench ingest|compare`: flag parsing, the run loops and the
// reports. The load generator is bench_scu, the systems under test
// bench_peers, the write-up bench_report.
#include "bench.h"

#include <rocksdb/version.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "admin_http.h"
#include "bench_peers.h"
#include "bench_process.h"
#include "bench_qr.h"
#include "bench_report.h"
#include "bench_scu.h"
#include "cli.h"

#ifndef PACS_VERSION
#define PACS_VERSION "unknown"
#endif

namespace pacs::tools {
namespace fs = std::filesystem;
using namespace bench;  // NOLINT(google-build-using-namespace): this file is the bench front end

namespace {

// Datasets are held in memory during the run up to this size, so reading
// files does not count as server time; larger corpora are read as they go.
constexpr uint64_t kPreloadLimitBytes = 2ull << 30;

Status Invalid(const std::string& message) {
  return Status::InvalidArgument(message);
}

int Fail(const Status& status) {
  std::fprintf(stderr, "pacscore bench: %s\n", status.ToString().c_str());
  return 1;
}

void BenchUsage() {
  std::fprintf(
      stderr,
      "usage: pacscore bench ingest  --corpus DIR [--associations N] [--repeat R] [--codec C]\n"
      "                              [--json FILE] [--target AET@HOST:PORT [--target-admin-port P]\n"
      "                              [--target-pid PID]] [--serve-arg=--FLAG ...] [--work-dir DIR] [--keep]\n"
      "       pacscore bench compare --corpus DIR [--associations N] [--runs 3] [--codec C[,C...]]\n"
      "                              [--serve-arg=--FLAG ...] [--out DIR] [--json FILE] [--work-dir DIR] [--keep]\n"
      "       pacscore bench query   --corpus DIR [--queries 200] [--codec C] [--json FILE] [--target ...]\n"
      "       pacscore bench retrieve --corpus DIR [--associations N] [--repeat 3] [--level study|series]\n"
      "                              [--codec C] [--json FILE] [--target ...]\n"
      "  --codec is passed to `pacscore serve` (jpegls|j2k|htj2k|auto|none); a list in compare\n"
      "  measures one pacscore per codec; --serve-arg passes any other flag to serve (repeatable).\n"
      "  Results: MB = 10^6 bytes of datasets as sent.\n");
}

Result<int> ParsePositive(const Args& args, const std::string& flag, int fallback, int max) {
  const std::string text = args.Get(flag, std::to_string(fallback));
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 1 || v > max)
    return Status::InvalidArgument("--" + flag + " must be a number 1-" + std::to_string(max) + ", not '" + text + "'");
  return static_cast<int>(v);
}

std::string CommandLine(const char* sub, int argc, char** argv) {
  std::string line = std::string("pacscore bench ") + sub;
  for (int i = 0; i < argc; ++i) line += std::string(" ") + argv[i];
  return line;
}

fs::path DefaultWorkParent() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? fs::path(tmp) : fs::path("/tmp");
}

// Scans the corpus, says what it found, preloads it when it fits.
Result<Corpus> LoadCorpus(const std::string& dir) {
  auto corpus = Corpus::Scan(dir);
  if (!corpus.ok()) return corpus.status();
  if (corpus->files().empty())
    return Status::InvalidArgument("no sendable DICOM file under " + dir + " (" +
                                   std::to_string(corpus->skipped().size()) + " files skipped)");
  std::fprintf(stderr, "corpus %s: %zu files, %.1f MB of datasets; %zu files skipped\n", dir.c_str(),
               corpus->files().size(), static_cast<double>(corpus->dataset_bytes()) / 1e6, corpus->skipped().size());
  for (size_t i = 0; i < corpus->skipped().size() && i < 5; ++i)
    std::fprintf(stderr, "  skipped %s\n", corpus->skipped()[i].c_str());
  if (corpus->skipped().size() > 5) std::fprintf(stderr, "  ... and %zu more\n", corpus->skipped().size() - 5);
  if (corpus->file_bytes() <= kPreloadLimitBytes) PACS_RETURN_IF_ERROR(corpus->Preload());
  return corpus;
}

Provenance MakeProvenance(const std::string& command_line, const Corpus& corpus, const std::string& corpus_dir,
                          int associations, const fs::path& work_dir, const std::vector<PeerKind>& peers) {
  Provenance p;
  p.command_line = command_line;
  p.date_utc = NowUtc();
  p.machine = DescribeMachine(work_dir);
  p.versions = {{"pacscore", PACS_VERSION},
                {"DCMTK", DcmtkVersion()},
                {"RocksDB", std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
                                std::to_string(ROCKSDB_PATCH)}};
  bool orthanc = false;
  for (PeerKind kind : peers) {
    if ((kind == PeerKind::kOrthanc || kind == PeerKind::kOrthancJpegLs) && !orthanc) {
      orthanc = true;
      p.versions.emplace_back("Orthanc", PeerVersion(kind));
    }
    if (kind == PeerKind::kStorescp) p.versions.emplace_back("storescp", PeerVersion(kind));
  }
  std::error_code ec;
  p.corpus_dir = fs::absolute(corpus_dir, ec).string();
  p.corpus_files = corpus.files().size();
  p.corpus_skipped = corpus.skipped().size();
  p.corpus_dataset_bytes = corpus.dataset_bytes();
  p.corpus_file_bytes = corpus.file_bytes();
  p.client_preloaded = corpus.preloaded();
  p.associations = associations;
  return p;
}

std::optional<uint64_t> StatsField(const Json& stats, const std::string& key) {
  auto v = stats.find(key);
  if (v == stats.end() || !v->is_number_integer()) return std::nullopt;
  return v->get<uint64_t>();
}

// Waits until pacscore has re-encoded what it stored raw and compacted;
// the time and the server CPU it took are added to the measurement.
void Settle(const RunningPeer& peer, PushMeasurement& m) {
  const auto start = std::chrono::steady_clock::now();
  const std::optional<double> cpu_before = ProcessTreeCpuSeconds(peer.pid());
  Status s = peer.PacscoreSettle();
  const std::optional<double> cpu_after = ProcessTreeCpuSeconds(peer.pid());
  if (!s.ok()) {
    m.error += (m.error.empty() ? "" : "; ") + s.ToString();
    return;
  }
  m.settle_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (m.server_cpu_seconds && cpu_before && cpu_after) *m.server_cpu_seconds += *cpu_after - *cpu_before;
}

// One push with a progress bar, CPU time of the server around it.
PushMeasurement MeasurePush(Corpus& corpus, const PushTarget& target, int associations, pid_t server_pid,
                            const std::string& system) {
  PushMeasurement m;
  m.system = system;
  std::optional<double> cpu_before = server_pid > 0 ? ProcessTreeCpuSeconds(server_pid) : std::nullopt;
  Progress progress(corpus.files().size());
  m.push = Push(corpus, target, associations, [&](uint64_t files, uint64_t bytes) { progress.Update(files, bytes); });
  progress.Finish();
  std::optional<double> cpu_after = server_pid > 0 ? ProcessTreeCpuSeconds(server_pid) : std::nullopt;
  if (cpu_before && cpu_after) m.server_cpu_seconds = *cpu_after - *cpu_before;
  return m;
}

void PrintFailures(const PushMeasurement& m) {
  if (m.push.failed == 0) return;
  std::fprintf(stderr, "%s: %llu C-STORE(s) failed, for example:\n", m.system.c_str(),
               static_cast<unsigned long long>(m.push.failed));
  for (const auto& f : m.push.failures) std::fprintf(stderr, "  %s\n", f.c_str());
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IOError("cannot write " + path.string());
  return Status::Ok();
}

std::string Mb(std::optional<uint64_t> bytes) {
  return bytes ? FormatDouble(static_cast<double>(*bytes) / 1e6, 1) : "-";
}

std::string Opt(std::optional<double> v, int decimals) {
  return v ? FormatDouble(*v, decimals) : "-";
}

// --- bench ingest ------------------------------------------------------------

Result<PushTarget> ParseTarget(const std::string& text) {
  const size_t at = text.find('@'), colon = text.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at || at == 0 || at > 16)
    return Status::InvalidArgument("--target must be AET@HOST:PORT, not '" + text + "'");
  PushTarget t;
  t.called_aet = text.substr(0, at);
  t.host = text.substr(at + 1, colon - at - 1);
  auto port = ParsePort(text.substr(colon + 1), "target port");
  if (!port.ok()) return port.status();
  t.port = *port;
  return t;
}

int RunIngest(int argc, char** argv) {
  auto args = ParseArgs(argc, argv,
                        {"corpus", "associations", "repeat", "codec", "json", "target", "target-admin-port",
                         "target-pid", "work-dir", "serve-arg"},
                        {"keep"});
  if (!args.ok()) return Fail(args.status());
  const std::string corpus_dir = args->Get("corpus");
  if (corpus_dir.empty() || !args->positional.empty()) {
    BenchUsage();
    return Fail(Status::InvalidArgument("bench ingest needs --corpus DIR and no other arguments"));
  }
  auto associations = ParsePositive(*args, "associations", 1, 64);
  auto repeat = ParsePositive(*args, "repeat", 1, 1000);
  if (!associations.ok()) return Fail(associations.status());
  if (!repeat.ok()) return Fail(repeat.status());
  const bool external = args->Has("target");
  if (external && args->Has("codec")) return Fail(Invalid("--codec is for the server bench starts, not with --target"));

  auto corpus = LoadCorpus(corpus_dir);
  if (!corpus.ok()) return Fail(corpus.status());

  const fs::path work_parent = args->Get("work-dir", DefaultWorkParent().string());
  std::optional<fs::path> work;
  std::optional<RunningPeer> server;
  PushTarget target;
  pid_t server_pid = 0;
  std::optional<uint16_t> admin_port;
  std::string system = "pacscore", setup;
  PeerSpec spec{
      .kind = PeerKind::kPacscore, .codec = args->Get("codec"), .serve_args = {}, .associations = *associations};
  if (args->Has("serve-arg")) spec.serve_args = args->flags.at("serve-arg");
  if (external && !spec.serve_args.empty())
    return Fail(Invalid("--serve-arg is for the server bench starts, not with --target"));
  if (external) {
    auto t = ParseTarget(args->Get("target"));
    if (!t.ok()) return Fail(t.status());
    target = *t;
    system = args->Get("target");
    setup = "external node " + system;
    if (args->Has("target-admin-port")) {
      auto p = ParsePort(args->Get("target-admin-port"), "target-admin-port");
      if (!p.ok()) return Fail(p.status());
      admin_port = *p;
    }
    if (args->Has("target-pid")) server_pid = static_cast<pid_t>(std::atol(args->Get("target-pid").c_str()));
    if (Status echo = Echo(target, 10); !echo.ok()) return Fail(echo);
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
  auto stats = [&]() -> Result<Json> {
    if (server) return server->PacscoreStats();
    if (admin_port) {
      auto reply = AdminRequest(*admin_port, "GET", "/stats", "", 600);
      if (!reply.ok()) return reply.status();
      return ParseJson(reply->body);
    }
    return Status::Unsupported("no admin endpoint");
  };

  Provenance provenance = MakeProvenance(CommandLine("ingest", argc, argv), *corpus, corpus_dir, *associations,
                                         work ? *work : work_parent, {PeerKind::kPacscore});
  std::vector<PushMeasurement> passes;
  for (int pass = 1; pass <= *repeat; ++pass) {
    PushMeasurement m = MeasurePush(*corpus, target, *associations, server_pid, system);
    m.pass = pass;
    if (server) Settle(*server, m);
    if (auto s = stats(); s.ok()) {
      m.received_bytes = StatsField(*s, "received_bytes");
      m.received_bytes_total = StatsField(*s, "received_bytes_total");
      m.stored_bytes = StatsField(*s, "stored_bytes");
    } else if (server || admin_port) {
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
  // All passes together.
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
              corpus->files().size(), static_cast<double>(corpus->dataset_bytes()) / 1e6, *associations, *repeat);
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

  if (args->Has("json")) {
    ResultJson::Array pass_json;
    for (const auto& m : passes) pass_json.push_back(m.ToJson());
    // Totals over every pass; run/pass and the per-pass stored/sent ratio do not apply.
    ResultJson::Object summary;
    ResultJson all_json = all.ToJson();
    for (auto& [key, value] : std::get<ResultJson::Object>(all_json.v))
      if (key != "run" && key != "pass" && key != "stored_per_sent" && key != "stored_per_received")
        summary.emplace_back(key, std::move(value));
    summary.emplace_back("repeat_traffic_bytes", repeat_traffic);
    summary.emplace_back("dedup_savings_bytes", dedup_savings);
    summary.emplace_back("dedup_savings_fraction", dedup_fraction);
    summary.emplace_back("stored_per_received", stored_per_received);
    ResultJson result = ResultJson::Object{{"benchmark", "ingest"},
                                           {"provenance", provenance.ToJson()},
                                           {"system", system},
                                           {"setup", setup},
                                           {"codec", spec.codec.empty() ? std::string("server default") : spec.codec},
                                           {"repeat", *repeat},
                                           {"summary", std::move(summary)},
                                           {"passes", std::move(pass_json)}};
    if (Status s = WriteText(args->Get("json"), ToText(result) + "\n"); !s.ok()) return Fail(s);
  }
  if (work && !args->Has("keep")) {
    std::error_code ec;
    fs::remove_all(*work, ec);
  } else if (work) {
    std::fprintf(stderr, "kept the server's folder %s\n", work->c_str());
  }
  if (exit_code != 0) return exit_code;
  return all.push.failed == 0 ? 0 : 2;
}

// --- bench compare -------------------------------------------------------------

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

int RunCompare(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"corpus", "associations", "runs", "codec", "out", "json", "work-dir", "serve-arg"},
                        {"keep"});
  if (!args.ok()) return Fail(args.status());
  const std::string corpus_dir = args->Get("corpus");
  if (corpus_dir.empty() || !args->positional.empty()) {
    BenchUsage();
    return Fail(Status::InvalidArgument("bench compare needs --corpus DIR and no other arguments"));
  }
  auto associations = ParsePositive(*args, "associations", 1, 64);
  auto runs = ParsePositive(*args, "runs", 3, 100);
  if (!associations.ok()) return Fail(associations.status());
  if (!runs.ok()) return Fail(runs.status());

  std::vector<SystemResult> systems;
  std::vector<std::string> codecs = SplitCommas(args->Get("codec"));
  if (codecs.empty()) codecs.emplace_back();
  std::vector<std::string> serve_args;
  if (args->Has("serve-arg")) serve_args = args->flags.at("serve-arg");
  for (const auto& codec : codecs)
    systems.push_back(
        {PeerSpec{.kind = PeerKind::kPacscore, .codec = codec, .serve_args = serve_args, .associations = *associations},
         "",
         {}});
  for (PeerKind kind : {PeerKind::kOrthanc, PeerKind::kOrthancJpegLs, PeerKind::kStorescp})
    systems.push_back({PeerSpec{.kind = kind, .codec = "", .serve_args = {}, .associations = *associations}, "", {}});
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
  const fs::path out_dir = args->Get("out", "bench-compare");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Fail(Status::IOError("cannot create " + out_dir.string() + ": " + ec.message()));
  auto work = MakeWorkFolder(args->Get("work-dir", DefaultWorkParent().string()));
  if (!work.ok()) return Fail(work.status());
  Provenance provenance =
      MakeProvenance(CommandLine("compare", argc, argv), *corpus, corpus_dir, *associations, *work, kinds);
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
  for (int run = 1; run <= *runs; ++run) {
    for (size_t k = 0; k < active.size(); ++k) {
      SystemResult& sys = systems[active[(k + static_cast<size_t>(run - 1)) % active.size()]];
      const std::string label = PeerLabel(sys.spec);
      std::fprintf(stderr, "run %d/%d: %s\n", run, *runs, label.c_str());
      const fs::path folder = *work / ("run" + std::to_string(run) + "-" + std::to_string(k));
      PushMeasurement m;
      m.system = label;
      m.run = run;
      auto peer = RunningPeer::Start(sys.spec, folder);
      if (!peer.ok()) {
        m.error = peer.status().ToString();
        std::fprintf(stderr, "pacscore bench: %s: %s\n", label.c_str(), m.error.c_str());
      } else {
        m = MeasurePush(*corpus, peer->target(), *associations, peer->pid(), label);
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
      if (!args->Has("keep")) fs::remove_all(folder, ec);
      sys.runs.push_back(std::move(m));
    }
  }

  provenance.load_average_after = LoadAverage();
  // Medians per system; ratios against the first pacscore.
  struct Summary {
    double mb_s = 0, inst_s = 0, p50 = 0, p99 = 0;
    std::optional<double> cpu, ratio;
    uint64_t failed = 0;
    int measured = 0;
  };
  auto summarize = [](const SystemResult& s) {
    Summary out;
    std::vector<double> mb, inst, p50, p99, cpu, ratio;
    for (const auto& m : s.runs) {
      out.failed += m.push.failed;
      if (!m.error.empty() && m.push.attempted == 0) continue;
      ++out.measured;
      mb.push_back(m.mb_per_second());
      inst.push_back(m.instances_per_second());
      p50.push_back(m.latency_percentile_ms(50));
      p99.push_back(m.latency_percentile_ms(99));
      if (m.server_cpu_seconds) cpu.push_back(*m.server_cpu_seconds);
      if (auto r = m.stored_per_sent()) ratio.push_back(*r);
    }
    out.mb_s = Median(mb);
    out.inst_s = Median(inst);
    out.p50 = Median(p50);
    out.p99 = Median(p99);
    if (!cpu.empty()) out.cpu = Median(cpu);
    if (!ratio.empty()) out.ratio = Median(ratio);
    return out;
  };
  std::vector<Summary> summaries;
  for (const auto& s : systems) summaries.push_back(summarize(s));
  const Summary& reference = summaries.front();

  const std::vector<std::string> header = {"system",         "MB/s",         "inst/s",          "p50 ms",
                                           "p99 ms",         "server CPU s", "stored/received", "pacscore speed x",
                                           "pacscore size x"};
  std::vector<std::vector<std::string>> rows;
  std::vector<Bar> bars;
  int exit_code = 0;
  for (size_t i = 0; i < systems.size(); ++i) {
    const auto& s = systems[i];
    const Summary& sum = summaries[i];
    const std::string label = PeerLabel(s.spec);
    if (!s.skipped.empty()) {
      rows.push_back({label, "skipped", "", "", "", "", "", "", ""});
      continue;
    }
    if (sum.measured == 0) {
      rows.push_back({label, "failed", "", "", "", "", "", "", ""});
      exit_code = 2;
      continue;
    }
    if (sum.failed > 0) exit_code = 2;
    std::string speed = sum.mb_s > 0 && reference.measured ? FormatDouble(reference.mb_s / sum.mb_s, 2) : "-";
    std::string size =
        reference.ratio && sum.ratio && *sum.ratio > 0 ? FormatDouble(*reference.ratio / *sum.ratio, 2) : "-";
    rows.push_back({label + (sum.failed ? " (" + std::to_string(sum.failed) + " failed)" : ""),
                    FormatDouble(sum.mb_s, 1), FormatDouble(sum.inst_s, 1), FormatDouble(sum.p50, 2),
                    FormatDouble(sum.p99, 2), Opt(sum.cpu, 2), Opt(sum.ratio, 3), speed, size});
    bars.push_back({label, sum.mb_s, "stores " + Opt(sum.ratio, 2) + "x", FormatDouble(sum.mb_s, 1) + " MB/s"});
  }

  fs::path corpus_name = fs::path(corpus_dir).lexically_normal();
  if (corpus_name.filename().empty()) corpus_name = corpus_name.parent_path();
  const std::string title =
      "C-STORE ingest of " + corpus_name.filename().string() + " (" + std::to_string(corpus->files().size()) +
      " files, " + FormatDouble(static_cast<double>(corpus->dataset_bytes()) / 1e6, 1) + " MB), " +
      std::to_string(*associations) + " association(s), median of " + std::to_string(*runs) + " run(s)";
  std::string notes;
  for (const auto& s : systems) {
    notes +=
        "- `" + PeerLabel(s.spec) + "`: " + (s.skipped.empty() ? PeerSetup(s.spec) : "skipped, " + s.skipped) + "\n";
    for (const auto& m : s.runs)
      if (!m.error.empty()) notes += "  - run " + std::to_string(m.run) + ": " + m.error + "\n";
  }
  notes +=
      "- MB/s: dataset bytes of the successful C-STOREs (as sent by the client, MB = 10^6 bytes) divided by the wall "
      "time from the first association request to the last response; each run starts every system fresh on an empty "
      "folder, pacscore's after its background re-encoding finished and the archive was compacted (settle_seconds in "
      "the JSON). "
      "Server CPU s: user+system time of the server process (and its children) during the push, and for pacscore the "
      "settle.\n"
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
  } else if (Status s = PlotBars(*gnuplot, stem.string(), title, "MB/s received (median; MB = 10^6 bytes)", bars);
             !s.ok()) {
    png_note = "no chart: " + s.ToString();
    exit_code = 1;
  }

  ResultJson::Array systems_json;
  for (size_t i = 0; i < systems.size(); ++i) {
    const auto& s = systems[i];
    ResultJson::Array runs_json;
    for (const auto& m : s.runs) runs_json.push_back(m.ToJson());
    ResultJson::Object o = {{"system", PeerLabel(s.spec)},
                            {"setup", PeerSetup(s.spec)},
                            {"skipped", s.skipped.empty() ? ResultJson() : ResultJson(s.skipped)}};
    if (s.skipped.empty()) {
      const Summary& sum = summaries[i];
      o.emplace_back("runs_measured", sum.measured);
      o.emplace_back("median_mb_per_second", sum.mb_s);
      o.emplace_back("median_instances_per_second", sum.inst_s);
      o.emplace_back("median_latency_ms_p50", sum.p50);
      o.emplace_back("median_latency_ms_p99", sum.p99);
      o.emplace_back("median_server_cpu_seconds", sum.cpu);
      o.emplace_back("median_stored_per_sent", sum.ratio);
      o.emplace_back("instances_failed", sum.failed);
      o.emplace_back("pacscore_speed_ratio",
                     sum.mb_s > 0 && reference.measured ? ResultJson(reference.mb_s / sum.mb_s) : ResultJson());
      o.emplace_back("pacscore_size_ratio", reference.ratio && sum.ratio && *sum.ratio > 0
                                                ? ResultJson(*reference.ratio / *sum.ratio)
                                                : ResultJson());
    }
    o.emplace_back("runs", std::move(runs_json));
    systems_json.push_back(std::move(o));
  }
  ResultJson result =
      ResultJson::Object{{"benchmark", "compare"},
                         {"provenance", provenance.ToJson()},
                         {"runs", *runs},
                         {"title", title},
                         {"chart", png_note.empty() ? ResultJson(stem.string() + ".png") : ResultJson()},
                         {"chart_note", png_note},
                         {"systems", std::move(systems_json)}};
  const std::string json_text = ToText(result) + "\n";
  if (Status s = WriteText(stem.string() + ".json", json_text); !s.ok()) return Fail(s);
  if (args->Has("json"))
    if (Status s = WriteText(args->Get("json"), json_text); !s.ok()) return Fail(s);

  std::printf("\n%s\n%s", title.c_str(), PlainTable(header, rows).c_str());
  for (const auto& s : systems)
    if (!s.skipped.empty()) std::printf("%s skipped: %s\n", PeerLabel(s.spec).c_str(), s.skipped.c_str());
  std::printf("%s, %u cores; written %s.md, %s.json%s\n", provenance.machine.cpu_model.c_str(),
              provenance.machine.cores, stem.c_str(), stem.c_str(),
              png_note.empty() ? (", " + stem.string() + ".png").c_str() : "");
  if (!png_note.empty()) std::fprintf(stderr, "pacscore bench: %s\n", png_note.c_str());
  if (!args->Has("keep"))
    fs::remove_all(*work, ec);
  else
    std::fprintf(stderr, "kept the servers' folders under %s\n", work->c_str());
  return exit_code;
}

// --- bench query / bench retrieve ------------------------------------------------

// The node the query/retrieve benchmarks talk to, with the corpus stored in it.
struct PreparedNode {
  std::optional<fs::path> work;
  std::optional<RunningPeer> server;
  PushTarget target;
  pid_t pid = 0;
  std::string system;
  std::string setup;
  PushMeasurement ingest;
};

Result<PreparedNode> PrepareNode(const Args& args, Corpus& corpus) {
  PreparedNode node;
  if (args.Has("target")) {
    if (args.Has("codec") || args.Has("serve-arg"))
      return Invalid("--codec and --serve-arg are for the server bench starts, not with --target");
    auto t = ParseTarget(args.Get("target"));
    if (!t.ok()) return t.status();
    node.target = *t;
    node.system = args.Get("target");
    node.setup = "external node " + node.system;
    if (args.Has("target-pid")) node.pid = static_cast<pid_t>(std::atol(args.Get("target-pid").c_str()));
  } else {
    PeerSpec spec{.kind = PeerKind::kPacscore, .codec = args.Get("codec"), .serve_args = {}, .associations = 4};
    if (args.Has("serve-arg")) spec.serve_args = args.flags.at("serve-arg");
    auto folder = MakeWorkFolder(args.Get("work-dir", DefaultWorkParent().string()));
    if (!folder.ok()) return folder.status();
    node.work = *folder;
    auto started = RunningPeer::Start(spec, *node.work / "pacscore");
    if (!started.ok()) return started.status();
    node.server.emplace(std::move(*started));
    node.target = node.server->target();
    node.pid = node.server->pid();
    node.system = PeerLabel(spec);
    node.setup = PeerSetup(spec);
  }
  std::fprintf(stderr, "storing the corpus in %s first\n", node.system.c_str());
  node.ingest = MeasurePush(corpus, node.target, 2, node.pid, node.system);
  PrintFailures(node.ingest);
  if (node.ingest.push.succeeded == 0)
    return Status::IOError("no instance of the corpus could be stored in " + node.system);
  return node;
}

void FinishNode(PreparedNode& node, bool keep) {
  if (node.server)
    if (auto stopped = node.server->StopAndMeasureStored(); !stopped.ok())
      std::fprintf(stderr, "pacscore bench: %s\n", stopped.status().ToString().c_str());
  if (!node.work) return;
  if (keep) {
    std::fprintf(stderr, "kept the server's folder %s\n", node.work->c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(*node.work, ec);
}

// "20240105" shifted by `days`, for date-range queries; empty when not a date.
std::string ShiftDate(const std::string& date, int days) {
  if (date.size() != 8 || date.find_first_not_of("0123456789") != std::string::npos) return "";
  const std::chrono::year_month_day ymd{std::chrono::year(std::stoi(date.substr(0, 4))),
                                        std::chrono::month(static_cast<unsigned>(std::stoi(date.substr(4, 2)))),
                                        std::chrono::day(static_cast<unsigned>(std::stoi(date.substr(6, 2))))};
  if (!ymd.ok()) return "";
  const std::chrono::year_month_day shifted{std::chrono::sys_days(ymd) + std::chrono::days(days)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(shifted.year()),
                static_cast<unsigned>(shifted.month()), static_cast<unsigned>(shifted.day()));
  return buf;
}

struct TimingSummary {
  uint64_t requests = 0, failed = 0, matches = 0, bytes = 0;
  double p50 = 0, p95 = 0, p99 = 0, total_ms = 0;
  std::string first_error;
};

TimingSummary Summarize(const std::vector<RequestTiming>& timings) {
  TimingSummary s;
  PushMeasurement helper;  // reuses the percentile rule of the ingest numbers
  for (const auto& t : timings) {
    ++s.requests;
    s.total_ms += t.ms;
    if (!t.error.empty()) {
      ++s.failed;
      if (s.first_error.empty()) s.first_error = t.error;
      continue;
    }
    s.matches += t.matches;
    s.bytes += t.bytes;
    helper.push.latencies_ms.push_back(t.ms);
  }
  s.p50 = helper.latency_percentile_ms(50);
  s.p95 = helper.latency_percentile_ms(95);
  s.p99 = helper.latency_percentile_ms(99);
  return s;
}

int RunQuery(int argc, char** argv) {
  auto args = ParseArgs(
      argc, argv, {"corpus", "queries", "codec", "serve-arg", "json", "target", "target-pid", "work-dir"}, {"keep"});
  if (!args.ok()) return Fail(args.status());
  const std::string corpus_dir = args->Get("corpus");
  if (corpus_dir.empty() || !args->positional.empty()) {
    BenchUsage();
    return Fail(Invalid("bench query needs --corpus DIR and no other arguments"));
  }
  auto per_kind = ParsePositive(*args, "queries", 200, 1000000);
  if (!per_kind.ok()) return Fail(per_kind.status());
  auto corpus = LoadCorpus(corpus_dir);
  if (!corpus.ok()) return Fail(corpus.status());

  // The query mix of the query/retrieve issue, over keys that exist in the corpus.
  std::set<std::string> patient_ids, accessions, dates, name_prefixes, studies;
  std::set<std::pair<std::string, std::string>> series;
  for (const auto& f : corpus->files()) {
    if (!f.patient_id.empty()) patient_ids.insert(f.patient_id);
    if (!f.accession_number.empty()) accessions.insert(f.accession_number);
    if (!ShiftDate(f.study_date, 0).empty()) dates.insert(f.study_date);
    if (f.patient_name.size() >= 3) name_prefixes.insert(f.patient_name.substr(0, 3) + "*");
    if (!f.study_uid.empty()) studies.insert(f.study_uid);
    if (!f.study_uid.empty() && !f.series_uid.empty()) series.emplace(f.study_uid, f.series_uid);
  }
  struct Kind {
    std::string name;
    std::vector<FindQuery> distinct;
  };
  std::vector<Kind> kinds(6);
  kinds[0].name = "study by PatientID";
  for (const auto& v : patient_ids)
    kinds[0].distinct.push_back(
        {kinds[0].name, false, "STUDY", {{"PatientID", v}, {"StudyInstanceUID", ""}, {"StudyDate", ""}}});
  kinds[1].name = "study by AccessionNumber";
  for (const auto& v : accessions)
    kinds[1].distinct.push_back({kinds[1].name, false, "STUDY", {{"AccessionNumber", v}, {"StudyInstanceUID", ""}}});
  kinds[2].name = "studies in a 1-week date range";
  for (const auto& d : dates)
    kinds[2].distinct.push_back({kinds[2].name,
                                 false,
                                 "STUDY",
                                 {{"StudyDate", ShiftDate(d, -3) + "-" + ShiftDate(d, 3)}, {"StudyInstanceUID", ""}}});
  kinds[3].name = "patients by name wildcard";
  for (const auto& v : name_prefixes)
    kinds[3].distinct.push_back({kinds[3].name, true, "PATIENT", {{"PatientName", v}, {"PatientID", ""}}});
  kinds[4].name = "series of a study";
  for (const auto& v : studies)
    kinds[4].distinct.push_back(
        {kinds[4].name, false, "SERIES", {{"StudyInstanceUID", v}, {"SeriesInstanceUID", ""}, {"Modality", ""}}});
  kinds[5].name = "instances of a series";
  for (const auto& [study, s] : series)
    kinds[5].distinct.push_back({kinds[5].name,
                                 false,
                                 "IMAGE",
                                 {{"StudyInstanceUID", study}, {"SeriesInstanceUID", s}, {"SOPInstanceUID", ""}}});

  auto node = PrepareNode(*args, *corpus);
  if (!node.ok()) return Fail(node.status());
  Provenance provenance = MakeProvenance(CommandLine("query", argc, argv), *corpus, corpus_dir, 1,
                                         node->work ? *node->work : DefaultWorkParent(), {PeerKind::kPacscore});
  std::vector<std::vector<std::string>> rows;
  ResultJson::Array kinds_json;
  int exit_code = node->ingest.push.failed ? 2 : 0;
  for (const auto& kind : kinds) {
    if (kind.distinct.empty()) {
      rows.push_back({kind.name, "skipped: no such key", "-", "-", "-", "-", "-", "-", "-"});
      kinds_json.push_back(ResultJson::Object{{"kind", kind.name}, {"skipped", "no such key in the corpus"}});
      continue;
    }
    std::vector<FindQuery> queries;
    for (int i = 0; i < *per_kind; ++i) queries.push_back(kind.distinct[static_cast<size_t>(i) % kind.distinct.size()]);
    for (bool per_query : {false, true}) {
      const TimingSummary s = Summarize(RunFinds(node->target, queries, per_query));
      if (s.failed) {
        exit_code = 2;
        std::fprintf(stderr, "%s: %llu C-FIND(s) failed, first: %s\n", kind.name.c_str(),
                     static_cast<unsigned long long>(s.failed), s.first_error.c_str());
      }
      const uint64_t ok = s.requests - s.failed;
      const std::string mode = per_query ? "association per query" : "one association";
      rows.push_back({kind.name, mode, std::to_string(s.requests), std::to_string(s.failed),
                      FormatDouble(ok ? static_cast<double>(s.matches) / static_cast<double>(ok) : 0, 1),
                      FormatDouble(s.p50, 2), FormatDouble(s.p95, 2), FormatDouble(s.p99, 2),
                      FormatDouble(s.total_ms > 0 ? static_cast<double>(s.requests) / (s.total_ms / 1e3) : 0, 1)});
      kinds_json.push_back(ResultJson::Object{
          {"kind", kind.name},
          {"mode", mode},
          {"distinct_keys", static_cast<uint64_t>(kind.distinct.size())},
          {"queries", s.requests},
          {"failed", s.failed},
          {"matches_per_query", ok ? static_cast<double>(s.matches) / static_cast<double>(ok) : 0.0},
          {"latency_ms_p50", s.p50},
          {"latency_ms_p95", s.p95},
          {"latency_ms_p99", s.p99},
          {"queries_per_second", s.total_ms > 0 ? static_cast<double>(s.requests) / (s.total_ms / 1e3) : 0.0},
          {"first_error", s.first_error}});
    }
  }
  provenance.load_average_after = LoadAverage();
  FinishNode(*node, args->Has("keep"));
  std::printf("\npacscore bench query: %s, index of %zu instances from %s; C-FIND round trips, one client\n",
              node->system.c_str(), corpus->files().size(), corpus_dir.c_str());
  std::printf("%s",
              PlainTable({"query", "mode", "queries", "failed", "matches/q", "p50 ms", "p95 ms", "p99 ms", "q/s"}, rows)
                  .c_str());
  if (args->Has("json")) {
    ResultJson result = ResultJson::Object{
        {"benchmark", "query"}, {"provenance", provenance.ToJson()}, {"system", node->system},
        {"setup", node->setup}, {"ingest", node->ingest.ToJson()},   {"kinds", std::move(kinds_json)}};
    if (Status s = WriteText(args->Get("json"), ToText(result) + "\n"); !s.ok()) return Fail(s);
  }
  return exit_code;
}

int RunRetrieve(int argc, char** argv) {
  auto args = ParseArgs(
      argc, argv,
      {"corpus", "associations", "repeat", "level", "codec", "serve-arg", "json", "target", "target-pid", "work-dir"},
      {"keep"});
  if (!args.ok()) return Fail(args.status());
  const std::string corpus_dir = args->Get("corpus");
  if (corpus_dir.empty() || !args->positional.empty()) {
    BenchUsage();
    return Fail(Invalid("bench retrieve needs --corpus DIR and no other arguments"));
  }
  auto associations = ParsePositive(*args, "associations", 1, 64);
  auto repeat = ParsePositive(*args, "repeat", 3, 1000);
  if (!associations.ok()) return Fail(associations.status());
  if (!repeat.ok()) return Fail(repeat.status());
  const std::string level = args->Get("level", "study");
  if (level != "study" && level != "series") return Fail(Invalid("--level must be study or series"));
  auto corpus = LoadCorpus(corpus_dir);
  if (!corpus.ok()) return Fail(corpus.status());

  std::set<std::pair<std::string, std::string>> units, storage_set;
  uint64_t instances_per_pass = 0;
  for (const auto& f : corpus->files()) {
    if (f.study_uid.empty()) continue;
    units.emplace(f.study_uid, level == "series" ? f.series_uid : "");
    storage_set.emplace(f.sop_class_uid, f.transfer_syntax);
    ++instances_per_pass;
  }
  std::vector<std::pair<std::string, std::string>> storage(storage_set.begin(), storage_set.end());
  std::vector<GetRequest> requests;
  for (const auto& [study, s] : units) requests.push_back({study, s});

  auto node = PrepareNode(*args, *corpus);
  if (!node.ok()) return Fail(node.status());
  Provenance provenance = MakeProvenance(CommandLine("retrieve", argc, argv), *corpus, corpus_dir, *associations,
                                         node->work ? *node->work : DefaultWorkParent(), {PeerKind::kPacscore});
  std::vector<std::vector<std::string>> rows;
  ResultJson::Array passes_json;
  int exit_code = node->ingest.push.failed ? 2 : 0;
  for (int pass = 1; pass <= *repeat; ++pass) {
    std::optional<double> cpu_before = node->pid > 0 ? ProcessTreeCpuSeconds(node->pid) : std::nullopt;
    double wall = 0;
    const TimingSummary s = Summarize(RunGets(node->target, requests, storage, *associations, wall));
    std::optional<double> cpu_after = node->pid > 0 ? ProcessTreeCpuSeconds(node->pid) : std::nullopt;
    std::optional<double> cpu;
    if (cpu_before && cpu_after) cpu = *cpu_after - *cpu_before;
    if (s.failed || s.matches != instances_per_pass) {
      exit_code = 2;
      std::fprintf(stderr, "pass %d: %llu of %llu C-GETs failed (first: %s); %llu of %llu instances received\n", pass,
                   static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.requests),
                   s.first_error.c_str(), static_cast<unsigned long long>(s.matches),
                   static_cast<unsigned long long>(instances_per_pass));
    }
    const double mb_s = wall > 0 ? static_cast<double>(s.bytes) / wall / 1e6 : 0;
    const double inst_s = wall > 0 ? static_cast<double>(s.matches) / wall : 0;
    rows.push_back({"pass " + std::to_string(pass), std::to_string(s.requests), std::to_string(s.failed),
                    std::to_string(s.matches), FormatDouble(static_cast<double>(s.bytes) / 1e6, 1),
                    FormatDouble(mb_s, 1), FormatDouble(inst_s, 1), FormatDouble(s.p50, 1), FormatDouble(s.p99, 1),
                    Opt(cpu, 2)});
    passes_json.push_back(ResultJson::Object{{"pass", pass},
                                             {"requests", s.requests},
                                             {"failed", s.failed},
                                             {"instances_received", s.matches},
                                             {"bytes_received", s.bytes},
                                             {"wall_seconds", wall},
                                             {"mb_per_second", mb_s},
                                             {"instances_per_second", inst_s},
                                             {"request_ms_p50", s.p50},
                                             {"request_ms_p95", s.p95},
                                             {"request_ms_p99", s.p99},
                                             {"server_cpu_seconds", cpu},
                                             {"first_error", s.first_error}});
  }
  provenance.load_average_after = LoadAverage();
  FinishNode(*node, args->Has("keep"));
  std::printf("\npacscore bench retrieve: %s, %zu C-GET(s) at %s level per pass, %d association(s)\n",
              node->system.c_str(), requests.size(), level.c_str(), *associations);
  std::printf(
      "%s", PlainTable(
                {"", "C-GETs", "failed", "instances", "MB", "MB/s", "inst/s", "p50 ms", "p99 ms", "server CPU s"}, rows)
                .c_str());
  std::printf(
      "MB = 10^6 bytes of datasets received in the transfer syntax each file was sent in; latency = one whole C-GET\n");
  if (args->Has("json")) {
    ResultJson result = ResultJson::Object{{"benchmark", "retrieve"},
                                           {"provenance", provenance.ToJson()},
                                           {"system", node->system},
                                           {"setup", node->setup},
                                           {"level", level},
                                           {"ingest", node->ingest.ToJson()},
                                           {"passes", std::move(passes_json)}};
    if (Status s = WriteText(args->Get("json"), ToText(result) + "\n"); !s.ok()) return Fail(s);
  }
  return exit_code;
}

}  // namespace

int RunBench(int argc, char** argv) {
  if (argc < 1 || !std::strcmp(argv[0], "--help") || !std::strcmp(argv[0], "help")) {
    BenchUsage();
    return argc < 1 ? 1 : 0;
  }
  // DCMTK reads TCP_NODELAY when it opens a socket: set it before any association.
  setenv("TCP_NODELAY", "1", 1);
  InstallInterruptCleanup();
  const std::string sub = argv[0];
  if (sub == "ingest") return RunIngest(argc - 1, argv + 1);
  if (sub == "compare") return RunCompare(argc - 1, argv + 1);
  if (sub == "query") return RunQuery(argc - 1, argv + 1);
  if (sub == "retrieve") return RunRetrieve(argc - 1, argv + 1);
  std::fprintf(stderr, "pacscore bench: unknown benchmark '%s'\n", sub.c_str());
  BenchUsage();
  return 1;
}

}  // namespace pacs::tools
