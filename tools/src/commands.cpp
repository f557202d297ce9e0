// The subcommands. Each parses its flags, then either talks to the running
// server that holds the data folder (admin endpoint) or opens it itself.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "admin_http.h"
#include "cli.h"
#include "pacs/base/log.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/dicom/background_encoder.h"
#include "pacs/dicom/dicom_server.h"
#include "pacs/dicom/exporter.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/transcode.h"

namespace pacs::tools {
namespace fs = std::filesystem;
int Fail(const Status& status) {
  std::fprintf(stderr, "pacscore: %s\n", status.ToString().c_str());
  return 1;
}

Result<std::unique_ptr<engine::Store>> OpenFolder(const std::string& dir, engine::DuplicatePolicy policy,
                                                  bool read_only) {
  // The query index rides on every commit of a writer.
  auto store = engine::Store::Open({.path = dir,
                                    .on_duplicate = policy,
                                    .read_only = read_only,
                                    .catalog_observer = read_only ? nullptr : &dicom::IndexObserver()});
  if (!store.ok() && engine::IsLockedByAnotherProcess(store.status()))
    return Status::Busy("data folder " + dir +
                        " is held by another process whose admin endpoint does not answer; stop it or wait");
  return store;
}

namespace {

Result<dicom::PixelCodecPolicy> CodecPolicyFromArgs(const Args& args) {
  auto policy = dicom::ParseCodecPolicy(args.Get("codec", "auto"));
  if (!policy.ok()) return policy;
  if (args.Has("verify-encode") && args.Has("no-verify-encode"))
    return Status::InvalidArgument("--verify-encode and --no-verify-encode contradict each other");
  policy->verify_encode = !args.Has("no-verify-encode");
  return policy;
}

JsonValue IngestReply(const Result<dicom::IngestReport>& report) {
  if (!report.ok()) return JsonObject{{"ok", false}, {"error", report.status().ToString()}};
  return JsonObject{{"ok", true},
                    {"sop_instance_uid", report->sop_instance_uid},
                    {"outcome", engine::CommitOutcomeName(report->commit.outcome)},
                    {"received_bytes", report->received_bytes}};
}

JsonValue ExportReply(const Result<dicom::ExportSummary>& summary) {
  if (!summary.ok()) return JsonObject{{"ok", false}, {"error", summary.status().ToString()}};
  JsonArray errors;
  for (const auto& e : summary->errors) errors.emplace_back(e);
  return JsonObject{{"ok", summary->failed == 0},
                    {"exported", summary->exported},
                    {"failed", summary->failed},
                    {"errors", std::move(errors)}};
}

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

}  // namespace

int RunServe(int argc, char** argv) {
  auto args =
      ParseArgs(argc, argv, {"data", "port", "aet", "admin-port", "max-associations", "on-duplicate", "codec", "peer"},
                {"verbose", "verify-encode", "no-verify-encode", "inline-encode"});
  if (!args.ok()) return Fail(args.status());
  const std::string data = args->Get("data");
  if (data.empty()) return Fail(Status::InvalidArgument("serve needs --data DIR"));
  auto port = ParsePort(args->Get("port", "11112"), "port");
  auto admin_port = ParsePort(args->Get("admin-port", "8043"), "admin-port");
  auto max_assoc = ParsePort(args->Get("max-associations", "16"), "max-associations");
  auto policy = engine::ParseDuplicatePolicy(args->Get("on-duplicate", "keep"));
  auto codec_policy = CodecPolicyFromArgs(*args);
  for (const Status* s :
       {&port.status(), &admin_port.status(), &max_assoc.status(), &policy.status(), &codec_policy.status()})
    if (!s->ok()) return Fail(*s);
  if (*max_assoc == 0) return Fail(Status::InvalidArgument("--max-associations must be at least 1"));
  const std::string aet = args->Get("aet", "PACSCORE");
  if (aet.empty() || aet.size() > 16) return Fail(Status::InvalidArgument("--aet must be 1-16 characters"));
  if (args->Has("verbose")) SetLogLevel(LogLevel::kDebug);
  std::vector<dicom::PeerAddress> peers;  // C-MOVE destinations, --peer NAME=AET@HOST:PORT (repeatable)
  if (auto it = args->flags.find("peer"); it != args->flags.end())
    for (const auto& text : it->second) {
      auto peer = dicom::ParsePeer(text);
      if (!peer.ok()) return Fail(peer.status());
      peers.push_back(*peer);
    }

  // DCMTK reads TCP_NODELAY when it creates sockets: without it every
  // exchange waits on a delayed ACK and a DCMTK node tops out near 20 images/s.
  setenv("TCP_NODELAY", "1", 1);
  // Signals are taken by one thread with sigwait(); block them everywhere else.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto store = OpenFolder(data, *policy);
  if (!store.ok()) return Fail(store.status());
  // Frames are re-encoded behind the C-STORE responses unless --inline-encode.
  dicom::BackgroundEncoder background(**store, codec_policy->verify_encode);
  const bool use_background = !args->Has("inline-encode") && codec_policy->forced != codecs::CodecId::kRaw;
  if (use_background) background.Start();
  dicom::Ingestor ingestor(**store, *codec_policy, use_background ? &background : nullptr);
  dicom::DicomServer server(ingestor, {.port = *port, .ae_title = aet, .max_associations = *max_assoc, .peers = peers});

  const std::string data_abs = fs::absolute(data).string();
  AdminHandler handler = [&](const std::string& method, const std::string& target,
                             const std::string& body) -> HttpReply {
    if (method == "GET" && target == "/health") return {200, ToJson(JsonObject{{"ok", true}, {"data", data_abs}})};
    if (method == "GET" && target == "/stats") {
      auto stats = (*store)->Stats(true);
      if (!stats.ok()) return {500, ToJson(JsonObject{{"error", stats.status().ToString()}})};
      JsonValue json = StatsToJson(*stats);
      const auto& c = server.counters();
      std::get<JsonObject>(json.v)["server"] = JsonObject{
          {"associations", c.associations.load()},         {"echo_requests", c.echo_requests.load()},
          {"stores_succeeded", c.stores_succeeded.load()}, {"stores_failed", c.stores_failed.load()},
          {"receive_failures", c.receive_failures.load()}, {"background_encoded_frames", background.frames_encoded()},
          {"background_backlog", background.backlog()},
      };
      return {200, ToJson(json)};
    }
    auto request = ParseJson(body.empty() ? "{}" : body);
    if (!request.ok()) return {400, ToJson(JsonObject{{"error", request.status().ToString()}})};
    if (method == "POST" && target == "/import") {
      const std::string path = request->GetString("path");
      auto report = ingestor.IngestFile(path);
      if (!report.ok()) LogWarning("import of " + path + " failed: " + report.status().ToString());
      return {200, ToJson(IngestReply(report))};
    }
    if (method == "POST" && target == "/export") {
      auto syntax = dicom::ParseTargetSyntax(request->GetString("transfer_syntax"));
      if (!syntax.ok()) return {400, ToJson(JsonObject{{"error", syntax.status().ToString()}})};
      return {200, ToJson(ExportReply(dicom::ExportInstances(**store, request->GetString("out"),
                                                             request->GetString("study"), *syntax)))};
    }
    if (method == "POST" && target == "/compact" && use_background) {
      // Compaction measures the archive as it will stay: re-encode first (bounded).
      if (!background.WaitIdle(std::chrono::minutes(30)))
        return {503, ToJson(JsonObject{{"error", "background encoding still busy after 30 minutes"}})};
    }
    if (method == "POST" && (target == "/delete" || target == "/compact" || target == "/verify")) {
      auto reply = HandleMaintenance(**store, target.substr(1), *request);
      return {reply.GetString("error").empty() ? 200 : 400, ToJson(reply)};
    }
    return {404, ToJson(JsonObject{{"error", "no such endpoint: " + method + " " + target}})};
  };
  auto admin = AdminServer::Start(*admin_port, handler);
  if (!admin.ok()) return Fail(admin.status());
  {
    const std::string tmp = AdminPortFile(data) + ".tmp";
    std::ofstream(tmp) << (*admin)->port() << "\n";
    fs::rename(tmp, AdminPortFile(data));
  }
  LogInfo("admin endpoint on 127.0.0.1:" + std::to_string((*admin)->port()) + ", data folder " + data_abs);

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == 0) return;
    LogInfo(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
    server.Stop();
  });
  Status run = server.Run();
  // Wake the signal thread if the server ended on its own (e.g. port in use).
  if (!run.ok()) pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  (*admin)->Stop();
  background.Stop();  // the jobs left stay queued in the store for the next start
  std::error_code ec;
  fs::remove(AdminPortFile(data), ec);
  Status flushed = (*store)->Flush();
  if (!run.ok()) return Fail(run);
  if (!flushed.ok()) return Fail(flushed);
  LogInfo("stopped cleanly");
  return 0;
}

