// `pacscore serve`: the DICOM node on a data folder, its background encoder,
// and the admin endpoint the other subcommands reach it through.
#include <pthread.h>
#include <csignal>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "admin_http.h"
#include "cli.h"
#include "pacs/base/log.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/dicom/background_encoder.h"
#include "pacs/dicom/dicom_server.h"
#include "pacs/dicom/exporter.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/transcode.h"

namespace pacs::tools {
namespace fs = std::filesystem;

namespace {

HttpReply JsonReply(int status, const Json& body) {
  return {status, ToJson(body)};
}

HttpReply ErrorReply(int status, const std::string& message) {
  return JsonReply(status, {{"error", message}});
}

// The admin endpoint's requests, answered on the admin server's thread.
class AdminApi {
 public:
  AdminApi(engine::Store& store, dicom::Ingestor& ingestor, dicom::DicomServer& server,
           dicom::BackgroundEncoder& background, bool use_background, std::string data_dir)
      : store_(store),
        ingestor_(ingestor),
        server_(server),
        background_(background),
        use_background_(use_background),
        data_dir_(std::move(data_dir)) {}

  HttpReply Handle(const std::string& method, const std::string& target, const std::string& body) {
    if (method == "GET" && target == "/health") return JsonReply(200, {{"ok", true}, {"data", data_dir_}});
    if (method == "GET" && target == "/stats") return Stats();
    auto request = ParseJson(body.empty() ? "{}" : body);
    if (!request.ok()) return ErrorReply(400, request.status().ToString());
    if (method == "POST" && target == "/import") {
      const std::string path = JsonString(*request, "path");
      auto report = ingestor_.IngestFile(path);
      if (!report.ok()) LogWarning("import of " + path + " failed: " + report.status().ToString());
      return JsonReply(200, IngestReply(report));
    }
    if (method == "POST" && target == "/export") {
      auto syntax = dicom::ParseTargetSyntax(JsonString(*request, "transfer_syntax"));
      if (!syntax.ok()) return ErrorReply(400, syntax.status().ToString());
      return JsonReply(200, ExportReply(dicom::ExportInstances(store_, JsonString(*request, "out"),
                                                               JsonString(*request, "study"), *syntax)));
    }
    if (method == "POST" && target == "/compact" && use_background_) {
      // Compaction measures the archive as it will stay: re-encode first (bounded).
      if (!background_.WaitIdle(std::chrono::minutes(30)))
        return ErrorReply(503, "background encoding still busy after 30 minutes");
    }
    if (method == "POST" && (target == "/delete" || target == "/compact" || target == "/verify")) {
      Json reply = HandleMaintenance(store_, target.substr(1), *request);
      return JsonReply(JsonString(reply, "error").empty() ? 200 : 400, reply);
    }
    return ErrorReply(404, "no such endpoint: " + method + " " + target);
  }

 private:
  HttpReply Stats() {
    auto stats = store_.Stats(true);
    if (!stats.ok()) return ErrorReply(500, stats.status().ToString());
    Json json = StatsToJson(*stats);
    const auto& c = server_.counters();
    const dicom::FrameCounters frames = dicom::ReadFrameCounters();
    json["server"] = {
        {"associations", JsonCount(c.associations.load())},
        {"echo_requests", JsonCount(c.echo_requests.load())},
        {"stores_succeeded", JsonCount(c.stores_succeeded.load())},
        {"stores_failed", JsonCount(c.stores_failed.load())},
        {"receive_failures", JsonCount(c.receive_failures.load())},
        {"background_encoded_frames", JsonCount(background_.frames_encoded())},
        {"background_backlog", JsonCount(background_.backlog())},
        // Frames read by retrieval and export (C-GET, C-MOVE, /export):
        // decoded to be sent, or sent exactly as stored.
        {"frames_decoded_for_retrieval", JsonCount(frames.decoded)},
        {"frames_retrieved_as_stored", JsonCount(frames.as_stored)},
    };
    return JsonReply(200, json);
  }

  engine::Store& store_;
  dicom::Ingestor& ingestor_;
  dicom::DicomServer& server_;
  dicom::BackgroundEncoder& background_;
  const bool use_background_;
  const std::string data_dir_;
};

}  // namespace

int RunServe(const ServeFlags& flags) {
  auto policy = engine::ParseDuplicatePolicy(flags.on_duplicate);
  if (!policy.ok()) return Fail(policy.status());
  auto codec_policy = dicom::ParseCodecPolicy(flags.codec);
  if (!codec_policy.ok()) return Fail(codec_policy.status());
  codec_policy->verify_encode = !flags.no_verify_encode;
  if (flags.verbose) SetLogLevel(LogLevel::kDebug);
  std::vector<dicom::PeerAddress> peers;  // C-MOVE destinations
  for (const auto& text : flags.peers) {
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

  const std::string& data = flags.data;
  auto store = OpenFolder(data, *policy);
  if (!store.ok()) return Fail(store.status());
  // Frames are re-encoded behind the C-STORE responses unless --inline-encode.
  dicom::BackgroundEncoder background(**store, codec_policy->verify_encode);
  const bool use_background = !flags.inline_encode && codec_policy->forced != codecs::CodecId::kRaw;
  if (use_background) background.Start();
  dicom::Ingestor ingestor(**store, *codec_policy, use_background ? &background : nullptr);
  dicom::DicomServer server(
      ingestor,
      {.port = flags.port, .ae_title = flags.aet, .max_associations = flags.max_associations, .peers = peers});

  const std::string data_abs = fs::absolute(data).string();
  AdminApi api(**store, ingestor, server, background, use_background, data_abs);
  auto admin = AdminServer::Start(
      flags.admin_port, [&api](const std::string& method, const std::string& target, const std::string& body) {
        return api.Handle(method, target, body);
      });
  if (!admin.ok()) return Fail(admin.status());
  {
    const std::string tmp = AdminPortFile(data) + ".tmp";
    std::ofstream(tmp) << (*admin)->port() << "\n";
    fs::rename(tmp, AdminPortFile(data));
  }
  LogInfo("admin endpoint on 127.0.0.1:" + std::to_string((*admin)->port()) + ", data folder " + data_abs);

  // When the server ends on its own (the DICOM port is taken, say), the
  // signal thread is woken with a signal it did not receive from outside:
  // this flag tells it so, and it stays silent.
  std::atomic<bool> server_ended{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (server_ended.load()) return;
    LogInfo(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
    server.Stop();
  });
  Status run = server.Run();
  server_ended.store(true);
  // No signal came: wake the sigwait() thread with one. SIGTERM is blocked in
  // every thread, so it ends the wait and kills nothing.
  // NOLINTNEXTLINE(bugprone-bad-signal-to-kill-thread)
  if (!run.ok()) pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  (*admin)->Stop();
  background.Stop();  // the jobs left stay queued in the store for the next start
  std::error_code ec;
  fs::remove(AdminPortFile(data), ec);
  Status flushed = (*store)->Flush();
  if (!run.ok()) return Fail(run.WithContext("serve --port " + std::to_string(flags.port)));
  if (!flushed.ok()) return Fail(flushed);
  LogInfo("stopped cleanly");
  return 0;
}

}  // namespace pacs::tools
