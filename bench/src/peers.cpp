// The systems `pacscore bench` measures (peers.h).
#include "peers.h"

#include <algorithm>
#include <fstream>
#include <thread>

#include "admin_http.h"
#include "cli.h"
#include "run_common.h"

namespace pacs::bench {
namespace fs = std::filesystem;
namespace {

constexpr const char* kJpegLsLossless = "1.2.840.10008.1.2.4.80";
// pacscore's SCP receives PDUs of up to 128 KiB (ASC_MAXIMUMPDUSIZE); the
// peers are given the same so that PDU framing is not what differs.
constexpr int kMaxPdu = 131072;
constexpr auto kStartTimeout = std::chrono::seconds(60);

std::string JsonQuote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IOError("cannot write " + path.string());
  return Status::Ok();
}

// Debian's orthanc-dicomweb puts the plugin here.
constexpr const char* kOrthancDicomwebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

std::string OrthancConfig(const PeerSpec& spec, const fs::path& db, uint16_t http_port, uint16_t dicom_port) {
  std::string json = "{\n";
  json += "  \"Name\" : \"pacscore-bench\",\n";
  json += "  \"StorageDirectory\" : " + JsonQuote(db.string()) + ",\n";
  json += "  \"IndexDirectory\" : " + JsonQuote(db.string()) + ",\n";
  json += "  \"StorageCompression\" : false,\n";
  if (spec.web) {
    json += "  \"Plugins\" : [ " + JsonQuote(kOrthancDicomwebPlugin) + " ],\n";
    // Full series metadata, as OHIF asks for it; Orthanc caches it (gzipped) once computed.
    json += R"(  "DicomWeb" : { "Enable" : true, "Root" : "/dicom-web/", "EnableWado" : false, )"
            R"("StudiesMetadata" : "Full", "SeriesMetadata" : "Full" },)"
            "\n";
  } else {
    json += "  \"Plugins\" : [ ],\n";
  }
  json += "  \"LuaScripts\" : [ ],\n";
  json += "  \"HttpServerEnabled\" : true,\n";
  json += "  \"HttpPort\" : " + std::to_string(http_port) + ",\n";
  json += "  \"RemoteAccessAllowed\" : false,\n";
  json += "  \"AuthenticationEnabled\" : false,\n";
  json += "  \"WebDavEnabled\" : false,\n";
  json += "  \"DicomServerEnabled\" : true,\n";
  json += "  \"DicomAet\" : \"ORTHANC\",\n";
  json += "  \"DicomPort\" : " + std::to_string(dicom_port) + ",\n";
  json += "  \"DicomCheckCalledAet\" : false,\n";
  json += "  \"DicomAlwaysAllowEcho\" : true,\n";
  json += "  \"DicomAlwaysAllowStore\" : true,\n";
  json += "  \"DicomThreadsCount\" : " + std::to_string(std::max(4, spec.associations)) + ",\n";
  json += "  \"MaximumPduLength\" : " + std::to_string(kMaxPdu) + ",\n";
  json += "  \"SaveJobs\" : false,\n";
  json += "  \"OverwriteInstances\" : false,\n";
  // The bench's own AE may query and retrieve (Orthanc 1.9+ serves C-GET and
  // C-MOVE only to configured modalities), and the C-MOVE destination.
  json += "  \"DicomModalities\" : {\n";
  json += R"(    "bench" : { "AET" : )" + JsonQuote(kCallingAet) +
          R"(, "Host" : "127.0.0.1", "Port" : 104, "AllowFind" : true, "AllowGet" : true, )"
          R"("AllowMove" : true, "AllowStore" : true, "AllowEcho" : true })";
  if (spec.move_destination_port != 0)
    json +=
        ",\n"
        R"(    "dest" : { "AET" : )" +
        JsonQuote(spec.move_destination_aet) + R"(, "Host" : "127.0.0.1", "Port" : )" +
        std::to_string(spec.move_destination_port) + " }";
  json += "\n  },\n";
  if (spec.kind == PeerKind::kOrthancJpegLs)
    json += R"(  "IngestTranscoding" : ")" + std::string(kJpegLsLossless) + "\",\n";
  json += "  \"SyncStorageArea\" : true\n";
  json += "}\n";
  return json;
}

std::string ServeArgsText(const PeerSpec& spec) {
  std::string text;
  for (const auto& a : spec.serve_args) text += " " + a;
  return text;
}

}  // namespace

std::string PeerLabel(const PeerSpec& spec) {
  switch (spec.kind) {
    case PeerKind::kPacscore:
      return spec.codec.empty() ? "pacscore" : "pacscore (" + spec.codec + ")";
    case PeerKind::kOrthanc:
      return spec.web ? "orthanc-dicomweb" : "orthanc";
    case PeerKind::kOrthancJpegLs:
      return "orthanc-jpegls";
    case PeerKind::kStorescp:
      return "storescp";
  }
  return "?";
}

