// `pacscore import`, `export` and `stats`, and what every subcommand
// shares: each either talks to the running server that holds the data folder
// (admin endpoint) or opens the folder itself.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "admin_http.h"
#include "cli.h"
#include "pacs/base/log.h"
#include "pacs/dicom/commit_scu.h"
#include "pacs/dicom/exporter.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/transcode.h"

namespace pacs::tools {
namespace fs = std::filesystem;

FramesFlags& SelectedFrames() {
  static FramesFlags flags;
  return flags;
}

int Fail(const Status& status) {
  // With --log-format json, stderr carries only JSON lines for the shipper.
  if (GetLogFormat() == LogFormat::kJson)
    LogError(status.ToString());
  else
    std::fprintf(stderr, "pacscore: %s\n", status.ToString().c_str());
  return 1;
}

Result<std::unique_ptr<engine::Store>> OpenFolder(const std::string& dir, engine::DuplicatePolicy policy,
                                                  bool read_only, engine::FreeSpaceFloor min_free_space) {
  // The query index rides on every commit of a writer.
  auto store = engine::Store::Open({.path = dir,
                                    .min_free_space = min_free_space,
                                    .on_duplicate = policy,
                                    .read_only = read_only,
                                    .catalog_observer = read_only ? nullptr : &dicom::IndexObserver(),
                                    .frames = SelectedFrames().frames,
                                    .ceph_conf = SelectedFrames().ceph_conf,
                                    .ceph_id = SelectedFrames().ceph_id});
  if (!store.ok() && engine::IsLockedByAnotherProcess(store.status())) {
    if (auto server = FindRunningServer(dir))
      return Status::Busy("data folder " + dir + " is held by another process: a pacscore server serves it, " +
                          server->Describe() +
                          "; stop that server first, or run the other subcommands, which go through it");
    return Status::Busy("data folder " + dir +
                        " is held by another process, and no pacscore admin endpoint answers for it; stop it or wait");
  }
  return store;
}

Json StudiesJson(const std::vector<audit::StudyRef>& studies) {
  Json list = Json::array();
  for (const auto& s : studies)
    list.push_back({{"study", s.study_uid}, {"patient_id", s.patient_id}, {"instances", JsonCount(s.instances)}});
  return list;
}

Json IngestReply(const Result<dicom::IngestReport>& report) {
  if (!report.ok()) return {{"ok", false}, {"error", report.status().ToString()}};
  return {{"ok", true},
          {"sop_instance_uid", report->sop_instance_uid},
          {"study_instance_uid", report->study_instance_uid},
          {"patient_id", report->patient_id},
          {"outcome", engine::CommitOutcomeName(report->commit.outcome)},
          {"received_bytes", JsonCount(report->received_bytes)}};
}

Json ExportReply(const Result<dicom::ExportSummary>& summary) {
  if (!summary.ok()) return {{"ok", false}, {"error", summary.status().ToString()}};
  return {{"ok", summary->failed == 0},
          {"exported", JsonCount(summary->exported)},
          {"failed", JsonCount(summary->failed)},
          {"errors", summary->errors},
          {"studies", StudiesJson(summary->studies.studies())}};
}

namespace {

// Collects regular files under each path, recursively, in a stable order.
std::vector<fs::path> CollectFiles(const std::vector<std::string>& paths, std::vector<std::string>& problems) {
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec)) found.push_back(it->path());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      problems.push_back(p + ": no such file or folder");
    }
  }
  return files;
}

// A reply from the running server's admin endpoint, parsed.
Result<Json> AskServer(const AdminEndpoint& server, const std::string& method, const std::string& target,
                       const Json& request) {
  auto http = AdminRequest(server, method, target, method == "GET" ? "" : ToJson(request));
  if (!http.ok()) return http.status();
  auto parsed = ParseJson(http->body);
  if (!parsed.ok()) return parsed.status();
  if (http->status != 200) {
    const std::string error = JsonString(*parsed, "error");
    return Status::IOError(error.empty() ? "admin endpoint answered HTTP " + std::to_string(http->status) : error);
  }
  return parsed;
}

}  // namespace

