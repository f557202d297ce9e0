#include "command_line.h"

#include <cstdio>
#include <functional>
#include <utility>

#include "http_server.h"
#include "pacs/base/log.h"
#include "pacs/dicom/pixel_codec_policy.h"
#include "pacs/dicom/retention.h"
#include "pacs/dicom/retrieve.h"
#include "pacs/dicom/tls_settings.h"
#include "pacs/dicom/transcode.h"
#include "peer_config.h"

namespace pacs::tools {
namespace {

// A check of a flag's value: `problem` says what is wrong with it, "" if nothing.
// CLI11 reports it as "--flag: <problem>".
CLI::Validator Check(std::function<std::string(const std::string&)> problem) {
  return CLI::Validator([problem = std::move(problem)](std::string& text) { return problem(text); }, "");
}

// A check by one of the modules' own parsers (the same ones the run uses).
// Their messages start with the flag ("--peer must be ..."), which CLI11
// already puts in front: it is left out.
template <typename T>
CLI::Validator CheckWith(Result<T> (*parse)(std::string_view)) {
  return Check([parse](const std::string& text) {
    auto parsed = parse(text);
    if (parsed.ok()) return std::string();
    const std::string& message = parsed.status().message();
    const size_t space = message.find(' ');
    return message.rfind("--", 0) == 0 && space != std::string::npos ? message.substr(space + 1) : message;
  });
}

const CLI::Validator kPort = Check(PortProblem);
const CLI::Validator kAtLeastOne = Check([](const std::string& text) {
  if (std::string problem = PortProblem(text); !problem.empty()) return problem;
  return std::strtol(text.c_str(), nullptr, 10) == 0 ? std::string("must be at least 1") : std::string();
});
const CLI::Validator kAeTitle = Check([](const std::string& text) {
  return text.empty() || text.size() > 16 ? std::string("must be 1-16 characters") : std::string();
});
// Rewrites 90s, 30m, 1h ... to milliseconds for an int64_t flag.
const CLI::Validator kDurationToMs = CLI::Validator(
    [](std::string& text) {
      auto ms = ParseDurationMs(text, "");
      if (!ms.ok()) return DurationProblem(text);
      text = std::to_string(*ms);
      return std::string();
    },
    "");

// Rewrites 500MB, 2GiB ... to bytes for a uint64_t flag.
const CLI::Validator kByteSize = CLI::Validator(
    [](std::string& text) {
      auto bytes = ParseByteSize(text, "");
      if (!bytes.ok()) return ByteSizeProblem(text);
      text = std::to_string(*bytes);
      return std::string();
    },
    "");

constexpr const char* kRuleHelp =
    "delete studies older than AGE by StudyDate or by receive date, optionally only of these modalities "
    "(ModalitiesInStudy); repeatable; protected studies are never deleted";
constexpr const char* kQuotaHelp =
    "limit on the referenced stored bytes (after dedup and compression); 0: none. See --on-quota";
constexpr const char* kOnQuotaHelp =
    "over the quota: refuse new studies (C-STORE status A700) or evict the oldest unprotected studies";

// The retention flags `serve` and `retention` share (same names, so one --config serves both).
void AddRetentionFlags(CLI::App& command, std::vector<std::string>& rules, uint64_t& quota, std::string& on_quota) {
  command.add_option("--retention-rule", rules, kRuleHelp)
      ->type_name("study-date>AGE[:MOD,...]|received>AGE[:MOD,...]")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CheckWith(dicom::ParseRetentionRule));
  command.add_option("--storage-quota", quota, kQuotaHelp)->type_name("SIZE")->default_str("0")->transform(kByteSize);
  command.add_option("--on-quota", on_quota, kOnQuotaHelp)
      ->type_name("refuse|evict")
      ->capture_default_str()
      ->check(CheckWith(dicom::ParseQuotaAction));
}

constexpr const char* kDuplicateHelp =
    "a SOP Instance UID that arrives again with other content: keep the stored one, replace it, "
    "or reject it (status 0111)";
constexpr const char* kCodecHelp =
    "how uncompressed frames are stored, losslessly: auto picks per pixel format (docs/codecs.md)";

void AddCodecFlags(CLI::App& command, std::string& codec, bool& verify_encode, bool& no_verify_encode) {
  command.add_option("--codec", codec, kCodecHelp)
      ->type_name("auto|jpegls|j2k|htj2k|none")
      ->capture_default_str()
      ->check(CheckWith(dicom::ParseCodecPolicy));
  CLI::Option* verify = command.add_flag("--verify-encode", verify_encode,
                                         "decode every encoded frame and compare it with the original (the default)");
  CLI::Option* no_verify = command.add_flag("--no-verify-encode", no_verify_encode, "skip that check");
  verify->excludes(no_verify);
}

// DICOM TLS (docs/security.md): the TLS port and what it and the
// associations to peers marked +tls are set up from.
void AddTlsFlags(CLI::App& command, ServeFlags& serve) {
  command
      .add_option("--tls-port", serve.tls_port,
                  "a DICOM TLS port (2762 by convention; profile BCP195-ND; 0: none). Needs --tls-cert, --tls-key")
      ->capture_default_str()
      ->check(kPort);
  command
      .add_option("--tls-cert", serve.tls_cert,
                  "our certificate (PEM, may hold the chain), for the TLS port and TLS peers")
      ->type_name("FILE");
  command.add_option("--tls-key", serve.tls_key, "the private key of --tls-cert (PEM, unencrypted; keep it 0600)")
      ->type_name("FILE");
  command
      .add_option("--tls-ca", serve.tls_ca,
                  "the CA certificates trusted to sign peers' certificates (PEM file, or a c_rehash'ed folder)")
      ->type_name("FILE|DIR");
  command
      .add_option("--tls-verify", serve.tls_verify,
                  "TLS clients must show a certificate signed by --tls-ca (require), may (optional), or are not "
                  "checked (none); to peers marked +tls, anything but none checks their certificate")
      ->type_name("require|optional|none")
      ->capture_default_str()
      ->check(CheckWith(dicom::ParseTlsVerify));
  command
      .add_option("--tls-handshake-timeout", serve.tls_handshake_timeout_ms,
                  "a TLS handshake (DICOM TLS port, HTTPS web port) not done by then is abandoned and its connection "
                  "closed")
      ->type_name("DURATION")
      ->default_str("10s")
      ->transform(kDurationToMs);
}

CLI::Option* AddDataFlag(CLI::App& command, std::string& data) {
  FramesFlags& frames = SelectedFrames();
  command
      .add_option("--frames", frames.frames,
                  "where pixel frames go: rocksdb (in the data folder) or rados:POOL (a Ceph pool several nodes "
                  "share, docs/scale-out.md); recorded in the folder at its first use (default: what it records, "
                  "else rocksdb)")
      ->type_name("rocksdb|rados:POOL");
  command.add_option("--ceph-conf", frames.ceph_conf, "with rados: the cluster's ceph.conf (default: as recorded)")
      ->type_name("FILE");
  command.add_option("--ceph-id", frames.ceph_id, "with rados: the Ceph client name, without client. (default: admin)")
      ->type_name("NAME");
  return command.add_option("--data", data, "the data folder (an embedded RocksDB store)")
      ->type_name("DIR")
      ->required();
}

}  // namespace

