// File: cli.h
// What the subcommands share: their flags once parsed (command_line.cpp
// parses them), finding the running server that holds a data folder, JSON
// helpers, progress output, and the maintenance actions that the CLI and
// the admin endpoint both run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "admin_http.h"
#include "pacs/base/audit.h"
#include "pacs/base/result.h"
#include "pacs/dicom/retention.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {
struct IngestReport;
struct ExportSummary;
}  // namespace pacs::dicom

namespace pacs::tools {

using Json = nlohmann::json;

// The flags of each subcommand, already checked by the command line
// (ports in range, known policies and codecs, well-formed peers).
struct ServeFlags {
  std::string data;
  uint16_t port = 11112;
  std::string aet = "PACSCORE";
  // The admin endpoint: always the Unix socket DATA/admin.sock; a TCP port
  // on 127.0.0.1 only when admin_port >= 0 (0: any free port), with a token file.
  int admin_port = -1;
  std::string admin_token_file;
  std::vector<std::string> admin_allow_dirs;  // folders /export and /import may touch; none: both refused
  uint16_t max_associations = 16;
  std::string bind = "0.0.0.0";      // the DICOM port's address
  int max_connections_per_host = 4;  // pending and associated, per source address
  int64_t association_request_timeout_ms = 5000;
  int64_t idle_timeout_ms = 120000;
  std::string metrics_bind;  // ADDR:PORT of GET /metrics; empty: no metrics endpoint
  std::string on_duplicate = "keep";
  std::string codec = "auto";
  // NAME=AET@HOST:PORT or a JSON object (peer_config.h): C-MOVE destinations,
  // Storage Commitment requesters, and who may query and retrieve.
  std::vector<std::string> peers;
  int64_t commit_release_wait_ms = 1000;
  bool verify_encode = false;  // the default; kept so scripts may say it
  bool no_verify_encode = false;
  bool inline_encode = false;
  unsigned encode_threads = 0;  // background encoding threads; 0: one per hardware thread
  bool verbose = false;
  // Access control (docs/security.md, "Access control (AE table)").
  bool echo_from_any_ae = true;
  bool store_from_any_ae = true;
  bool any_called_aet = false;
  uint16_t max_associations_per_ae = 8;  // 0: no cap per calling AE
  // Retention and quotas (docs/operations.md), all off unless given.
  std::vector<std::string> retention_rules;  // study-date>AGE[:MOD,...] | received>AGE[:MOD,...]
  int64_t retention_interval_ms = int64_t{3600} * 1000;
  uint64_t storage_quota_bytes = 0;  // 0: none
  std::string on_quota = "refuse";
  // DICOM TLS (docs/security.md): the TLS port (0: none), and the settings it
  // and the associations to peers marked +tls share. `port_off`: `--port off`.
  bool port_off = false;
  uint16_t tls_port = 0;
  std::string tls_cert, tls_key, tls_ca;
  std::string tls_verify = "require";
  int64_t tls_handshake_timeout_ms = 10000;
  // A full disk and resource limits (docs/operations.md).
  std::string min_free_space = "2G";        // SIZE or N%: C-STORE gets A700 below it
  uint64_t max_dataset_bytes = 2ull << 30;  // a larger C-STORE dataset gets A700
  // C-GET / C-MOVE build instances ahead of the sender (docs/operations.md, "Retrieval").
  uint64_t retrieval_buffer_bytes = 64ull << 20;  // per retrieval
  size_t retrieval_threads = 0;                   // 0: one per core
  std::string audit_log;  // --audit-log FILE: one JSON line per audit event (docs/security.md); empty: none
  std::string log_file;   // --log-file FILE: log lines there instead of stderr
  // DICOMweb and the viewer (docs/conformance.md "DICOMweb", docs/security.md "Web tokens"): off unless
  // web_port >= 0 (0: any free port, written to DATA/web.port). Without a token file only a loopback bind.
  int web_port = -1;
  std::string web_bind = "127.0.0.1";
  std::string web_token_file;
  std::string web_cors_origin;                // "" none, "*", or one origin
  std::string web_base_url;                   // absolute URIs in responses; "" relative ones
  uint64_t web_max_body = uint64_t{4} << 30;  // STOW-RS request bodies
  size_t web_max_connections_per_host = 32;   // open at once from one source address
  std::string viewer_dir;                     // a built OHIF viewer served at / of the web port
  // HTTPS on the web port (docs/security.md "HTTPS"): both or neither; the handshake timeout is
  // tls_handshake_timeout_ms. web_tls_verify "": require with a CA, else none.
  std::string web_tls_cert, web_tls_key, web_tls_ca, web_tls_verify;
};

struct ImportFlags {
  std::string data;
  std::string on_duplicate = "keep";
  std::string codec = "auto";
  bool verify_encode = false;
  bool no_verify_encode = false;
  std::vector<std::string> paths;
};

struct ExportFlags {
  std::string data;
  std::string out;
  std::string study;
  std::string transfer_syntax = "original";
};

struct StatsFlags {
  std::string data;
  bool json = false;
};

// delete, compact, verify and reindex.
struct MaintenanceFlags {
  std::string data;
  std::string study, series, instance;         // delete: exactly one
  int64_t gc_grace_ms = int64_t{3600} * 1000;  // compact, verify: --gc-grace, default 1h
  bool deep = false;                           // verify
  bool json = false;                           // print the reply as JSON, for scripts
  // compact: --orphan-grace (pool objects that never took a reference), default 1h
  int64_t orphan_grace_ms = int64_t{3600} * 1000;
};

// rebuild: a lost node's data folder re-created from its RADOS pool
// (--frames rados:POOL, --ceph-conf, --ceph-id are FramesFlags).
struct RebuildFlags {
  std::string data;
  std::string node;  // the lost node's id (frames/node, 16 hex digits)
  bool json = false;
};

// commit-request: a Storage Commitment client.
struct CommitRequestFlags {
  std::string host = "127.0.0.1";
  uint16_t port = 11112;
  std::string called_aet = "PACSCORE";
  std::string calling_aet = "COMMITSCU";
  uint16_t listen_port = 0;  // 0: the report on the same association
  int64_t timeout_ms = int64_t{120} * 1000;
  std::vector<std::string> files;
};

// `retention`: the serve flags of the same names, for an on-demand run.
struct RetentionFlags {
  std::string data;
  std::vector<std::string> retention_rules;
  uint64_t storage_quota_bytes = 0;
  std::string on_quota = "refuse";
  bool dry_run = false;
  bool json = false;
};

// `protect`: one study on or off, or the list.
struct ProtectFlags {
  std::string data;
  std::string study;
  bool unprotect = false;
  bool list = false;
  bool json = false;
};

int RunServe(const ServeFlags& flags);
int RunCommitRequest(const CommitRequestFlags& flags);
int RunRetention(const RetentionFlags& flags);
int RunProtect(const ProtectFlags& flags);
int RunImport(const ImportFlags& flags);
int RunExport(const ExportFlags& flags);
int RunStats(const StatsFlags& flags);
int RunDelete(const MaintenanceFlags& flags);
int RunCompact(const MaintenanceFlags& flags);
int RunVerify(const MaintenanceFlags& flags);
int RunReindex(const MaintenanceFlags& flags);
int RunRebuild(const RebuildFlags& flags);

// Why `text` is not a port number 0-65535, or "" when it is one.
std::string PortProblem(const std::string& text);
// Why `text` is not a duration like 0, 250ms, 90s, 30m, 1h, 2d (plain
// numbers are seconds), or "" when it is one.
std::string DurationProblem(const std::string& text);
// Why `text` is not a size in bytes like 5000000, 500MB, 10GB, 2GiB, or "" when it is one.
std::string ByteSizeProblem(const std::string& text);
Result<uint64_t> ParseByteSize(const std::string& text, const std::string& flag);
// serve --min-free-space: a size (ParseByteSize) or a percentage such as "5%".
Result<engine::FreeSpaceFloor> ParseFreeSpaceFloor(const std::string& text);
Result<uint16_t> ParsePort(const std::string& text, const std::string& flag);
Result<int64_t> ParseDurationMs(const std::string& text, const std::string& flag);

// The flag parser `pacscore bench` still uses until it moves to bench/ with
// a command line of its own. `value_flags` take a value, `bool_flags` do not.
struct Args {
  std::map<std::string, std::vector<std::string>> flags;  // repeatable flags keep every value
  std::vector<std::string> positional;