int RunImport(const ImportFlags& flags) {
  auto codec_policy = dicom::ParseCodecPolicy(flags.codec);
  if (!codec_policy.ok()) return Fail(codec_policy.status());
  codec_policy->verify_encode = !flags.no_verify_encode;
  auto policy = engine::ParseDuplicatePolicy(flags.on_duplicate);
  if (!policy.ok()) return Fail(policy.status());

  std::vector<std::string> problems;
  auto files = CollectFiles(flags.paths, problems);
  for (const auto& p : problems) std::fprintf(stderr, "pacscore import: %s\n", p.c_str());

  std::optional<AdminEndpoint> server = FindRunningServer(flags.data);
  std::unique_ptr<engine::Store> store;
  std::unique_ptr<dicom::Ingestor> ingestor;
  if (!server) {
    auto opened = OpenFolder(flags.data, *policy);
    if (!opened.ok()) return Fail(opened.status());
    store = std::move(*opened);
    ingestor = std::make_unique<dicom::Ingestor>(*store, *codec_policy);
  }

  uint64_t stored = 0, identical = 0, conflicting = 0, rejected = problems.size(), bytes = 0;
  Progress progress(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = fs::absolute(files[i]).string();
    Json reply;
    if (server) {
      auto http = AdminRequest(*server, "POST", "/import", ToJson({{"path", path}}));
      if (!http.ok()) return Fail(http.status().WithContext("importing " + path + " through the running server"));
      auto parsed = ParseJson(http->body);
      if (!parsed.ok()) return Fail(parsed.status());
      // Refused (a folder the server does not allow, say): the same for every file, so stop here.
      if (http->status != 200)
        return Fail(Status::InvalidArgument(JsonString(*parsed, "error")).WithContext("through the running server"));
      reply = std::move(*parsed);
    } else {
      reply = IngestReply(ingestor->IngestFile(path));
    }
    if (JsonBool(reply, "ok")) {
      const std::string outcome = JsonString(reply, "outcome");
      if (outcome == "stored")
        ++stored;
      else if (outcome == "identical duplicate")
        ++identical;
      else {
        ++conflicting;
        progress.Finish();
        std::fprintf(stderr, "pacscore import: %s: SOP Instance %s was already stored with different content: %s\n",
                     files[i].c_str(), JsonString(reply, "sop_instance_uid").c_str(), outcome.c_str());
      }
      bytes += static_cast<uint64_t>(JsonInt(reply, "received_bytes"));
    } else {
      ++rejected;
      progress.Finish();
      std::fprintf(stderr, "pacscore import: %s: %s\n", files[i].c_str(), JsonString(reply, "error").c_str());
    }
    progress.Update(i + 1, bytes);
  }
  progress.Finish();
  std::printf(
      "imported %llu new instances, %llu identical to stored ones, %llu conflicting with stored ones "
      "(--on-duplicate decided), %llu rejected, %.1f MB%s\n",
      static_cast<unsigned long long>(stored), static_cast<unsigned long long>(identical),
      static_cast<unsigned long long>(conflicting), static_cast<unsigned long long>(rejected), bytes / 1e6,
      server ? " (through the running server)" : "");
  return rejected == 0 ? 0 : 2;
}

int RunExport(const ExportFlags& flags) {
  auto syntax = dicom::ParseTargetSyntax(flags.transfer_syntax);
  if (!syntax.ok()) return Fail(syntax.status());
  const std::string out_abs = fs::absolute(flags.out).string();
  Json reply;
  if (auto server = FindRunningServer(flags.data)) {
    auto answer = AskServer(*server, "POST", "/export",
                            {{"out", out_abs}, {"study", flags.study}, {"transfer_syntax", flags.transfer_syntax}});
    if (!answer.ok()) return Fail(answer.status());
    reply = std::move(*answer);
  } else {
    auto store = OpenFolder(flags.data, engine::DuplicatePolicy::kKeep, /*read_only=*/true);
    if (!store.ok()) return Fail(store.status());
    reply = ExportReply(dicom::ExportInstances(**store, out_abs, flags.study, *syntax));
  }
  if (!JsonString(reply, "error").empty()) return Fail(Status::IOError(JsonString(reply, "error")));
  if (auto errors = reply.find("errors"); errors != reply.end() && errors->is_array())
    for (const auto& e : *errors)
      if (e.is_string()) std::fprintf(stderr, "pacscore export: %s\n", e.get<std::string>().c_str());
  const int64_t failed = JsonInt(reply, "failed");
  std::printf("exported %lld instances to %s, %lld failed\n", static_cast<long long>(JsonInt(reply, "exported")),
              out_abs.c_str(), static_cast<long long>(failed));
  return failed == 0 ? 0 : 2;
}

