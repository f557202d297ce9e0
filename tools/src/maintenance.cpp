// `pacscore delete`, `compact`, `verify`, `reindex`, `retention` and
// `protect`: through the running server's admin endpoint when one holds the
// folder, directly otherwise.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "admin_http.h"
#include "cli.h"
#include "pacs/base/audit.h"
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
  engine::VerifyReport listed;  // the pool listing (frames in a pool, --deep)
  if (deep) {
    auto pool = store.VerifyPoolListing();
    if (!pool.ok()) return Error(pool.status());
    listed = std::move(*pool);
    for (auto& p : listed.problems) report->AddProblem(std::move(p));
    Status scan = store.ForEachInstance([&](const engine::InstanceRecord& rec) {
      ++deep_checked;
      Status s = dicom::VerifyInstanceDeep(store, rec);
      if (!s.ok()) report->AddProblem("instance " + rec.sop_instance_uid + ": " + s.ToString());
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
          {"pool_chunk_objects_checked", JsonCount(report->pool_chunk_objects)},
          {"pool_instance_objects_checked", JsonCount(report->pool_instance_objects)},
          {"pool_objects_listed", JsonCount(listed.pool_objects_listed)},
          {"pool_unheld_chunk_objects_checked", JsonCount(listed.pool_chunk_objects)},
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
    if (Count(reply, "pool_chunk_objects_checked") + Count(reply, "pool_instance_objects_checked") +
            Count(reply, "pool_objects_listed") >
        0)
      std::printf("pool: reference tags of %lld chunk objects and %lld instance objects compared with the folder%s\n",
                  Count(reply, "pool_chunk_objects_checked"), Count(reply, "pool_instance_objects_checked"),
                  JsonBool(reply, "deep")
                      ? ("; " + std::to_string(Count(reply, "pool_objects_listed")) + " objects listed, " +
                         std::to_string(Count(reply, "pool_unheld_chunk_objects_checked")) +
                         " chunk objects the node does not hold checked for its tags")
                            .c_str()
                      : "");
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
  if (Count(reply, "pool_objects_examined") > 0)
    std::printf(
        "pool: removed %lld chunk objects that held no reference (%.1f MB); kept %lld younger than --orphan-grace "
        "and %lld referenced meanwhile\n",
        Count(reply, "removed_unreferenced_pool_objects"),
        static_cast<double>(Count(reply, "removed_unreferenced_pool_bytes")) / 1e6,
        Count(reply, "kept_young_unreferenced_pool_objects"), Count(reply, "kept_pool_objects_referenced_meanwhile"));
  return 0;
}

void PrintRetention(const Json& reply) {
  const bool dry_run = JsonBool(reply, "dry_run");
  if (auto studies = reply.find("studies"); studies != reply.end() && studies->is_array())
    for (const auto& s : *studies)
      std::printf("%s study %s patient '%s' StudyDate '%s' %s: %lld instances, %lld bytes (%s)\n",
                  dry_run ? "would delete" : (JsonBool(s, "deleted") ? "deleted" : "kept (protected meanwhile)"),
                  JsonString(s, "study").c_str(), JsonString(s, "patient_id").c_str(),
                  JsonString(s, "study_date").c_str(), JsonString(s, "modalities").c_str(), Count(s, "instances"),
                  Count(s, "freed_bytes"), JsonString(s, "reason").c_str());
  std::printf(
      "%s %lld studies, %lld instances, freeing %lld referenced stored bytes (of %lld; %lld protected studies "
      "kept)%s\n",
      dry_run ? "retention --dry-run: would delete" : "retention: deleted",
      dry_run ? static_cast<long long>(reply["studies"].size()) : Count(reply, "deleted_studies"),
      dry_run ? Count(reply, "instances") : Count(reply, "deleted_instances"), Count(reply, "freed_bytes"),
      Count(reply, "referenced_bytes_before"), Count(reply, "protected_studies"),
      JsonBool(reply, "over_quota_after") ? "; STILL OVER THE QUOTA" : "");
  if (!dry_run) std::printf("their frames are removed by `pacscore compact` after --gc-grace\n");
}

// Runs `action` against the running server or the folder itself.
int RunMaintenance(const std::string& action, const std::string& data, bool json, const Json& request) {
  const MaintenanceFlags flags{.data = data, .json = json};
  Json reply;
  if (auto server = FindRunningServer(flags.data)) {
    if (action == "reindex")
      std::fprintf(stderr, "reindex: through the server's %s (progress in its log)\n", server->Describe().c_str());
    auto http = AdminRequest(*server, "POST", "/" + action, ToJson(request));
    if (!http.ok()) return Fail(http.status());
    auto parsed = ParseJson(http->body);
    if (!parsed.ok()) return Fail(parsed.status());
    reply = std::move(*parsed);
  } else {
    auto store =
        OpenFolder(flags.data, engine::DuplicatePolicy::kKeep,
                   /*read_only=*/action == "verify" || (action == "retention" && JsonBool(request, "dry_run")) ||
                       (action == "protect" && JsonBool(request, "list")));
    if (!store.ok()) return Fail(store.status());
    if (action == "retention")
      reply = HandleRetention(**store, request, "pacscore retention (offline)");
    else if (action == "protect")
      reply = HandleProtect(**store, request);
    else
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
  if (action == "retention") {
    PrintRetention(reply);
    return 0;
  }
  if (action == "protect") {
    if (auto list = reply.find("protected"); list != reply.end() && list->is_array())
      for (const auto& uid : *list)
        if (uid.is_string()) std::printf("%s\n", uid.get<std::string>().c_str());
    if (!JsonString(reply, "study").empty())
      std::printf("study %s %s\n", JsonString(reply, "study").c_str(),
                  JsonBool(reply, "protected_now") ? "protected: retention and quota eviction never delete it"
                                                   : "no longer protected");
    return 0;
  }
  return PrintReply(action, reply);
}

// The studies of deleted instances, as StudiesJson lists them.
Json StudiesOf(const std::vector<engine::InstanceRecord>& records) {
  audit::StudyTally tally;
  for (const auto& r : records) tally.Add(r.study_instance_uid, r.patient_id, true);
  return StudiesJson(tally.studies());
}

}  // namespace

Json HandleMaintenance(engine::Store& store, const std::string& action, const Json& request) {
  const int64_t grace_ms = JsonInt(request, "gc_grace_ms", kDefaultGraceMs);
  if (action == "delete") {
    std::vector<engine::InstanceRecord> removed;
    auto deleted = store.DeleteInstances({.study_instance_uid = JsonString(request, "study"),
                                          .series_instance_uid = JsonString(request, "series"),
                                          .sop_instance_uid = JsonString(request, "instance"),
                                          .removed = &removed});
    if (!deleted.ok()) return Error(deleted.status());
    return {{"deleted_instances", JsonCount(*deleted)}, {"studies", StudiesOf(removed)}};
  }
  if (action == "compact") {
    auto report = store.Compact(std::chrono::milliseconds(grace_ms));
    if (!report.ok()) return Error(report.status());
    // Then the pool's objects that no node ever referenced (docs/scale-out.md).
    auto orphans = store.RemoveUnreferencedPoolObjects(
        std::chrono::milliseconds(JsonInt(request, "orphan_grace_ms", kDefaultGraceMs)));
    if (!orphans.ok())
      return Error(orphans.status().WithContext("compact collected " + std::to_string(report->collected) +
                                                " frames, then sweeping the pool for unreferenced objects"));
    return {{"collected_frames", JsonCount(report->collected)},
            {"collected_bytes", JsonCount(report->collected_bytes)},
            {"kept_rereferenced_frames", JsonCount(report->rescued)},
            {"pool_objects_examined", JsonCount(orphans->examined)},
            {"removed_unreferenced_pool_objects", JsonCount(orphans->removed)},
            {"removed_unreferenced_pool_bytes", JsonCount(orphans->removed_bytes)},
            {"kept_young_unreferenced_pool_objects", JsonCount(orphans->kept_young)},
            {"kept_pool_objects_referenced_meanwhile", JsonCount(orphans->referenced_meanwhile)}};
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
  return RunMaintenance("delete", flags.data, flags.json, request);
}

int RunCompact(const MaintenanceFlags& flags) {
  return RunMaintenance("compact", flags.data, flags.json,
                        {{"gc_grace_ms", flags.gc_grace_ms}, {"orphan_grace_ms", flags.orphan_grace_ms}});
}

int RunReindex(const MaintenanceFlags& flags) {
  return RunMaintenance("reindex", flags.data, flags.json, Json::object());
}

int RunVerify(const MaintenanceFlags& flags) {
  return RunMaintenance("verify", flags.data, flags.json, {{"gc_grace_ms", flags.gc_grace_ms}, {"deep", flags.deep}});
}

int RunRebuild(const RebuildFlags& flags) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const FramesFlags& frames = SelectedFrames();
  auto last_report = start;
  const auto progress = [&](const char* what) {
    return [&last_report, what](uint64_t done, uint64_t total) {
      if (Clock::now() - last_report < std::chrono::seconds(2)) return;
      last_report = Clock::now();
      LogInfo(std::string("rebuild: ") + what + " " + std::to_string(done) + " of " + std::to_string(total));
    };
  };
  LogInfo("rebuild of " + flags.data + " from " + frames.frames + " (node " + flags.node + "): listing the pool");
  auto restored = engine::RestoreNodeFromPool({.path = flags.data,
                                               .catalog_observer = &dicom::IndexObserver(),
                                               .frames = frames.frames,
                                               .ceph_conf = frames.ceph_conf,
                                               .ceph_id = frames.ceph_id,
                                               .frames_node_id = flags.node},
                                              progress("instances restored"));
  if (!restored.ok()) return Fail(restored.status());
  const engine::PoolRestoreReport& r = restored->report;
  for (const auto& s : r.skipped) LogWarning("rebuild: left out instance " + s);
  auto index = dicom::RebuildIndex(*restored->store, progress("instances indexed"));
  if (!index.ok())
    return Fail(index.status().WithContext("rebuild of " + flags.data +
                                           ": the instances are restored, the query index is not; run pacscore "
                                           "reindex --data " +
                                           flags.data));
  std::vector<std::string> skipped = r.skipped;
  skipped.insert(skipped.end(), index->skipped.begin(), index->skipped.end());
  const Json reply = {{"node", r.node},
                      {"instance_objects", JsonCount(r.instance_objects)},
                      {"instances_restored", JsonCount(r.instances_restored)},
                      {"instances_indexed", JsonCount(index->instances_indexed)},
                      {"frames_adopted", JsonCount(r.chunks_adopted)},
                      {"frames_referenced_anew", JsonCount(r.chunks_referenced_anew)},
                      {"stale_references_released", JsonCount(r.stale_tags_released)},
                      {"frame_objects_listed", JsonCount(r.pool_objects_listed)},
                      {"frames_queued_for_reencoding", JsonCount(r.reencoding_queued)},
                      {"index_entries", JsonCount(index->entries)},
                      {"skipped", skipped},
                      {"seconds", std::chrono::duration<double>(Clock::now() - start).count()}};
  if (flags.json) {
    std::printf("%s\n", ToJson(reply, true).c_str());
  } else {
    for (const auto& s : skipped) std::printf("skipped: %s\n", s.c_str());
    std::printf(
        "rebuilt node %s in %s from %s: %lld of %lld instances restored and indexed (%lld index entries); frame "
        "references: %lld taken over, %lld taken anew, %lld stale ones released (%lld frame objects listed); "
        "%lld raw frames queued for background re-encoding; %.2f s\n",
        r.node.c_str(), flags.data.c_str(), frames.frames.c_str(), Count(reply, "instances_indexed"),
        Count(reply, "instance_objects"), Count(reply, "index_entries"), Count(reply, "frames_adopted"),
        Count(reply, "frames_referenced_anew"), Count(reply, "stale_references_released"),
        Count(reply, "frame_objects_listed"), Count(reply, "frames_queued_for_reencoding"),
        reply["seconds"].get<double>());
  }
  return skipped.empty() ? 0 : 2;
}

int RunRetention(const RetentionFlags& flags) {
  Json request = {{"dry_run", flags.dry_run}};
  // Only what was given: a running server applies its own policy otherwise.
  if (!flags.retention_rules.empty()) request["rules"] = flags.retention_rules;
  if (flags.storage_quota_bytes > 0) {
    request["quota_bytes"] = flags.storage_quota_bytes;
    request["on_quota"] = flags.on_quota;
  }
  return RunMaintenance("retention", flags.data, flags.json, request);
}

int RunProtect(const ProtectFlags& flags) {
  Json request = {{"list", flags.list}};
  if (!flags.study.empty()) {
    request["study"] = flags.study;
    request["protect"] = !flags.unprotect;
  }
  return RunMaintenance("protect", flags.data, flags.json, request);
}

Result<dicom::RetentionPolicy> RetentionPolicyFromJson(const Json& request) {
  dicom::RetentionPolicy policy;
  if (auto rules = request.find("rules"); rules != request.end() && rules->is_array())
    for (const auto& text : *rules) {
      if (!text.is_string()) return Status::InvalidArgument("retention rules must be strings");
      auto rule = dicom::ParseRetentionRule(text.get<std::string>());
      if (!rule.ok()) return rule.status();
      policy.rules.push_back(std::move(*rule));
    }
  policy.quota_bytes = static_cast<uint64_t>(std::max<int64_t>(0, JsonInt(request, "quota_bytes")));
  if (const std::string on_quota = JsonString(request, "on_quota"); !on_quota.empty()) {
    auto action = dicom::ParseQuotaAction(on_quota);
    if (!action.ok()) return action.status();
    policy.on_quota = *action;
  }
  return policy;
}

Json RetentionReply(const Result<dicom::RetentionReport>& report) {
  if (!report.ok()) return Error(report.status());
  Json studies = Json::array();
  for (const auto& s : report->studies) {
    std::string modalities;
    for (const auto& m : s.modalities) modalities += (modalities.empty() ? "" : ",") + m;
    studies.push_back({{"study", s.study_instance_uid},
                       {"patient_id", s.patient_id},
                       {"study_date", s.study_date},
                       {"modalities", modalities},
                       {"instances", JsonCount(s.instances)},
                       {"last_received_unix_ms", s.last_received_unix_ms},
                       {"freed_bytes", JsonCount(s.freed_bytes)},
                       {"reason", s.reason},
                       {"deleted", s.deleted}});
  }
  return {{"dry_run", report->dry_run},
          {"studies", studies},
          {"instances", JsonCount(report->instances)},
          {"freed_bytes", JsonCount(report->freed_bytes)},
          {"referenced_bytes_before", JsonCount(report->referenced_bytes_before)},
          {"protected_studies", JsonCount(report->protected_studies)},
          {"deleted_studies", JsonCount(report->deleted_studies)},
          {"deleted_instances", JsonCount(report->deleted_instances)},
          {"skipped_protected", JsonCount(report->skipped_protected)},
          {"over_quota_after", report->over_quota_after}};
}

Json HandleRetention(engine::Store& store, const Json& request, const std::string& requested_by) {
  auto policy = RetentionPolicyFromJson(request);
  if (!policy.ok()) return Error(policy.status());
  if (policy->empty())
    return Error(Status::InvalidArgument(
        "no retention rule and no quota: give --retention-rule and/or --storage-quota (with --on-quota evict to "
        "delete), or run it through a server configured with them"));
  return RetentionReply(
      dicom::RunRetention(store, *policy, {.dry_run = JsonBool(request, "dry_run"), .requested_by = requested_by}));
}

Json HandleProtect(engine::Store& store, const Json& request) {
  Json reply = Json::object();
  const std::string study = JsonString(request, "study");
  if (!study.empty()) {
    const bool protect = JsonBool(request, "protect");
    Status s = store.SetStudyProtected(study, protect);
    if (!s.ok()) return Error(s);
    LogInfo(std::string("retention audit: study ") + study + (protect ? " protected" : " unprotected"));
    reply["study"] = study;
    reply["protected_now"] = protect;
  }
  if (JsonBool(request, "list")) {
    auto list = store.ProtectedStudies();
    if (!list.ok()) return Error(list.status());
    reply["protected"] = *list;
  }
  return reply;
}

}  // namespace pacs::tools