int RunImport(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"data", "on-duplicate", "codec"}, {"verify-encode", "no-verify-encode"});
  if (!args.ok()) return Fail(args.status());
  auto codec_policy = CodecPolicyFromArgs(*args);
  if (!codec_policy.ok()) return Fail(codec_policy.status());
  const std::string data = args->Get("data");
  if (data.empty() || args->positional.empty())
    return Fail(Status::InvalidArgument("usage: pacscore import --data DIR PATH..."));
  auto policy = engine::ParseDuplicatePolicy(args->Get("on-duplicate", "keep"));
  if (!policy.ok()) return Fail(policy.status());

  std::vector<std::string> problems;
  auto files = CollectFiles(args->positional, problems);
  for (const auto& p : problems) std::fprintf(stderr, "pacscore import: %s\n", p.c_str());

  std::optional<uint16_t> server = FindRunningServer(data);
  std::unique_ptr<engine::Store> store;
  std::unique_ptr<dicom::Ingestor> ingestor;
  if (!server) {
    auto opened = OpenFolder(data, *policy);
    if (!opened.ok()) return Fail(opened.status());
    store = std::move(*opened);
    ingestor = std::make_unique<dicom::Ingestor>(*store, *codec_policy);
  }

  uint64_t stored = 0, identical = 0, conflicting = 0, rejected = problems.size(), bytes = 0;
  Progress progress(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = fs::absolute(files[i]).string();
    JsonValue reply;
    if (server) {
      auto http = AdminRequest(*server, "POST", "/import", ToJson(JsonObject{{"path", path}}));
      if (!http.ok()) return Fail(http.status().WithContext("importing " + path + " through the running server"));
      auto parsed = ParseJson(http->body);
      if (!parsed.ok()) return Fail(parsed.status());
      reply = std::move(*parsed);
    } else {
      reply = IngestReply(ingestor->IngestFile(path));
    }
    if (reply.Get("ok") && std::get<bool>(reply.Get("ok")->v)) {
      const std::string outcome = reply.GetString("outcome");
      if (outcome == "stored")
        ++stored;
      else if (outcome == "identical duplicate")
        ++identical;
      else {
        ++conflicting;
        progress.Finish();
        std::fprintf(stderr, "pacscore import: %s: SOP Instance %s was already stored with different content: %s\n",
                     files[i].c_str(), reply.GetString("sop_instance_uid").c_str(), outcome.c_str());
      }
      bytes += static_cast<uint64_t>(reply.GetInt("received_bytes"));
    } else {
      ++rejected;
      progress.Finish();
      std::fprintf(stderr, "pacscore import: %s: %s\n", files[i].c_str(), reply.GetString("error").c_str());
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

int RunExport(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"data", "out", "study", "transfer-syntax"}, {});
  if (!args.ok()) return Fail(args.status());
  const std::string data = args->Get("data"), out = args->Get("out");
  if (data.empty() || out.empty())
    return Fail(Status::InvalidArgument(
        "usage: pacscore export --data DIR --out DIR [--study UID] [--transfer-syntax original|stored|UID]"));
  const std::string syntax_text = args->Get("transfer-syntax", "original");
  auto syntax = dicom::ParseTargetSyntax(syntax_text);
  if (!syntax.ok()) return Fail(syntax.status());
  const std::string out_abs = fs::absolute(out).string();
  JsonValue reply;
  if (auto server = FindRunningServer(data)) {
    auto http = AdminRequest(
        *server, "POST", "/export",
        ToJson(JsonObject{{"out", out_abs}, {"study", args->Get("study")}, {"transfer_syntax", syntax_text}}));
    if (!http.ok()) return Fail(http.status());
    auto parsed = ParseJson(http->body);
    if (!parsed.ok()) return Fail(parsed.status());
    reply = std::move(*parsed);
  } else {
    auto store = OpenFolder(data, engine::DuplicatePolicy::kKeep, /*read_only=*/true);
    if (!store.ok()) return Fail(store.status());
    reply = ExportReply(dicom::ExportInstances(**store, out_abs, args->Get("study"), *syntax));
  }
  if (!reply.GetString("error").empty()) return Fail(Status::IOError(reply.GetString("error")));
  if (const JsonValue* errors = reply.Get("errors"))
    for (const auto& e : std::get<JsonArray>(errors->v))
      if (e.string()) std::fprintf(stderr, "pacscore export: %s\n", e.string()->c_str());
  std::printf("exported %lld instances to %s, %lld failed\n", static_cast<long long>(reply.GetInt("exported")),
              out_abs.c_str(), static_cast<long long>(reply.GetInt("failed")));
  return reply.GetInt("failed") == 0 ? 0 : 2;
}

