// `pacscore delete`, `compact` and `verify`: through the running server's
// admin endpoint when one holds the folder, directly otherwise.
#include <cstdio>

#include "admin_http.h"
#include "cli.h"
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

int RunVerify(const MaintenanceFlags& flags) {
  return RunMaintenance("verify", flags, {{"gc_grace_ms", flags.gc_grace_ms}, {"deep", flags.deep}});
}

}  // namespace pacs::tools
