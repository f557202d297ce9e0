// `pacscore delete`, `compact`, `verify` and `reindex`: through the running
// server's admin endpoint when one holds the folder, directly otherwise.
#include <chrono>
#include <cstdio>

#include "admin_http.h"
#include "cli.h"
#include "pacs/base/log.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/instance_split.h"

namespace pacs::tools {
namespace {

constexpr int64_t kDefaultGraceMs = int64_t{3600} * 1000;  // --gc-grace default: 1 hour

Json Error(const Status& s) {
  return {{"error", s.ToString()}};
}

Json Verify(engine::Store& store, bool deep, int64_t grace_ms) {
  auto report = store.VerifyStructure(std::chrono::milliseconds(grace_ms));
  if (!report.ok()) return Error(report.status());
  uint64_t deep_checked = 0;
  if (deep) {
    Status scan = store.ForEachInstance([&](const engine::InstanceRecord& rec) {
      ++deep_checked;
      Status s = dicom::VerifyInstanceDeep(store, rec);
      if (!s.ok() && report->problems.size() < 1000)
        report->problems.push_back("instance " + rec.sop_instance_uid + ": " + s.ToString());
      return true;
    });
    if (!scan.ok()) return Error(scan);
  }
  return {{"ok", report->problems.empty()},
          {"deep", deep},
          {"instances", JsonCount(report->instances)},
          {"headers", JsonCount(report->headers)},
          {"frames", JsonCount(report->chunks)},
          {"frame_references", JsonCount(report->references)},
          {"deep_checked_instances", JsonCount(deep_checked)},
          {"problems", report->problems}};
}

// Rebuilds the query index; progress goes to the log (the server's, or the
// command's stderr) every few seconds.
Json Reindex(engine::Store& store) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_report = start;
  LogInfo("reindex of " + store.path() + ": reading the stored instances");
  auto report = dicom::RebuildIndex(store, [&](uint64_t read, uint64_t total) {
    if (Clock::now() - last_report < std::chrono::seconds(2)) return;
    last_report = Clock::now();
    LogInfo("reindex: " + std::to_string(read) + " of about " + std::to_string(total) + " instances read");
  });
  if (!report.ok()) return Error(report.status().WithContext("reindex of " + store.path() + ", index unchanged"));
  for (const auto& s : report->skipped) LogWarning("reindex: skipped instance " + s);
  return {{"instances_read", JsonCount(report->instances_read)},
          {"instances_indexed", JsonCount(report->instances_indexed)},
          {"caught_up_instances", JsonCount(report->caught_up)},
          {"index_entries", JsonCount(report->entries)},
          {"index_bytes", JsonCount(report->entry_bytes)},
          {"index_entries_written", JsonCount(report->entries_put)},
          {"index_entries_removed", JsonCount(report->entries_deleted)},
          {"skipped", report->skipped},
          {"seconds", std::chrono::duration<double>(Clock::now() - start).count()}};
}

long long Count(const Json& reply, const char* key) {
  return static_cast<long long>(JsonInt(reply, key));
}

// The sentence a person reads for each action's reply; returns the exit status.
int PrintReply(const std::string& action, const Json& reply) {
  if (action == "verify") {
    if (auto problems = reply.find("problems"); problems != reply.end() && problems->is_array())
      for (const auto& p : *problems)
        if (p.is_string()) std::printf("problem: %s\n", p.get<std::string>().c_str());
    const bool ok = JsonBool(reply, "ok");
    std::printf("verify%s: %lld instances, %lld headers, %lld frames, %lld frame references: %s\n",
                JsonBool(reply, "deep") ? " --deep" : "", Count(reply, "instances"), Count(reply, "headers"),
                Count(reply, "frames"), Count(reply, "frame_references"), ok ? "clean" : "PROBLEMS FOUND");
    return ok ? 0 : 2;
  }
  if (action == "reindex") {
    const auto skipped = reply.find("skipped");
    const bool any_skipped = skipped != reply.end() && skipped->is_array() && !skipped->empty();
    if (any_skipped)
      for (const auto& s : *skipped)
        if (s.is_string()) std::printf("skipped: %s\n", s.get<std::string>().c_str());
    const auto seconds = reply.find("seconds");
    std::printf(
        "reindex: %lld instances read, %lld indexed, %zu skipped; %lld index entries written (%lld removed, "
        "%lld in the index); %.2f s\n",
        Count(reply, "instances_read"), Count(reply, "instances_indexed"), any_skipped ? skipped->size() : size_t{0},
        Count(reply, "index_entries_written"), Count(reply, "index_entries_removed"), Count(reply, "index_entries"),
        seconds != reply.end() && seconds->is_number() ? seconds->get<double>() : 0.0);
    return any_skipped ? 2 : 0;
  }
  if (action == "delete") {
    std::printf("deleted %lld instances; their frames are removed by `pacscore compact` after --gc-grace\n",
                Count(reply, "deleted_instances"));
    return 0;
  }
  std::printf("compacted: collected %lld unreferenced frames (%.1f MB), kept %lld frames that were referenced again\n",
              Count(reply, "collected_frames"), static_cast<double>(Count(reply, "collected_bytes")) / 1e6,
              Count(reply, "kept_rereferenced_frames"));
  return 0;
}

// Runs `action` against the running server or the folder itself.
int RunMaintenance(const std::string& action, const MaintenanceFlags& flags, const Json& request) {
  Json reply;
  if (auto server = FindRunningServer(flags.data)) {
    if (action == "reindex")
      std::fprintf(stderr, "reindex: through the server on admin port %u (progress in its log)\n",
                   static_cast<unsigned>(*server));
    auto http = AdminRequest(*server, "POST", "/" + action, ToJson(request));
    if (!http.ok()) return Fail(http.status());
    auto parsed = ParseJson(http->body);
    if (!parsed.ok()) return Fail(parsed.status());
    reply = std::move(*parsed);
  } else {
    auto store = OpenFolder(flags.data, engine::DuplicatePolicy::kKeep, /*read_only=*/action == "verify");
    if (!store.ok()) return Fail(store.status());
    reply = HandleMaintenance(**store, action, request);
  }
  if (!JsonString(reply, "error").empty()) return Fail(Status::IOError(JsonString(reply, "error")));
  if (flags.json) {
    std::printf("%s\n", ToJson(reply, true).c_str());
    if (action == "reindex") {
      const auto skipped = reply.find("skipped");
      return skipped != reply.end() && skipped->is_array() && !skipped->empty() ? 2 : 0;
    }
    return action == "verify" && !JsonBool(reply, "ok") ? 2 : 0;
  }
  return PrintReply(action, reply);
}

}  // namespace

