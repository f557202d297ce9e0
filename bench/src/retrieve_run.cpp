// `pacscore bench retrieve`: C-GETs every study (or series) of the corpus,
// --repeat times over --associations parallel associations, from the node
// the corpus was stored in.
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "options.h"
#include "pacs/dicom/query_scu.h"
#include "prepared_node.h"
#include "process.h"
#include "report.h"
#include "run_common.h"

namespace pacs::bench {

int RunRetrieve(const RetrieveOptions& options) {
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
