// `pacscore serve`: the DICOM node on a data folder, its background encoder,
// and the admin endpoint the other subcommands reach it through.
#include <pthread.h>
#include <sys/stat.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "admin_http.h"
#include "admin_paths.h"
#include "cli.h"
#include "http_server.h"
#include "pacs/base/log.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/dicom/background_encoder.h"
#include "pacs/dicom/dicom_library.h"
#include "pacs/dicom/dicom_server.h"
#include "pacs/dicom/exporter.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/retention.h"
#include "pacs/dicom/transcode.h"
#include "pacs/engine/sync_point.h"
#include "peer_config.h"
#include "serve_audit.h"
#include "serve_metrics.h"
#include "serve_web.h"

namespace pacs::tools {
namespace fs = std::filesystem;

namespace {

HttpReply JsonReply(int status, const Json& body) {
  return {status, ToJson(body)};
}

HttpReply ErrorReply(int status, const std::string& message) {
  return JsonReply(status, {{"error", message}});
}

// The admin endpoint's requests, which passed its gate (admin_http.h). They
// run on the admin server's handler threads, several at once: the store,
// ingestor, encoder and retention service are thread-safe.
class AdminApi {
 public:
  AdminApi(engine::Store& store, dicom::Ingestor& ingestor, dicom::DicomServer& server,
           dicom::BackgroundEncoder& background, dicom::RetentionService& retention, bool use_background,
           std::string data_dir, AllowedFolders allowed, dicom::PrefetchOptions export_prefetch = {})
      : store_(store),
        ingestor_(ingestor),
        server_(server),
        background_(background),
        retention_(retention),
        use_background_(use_background),
        data_dir_(std::move(data_dir)),
        allowed_(std::move(allowed)),
        export_prefetch_(export_prefetch) {}