Json HandleMaintenance(engine::Store& store, const std::string& action, const Json& request) {
  const int64_t grace_ms = JsonInt(request, "gc_grace_ms", kDefaultGraceMs);
  if (action == "delete") {
    auto deleted = store.DeleteInstances({.study_instance_uid = JsonString(request, "study"),
                                          .series_instance_uid = JsonString(request, "series"),
                                          .sop_instance_uid = JsonString(request, "instance")});
    if (!deleted.ok()) return Error(deleted.status());
    return {{"deleted_instances", JsonCount(*deleted)}};
  }
  if (action == "compact") {
    auto report = store.Compact(std::chrono::milliseconds(grace_ms));
    if (!report.ok()) return Error(report.status());
    return {{"collected_frames", JsonCount(report->collected)},
            {"collected_bytes", JsonCount(report->collected_bytes)},
            {"kept_rereferenced_frames", JsonCount(report->rescued)}};
  }
  if (action == "verify") return Verify(store, JsonBool(request, "deep"), grace_ms);
  if (action == "reindex") return Reindex(store);
  return Error(Status::InvalidArgument("unknown action " + action));
}

int RunDelete(const MaintenanceFlags& flags) {
  Json request = Json::object();
  if (!flags.study.empty()) request["study"] = flags.study;
  if (!flags.series.empty()) request["series"] = flags.series;
  if (!flags.instance.empty()) request["instance"] = flags.instance;
  return RunMaintenance("delete", flags, request);
}

int RunCompact(const MaintenanceFlags& flags) {
  return RunMaintenance("compact", flags, {{"gc_grace_ms", flags.gc_grace_ms}});
}

int RunReindex(const MaintenanceFlags& flags) {
  return RunMaintenance("reindex", flags, Json::object());
}

int RunVerify(const MaintenanceFlags& flags) {
  return RunMaintenance("verify", flags, {{"gc_grace_ms", flags.gc_grace_ms}, {"deep", flags.deep}});
}

}  // namespace pacs::tools
