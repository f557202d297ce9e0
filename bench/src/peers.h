// File: peers.h
// The systems `pacscore bench` measures, each started fresh on loopback in
// its own folder: pacscore itself (this binary's `serve`), Orthanc from the
// Debian package (plain, and with JPEG-LS ingest transcoding), and DCMTK's
// storescp writing files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin_http.h"
#include "pacs/base/result.h"
#include "pacs/dicom/store_scu.h"
#include "process.h"

namespace pacs::bench {

enum class PeerKind { kPacscore, kOrthanc, kOrthancJpegLs, kStorescp };

struct PeerSpec {
  PeerKind kind = PeerKind::kPacscore;
  std::string codec;                    // pacscore: the --codec passed to serve; empty: the server's default
  std::vector<std::string> serve_args;  // pacscore: further flags for serve, e.g. --no-verify-encode
  int associations = 1;
  // A C-MOVE destination the peer is told of (`bench retrieve --compare`):
  // its AE title on 127.0.0.1:move_destination_port; none when the port is 0.
  std::string move_destination_aet;
  uint16_t move_destination_port = 0;
  // Also serve DICOMweb on a free loopback port: pacscore with --web-port,
  // Orthanc with its DICOMweb plugin (Debian orthanc-dicomweb) at /dicom-web.
  bool web = false;
};

// Short name for tables ("pacscore", "orthanc", "orthanc-jpegls", "storescp").
std::string PeerLabel(const PeerSpec& spec);
// One line on how the peer is configured, for the result notes.
std::string PeerSetup(const PeerSpec& spec);

// The installed program a peer needs; nullopt (with `why`) when missing.
std::optional<std::string> PeerProgram(PeerKind kind, std::string& why);
// "Orthanc 1.10.1", "storescp v3.6.7", ... ; empty when not installed.
std::string PeerVersion(PeerKind kind);

// A peer running in `folder`. Not thread-safe.
class RunningPeer {
 public:
  // Starts the peer and waits (bounded) until it answers C-ECHO.
  static Result<RunningPeer> Start(const PeerSpec& spec, const std::filesystem::path& folder);
  RunningPeer(RunningPeer&&) noexcept = default;
  RunningPeer& operator=(RunningPeer&&) noexcept = default;
  ~RunningPeer() = default;

  dicom::ScuPeer target() const { return target_; }
  // The DICOMweb root ("http://127.0.0.1:PORT/dicom-web") when started with
  // PeerSpec::web; empty otherwise.
  std::string dicomweb_root() const {
    return web_port_ ? "http://127.0.0.1:" + std::to_string(web_port_) + "/dicom-web" : "";
  }
  uint16_t web_port() const { return web_port_; }
  pid_t pid() const { return process_.pid(); }
  // pacscore only: GET /stats of its admin endpoint.
  Result<nlohmann::json> PacscoreStats() const;
  // pacscore re-encodes frames behind the C-STORE responses: this waits until
  // that is done and the raw frames' space released (POST /wait-idle, bounded:
  // one hour), with no manual compact, so that stored bytes are the
  // archive's lasting size.
  Status PacscoreWaitIdle() const;
  // Stops it (bounded); returns the apparent size of what it stored (data
  // folder, index included; logs and configuration excluded).
  Result<uint64_t> StopAndMeasureStored();
  std::string LogTail() const { return process_.LogTail(); }

 private:
  RunningPeer(PeerSpec spec, ChildProcess process) : spec_(std::move(spec)), process_(std::move(process)) {}
  PeerSpec spec_;
  ChildProcess process_;
  dicom::ScuPeer target_;
  std::filesystem::path store_folder_;
  uint16_t web_port_ = 0;
  std::optional<pacs::tools::AdminEndpoint> admin_;  // pacscore: its admin socket, once it answers
};

}  // namespace pacs::bench
