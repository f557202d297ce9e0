// File: run_common.h
// What the benchmark runs share: the corpus they send, the server's numbers
// around a push, provenance, and small output helpers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pacs/base/result.h"
#include "pacs/dicom/store_scu.h"
#include "peers.h"
#include "report.h"

namespace pacs::bench {

// The AE title every bench association calls from.
inline constexpr char kCallingAet[] = "PACSBENCH";
// A peer on 127.0.0.1 called from kCallingAet; port and called AE to be set.
dicom::ScuPeer LoopbackPeer();
// --target AET@HOST:PORT.
Result<dicom::ScuPeer> ParseTarget(const std::string& text);

// Prints "pacscore bench: <status>" on stderr; returns 1.
int Fail(const Status& status);

// --work-dir, or $TMPDIR, or /tmp.
std::filesystem::path WorkParent(const std::optional<std::string>& work_dir);

// Scans the corpus, says what it found, preloads it when it fits.
Result<dicom::SendableFiles> LoadCorpus(const std::string& dir);

Provenance MakeProvenance(const std::string& command_line, const dicom::SendableFiles& corpus,
                          const std::string& corpus_dir, int associations, const std::filesystem::path& work_dir,
                          const std::vector<PeerKind>& peers);

// The body of pacscore's GET /stats as JSON.
Result<nlohmann::json> ParseStatsReply(const std::string& body);
// An integer field of GET /stats; nullopt when absent.
std::optional<uint64_t> StatsField(const nlohmann::json& stats, const std::string& key);

// Waits until pacscore has re-encoded what it stored raw and released the
// staged frames' space (no manual compact: the archive must settle by
// itself); the time and the server CPU it took are added to the measurement.
void Settle(const RunningPeer& peer, PushMeasurement& m);

// One push with a progress bar, CPU time of the server around it.
PushMeasurement MeasurePush(dicom::SendableFiles& corpus, const dicom::ScuPeer& target, int associations,
                            pid_t server_pid, const std::string& system);

void PrintFailures(const PushMeasurement& m);

Status WriteText(const std::filesystem::path& path, const std::string& text);

// Table cells: megabytes with one decimal, or "-" when absent.
std::string Mb(std::optional<uint64_t> bytes);
std::string Opt(std::optional<double> v, int decimals);

}  // namespace pacs::bench