  HttpReply Handle(const std::string& method, const std::string& target, const Json& body) {
    if (method == "GET" && target == "/health") return JsonReply(200, {{"ok", true}, {"data", data_dir_}});
    if (method == "GET" && target == "/stats") return Stats();
    const Json* request = &body;
    if (method == "POST" && target == "/import") {
      const std::string path = JsonString(*request, "path");
      auto file = allowed_.OpenForImport(path);
      if (!file.ok())
        return ErrorReply(file.status().code() == StatusCode::kInvalidArgument ? 403 : 400, file.status().ToString());
      // The file as opened, not whatever the path names by the time it is read.
      auto report = ingestor_.IngestFile(file->ProcPath());
      if (!report.ok()) {
        report = report.status().WithContext(path);
        LogWarning("import of " + path + " failed: " + report.status().ToString());
      }
      Json reply = IngestReply(report);
      AuditAdminAction(target, *request, reply);
      return JsonReply(200, reply);
    }
    if (method == "POST" && target == "/export") {
      auto syntax = dicom::ParseTargetSyntax(JsonString(*request, "transfer_syntax"));
      if (!syntax.ok()) return ErrorReply(400, syntax.status().ToString());
      auto out = allowed_.PrepareExportFolder(JsonString(*request, "out"));
      if (!out.ok())
        return ErrorReply(out.status().code() == StatusCode::kInvalidArgument ? 403 : 400, out.status().ToString());
      // Built ahead of the writer like a C-GET's instances, under the same cap.
      Json reply =
          ExportReply(dicom::ExportInstances(store_, *out, JsonString(*request, "study"), *syntax, export_prefetch_));
      AuditAdminAction(target, *request, reply);
      return JsonReply(200, reply);
    }
    if (method == "POST" && target == "/retention") {
      auto policy = RetentionPolicyFromJson(*request);
      if (!policy.ok()) return ErrorReply(400, policy.status().ToString());
      if (policy->empty() && retention_.policy().empty())
        return ErrorReply(400,
                          "this server has no retention rule and no quota (serve --retention-rule, --storage-quota); "
                          "give them to `pacscore retention`");
      Json reply = RetentionReply(retention_.RunNow(
          *policy, {.dry_run = JsonBool(*request, "dry_run"), .requested_by = "pacscore retention (admin endpoint)"}));
      AuditAdminAction(target, *request, reply);
      return JsonReply(JsonString(reply, "error").empty() ? 200 : 500, reply);
    }
    if (method == "POST" && target == "/protect") {
      Json reply = HandleProtect(store_, *request);
      AuditAdminAction(target, *request, reply);
      return JsonReply(JsonString(reply, "error").empty() ? 200 : 400, reply);
    }
    if (method == "POST" && target == "/wait-idle") {
      // Until background encoding is done and the staged raw frames' space
      // is released: what benchmarks wait for before measuring the archive.
      // With "flush": true, also until every memtable is in its files (the
      // write-ahead log dropped): work RocksDB would otherwise do later.
      const int64_t timeout_ms = std::max<int64_t>(0, JsonInt(*request, "timeout_ms", 600000));
      const auto start = std::chrono::steady_clock::now();
      const bool idle = !use_background_ || background_.WaitIdle(std::chrono::milliseconds(timeout_ms));
      if (!idle)
        return ErrorReply(503, "background encoding still busy after " + std::to_string(timeout_ms) + " ms (backlog " +
                                   std::to_string(background_.backlog()) + ")");
      if (JsonBool(*request, "flush")) {
        const Status flushed = store_.Flush();
        if (!flushed.ok()) return ErrorReply(500, "flushing memtables: " + flushed.ToString());
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return JsonReply(200, {{"idle", true}, {"waited_seconds", seconds}});
    }
    if (method == "POST" && target == "/compact" && use_background_) {
      // Compaction measures the archive as it will stay: re-encode first (bounded).
      if (!background_.WaitIdle(std::chrono::minutes(30)))
        return ErrorReply(503, "background encoding still busy after 30 minutes");
    }
    if (method == "POST" &&
        (target == "/delete" || target == "/compact" || target == "/verify" || target == "/reindex")) {
      Json reply = HandleMaintenance(store_, target.substr(1), *request);
      if (target != "/verify") AuditAdminAction(target, *request, reply);
      return JsonReply(JsonString(reply, "error").empty() ? 200 : 400, reply);
    }
    return ErrorReply(404, "no such endpoint: " + method + " " + target);
  }

 private:
  HttpReply Stats() {
    auto stats = store_.Stats(true);
    if (!stats.ok()) return ErrorReply(500, stats.status().ToString());
    Json json = StatsToJson(*stats);
    using dicom::DimseOutcome;
    using dicom::DimseService;
    const auto& c = server_.counters();
    const uint64_t receive_failures = c.receive_failures.value();
    const dicom::FrameCounters frames = dicom::ReadFrameCounters();
    const dicom::PrefetchCounters prefetch = dicom::ReadPrefetchCounters();
    json["server"] = {
        {"associations", JsonCount(c.associations.value())},
        {"echo_requests", JsonCount(c.requests(DimseService::kEcho))},
        {"stores_succeeded", JsonCount(c.requests(DimseService::kStore, DimseOutcome::kSuccess) +
                                       c.requests(DimseService::kStore, DimseOutcome::kWarning))},
        // Datasets that could not be received are failed C-STOREs too; they are reported on their own.
        {"stores_failed", JsonCount(c.requests(DimseService::kStore, DimseOutcome::kFailure) - receive_failures)},
        {"receive_failures", JsonCount(receive_failures)},
        {"commitment_requests", JsonCount(c.commitment_requests.value())},
        {"commitment_instances_committed", JsonCount(c.commitment_instances_committed.value())},
        {"commitment_instances_failed", JsonCount(c.commitment_instances_failed.value())},
        {"commitment_reports_failed", JsonCount(c.commitment_reports_failed.value())},
        {"background_encoded_frames", JsonCount(background_.frames_encoded())},
        {"background_backlog", JsonCount(background_.backlog())},
        {"background_threads", JsonCount(use_background_ ? background_.threads() : 0)},
        // Frames read by retrieval and export (C-GET, C-MOVE, /export):
        // decoded to be sent, or sent exactly as stored.
        {"frames_decoded_for_retrieval", JsonCount(frames.decoded)},
        {"frames_retrieved_as_stored", JsonCount(frames.as_stored)},
        // Instances built ahead of the sender (prefetch.h): bytes held now
        // by every retrieval's queue, and the most ever held at once.
        {"retrieval_queued_bytes", JsonCount(prefetch.queued_bytes)},
        {"retrieval_peak_queued_bytes", JsonCount(prefetch.peak_queued_bytes)},
    };
    return JsonReply(200, json);
  }

  engine::Store& store_;
  dicom::Ingestor& ingestor_;
  dicom::DicomServer& server_;
  dicom::BackgroundEncoder& background_;
  dicom::RetentionService& retention_;
  const bool use_background_;
  const std::string data_dir_;
  const AllowedFolders allowed_;
  const dicom::PrefetchOptions export_prefetch_;  // --retrieval-threads, --retrieval-buffer
};

// The files are read, and checked, when the server starts (tls_layer.h).
Result<dicom::TlsSettings> TlsSettingsOf(const ServeFlags& flags) {
  auto verify = dicom::ParseTlsVerify(flags.tls_verify);
  if (!verify.ok()) return verify.status();
  return dicom::TlsSettings{.certificate_file = flags.tls_cert,
                            .private_key_file = flags.tls_key,
                            .ca = flags.tls_ca,
                            .verify = *verify,
                            .handshake_timeout = std::chrono::milliseconds(flags.tls_handshake_timeout_ms)};
}

}  // namespace

int RunServe(const ServeFlags& flags) {
  auto policy = engine::ParseDuplicatePolicy(flags.on_duplicate);
  if (!policy.ok()) return Fail(policy.status());
  auto codec_policy = dicom::ParseCodecPolicy(flags.codec);
  if (!codec_policy.ok()) return Fail(codec_policy.status());
  codec_policy->verify_encode = !flags.no_verify_encode;
  if (flags.verbose) SetLogLevel(LogLevel::kDebug);
  dicom::SetDcmtkLogVerbose(flags.verbose);
  if (!flags.log_file.empty())
    if (Status opened = SetLogFile(flags.log_file); !opened.ok()) return Fail(opened);
  dicom::LoadDataDictionary();  // not in the first request that parses DICOM; logged where --log-file says
  // Crash tests only (tests/ceph/serve_kill_test.cpp): PACS_TEST_KILL_AT=SYNC_POINT@N.
  auto hook = engine::SyncPoints::TEST_InstallKillFromEnvironment();
  if (!hook.ok()) return Fail(hook.status());
  if (!hook->empty()) LogWarning(*hook);
  if (Status opened = StartAuditTrail(flags); !opened.ok()) return Fail(opened);
  ApplicationStopOnExit audit_stop;  // Application Stop, however serve ends
  auto tls = TlsSettingsOf(flags);
  if (!tls.ok()) return Fail(tls.status());
  if (flags.association_request_timeout_ms < 100)
    return Fail(Status::InvalidArgument("--association-request-timeout must be at least 100ms"));
  if (flags.idle_timeout_ms < 1000) return Fail(Status::InvalidArgument("--idle-timeout must be at least 1s"));
  std::vector<dicom::PeerAddress> peers;  // C-MOVE destinations
  for (const auto& text : flags.peers) {
    auto peer = ParsePeerEntry(text);
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

  // Nothing the server writes (exports, its database) is for other users.
  umask(027);
  auto allowed = AllowedFolders::Resolve(flags.admin_allow_dirs);
  if (!allowed.ok()) return Fail(allowed.status());
  std::shared_ptr<const TokenFile> admin_tokens;
  if (flags.admin_port >= 0) {
    if (flags.admin_token_file.empty())
      return Fail(Status::InvalidArgument("--admin-port needs --admin-token-file (a token with role admin)"));
    auto tokens = TokenFile::Load(flags.admin_token_file);
    if (!tokens.ok()) return Fail(tokens.status().WithContext("--admin-token-file"));
    admin_tokens = std::make_shared<const TokenFile>(std::move(*tokens));
  }

  const std::string& data = flags.data;
  auto min_free_space = ParseFreeSpaceFloor(flags.min_free_space);
  if (!min_free_space.ok()) return Fail(min_free_space.status());
  auto store = OpenFolder(data, *policy, /*read_only=*/false, *min_free_space);
  if (!store.ok()) return Fail(store.status());
  // Frames are re-encoded behind the C-STORE responses unless --inline-encode.
  dicom::BackgroundEncoder background(**store, codec_policy->verify_encode, flags.encode_threads);
  const bool use_background = !flags.inline_encode && codec_policy->forced != codecs::CodecId::kRaw;
  if (use_background) {
    background.Start();
    LogInfo("background encoding on " + std::to_string(background.threads()) + " threads");
  }
  dicom::Ingestor ingestor(**store, *codec_policy, use_background ? &background : nullptr);
  auto retention_policy = RetentionPolicyFromJson(
      {{"rules", flags.retention_rules}, {"quota_bytes", flags.storage_quota_bytes}, {"on_quota", flags.on_quota}});
  if (!retention_policy.ok()) return Fail(retention_policy.status());
  if (retention_policy->quota_bytes > 0 && retention_policy->on_quota == dicom::QuotaAction::kRefuse)
    ingestor.RefuseNewStudiesOverQuota(retention_policy->quota_bytes);
  if (!retention_policy->empty())
    LogInfo("retention: " + std::to_string(retention_policy->rules.size()) + " rules every " +
            std::to_string(flags.retention_interval_ms / 1000) + " s; storage quota " +
            (retention_policy->quota_bytes == 0 ? std::string("none")
                                                : std::to_string(retention_policy->quota_bytes) + " bytes, " +
                                                      dicom::QuotaActionName(retention_policy->on_quota)));
  dicom::RetentionService retention(**store, *retention_policy, std::chrono::milliseconds(flags.retention_interval_ms));
  retention.Start();
  metrics::Registry registry;  // outlives the server and the metrics endpoint, which count into it
  const auto request_timeout = std::chrono::milliseconds(flags.association_request_timeout_ms);
  dicom::DicomServer server(ingestor,
                            {.port = flags.port,
                             .ae_title = flags.aet,
                             .max_associations = flags.max_associations,
                             .bind_address = flags.bind,
                             .max_connections_per_host = flags.max_connections_per_host,
                             .association_request_timeout = request_timeout,
                             .idle_timeout = std::chrono::milliseconds(flags.idle_timeout_ms),
                             .peers = peers,
                             .commitment_release_wait = std::chrono::milliseconds(flags.commit_release_wait_ms),
                             .plain_port = !flags.port_off,
                             .tls_port = flags.tls_port,
                             .tls = *tls,
                             .echo_from_any_ae = flags.echo_from_any_ae,
                             .store_from_any_ae = flags.store_from_any_ae,
                             .any_called_aet = flags.any_called_aet,
                             .max_associations_per_ae = flags.max_associations_per_ae,
                             .max_dataset_bytes = flags.max_dataset_bytes,
                             .retrieval_threads = flags.retrieval_threads,
                             .retrieval_buffer_bytes = flags.retrieval_buffer_bytes},
                            registry);

  const std::string data_abs = fs::absolute(data).string();
  AdminApi api(**store, ingestor, server, background, retention, use_background, data_abs, std::move(*allowed),
               {flags.retrieval_threads, flags.retrieval_buffer_bytes});
  auto admin = AdminServer::Start({.socket_path = AdminSocketPath(data_abs),
                                   .tcp_port = flags.admin_port,
                                   .tokens = admin_tokens,
                                   .body_limit = uint64_t{1} * 1024 * 1024},
                                  [&api](const std::string& method, const std::string& target, const Json& body,
                                         const AdminCaller&) { return api.Handle(method, target, body); });
  if (!admin.ok()) return Fail(admin.status());
  LogInfo("admin endpoint on " + AdminSocketPath(data_abs) + " (mode 0600), data folder " + data_abs);
  if (flags.admin_port >= 0) {
    const std::string tmp = AdminPortFile(data) + ".tmp";
    std::ofstream(tmp) << (*admin)->tcp_port() << "\n";
    fs::rename(tmp, AdminPortFile(data));
    LogInfo("admin endpoint also on 127.0.0.1:" + std::to_string((*admin)->tcp_port()) + " with " +
            std::to_string(admin_tokens->size()) + " tokens from " + flags.admin_token_file);
  }
  LogInfo(
      "access control: called AE title " + (flags.any_called_aet ? std::string("any") : flags.aet) +
      "; C-ECHO from any AE " + (flags.echo_from_any_ae ? "on" : "off") + ", C-STORE from any AE " +
      (flags.store_from_any_ae ? "on" : "off") + "; " + std::to_string(peers.size()) +
      " peers; associations per calling AE " +
      (flags.max_associations_per_ae == 0 ? std::string("not capped") : std::to_string(flags.max_associations_per_ae)));
  if (flags.admin_allow_dirs.empty()) LogInfo("admin endpoint: /export and /import are refused (no --admin-allow-dir)");
  {
    const engine::WriteHealthReport health = (*store)->WriteHealth();
    LogInfo("C-STORE refused (A700) below " + std::to_string(health.min_free_bytes >> 20) +
            " MiB free on the data folder's file system (--min-free-space " + flags.min_free_space + "; " +
            std::to_string(health.available_bytes >> 20) + " MiB free now) and above " +
            std::to_string(flags.max_dataset_bytes) + " bytes per dataset (--max-dataset-bytes)");
  }
  LogInfo("JPEG-LS decoder: " + std::string(codecs::JpegLsDecoderName()) +
          (codecs::JpegLsDecoderName() == "pacs::jls" ? "" : " (PACS_JPEGLS_DECODER=charls)"));

  // GET /metrics for Prometheus, only with --metrics-bind. No token: bind it
  // to loopback or a monitoring network.
  ArchiveMetrics archive_metrics(registry, **store, background, data_abs);
  std::unique_ptr<HttpServer> metrics_endpoint;
  if (!flags.metrics_bind.empty()) {
    auto bind = ParseListenAddress(flags.metrics_bind);
    if (!bind.ok()) return Fail(bind.status().WithContext("--metrics-bind"));
    auto started =
        HttpServer::Start({.name = "metrics endpoint", .address = bind->address, .port = bind->port},
                          [&archive_metrics](const std::string& method, const std::string& target, const std::string&) {
                            return archive_metrics.Handle(method, target);
                          });
    if (!started.ok()) return Fail(started.status());
    metrics_endpoint = std::move(*started);
    const bool v6 = bind->address.find(':') != std::string::npos;
    LogInfo("metrics endpoint on " + (v6 ? "[" + bind->address + "]" : bind->address) + ":" +
            std::to_string(metrics_endpoint->port()) + "/metrics");
  }

  // DICOMweb and the viewer on --web-port (serve_web.h).
  auto web_endpoint = StartWebEndpoint(flags, **store, ingestor, data_abs);
  if (!web_endpoint.ok()) return Fail(web_endpoint.status());

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
  if (*web_endpoint) (*web_endpoint)->Stop();
  if (metrics_endpoint) metrics_endpoint->Stop();
  (*admin)->Stop();
  retention.Stop();
  background.Stop();  // the jobs left stay queued in the store for the next start
  std::error_code ec;
  if (flags.admin_port >= 0) fs::remove(AdminPortFile(data), ec);
  Status flushed = (*store)->Flush();
  audit_stop.set(run.ok() ? flushed : run);
  if (!run.ok()) return Fail(run.WithContext(flags.port_off ? "serve" : "serve --port " + std::to_string(flags.port)));
  if (!flushed.ok()) return Fail(flushed);
  LogInfo("stopped cleanly");
  return 0;
}

}  // namespace pacs::tools