  bool Has(const std::string& name) const { return flags.contains(name); }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = flags.find(name);
    return it == flags.end() || it->second.empty() ? fallback : it->second.back();
  }
};
Result<Args> ParseArgs(int argc, char** argv, const std::set<std::string>& value_flags,
                       const std::set<std::string>& bool_flags);

// JSON at the boundary: parse errors become a Status; text that is not valid
// UTF-8 is written with U+FFFD instead of throwing.
Result<Json> ParseJson(std::string_view text);
std::string ToJson(const Json& value, bool pretty = false);
// A counter as the admin API has always written it: a signed 64-bit integer,
// so that one that wrapped below zero reads as a small negative number, not
// as 2^64 - 1 that some parsers refuse.
inline int64_t JsonCount(uint64_t count) {
  return static_cast<int64_t>(count);
}
// Fields of a JSON object, with the fallback when absent or of another type.
std::string JsonString(const Json& object, const std::string& key);
int64_t JsonInt(const Json& object, const std::string& key, int64_t fallback = 0);
bool JsonBool(const Json& object, const std::string& key);

// The admin endpoint's Unix socket in a data folder: DATA/admin.sock.
std::string AdminSocketPath(const std::string& data_dir);
// The file in the data folder where `serve` publishes its admin TCP port,
// when it has one (--admin-port).
std::string AdminPortFile(const std::string& data_dir);
// The admin socket of a live server holding `data_dir`, if one answers there
// (GET /health) and names that folder.
std::optional<AdminEndpoint> FindRunningServer(const std::string& data_dir);

