// The pieces every benchmark run shares (run_common.h).
#include "run_common.h"

#include <rocksdb/version.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cli.h"

#ifndef PACS_VERSION
#define PACS_VERSION "unknown"
#endif

namespace pacs::bench {
namespace fs = std::filesystem;

namespace {

// Datasets are held in memory during the run up to this size, so reading
// files does not count as server time; larger corpora are read as they go.
constexpr uint64_t kPreloadLimitBytes = 2ull << 30;

}  // namespace

dicom::ScuPeer LoopbackPeer() {
  dicom::ScuPeer peer;
  peer.host = "127.0.0.1";
  peer.calling_aet = kCallingAet;
  return peer;
}

Result<dicom::ScuPeer> ParseTarget(const std::string& text) {
  const size_t at = text.find('@'), colon = text.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at || at == 0 || at > 16)
    return Status::InvalidArgument("--target must be AET@HOST:PORT, not '" + text + "'");
  dicom::ScuPeer t = LoopbackPeer();
  t.called_aet = text.substr(0, at);
  t.host = text.substr(at + 1, colon - at - 1);
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value > 65535)
    return Status::InvalidArgument("--target port must be a port number 0-65535, not '" + port + "'");
  t.port = static_cast<uint16_t>(value);
  return t;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "pacscore bench: %s\n", status.ToString().c_str());
  return 1;
}

fs::path WorkParent(const std::optional<std::string>& work_dir) {
  if (work_dir && !work_dir->empty()) return *work_dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? fs::path(tmp) : fs::path("/tmp");
}

Result<dicom::SendableFiles> LoadCorpus(const std::string& dir) {
  auto corpus = dicom::SendableFiles::Scan(dir);
  if (!corpus.ok()) return corpus.status();
  if (corpus->files().empty())
    return Status::InvalidArgument("no sendable DICOM file under " + dir + " (" +
                                   std::to_string(corpus->skipped().size()) + " files skipped)");
  std::fprintf(stderr, "corpus %s: %zu files, %.1f MB of datasets; %zu files skipped\n", dir.c_str(),
               corpus->files().size(), static_cast<double>(corpus->dataset_bytes()) / 1e6, corpus->skipped().size());
  for (size_t i = 0; i < corpus->skipped().size() && i < 5; ++i)
    std::fprintf(stderr, "  skipped %s\n", corpus->skipped()[i].c_str());
  if (corpus->skipped().size() > 5) std::fprintf(stderr, "  ... and %zu more\n", corpus->skipped().size() - 5);
  if (corpus->file_bytes() <= kPreloadLimitBytes) PACS_RETURN_IF_ERROR(corpus->Preload());
  return corpus;
}

Provenance MakeProvenance(const std::string& command_line, const dicom::SendableFiles& corpus,
                          const std::string& corpus_dir, int associations, const fs::path& work_dir,
                          const std::vector<PeerKind>& peers) {
  Provenance p;
  p.command_line = command_line;
  p.date_utc = NowUtc();
  p.machine = DescribeMachine(work_dir);
  p.versions = {{"pacscore", PACS_VERSION},
                {"DCMTK", dicom::DcmtkVersion()},
                {"RocksDB", std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
                                std::to_string(ROCKSDB_PATCH)}};
  bool orthanc = false;
  for (PeerKind kind : peers) {
    if ((kind == PeerKind::kOrthanc || kind == PeerKind::kOrthancJpegLs) && !orthanc) {
      orthanc = true;
      p.versions.emplace_back("Orthanc", PeerVersion(kind));
    }
    if (kind == PeerKind::kStorescp) p.versions.emplace_back("storescp", PeerVersion(kind));
  }
  std::error_code ec;
  p.corpus_dir = fs::absolute(corpus_dir, ec).string();
  p.corpus_files = corpus.files().size();
  p.corpus_skipped = corpus.skipped().size();
  p.corpus_dataset_bytes = corpus.dataset_bytes();
  p.corpus_file_bytes = corpus.file_bytes();
  p.client_preloaded = corpus.preloaded();
  p.associations = associations;
  return p;
}

Result<nlohmann::json> ParseStatsReply(const std::string& body) {
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::Corruption("GET /stats answered with invalid JSON: " + body.substr(0, 200));
  return json;
}

std::optional<uint64_t> StatsField(const nlohmann::json& stats, const std::string& key) {
  if (!stats.is_object()) return std::nullopt;
  const auto it = stats.find(key);
  if (it == stats.end() || !it->is_number_integer()) return std::nullopt;
  return static_cast<uint64_t>(it->get<int64_t>());
}

void Settle(const RunningPeer& peer, PushMeasurement& m) {
  const auto start = std::chrono::steady_clock::now();
  const std::optional<double> cpu_before = ProcessTreeCpuSeconds(peer.pid());
  Status s = peer.PacscoreWaitIdle();
  const std::optional<double> cpu_after = ProcessTreeCpuSeconds(peer.pid());
  if (!s.ok()) {
    m.error += (m.error.empty() ? "" : "; ") + s.ToString();
    return;
  }
  m.settle_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (m.server_cpu_seconds && cpu_before && cpu_after) *m.server_cpu_seconds += *cpu_after - *cpu_before;
}

PushMeasurement MeasurePush(dicom::SendableFiles& corpus, const dicom::ScuPeer& target, int associations,
                            pid_t server_pid, const std::string& system) {
  PushMeasurement m;
  m.system = system;
  std::optional<double> cpu_before = server_pid > 0 ? ProcessTreeCpuSeconds(server_pid) : std::nullopt;
  tools::Progress progress(corpus.files().size());
  m.push = dicom::PushFiles(corpus, target, associations,
                            [&](uint64_t files, uint64_t bytes) { progress.Update(files, bytes); });
  progress.Finish();
  std::optional<double> cpu_after = server_pid > 0 ? ProcessTreeCpuSeconds(server_pid) : std::nullopt;
  if (cpu_before && cpu_after) m.server_cpu_seconds = m.push_cpu_seconds = *cpu_after - *cpu_before;
  return m;
}

void PrintFailures(const PushMeasurement& m) {
  if (m.push.failed == 0) return;
  std::fprintf(stderr, "%s: %llu C-STORE(s) failed, for example:\n", m.system.c_str(),
               static_cast<unsigned long long>(m.push.failed));
  for (const auto& f : m.push.failures) std::fprintf(stderr, "  %s\n", f.c_str());
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IOError("cannot write " + path.string());
  return Status::Ok();
}

std::string Mb(std::optional<uint64_t> bytes) {
  return bytes ? FormatDouble(static_cast<double>(*bytes) / 1e6, 1) : "-";
}

std::string Opt(std::optional<double> v, int decimals) {
  return v ? FormatDouble(*v, decimals) : "-";
}

}  // namespace pacs::bench