int RunStats(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"data"}, {"json"});
  if (!args.ok()) return Fail(args.status());
  const std::string data = args->Get("data");
  if (data.empty()) return Fail(Status::InvalidArgument("usage: pacscore stats --data DIR [--json]"));
  JsonValue stats;
  if (auto server = FindRunningServer(data)) {
    auto http = AdminRequest(*server, "GET", "/stats", "");
    if (!http.ok()) return Fail(http.status());
    auto parsed = ParseJson(http->body);
    if (!parsed.ok()) return Fail(parsed.status());
    if (http->status != 200) return Fail(Status::IOError(parsed->GetString("error")));
    stats = std::move(*parsed);
  } else {
    if (!fs::exists(data)) return Fail(Status::NotFound("no data folder " + data));
    auto store = OpenFolder(data, engine::DuplicatePolicy::kKeep, /*read_only=*/true);
    if (!store.ok()) return Fail(store.status());
    auto s = (*store)->Stats(true);
    if (!s.ok()) return Fail(s.status());
    stats = StatsToJson(*s);
  }
  if (args->Has("json")) {
    std::printf("%s\n", ToJson(stats, true).c_str());
    return 0;
  }
  for (const auto& [key, value] : *stats.object())
    if (value.integer()) std::printf("%-22s %lld\n", key.c_str(), static_cast<long long>(*value.integer()));
  if (const JsonValue* codecs = stats.Get("codecs"); codecs && codecs->object())
    for (const auto& [name, usage] : *codecs->object())
      std::printf("codec %-16s %lld chunks, %lld raw bytes, %lld stored bytes\n", name.c_str(),
                  static_cast<long long>(usage.GetInt("chunks")), static_cast<long long>(usage.GetInt("raw_bytes")),
                  static_cast<long long>(usage.GetInt("stored_bytes")));
  return 0;
}

}  // namespace pacs::tools