std::string PeerSetup(const PeerSpec& spec) {
  switch (spec.kind) {
    case PeerKind::kPacscore:
      return "pacscore serve, fresh data folder, " +
             (spec.codec.empty() ? std::string("default codec") : "--codec " + spec.codec) + ServeArgsText(spec) +
             ", each C-STORE answered after a synced commit";
    case PeerKind::kOrthanc:
      return "Orthanc, SQLite index, SyncStorageArea true, no transcoding, MaximumPduLength 131072, "
             "TCP_NODELAY=1";
    case PeerKind::kOrthancJpegLs:
      return "Orthanc as above with IngestTranscoding 1.2.840.10008.1.2.4.80 (JPEG-LS lossless)";
    case PeerKind::kStorescp:
      return std::string("DCMTK storescp -od DIR +xa -pdu 131072, TCP_NODELAY=1, files only, no index, no fsync") +
             (spec.associations > 1 ? ", --fork (one process per association)" : ", single process");
  }
  return "";
}

std::optional<std::string> PeerProgram(PeerKind kind, std::string& why) {
  switch (kind) {
    case PeerKind::kPacscore:
      return SelfExecutable();
    case PeerKind::kOrthanc:
    case PeerKind::kOrthancJpegLs:
      if (auto p = FindProgram("Orthanc", {"/usr/sbin", "/usr/local/sbin"})) return p;
      why = "Orthanc is not installed (Debian: apt-get install orthanc)";
      return std::nullopt;
    case PeerKind::kStorescp:
      if (auto p = FindProgram("storescp")) return p;
      why = "storescp is not installed (Debian: apt-get install dcmtk)";
      return std::nullopt;
  }
  return std::nullopt;
}

std::string PeerVersion(PeerKind kind) {
  std::string why;
  auto program = PeerProgram(kind, why);
  if (!program) return "";
  switch (kind) {
    case PeerKind::kPacscore:
      return "";
    case PeerKind::kOrthanc:
    case PeerKind::kOrthancJpegLs: {
      const std::string line = FirstOutputLine({*program, "--version"});  // "/usr/sbin/Orthanc 1.10.1"
      return line.substr(line.rfind(' ') + 1);
    }
    case PeerKind::kStorescp: {
      std::string line = FirstOutputLine({*program, "--version"});  // "$dcmtk: storescp v3.6.7 2022-04-22 $"
      line.erase(std::remove(line.begin(), line.end(), '$'), line.end());
      if (line.rfind("dcmtk: storescp ", 0) == 0) line = line.substr(16);
      while (!line.empty() && line.back() == ' ') line.pop_back();
      return line;
    }
  }
  return "";
}