int RunStats(const StatsFlags& flags) {
  Json stats;
  if (auto server = FindRunningServer(flags.data)) {
    auto answer = AskServer(*server, "GET", "/stats", Json());
    if (!answer.ok()) return Fail(answer.status());
    stats = std::move(*answer);
  } else {
    if (!fs::exists(flags.data)) return Fail(Status::NotFound("no data folder " + flags.data));
    auto store = OpenFolder(flags.data, engine::DuplicatePolicy::kKeep, /*read_only=*/true);
    if (!store.ok()) return Fail(store.status());
    auto s = (*store)->Stats(true);
    if (!s.ok()) return Fail(s.status());
    stats = StatsToJson(*s);
  }
  if (flags.json) {
    std::printf("%s\n", ToJson(stats, true).c_str());
    return 0;
  }
  for (const auto& [key, value] : stats.items())
    if (value.is_number_integer())
      std::printf("%-22s %lld\n", key.c_str(), static_cast<long long>(value.get<int64_t>()));
  if (auto codecs = stats.find("codecs"); codecs != stats.end() && codecs->is_object())
    for (const auto& [name, usage] : codecs->items())
      std::printf("codec %-16s %lld chunks, %lld raw bytes, %lld stored bytes\n", name.c_str(),
                  static_cast<long long>(JsonInt(usage, "chunks")), static_cast<long long>(JsonInt(usage, "raw_bytes")),
                  static_cast<long long>(JsonInt(usage, "stored_bytes")));
  if (const std::string node = JsonString(stats, "frames_node"); !node.empty())
    std::printf("%-22s %s (pacscore rebuild --node)\n", "frames_node", node.c_str());
  if (const std::string pool = JsonString(stats, "pool"); !pool.empty()) {
    std::printf("%-22s %s: this node holds %lld chunk objects (%lld bytes), %lld references; the pool holds ", "pool",
                pool.c_str(), static_cast<long long>(JsonInt(stats, "pool_chunk_objects_held")),
                static_cast<long long>(JsonInt(stats, "pool_chunk_bytes_held")),
                static_cast<long long>(JsonInt(stats, "pool_references_held")));
    if (const std::string error = JsonString(stats, "pool_totals_error"); !error.empty())
      std::printf("? (%s)\n", error.c_str());
    else
      std::printf("%lld objects, %lld bytes (every node's)\n", static_cast<long long>(JsonInt(stats, "pool_objects")),
                  static_cast<long long>(JsonInt(stats, "pool_bytes")));
  }
  return 0;
}

int RunCommitRequest(const CommitRequestFlags& flags) {
  // As for serve: without it every exchange waits on a delayed ACK.
  setenv("TCP_NODELAY", "1", 1);
  auto references = dicom::ReadCommitmentReferences(flags.files);
  if (!references.ok()) return Fail(references.status());
  dicom::CommitmentRequestOptions options;
  options.peer = {
      .host = flags.host, .port = flags.port, .called_aet = flags.called_aet, .calling_aet = flags.calling_aet};
  options.listen_port = flags.listen_port;
  options.timeout_seconds = static_cast<int>(std::max<int64_t>(1, (flags.timeout_ms + 999) / 1000));
  auto report = dicom::RequestCommitment(options, *references);
  if (!report.ok()) return Fail(report.status());
  size_t committed = 0;
  for (const auto& outcome : report->instances) {
    const char* file = outcome.reference.file.c_str();
    const char* uid = outcome.reference.sop_instance_uid.c_str();
    if (outcome.committed) {
      ++committed;
      std::printf("committed %s %s\n", uid, file);
    } else if (outcome.reported) {
      char reason[8];
      std::snprintf(reason, sizeof reason, "%04X", outcome.failure_reason);
      std::printf("failed %s %s reason %s (%s)\n", uid, file, reason,
                  dicom::FailureReasonName(outcome.failure_reason).c_str());
    } else {
      std::printf("failed %s %s (not in the report)\n", uid, file);
    }
  }
  std::printf("%zu of %zu committed, transaction %s, event type %u, report on %s after %.3f s\n", committed,
              report->instances.size(), report->transaction_uid.c_str(), report->event_type,
              report->on_new_association ? "a new association" : "the same association", report->seconds);
  return report->all_committed() ? 0 : 2;
}

}  // namespace pacs::tools