CommandLine::CommandLine()
    : app_("pacscore: a PACS core. It stores DICOM instances in a data folder and serves them over DICOM.",
           "pacscore") {
  // A flag given twice keeps its last value, as flags always did here.
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_.require_subcommand(1);
  app_.footer("Run 'pacscore <command> --help' for the flags of a command.");
  // The subcommands' --config feed this option, so that CLI11 reads the file
  // after the command line and lets the flags given there win.
  app_.config_formatter(config_);
  app_.allow_config_extras(false);
  config_file_ = app_.set_config("--config", "", "")->group("");
  AddServe();
  AddImport();
  AddExport();
  AddStats();
  AddMaintenance();
  AddCommitRequest();
  AddRetention();
  // Listed for the usage only: main() hands `bench` its arguments untouched.
  app_.add_subcommand("bench", "measure ingest, query and retrieval next to other archives (pacscore bench --help)")
      ->prefix_command()
      ->allow_extras();
}

void CommandLine::AddCommonFlags(CLI::App& command) {
  command.add_option("--log-format", log_format, "log lines as text, or as one JSON object per line for log shippers")
      ->type_name("text|json")
      ->capture_default_str()
      ->check(Check([](const std::string& text) {
        return text == "text" || text == "json" ? std::string() : "must be text or json, not '" + text + "'";
      }));
  command
      .add_option("--config",
                  "read flags from a JSON file whose keys are this command's long flag names; "
                  "flags given on the command line override it")
      ->type_name("FILE.json")
      ->configurable(false)
      ->trigger_on_parse()
      ->each([this, &command](const std::string& file) {
        config_->set_section(&command);
        config_file_->add_result(file);
      });
}