Json StatsToJson(const engine::StoreStats& stats);

// A one-line progress bar on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(uint64_t total);
  void Update(uint64_t done, uint64_t bytes) const;
  void Finish() const;

 private:
  uint64_t total_;
  bool enabled_;
  double start_;
};

// Reports "pacscore: <status>" on stderr (a log line with --log-format json);
// returns 1, the exit status of a fatal error.
int Fail(const Status& status);
// Where the data folder's frames go (--frames, --ceph-conf, --ceph-id, on
// every subcommand that takes --data; one subcommand runs per process).
struct FramesFlags {
  std::string frames;  // "", "rocksdb" or "rados:POOL"
  std::string ceph_conf;
  std::string ceph_id;
};
FramesFlags& SelectedFrames();
// Opens a data folder (read-only: a point-in-time view that writes nothing).
// A writer gets the query index installed. Busy when another process holds
// it, naming the admin port when that process is a pacscore server.
Result<std::unique_ptr<engine::Store>> OpenFolder(const std::string& dir, engine::DuplicatePolicy policy,
                                                  bool read_only = false, engine::FreeSpaceFloor min_free_space = {});
// retention / protect on an open store, for the CLI (offline) and the admin
// endpoint. `request`: "rules" (texts), "quota_bytes", "on_quota",
// "dry_run"; "study", "protect" (bool), "list". Replies have "error" on failure.
Json HandleRetention(engine::Store& store, const Json& request, const std::string& requested_by);
// The policy a retention request gives (empty when it gives none), and the reply to it.
Result<dicom::RetentionPolicy> RetentionPolicyFromJson(const Json& request);
Json RetentionReply(const Result<dicom::RetentionReport>& report);
Json HandleProtect(engine::Store& store, const Json& request);
// delete / compact / verify / reindex on an open store, for the CLI and the
// admin endpoint alike. `request` holds the flags as JSON ("study", "gc_grace_ms",
// "deep", ...); the reply has "error" on failure.
Json HandleMaintenance(engine::Store& store, const std::string& action, const Json& request);
// The replies of the admin endpoint's /import and /export, which `import` and
// `export` also build when they open the folder themselves.
Json IngestReply(const Result<dicom::IngestReport>& report);
// [{"study": UID, "patient_id": ID, "instances": N}, ...]: what a delete or an export touched.
Json StudiesJson(const std::vector<audit::StudyRef>& studies);
Json ExportReply(const Result<dicom::ExportSummary>& summary);

}  // namespace pacs::tools
