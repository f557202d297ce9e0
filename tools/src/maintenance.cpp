// `pacscore delete`, `compact` and `verify`: through the running server's
// admin endpoint when one holds the folder, directly otherwise.
#include <cstdio>

#include "admin_http.h"
#include "cli.h"
#include "pacs/dicom/instance_split.h"

namespace pacs::tools {
namespace {

constexpr int64_t kDefaultGraceMs = 3600 * 1000;  // --gc-grace default: 1 hour

JsonValue Error(const Status& s) {
  return JsonObject{{"error", s.ToString()}};
}

JsonValue Verify(engine::Store& store, bool deep, int64_t grace_ms) {
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
  JsonArray problems;
  for (const auto& p : report->problems) problems.emplace_back(p);
  return JsonObject{{"ok", report->problems.empty()},
                    {"deep", deep},
                    {"instances", report->instances},
                    {"headers", report->headers},
                    {"frames", report->chunks},
                    {"frame_references", report->references},
                    {"deep_checked_instances", deep_checked},
                    {"problems", std::move(problems)}};
}

// Runs `action` against the running server or the folder itself.
int RunMaintenance(const std::string& action, const std::string& data, const JsonValue& request) {
  JsonValue reply;
  if (auto server = FindRunningServer(data)) {
    auto http = AdminRequest(*server, "POST", "/" + action, ToJson(request));
    if (!http.ok()) return Fail(http.status());
    auto parsed = ParseJson(http->body);
    if (!parsed.ok()) return Fail(parsed.status());
    reply = std::move(*parsed);
  } else {
    auto store = OpenFolder(data, engine::DuplicatePolicy::kKeep, /*read_only=*/action == "verify");
    if (!store.ok()) return Fail(store.status());
    reply = HandleMaintenance(**store, action, request);
  }
  if (!reply.GetString("error").empty()) return Fail(Status::IOError(reply.GetString("error")));
  if (action == "verify") {
    if (const JsonValue* problems = reply.Get("problems"))
      for (const auto& p : std::get<JsonArray>(problems->v))
        if (p.string()) std::printf("problem: %s\n", p.string()->c_str());
    const bool ok = reply.Get("ok") && std::get<bool>(reply.Get("ok")->v);
    std::printf("verify%s: %lld instances, %lld headers, %lld frames, %lld frame references: %s\n",
                reply.Get("deep") && std::get<bool>(reply.Get("deep")->v) ? " --deep" : "",
                static_cast<long long>(reply.GetInt("instances")), static_cast<long long>(reply.GetInt("headers")),
                static_cast<long long>(reply.GetInt("frames")),
                static_cast<long long>(reply.GetInt("frame_references")), ok ? "clean" : "PROBLEMS FOUND");
    return ok ? 0 : 2;
  }
  std::printf("%s\n", ToJson(reply).c_str());
  return 0;
}

}  // namespace

Result<int64_t> ParseDurationMs(const std::string& text, const std::string& flag) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit = end ? end : "";
  double scale = -1;
  if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "ms")
    scale = 1;
  else if (unit == "m")
    scale = 60e3;
  else if (unit == "h")
    scale = 3600e3;
  else if (unit == "d")
    scale = 86400e3;
  if (text.empty() || end == text.c_str() || scale < 0 || v < 0)
    return Status::InvalidArgument("--" + flag + " must be a duration like 0, 90s, 30m, 1h; not '" + text + "'");
  return static_cast<int64_t>(v * scale);
}

JsonValue HandleMaintenance(engine::Store& store, const std::string& action, const JsonValue& request) {
  const int64_t grace_ms = request.GetInt("gc_grace_ms", kDefaultGraceMs);
  if (action == "delete") {
    auto deleted = store.DeleteInstances({.study_instance_uid = request.GetString("study"),
                                          .series_instance_uid = request.GetString("series"),
                                          .sop_instance_uid = request.GetString("instance")});
    if (!deleted.ok()) return Error(deleted.status());
    return JsonObject{{"deleted_instances", *deleted}};
  }
  if (action == "compact") {
    auto report = store.Compact(std::chrono::milliseconds(grace_ms));
    if (!report.ok()) return Error(report.status());
    return JsonObject{{"collected_frames", report->collected},
                      {"collected_bytes", report->collected_bytes},
                      {"kept_rereferenced_frames", report->rescued}};
  }
  if (action == "verify") {
    const JsonValue* deep = request.Get("deep");
    return Verify(store, deep && std::holds_alternative<bool>(deep->v) && std::get<bool>(deep->v), grace_ms);
  }
  return Error(Status::InvalidArgument("unknown action " + action));
}

int RunDelete(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"data", "study", "series", "instance"}, {});
  if (!args.ok()) return Fail(args.status());
  const int selectors = args->Has("study") + args->Has("series") + args->Has("instance");
  if (args->Get("data").empty() || selectors != 1)
    return Fail(
        Status::InvalidArgument("usage: pacscore delete --data DIR --study UID | --series UID | --instance UID"));
  JsonObject request;
  for (const char* key : {"study", "series", "instance"})
    if (args->Has(key)) request[key] = args->Get(key);
  return RunMaintenance("delete", args->Get("data"), JsonValue(std::move(request)));
}

int RunCompact(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"data", "gc-grace"}, {});
  if (!args.ok()) return Fail(args.status());
  if (args->Get("data").empty())
    return Fail(Status::InvalidArgument("usage: pacscore compact --data DIR [--gc-grace 1h]"));
  auto grace = ParseDurationMs(args->Get("gc-grace", "1h"), "gc-grace");
  if (!grace.ok()) return Fail(grace.status());
  return RunMaintenance("compact", args->Get("data"), JsonObject{{"gc_grace_ms", *grace}});
}

int RunVerify(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"data", "gc-grace"}, {"deep"});
  if (!args.ok()) return Fail(args.status());
  if (args->Get("data").empty())
    return Fail(Status::InvalidArgument("usage: pacscore verify --data DIR [--deep] [--gc-grace 1h]"));
  auto grace = ParseDurationMs(args->Get("gc-grace", "1h"), "gc-grace");
  if (!grace.ok()) return Fail(grace.status());
  return RunMaintenance("verify", args->Get("data"), JsonObject{{"gc_grace_ms", *grace}, {"deep", args->Has("deep")}});
}

}  // namespace pacs::tools