void CommandLine::AddServe() {
  CLI::App& command = *app_.add_subcommand("serve", "answer DICOM on a data folder, with an admin endpoint over HTTP");
  AddDataFlag(command, serve.data);
  command.add_option("--port", serve.port, "the DICOM port; off: no plain DICOM port (with --tls-port)")
      ->capture_default_str()
      ->transform(CLI::Validator(
          [this](std::string& text) {
            serve.port_off = text == "off";
            if (serve.port_off) text = "0";
            return std::string();
          },
          ""))
      ->check(kPort);
  command.add_option("--aet", serve.aet, "the AE title (1-16 characters)")->capture_default_str()->check(kAeTitle);
  command
      .add_option("--admin-port", serve.admin_port,
                  "also serve the admin endpoint on 127.0.0.1:PORT (0: any free port), with bearer tokens from "
                  "--admin-token-file; off unless given (the CLI uses the socket DATA/admin.sock)")
      ->type_name("PORT")
      ->check(kPort);
  command
      .add_option("--admin-token-file", serve.admin_token_file,
                  "tokens for --admin-port, one 'TOKEN ROLE[,ROLE]' per line (role admin needed), owner-only "
                  "permissions (docs/security.md)")
      ->type_name("FILE");
  command
      .add_option("--admin-allow-dir", serve.admin_allow_dirs,
                  "a folder that `export` and `import` through this server may write or read (repeatable); without "
                  "one, both are refused while the server runs")
      ->type_name("DIR")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.add_option("--max-associations", serve.max_associations, "DICOM associations served at once")
      ->capture_default_str()
      ->check(kAtLeastOne);
  command
      .add_option("--bind", serve.bind,
                  "the DICOM port's IPv4 address (0.0.0.0: every interface; 127.0.0.1: this host only)")
      ->type_name("ADDR")
      ->capture_default_str()
      ->check(CLI::ValidIPV4);
  command
      .add_option("--max-connections-per-host", serve.max_connections_per_host,
                  "DICOM connections open at once from one source address (waiting for their request or "
                  "associated); more are closed at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  command
      .add_option("--association-request-timeout", serve.association_request_timeout_ms,
                  "how long a new DICOM connection has to send its association request (and finish a TLS "
                  "handshake) before it is closed")
      ->type_name("DURATION")
      ->default_str("5s")
      ->transform(kDurationToMs);
  command
      .add_option("--idle-timeout", serve.idle_timeout_ms,
                  "an association that sends no request for this long is aborted (A-ABORT)")
      ->type_name("DURATION")
      ->default_str("120s")
      ->transform(kDurationToMs);
  command
      .add_option("--metrics-bind", serve.metrics_bind,
                  "serve Prometheus metrics at http://ADDR:PORT/metrics (off unless given; no token: bind it to "
                  "loopback or a monitoring network; docs/operations.md)")
      ->type_name("ADDR:PORT")
      ->check(CheckWith(ParseListenAddress));
  command
      .add_option("--web-port", serve.web_port,
                  "serve DICOMweb (QIDO-RS, WADO-RS, STOW-RS) at http://BIND:PORT/dicom-web (0: any free port, "
                  "written to DATA/web.port); off unless given")
      ->type_name("PORT")
      ->check(kPort);
  command
      .add_option("--web-bind", serve.web_bind,
                  "the web port's IP address; anything but loopback needs --web-token-file")
      ->type_name("ADDR")
      ->capture_default_str();
  command
      .add_option("--web-token-file", serve.web_token_file,
                  "bearer tokens for the web port, one 'TOKEN ROLE[,ROLE]' per line (read: search and retrieve, "
                  "write: STOW), owner-only permissions; every request then needs one (docs/security.md)")
      ->type_name("FILE");
  command
      .add_option("--web-cors-origin", serve.web_cors_origin,
                  "allow cross-origin requests from this origin (or *) to the web port; none unless given")
      ->type_name("ORIGIN|*");
  command
      .add_option("--web-base-url", serve.web_base_url,
                  "make URIs in DICOMweb responses (RetrieveURL, BulkDataURI) absolute on this URL; relative "
                  "unless given")
      ->type_name("URL");
  command.add_option("--web-max-body", serve.web_max_body, "the largest STOW-RS request body; larger ones get 413")
      ->type_name("SIZE")
      ->default_str("4GiB")
      ->transform(kByteSize);
  command
      .add_option("--web-max-connections-per-host", serve.web_max_connections_per_host,
                  "connections open at once on the web port from one source address (of 256 in all); more are "
                  "closed at once (raise it behind a reverse proxy, which is one address for all its clients)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{256}));
  command
      .add_option("--web-tls-cert", serve.web_tls_cert,
                  "serve the web port over HTTPS only (TLS 1.2+) with this certificate (PEM, then its chain); needs "
                  "--web-tls-key. The handshake must finish within --tls-handshake-timeout")
      ->type_name("FILE");
  command
      .add_option("--web-tls-key", serve.web_tls_key,
                  "the private key of --web-tls-cert (PEM, unencrypted, owner-only permissions or refused)")
      ->type_name("FILE");
  command
      .add_option("--web-tls-ca", serve.web_tls_ca,
                  "CA certificates trusted to sign web clients' certificates (PEM file or c_rehash'ed folder)")
      ->type_name("FILE|DIR");
  command
      .add_option("--web-tls-verify", serve.web_tls_verify,
                  "web clients must show a certificate signed by --web-tls-ca (require: the default with "
                  "--web-tls-ca), may (optional), or are not asked (none: the default without)")
      ->type_name("require|optional|none")
      ->check(CLI::IsMember({"require", "optional", "none"}));
  command
      .add_option("--viewer", serve.viewer_dir,
                  "serve this built OHIF viewer (its dist/ folder) at the root of the web port, with its DICOMweb "
                  "data source set to this server")
      ->type_name("DIR");
  command.add_option("--on-duplicate", serve.on_duplicate, kDuplicateHelp)
      ->type_name("keep|replace|reject")
      ->capture_default_str()
      ->check(CheckWith(engine::ParseDuplicatePolicy));
  AddCodecFlags(command, serve.codec, serve.verify_encode, serve.no_verify_encode);
  command.add_flag("--inline-encode", serve.inline_encode,
                   "encode frames before each C-STORE response instead of in the background");
  command
      .add_option("--encode-threads", serve.encode_threads,
                  "threads re-encoding frames in the background (0: one per hardware thread)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 256u));
  command
      .add_option("--peer", serve.peers,
                  "a known peer with every permission: it may echo, store, find, get, move and commit (accepted "
                  "from HOST only); a C-MOVE destination (matched by AE title, then NAME) and where a Storage "
                  "Commitment report to that AE title goes on a new association; repeatable. The --config file "
                  "may give peers as objects with their own permissions (docs/security.md)")
      ->type_name("NAME=AET@HOST:PORT[+tls]")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CheckWith(ParsePeerEntry));
  config_->allow_objects("peer");
  command
      .add_option("--echo-from-any-ae", serve.echo_from_any_ae,
                  "answer C-ECHO from any calling AE title, not only from peers with the echo permission")
      ->type_name("true|false")
      ->capture_default_str();
  command
      .add_option("--store-from-any-ae", serve.store_from_any_ae,
                  "accept C-STORE from any calling AE title, not only from peers with the store permission")
      ->type_name("true|false")
      ->capture_default_str();
  command.add_flag("--any-called-aet", serve.any_called_aet,
                   "accept associations whatever AE title they call (by default only --aet)");
  command
      .add_option("--max-associations-per-ae", serve.max_associations_per_ae,
                  "DICOM associations served at once per calling AE title (a peer in --config may set its own "
                  "max_associations); 0: no cap but --max-associations")
      ->capture_default_str()
      ->check(kPort);
  AddTlsFlags(command, serve);
  command
      .add_option("--commit-release-wait", serve.commit_release_wait_ms,
                  "after a Storage Commitment N-ACTION response, how long the requester has to release its "
                  "association before the report goes on that association (else on a new one to its --peer)")
      ->type_name("DURATION")
      ->default_str("1s")
      ->transform(kDurationToMs);
  command.add_flag("--verbose", serve.verbose, "log debug lines too (each C-FIND, ...)");
  command
      .add_option("--min-free-space", serve.min_free_space,
                  "free space to keep on the data folder's file system: below it C-STORE is answered A700 (Out of "
                  "Resources) before the disk fills; a size (2G) or a percentage of the file system (5%). Keep it "
                  "above 512M: RocksDB's background writes need room (docs/operations.md)")
      ->type_name("SIZE|N%")
      ->capture_default_str()
      ->check(CheckWith(+[](std::string_view text) { return ParseFreeSpaceFloor(std::string(text)); }));
  command
      .add_option("--max-dataset-bytes", serve.max_dataset_bytes,
                  "a C-STORE dataset larger than this is refused (A700), counted as it arrives, never held whole")
      ->type_name("SIZE")
      ->default_str("2GiB")
      ->transform(kByteSize);
  command
      .add_option("--retrieval-buffer", serve.retrieval_buffer_bytes,
                  "memory one C-GET / C-MOVE may hold in instances built ahead of the sender")
      ->type_name("SIZE")
      ->default_str("64MiB")
      ->transform(kByteSize);
  command
      .add_option("--retrieval-threads", serve.retrieval_threads,
                  "threads that build (decode, re-encode) the instances of one C-GET / C-MOVE; 0: one per core")
      ->capture_default_str();
  AddRetentionFlags(command, serve.retention_rules, serve.storage_quota_bytes, serve.on_quota);
  command
      .add_option("--audit-log", serve.audit_log,
                  "append one JSON line per DICOM audit event (PS3.15 A.5: start/stop, transfers, queries, "
                  "deletions, security alerts) to FILE, created with mode 0640 (docs/security.md)")
      ->type_name("FILE");
  command
      .add_option("--log-file", serve.log_file, "write log lines (DCMTK's too) to FILE, appended, instead of stderr")
      ->type_name("FILE");
  command
      .add_option("--retention-interval", serve.retention_interval_ms,
                  "how often the retention rules run (0: only on demand, `pacscore retention`)")
      ->type_name("DURATION")
      ->default_str("1h")
      ->transform(kDurationToMs);
  AddCommonFlags(command);
}

void CommandLine::AddImport() {
  CLI::App& command = *app_.add_subcommand("import", "store DICOM files or folders (recursively) in a data folder");
  AddDataFlag(command, import.data);
  command.add_option("--on-duplicate", import.on_duplicate, kDuplicateHelp)
      ->type_name("keep|replace|reject")
      ->capture_default_str()
      ->check(CheckWith(engine::ParseDuplicatePolicy));
  AddCodecFlags(command, import.codec, import.verify_encode, import.no_verify_encode);
  command.add_option("paths", import.paths, "files or folders, read recursively")
      ->type_name("PATH...")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddCommonFlags(command);
}

void CommandLine::AddExport() {
  CLI::App& command =
      *app_.add_subcommand("export", "write instances as DICOM files to OUT/<StudyUID>/<SeriesUID>/<SOPUID>.dcm");
  AddDataFlag(command, export_flags.data);
  command.add_option("--out", export_flags.out, "the folder to write to")->type_name("DIR")->required();
  command.add_option("--study", export_flags.study, "only this study (default: all)")->type_name("UID");
  command
      .add_option("--transfer-syntax", export_flags.transfer_syntax,
                  "original: as received; stored: our compressed form; or a transfer syntax UID to transcode to")
      ->type_name("original|stored|UID")
      ->capture_default_str()
      ->check(CheckWith(dicom::ParseTargetSyntax));
  AddCommonFlags(command);
}

void CommandLine::AddStats() {
  CLI::App& command = *app_.add_subcommand("stats", "counts and bytes of a data folder");
  AddDataFlag(command, stats.data);
  command.add_flag("--json", stats.json, "print JSON, for scripts");
  AddCommonFlags(command);
}

void CommandLine::AddMaintenance() {
  CLI::App& del = *app_.add_subcommand("delete", "remove a study, a series or an instance in one atomic commit");
  AddDataFlag(del, delete_flags.data);
  CLI::App& selection = *del.add_option_group("selection", "what to delete, exactly one of");
  selection.add_option("--study", delete_flags.study, "a Study Instance UID")->type_name("UID");
  selection.add_option("--series", delete_flags.series, "a Series Instance UID")->type_name("UID");
  selection.add_option("--instance", delete_flags.instance, "a SOP Instance UID")->type_name("UID");
  selection.require_option(1);
  del.add_flag("--json", delete_flags.json, "print the reply as JSON, for scripts");
  AddCommonFlags(del);

  constexpr const char* kGraceHelp = "frames unreferenced for less than this are kept (0, 90s, 30m, 1h, 2d)";
  CLI::App& compact_command =
      *app_.add_subcommand("compact", "remove frames that no instance references any more, after --gc-grace");
  AddDataFlag(compact_command, compact.data);
  compact_command.add_option("--gc-grace", compact.gc_grace_ms, kGraceHelp)
      ->type_name("DURATION")
      ->default_str("1h")
      ->transform(kDurationToMs);
  compact_command
      .add_option("--orphan-grace", compact.orphan_grace_ms,
                  "with --frames rados: pool chunk objects that no node ever referenced (a node killed between "
                  "creating one and referencing it) are removed once this old (0, 90s, 30m, 1h, 2d)")
      ->type_name("DURATION")
      ->default_str("1h")
      ->transform(kDurationToMs);
  compact_command.add_flag("--json", compact.json, "print the reply as JSON, for scripts");
  AddCommonFlags(compact_command);

  CLI::App& verify_command =
      *app_.add_subcommand("verify", "check references, counts and headers; exit status 2 when a problem is found");
  AddDataFlag(verify_command, verify.data);
  verify_command.add_flag("--deep", verify.deep, "also re-hash and decode every frame");
  verify_command.add_option("--gc-grace", verify.gc_grace_ms, kGraceHelp)
      ->type_name("DURATION")
      ->default_str("1h")
      ->transform(kDurationToMs);
  verify_command.add_flag("--json", verify.json, "print the report as JSON, for scripts");
  AddCommonFlags(verify_command);

  CLI::App& reindex_command = *app_.add_subcommand(
      "reindex", "rebuild the query index from the stored instances; exit status 2 when an instance was skipped");
  AddDataFlag(reindex_command, reindex.data);
  reindex_command.add_flag("--json", reindex.json, "print the report as JSON, for scripts");
  AddCommonFlags(reindex_command);

  CLI::App& rebuild_command = *app_.add_subcommand(
      "rebuild",
      "re-create a lost node's data folder (absent or empty) from its RADOS pool: instances, headers, query index, "
      "frame references (docs/scale-out.md); exit status 2 when an instance was left out");
  AddDataFlag(rebuild_command, rebuild.data);
  rebuild_command.add_option("--node", rebuild.node, "the lost node's id (`pacscore stats` prints it as frames_node)")
      ->type_name("NODE_ID")
      ->required();
  rebuild_command.add_flag("--json", rebuild.json, "print the report as JSON, for scripts");
  AddCommonFlags(rebuild_command);
}

void CommandLine::AddCommitRequest() {
  CLI::App& command = *app_.add_subcommand(
      "commit-request",
      "ask a DICOM node to commit the instances of DICOM files (Storage Commitment); exit status 0 only when "
      "every instance was committed, 2 when some were not");
  CommitRequestFlags& flags = commit_request;
  command.add_option("--host", flags.host, "the node's host")->capture_default_str();
  command.add_option("--port", flags.port, "the node's DICOM port")->required()->check(kPort);
  command.add_option("--called-aet", flags.called_aet, "the node's AE title")->capture_default_str()->check(kAeTitle);
  command.add_option("--calling-aet", flags.calling_aet, "our AE title")->capture_default_str()->check(kAeTitle);
  command
      .add_option("--listen-port", flags.listen_port,
                  "release the association after the request and accept the report on a new association on "
                  "this port (the node must have us as a --peer); without it the report is taken on the same "
                  "association")
      ->check(kPort);
  command.add_option("--timeout", flags.timeout_ms, "how long to wait for the report")
      ->type_name("DURATION")
      ->default_str("120s")
      ->transform(kDurationToMs);
  command.add_option("files", flags.files, "DICOM files whose SOP Class/Instance UIDs are to be committed")
      ->type_name("FILE...")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddCommonFlags(command);
}

void CommandLine::AddRetention() {
  CLI::App& command = *app_.add_subcommand(
      "retention", "apply retention rules and the quota now (the running server's own unless given here)");
  AddDataFlag(command, retention.data);
  AddRetentionFlags(command, retention.retention_rules, retention.storage_quota_bytes, retention.on_quota);
  command.add_flag("--dry-run", retention.dry_run, "list what would be deleted and what it would free; delete nothing");
  command.add_flag("--json", retention.json, "print the reply as JSON, for scripts");
  AddCommonFlags(command);

  CLI::App& protect_command =
      *app_.add_subcommand("protect", "mark a study never to be deleted by retention rules or quota eviction");
  AddDataFlag(protect_command, protect.data);
  CLI::App& what = *protect_command.add_option_group("what", "exactly one of");
  what.add_option("--study", protect.study, "the Study Instance UID")->type_name("UID");
  what.add_flag("--list", protect.list, "list the protected studies");
  what.require_option(1);
  protect_command.add_flag("--unprotect", protect.unprotect, "remove the mark instead");
  protect_command.add_flag("--json", protect.json, "print the reply as JSON, for scripts");
  AddCommonFlags(protect_command);
}

std::optional<int> CommandLine::Parse(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "%s", app_.help().c_str());
    return 1;
  }
  const std::string first = argv[1];
  if (first == "help") {
    std::printf("%s", app_.help().c_str());
    return 0;
  }
  // CLI11 would report an unknown command as "A subcommand is required".
  const auto commands =
      std::as_const(app_).get_subcommands([&first](const CLI::App* c) { return c->get_name() == first; });
  if (first.rfind('-', 0) != 0 && commands.empty()) {
    std::fprintf(stderr, "pacscore: unknown command '%s'\nRun 'pacscore --help' for the commands.\n", first.c_str());
    return 1;
  }
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app_.exit(e);  // --help
    const std::string command_name = command();
    std::fprintf(stderr, "pacscore: %s\nRun 'pacscore%s --help' for the flags.\n", e.what(),
                 command_name.empty() ? "" : (" " + command_name).c_str());
    return 1;
  }
  return std::nullopt;
}

