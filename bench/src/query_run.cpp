// `pacscore bench query`: C-FIND round trips of the query mix of the
// query/retrieve issue, over keys that exist in the corpus, against the node
// the corpus was stored in; one association for all queries and one per query.
#include <chrono>
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
namespace {

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
}  // namespace

int RunQuery(const QueryOptions& options) {
  const std::string& corpus_dir = options.corpus;
  const int per_kind = options.queries;
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
    std::vector<dicom::FindQuery> distinct;
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

  auto node = PrepareNode(options.server, *corpus);
  if (!node.ok()) return Fail(node.status());
  Provenance provenance = MakeProvenance(options.command_line, *corpus, corpus_dir, 1,
                                         node->work ? *node->work : WorkParent(std::nullopt), {PeerKind::kPacscore});
  std::vector<std::vector<std::string>> rows;
  ResultJson kinds_json = ResultJson::array();
  int exit_code = node->ingest.push.failed ? 2 : 0;
  for (const auto& kind : kinds) {
    if (kind.distinct.empty()) {
      rows.push_back({kind.name, "skipped: no such key", "-", "-", "-", "-", "-", "-", "-"});
      kinds_json.push_back(ResultJson{{"kind", kind.name}, {"skipped", "no such key in the corpus"}});
      continue;
    }
    std::vector<dicom::FindQuery> queries;
    queries.reserve(static_cast<size_t>(per_kind));
    for (int i = 0; i < per_kind; ++i) queries.push_back(kind.distinct[static_cast<size_t>(i) % kind.distinct.size()]);
    for (bool per_query : {false, true}) {
      const TimingSummary s = Summarize(dicom::RunFinds(node->target, queries, per_query));
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
      kinds_json.push_back(ResultJson{
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
  FinishNode(*node, options.server.keep);
  std::printf("\npacscore bench query: %s, index of %zu instances from %s; C-FIND round trips, one client\n",
              node->system.c_str(), corpus->files().size(), corpus_dir.c_str());
  std::printf("%s",
              PlainTable({"query", "mode", "queries", "failed", "matches/q", "p50 ms", "p95 ms", "p99 ms", "q/s"}, rows)
                  .c_str());
  if (options.json) {
    const ResultJson result = {
        {"benchmark", "query"}, {"provenance", provenance.ToJson()}, {"system", node->system},
        {"setup", node->setup}, {"ingest", node->ingest.ToJson()},   {"kinds", std::move(kinds_json)}};
    if (Status s = WriteText(*options.json, ToText(result) + "\n"); !s.ok()) return Fail(s);
  }
  return exit_code;
}

}  // namespace pacs::bench
