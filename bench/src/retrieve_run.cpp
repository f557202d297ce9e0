// `pacscore bench retrieve`: C-GETs every study (or series) of the corpus,
// --repeat times over --associations parallel associations, from the node
// the corpus was stored in. With --compare: pacscore, Orthanc and Orthanc
// with JPEG-LS ingest side by side, each retrieving the corpus by C-GET
// (uncompressed, or JPEG-LS only) and by C-MOVE to a DCMTK storescp that
// accepts every syntax or only uncompressed ones; interleaved runs, medians,
// ratios, server CPU and peak server RSS during each retrieval.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "options.h"
#include "pacs/dicom/query_scu.h"
#include "peers.h"
#include "prepared_node.h"
#include "process.h"
#include "report.h"
#include "run_common.h"

namespace pacs::bench {
namespace {
namespace fs = std::filesystem;

constexpr const char* kExplicitLittle = "1.2.840.10008.1.2.1";
constexpr const char* kImplicitLittle = "1.2.840.10008.1.2";
constexpr const char* kJpegLs = "1.2.840.10008.1.2.4.80";
constexpr const char* kDestinationAet = "BENCHDEST";

// Forgets a process's peak RSS so that VmHWM measures from now on (Linux:
// writing 5 to clear_refs resets it).
void ResetPeakRss(pid_t pid) {
  std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5";
}

// VmHWM of a process in bytes.
std::optional<uint64_t> PeakRss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  return std::nullopt;
}

struct RetrievalCase {
  std::string name;
  bool move = false;
  std::vector<std::string> get_syntaxes;  // C-GET: what the requester proposes for each storage class
  bool destination_accepts_all = false;   // C-MOVE: storescp +xa, or its default (uncompressed only)
};

struct CaseRun {
  double seconds = 0;
  uint64_t instances = 0;
  std::optional<double> cpu;
  std::optional<uint64_t> peak_rss;
  std::string error;
};

// One C-MOVE per unit to a fresh storescp; returns the instances it wrote.
CaseRun RunMoves(const RunningPeer& peer, const std::vector<std::pair<std::string, std::string>>& units,
                 bool accepts_all, uint16_t destination_port, const fs::path& folder) {
  CaseRun out;
  std::error_code ec;
  fs::remove_all(folder, ec);
  fs::create_directories(folder / "files", ec);
  std::vector<std::string> argv = {"storescp", "-od",          (folder / "files").string(), "-pdu", "131072", "-dhl",
                                   "-aet",     kDestinationAet};
  if (accepts_all) argv.emplace_back("+xa");
  argv.push_back(std::to_string(destination_port));
  auto storescp = ChildProcess::Start(argv, {{"TCP_NODELAY", "1"}}, folder / "storescp.log");
  if (!storescp.ok()) {
    out.error = storescp.status().ToString();
    return out;
  }
  dicom::ScuPeer destination = LoopbackPeer();
  destination.port = destination_port;
  destination.called_aet = kDestinationAet;
  for (int i = 0; i < 100 && !dicom::Echo(destination, 5).ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [study, series] : units) {
    std::vector<std::string> move = {"movescu", "-S",           "-aet", kCallingAet, "-aec", peer.target().called_aet,
                                     "-aem",    kDestinationAet};
    move.insert(move.end(), {"-k", std::string("QueryRetrieveLevel=") + (series.empty() ? "STUDY" : "SERIES"), "-k",
                             "StudyInstanceUID=" + study});
    if (!series.empty()) move.insert(move.end(), {"-k", "SeriesInstanceUID=" + series});
    move.insert(move.end(), {"127.0.0.1", std::to_string(peer.target().port)});
    std::string output;
    if (const int code = RunToCompletion(move, output, std::chrono::seconds(600)); code != 0 && out.error.empty())
      out.error = "movescu exited " + std::to_string(code) + ": " + output.substr(0, 400);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  storescp->Stop(std::chrono::seconds(10));
  for (const auto& entry : fs::recursive_directory_iterator(folder / "files", ec))
    if (entry.is_regular_file()) ++out.instances;
  fs::remove_all(folder / "files", ec);
  return out;
}

int RunRetrieveCompare(const RetrieveOptions& options) {
  // Every DCMTK peer, storescp, movescu and this process's own C-GET client
  // send without Nagle's delay (FACTS.md: the wire).
  setenv("TCP_NODELAY", "1", 1);
  auto corpus = LoadCorpus(options.corpus);
  if (!corpus.ok()) return Fail(corpus.status());
  const std::string level = options.level.empty() ? std::string("study") : options.level;
  std::set<std::pair<std::string, std::string>> unit_set;
  std::set<std::string> classes;
  uint64_t instances_per_pass = 0;
  for (const auto& f : corpus->files()) {
    if (f.study_uid.empty()) continue;
    unit_set.emplace(f.study_uid, level == "series" ? f.series_uid : "");
    classes.insert(f.sop_class_uid);
    ++instances_per_pass;
  }
  const std::vector<std::pair<std::string, std::string>> units(unit_set.begin(), unit_set.end());
  std::vector<dicom::GetRequest> requests;
  requests.reserve(units.size());
  for (const auto& [study, series] : units) requests.push_back({study, series});
  const double corpus_mb = static_cast<double>(corpus->dataset_bytes()) / 1e6;

  const std::vector<RetrievalCase> cases = {
      {"C-GET uncompressed", false, {kExplicitLittle, kImplicitLittle}, false},
      {"C-GET JPEG-LS only", false, {kJpegLs}, false},
      {"C-MOVE to storescp +xa", true, {}, true},
      {"C-MOVE to storescp (uncompressed)", true, {}, false},
  };
  std::vector<PeerSpec> systems = {{.kind = PeerKind::kPacscore, .codec = options.server.codec.value_or("")},
                                   {.kind = PeerKind::kOrthanc},
                                   {.kind = PeerKind::kOrthancJpegLs}};
  for (auto& spec : systems) {
    spec.serve_args = options.server.serve_args;
    spec.associations = 2;
    spec.move_destination_aet = kDestinationAet;
  }
  std::vector<PeerKind> kinds;
  for (const auto& spec : systems) {
    std::string why;
    if (!PeerProgram(spec.kind, why)) return Fail(Status::NotFound(why));
    kinds.push_back(spec.kind);
  }
  for (const char* tool : {"storescp", "movescu"})
    if (!FindProgram(tool))
      return Fail(Status::NotFound(std::string(tool) + " is not installed (apt-get install dcmtk)"));
  auto work = MakeWorkFolder(WorkParent(options.server.work_dir));
  if (!work.ok()) return Fail(work.status());
  Provenance provenance = MakeProvenance(options.command_line, *corpus, options.corpus, 1, *work, kinds);

  // results[system][case] = one CaseRun per run
  std::vector<std::vector<std::vector<CaseRun>>> results(systems.size(),
                                                         std::vector<std::vector<CaseRun>>(cases.size()));
  int exit_code = 0;
  const int runs = std::max(1, options.repeat);
  for (int run = 1; run <= runs; ++run) {
    for (size_t k = 0; k < systems.size(); ++k) {
      const size_t si = (k + static_cast<size_t>(run - 1)) % systems.size();
      PeerSpec spec = systems[si];
      const std::string label = PeerLabel(spec);
      auto destination_port = FreeLoopbackPort();
      if (!destination_port.ok()) return Fail(destination_port.status());
      spec.move_destination_port = *destination_port;
      const fs::path folder = *work / ("run" + std::to_string(run) + "-" + label);
      std::fprintf(stderr, "run %d/%d: %s: storing the corpus\n", run, runs, label.c_str());
      auto peer = RunningPeer::Start(spec, folder);
      if (!peer.ok()) return Fail(peer.status());
      PushMeasurement push = MeasurePush(*corpus, peer->target(), 2, peer->pid(), label);
      PrintFailures(push);
      if (push.push.failed) exit_code = 2;
      // Retrieval is measured on the archive at rest: pacscore's background
      // encoding has finished (POST /wait-idle).
      if (spec.kind == PeerKind::kPacscore) {
        Settle(*peer, push);
        if (!push.error.empty()) return Fail(Status::IOError(label + ": " + push.error));
        std::fprintf(stderr, "  background encoding finished %.1f s after the push\n", push.settle_seconds.value_or(0));
      }
      for (size_t c = 0; c < cases.size(); ++c) {
        const RetrievalCase& rc = cases[c];
        ResetPeakRss(peer->pid());
        const auto cpu_before = ProcessTreeCpuSeconds(peer->pid());
        CaseRun r;
        if (rc.move) {
          r = RunMoves(*peer, units, rc.destination_accepts_all, *destination_port, folder / "moved");
        } else {
          std::vector<std::pair<std::string, std::string>> storage;
          for (const auto& cls : classes)
            for (const auto& ts : rc.get_syntaxes) storage.emplace_back(cls, ts);
          double wall = 0;
          const TimingSummary t = Summarize(dicom::RunGets(peer->target(), requests, storage, 1, wall));
          r.seconds = wall;
          r.instances = t.matches;
          if (t.failed) r.error = t.first_error;
        }
        const auto cpu_after = ProcessTreeCpuSeconds(peer->pid());
        if (cpu_before && cpu_after) r.cpu = *cpu_after - *cpu_before;
        r.peak_rss = PeakRss(peer->pid());
        if (r.instances != instances_per_pass && r.error.empty())
          r.error = std::to_string(r.instances) + " of " + std::to_string(instances_per_pass) + " instances received";
        if (!r.error.empty()) {
          exit_code = 2;
          std::fprintf(stderr, "  %s: %s\n", rc.name.c_str(), r.error.c_str());
        }
        if (r.error.empty())
          std::fprintf(stderr, "  %-34s %7.1f MB/s  %5.2f CPU s  peak RSS %s MB\n", rc.name.c_str(),
                       r.seconds > 0 ? corpus_mb / r.seconds : 0.0, r.cpu.value_or(0), Mb(r.peak_rss).c_str());
        else
          std::fprintf(stderr, "  %-34s  failed (no rate)\n", rc.name.c_str());
        results[si][c].push_back(std::move(r));
      }
      if (auto stopped = peer->StopAndMeasureStored(); !stopped.ok())
        std::fprintf(stderr, "pacscore bench: %s\n", stopped.status().ToString().c_str());
      std::error_code ec;
      if (!options.server.keep) fs::remove_all(folder, ec);
    }
  }
  provenance.load_average_after = LoadAverage();

  struct Median3 {
    double mb_s = 0;
    std::optional<double> cpu;
    std::optional<double> rss_mb;
    int failed = 0;
  };
  auto median_of = [&](const std::vector<CaseRun>& rs) {
    Median3 m;
    std::vector<double> mb, cpu, rss;
    for (const auto& r : rs) {
      // A failed retrieval has no rate: it ended early (a refusal takes no
      // time), and counting it would flatter the system that failed.
      if (!r.error.empty()) {
        ++m.failed;
        continue;
      }
      if (r.seconds > 0) mb.push_back(corpus_mb / r.seconds);
      if (r.cpu) cpu.push_back(*r.cpu);
      if (r.peak_rss) rss.push_back(static_cast<double>(*r.peak_rss) / 1e6);
    }
    m.mb_s = Median(mb);
    if (!cpu.empty()) m.cpu = Median(cpu);
    if (!rss.empty()) m.rss_mb = Median(rss);
    return m;
  };
  const std::vector<std::string> header = {
      "retrieval", "pacscore MB/s",    "orthanc MB/s",       "orthanc-jpegls MB/s",
      "x orthanc", "x orthanc-jpegls", "CPU s (p / o / oj)", "peak RSS MB (p / o / oj)"};
  std::vector<std::vector<std::string>> rows;
  ResultJson cases_json = ResultJson::array();
  for (size_t c = 0; c < cases.size(); ++c) {
    std::vector<Median3> m;
    for (size_t si = 0; si < systems.size(); ++si) m.push_back(median_of(results[si][c]));
    auto ratio = [&](size_t other) {
      return m[other].mb_s > 0 && m[0].mb_s > 0 ? std::optional<double>(m[0].mb_s / m[other].mb_s) : std::nullopt;
    };
    auto rate = [&](size_t si) {
      if (m[si].mb_s <= 0) return std::string(m[si].failed ? "failed" : "-");
      return FormatDouble(m[si].mb_s, 1) + (m[si].failed ? " (" + std::to_string(m[si].failed) + " failed)" : "");
    };
    rows.push_back({cases[c].name, rate(0), rate(1), rate(2), Opt(ratio(1), 2), Opt(ratio(2), 2),
                    Opt(m[0].cpu, 2) + " / " + Opt(m[1].cpu, 2) + " / " + Opt(m[2].cpu, 2),
                    Opt(m[0].rss_mb, 0) + " / " + Opt(m[1].rss_mb, 0) + " / " + Opt(m[2].rss_mb, 0)});
    ResultJson systems_json = ResultJson::array();
    for (size_t si = 0; si < systems.size(); ++si) {
      ResultJson runs_json = ResultJson::array();
      for (const auto& r : results[si][c])
        runs_json.push_back({{"seconds", r.seconds},
                             {"instances", r.instances},
                             {"server_cpu_seconds", OrNull(r.cpu)},
                             {"peak_rss_bytes", r.peak_rss ? ResultJson(*r.peak_rss) : ResultJson()},
                             {"error", r.error}});
      systems_json.push_back({{"system", PeerLabel(systems[si])},
                              {"median_mb_per_second", m[si].mb_s},
                              {"median_server_cpu_seconds", OrNull(m[si].cpu)},
                              {"median_peak_rss_mb", OrNull(m[si].rss_mb)},
                              {"runs", std::move(runs_json)}});
    }
    cases_json.push_back({{"case", cases[c].name},
                          {"pacscore_per_orthanc", OrNull(ratio(1))},
                          {"pacscore_per_orthanc_jpegls", OrNull(ratio(2))},
                          {"systems", std::move(systems_json)}});
  }
  std::printf(
      "\npacscore bench retrieve --compare: %zu instance(s), %.1f MB, %zu %s-level request(s) per case, "
      "median of %d interleaved run(s)\n",
      static_cast<size_t>(instances_per_pass), corpus_mb, units.size(), level.c_str(), runs);
  std::printf("%s", PlainTable(header, rows).c_str());
  std::printf(
      "MB/s = the corpus's dataset bytes as pushed (%.1f MB) / wall time of the retrieval (C-GET: pacscore's own "
      "client, association set-up included, datasets kept in memory; C-MOVE: movescu's run, storescp -od writing "
      "files). x = pacscore's MB/s / the peer's. CPU s: the server's user+system time during the retrieval; peak "
      "RSS: the server's VmHWM during it (reset before each case). C-GET uncompressed proposes Explicit and "
      "Implicit VR Little Endian (getscu's default); JPEG-LS only proposes 1.2.840.10008.1.2.4.80 alone. Every "
      "DCMTK peer runs with TCP_NODELAY=1. pacscore is measured after its background encoding finished.\n",
      corpus_mb);
  if (options.json) {
    const ResultJson result = {{"benchmark", "retrieve-compare"},
                               {"provenance", provenance.ToJson()},
                               {"level", level},
                               {"corpus_mb", corpus_mb},
                               {"runs", runs},
                               {"cases", std::move(cases_json)}};
    if (Status st = WriteText(*options.json, ToText(result) + "\n"); !st.ok()) return Fail(st);
  }
  std::error_code ec;
  if (!options.server.keep) fs::remove_all(*work, ec);
  return exit_code;
}

}  // namespace

int RunRetrieve(const RetrieveOptions& options) {
  if (options.compare) return RunRetrieveCompare(options);
  const std::string& corpus_dir = options.corpus;
  const int associations = options.associations;
  const int repeat = options.repeat;
  const std::string level = options.level.empty() ? std::string("study") : options.level;
  if (level != "study" && level != "series") return Fail(Status::InvalidArgument("--level must be study or series"));
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
  std::vector<dicom::GetRequest> requests;
  requests.reserve(units.size());
  for (const auto& [study, s] : units) requests.push_back({study, s});

  auto node = PrepareNode(options.server, *corpus);
  if (!node.ok()) return Fail(node.status());
  Provenance provenance = MakeProvenance(options.command_line, *corpus, corpus_dir, associations,
                                         node->work ? *node->work : WorkParent(std::nullopt), {PeerKind::kPacscore});
  std::vector<std::vector<std::string>> rows;
  ResultJson passes_json = ResultJson::array();
  int exit_code = node->ingest.push.failed ? 2 : 0;
  for (int pass = 1; pass <= repeat; ++pass) {
    std::optional<double> cpu_before = node->pid > 0 ? ProcessTreeCpuSeconds(node->pid) : std::nullopt;
    double wall = 0;
    const TimingSummary s = Summarize(dicom::RunGets(node->target, requests, storage, associations, wall));
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
    passes_json.push_back(ResultJson{{"pass", pass},
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
                                     {"server_cpu_seconds", OrNull(cpu)},
                                     {"first_error", s.first_error}});
  }
  provenance.load_average_after = LoadAverage();
  FinishNode(*node, options.server.keep);
  std::printf("\npacscore bench retrieve: %s, %zu C-GET(s) at %s level per pass, %d association(s)\n",
              node->system.c_str(), requests.size(), level.c_str(), associations);
  std::printf(
      "%s", PlainTable(
                {"", "C-GETs", "failed", "instances", "MB", "MB/s", "inst/s", "p50 ms", "p99 ms", "server CPU s"}, rows)
                .c_str());
  std::printf(
      "MB = 10^6 bytes of datasets received in the transfer syntax each file was sent in; latency = one whole C-GET\n");
  if (options.json) {
    const ResultJson result = {{"benchmark", "retrieve"},
                               {"provenance", provenance.ToJson()},
                               {"system", node->system},
                               {"setup", node->setup},
                               {"level", level},
                               {"ingest", node->ingest.ToJson()},
                               {"passes", std::move(passes_json)}};
    if (Status s = WriteText(*options.json, ToText(result) + "\n"); !s.ok()) return Fail(s);
  }
  return exit_code;
}

}  // namespace pacs::bench