std::optional<int> CommandLine::Parse(const std::vector<std::string>& args) {
  std::vector<std::string> storage = {"pacscore"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(storage.size());
  for (auto& arg : storage) argv.push_back(arg.data());
  return Parse(static_cast<int>(argv.size()), argv.data());
}

std::string CommandLine::command() const {
  const auto chosen = app_.get_subcommands();
  return chosen.empty() ? std::string() : chosen.front()->get_name();
}

std::string CommandLine::Help(const std::string& command_name) const {
  if (command_name.empty()) return app_.help();
  return app_.get_subcommand(command_name)->help();
}

int CommandLine::Run() const {
  SetLogFormat(log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  const std::string chosen = command();
  if (chosen == "serve") return RunServe(serve);
  if (chosen == "import") return RunImport(import);
  if (chosen == "export") return RunExport(export_flags);
  if (chosen == "stats") return RunStats(stats);
  if (chosen == "delete") return RunDelete(delete_flags);
  if (chosen == "compact") return RunCompact(compact);
  if (chosen == "verify") return RunVerify(verify);
  if (chosen == "commit-request") return RunCommitRequest(commit_request);
  if (chosen == "reindex") return RunReindex(reindex);
  if (chosen == "rebuild") return RunRebuild(rebuild);
  if (chosen == "retention") return RunRetention(retention);
  if (chosen == "protect") return RunProtect(protect);
  return Fail(Status::InvalidArgument("pacscore " + chosen + " is run by the pacscore program itself"));
}

int RunCommandLine(int argc, char** argv) {
  CommandLine command_line;
  if (auto exit_status = command_line.Parse(argc, argv)) return *exit_status;
  return command_line.Run();
}

}  // namespace pacs::tools