Result<RunningPeer> RunningPeer::Start(const PeerSpec& spec, const fs::path& folder) {
  std::string why;
  auto program = PeerProgram(spec.kind, why);
  if (!program) return Status::NotFound(why);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return Status::IOError("cannot create " + folder.string() + ": " + ec.message());
  auto dicom_port = FreeLoopbackPort();
  if (!dicom_port.ok()) return dicom_port.status();
  uint16_t web_port = 0;
  if (spec.web) {
    if ((spec.kind == PeerKind::kOrthanc || spec.kind == PeerKind::kOrthancJpegLs) &&
        !fs::exists(kOrthancDicomwebPlugin))
      return Status::NotFound(std::string(kOrthancDicomwebPlugin) +
                              " is missing: Orthanc's DICOMweb plugin (Debian: apt-get install orthanc-dicomweb)");
    if (spec.kind == PeerKind::kStorescp) return Status::Unsupported("storescp serves no DICOMweb");
  }
  const std::map<std::string, std::string> env = {{"TCP_NODELAY", "1"}};

  std::vector<std::string> argv;
  fs::path store;
  std::string aet;
  switch (spec.kind) {
    case PeerKind::kPacscore:
      store = folder / "data";
      aet = "PACSCORE";
      argv = {*program, "serve", "--data", store.string(), "--port", std::to_string(*dicom_port), "--aet", aet,
              "--max-associations", std::to_string(std::max(16, spec.associations)),
              // The driver queries and retrieves as a peer, from every association it runs.
              "--peer", std::string("BENCH=") + kCallingAet + "@127.0.0.1:104", "--max-associations-per-ae",
              std::to_string(std::max(16, spec.associations))};
      // Every bench association comes from 127.0.0.1.
      argv.insert(argv.end(), {"--max-connections-per-host", std::to_string(std::max(16, spec.associations))});
      if (spec.move_destination_port != 0)
        argv.insert(argv.end(), {"--peer", "DEST=" + spec.move_destination_aet +
                                               "@127.0.0.1:" + std::to_string(spec.move_destination_port)});
      if (!spec.codec.empty()) argv.insert(argv.end(), {"--codec", spec.codec});
      if (spec.web) {
        auto port = FreeLoopbackPort();
        if (!port.ok()) return port.status();
        web_port = *port;
        argv.insert(argv.end(), {"--web-port", std::to_string(web_port)});
      }
      argv.insert(argv.end(), spec.serve_args.begin(), spec.serve_args.end());
      break;
    case PeerKind::kOrthanc:
    case PeerKind::kOrthancJpegLs: {
      store = folder / "db";
      aet = "ORTHANC";
      fs::create_directories(store, ec);
      auto http_port = FreeLoopbackPort();
      if (!http_port.ok()) return http_port.status();
      if (spec.web) web_port = *http_port;
      const fs::path config = folder / "orthanc.json";
      PACS_RETURN_IF_ERROR(WriteFile(config, OrthancConfig(spec, store, *http_port, *dicom_port)));
      argv = {*program, config.string()};
      break;
    }
    case PeerKind::kStorescp:
      store = folder / "files";
      aet = "STORESCP";
      fs::create_directories(store, ec);
      argv = {*program, "-od", store.string(), "+xa", "-pdu", std::to_string(kMaxPdu), "-dhl", "-aet", aet};
      if (spec.associations > 1) argv.emplace_back("--fork");
      argv.push_back(std::to_string(*dicom_port));
      break;
  }

  auto child = ChildProcess::Start(argv, env, folder / (PeerLabel(spec) + ".log"));
  if (!child.ok()) return child.status();
  RunningPeer peer(spec, std::move(*child));
  peer.store_folder_ = store;
  peer.web_port_ = web_port;
  peer.target_ = LoopbackPeer();
  peer.target_.port = *dicom_port;
  peer.target_.called_aet = aet;

  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  Status last = Status::IOError("not started yet");
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!peer.process_.Running())
      return Status::IOError(PeerLabel(spec) + " exited during start-up; its log:\n" + peer.LogTail());
    if (spec.kind == PeerKind::kPacscore) {
      auto admin = tools::FindRunningServer(store.string());
      if (!admin) continue;
      peer.admin_ = *admin;
    }
    last = dicom::Echo(peer.target_, 5);
    if (last.ok()) return peer;
  }
  return Status::IOError(PeerLabel(spec) + " did not answer C-ECHO within " + std::to_string(kStartTimeout.count()) +
                         " s (" + last.ToString() + "); its log:\n" + peer.LogTail());
}

Result<nlohmann::json> RunningPeer::PacscoreStats() const {
  if (spec_.kind != PeerKind::kPacscore || !admin_)
    return Status::Unsupported(PeerLabel(spec_) + " has no pacscore admin endpoint");
  auto reply = tools::AdminRequest(*admin_, "GET", "/stats", "", 600);
  if (!reply.ok()) return reply.status().WithContext("GET /stats");
  auto json = ParseStatsReply(reply->body);
  if (!json.ok()) return json.status();
  if (reply->status != 200)
    return Status::IOError("GET /stats answered " + std::to_string(reply->status) + ": " + reply->body);
  return json;
}

Status RunningPeer::PacscoreWaitIdle() const {
  if (spec_.kind != PeerKind::kPacscore || !admin_)
    return Status::Unsupported(PeerLabel(spec_) + " has no pacscore admin endpoint");
  // The flush too: the compressed frames' memtable goes to its blob files
  // (and the write-ahead log away) inside the measured settle, not after it.
  auto reply = tools::AdminRequest(*admin_, "POST", "/wait-idle", R"({"timeout_ms":3600000,"flush":true})", 3700);
  if (!reply.ok()) return reply.status().WithContext("POST /wait-idle");
  if (reply->status != 200)
    return Status::IOError("POST /wait-idle answered " + std::to_string(reply->status) + ": " + reply->body);
  return Status::Ok();
}

Result<uint64_t> RunningPeer::StopAndMeasureStored() {
  const int code = process_.Stop(std::chrono::seconds(120));
  const uint64_t stored = ApparentFolderBytes(store_folder_);
  if (code != 0 && spec_.kind != PeerKind::kStorescp)  // storescp ends on SIGTERM without a clean exit code
    return Status::IOError(PeerLabel(spec_) + " did not stop cleanly (exit " + std::to_string(code) + ")");
  return stored;
}

}  // namespace pacs::bench
