// File: prepared_node.h
// What `pacscore bench query` and `bench retrieve` share: the node they
// measure (a fresh pacscore, or --target) with the corpus stored in it
// first, and the percentiles of their timed requests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "options.h"
#include "pacs/base/result.h"
#include "pacs/dicom/query_scu.h"
#include "pacs/dicom/store_scu.h"
#include "peers.h"
#include "report.h"

namespace pacs::bench {

// The node the query/retrieve benchmarks talk to, with the corpus stored in it.
struct PreparedNode {
  std::optional<std::filesystem::path> work;
  std::optional<RunningPeer> server;
  dicom::ScuPeer target;
  pid_t pid = 0;
  std::string system;
  std::string setup;
  PushMeasurement ingest;
};

// Starts pacscore (or checks --target) and stores the corpus in it over two
// associations; an error when not one instance could be stored.
Result<PreparedNode> PrepareNode(const ServerOptions& options, dicom::SendableFiles& corpus);
// Stops the server it started and removes its folder unless `keep`.
void FinishNode(PreparedNode& node, bool keep);

struct TimingSummary {
  uint64_t requests = 0, failed = 0, matches = 0, bytes = 0;
  double p50 = 0, p95 = 0, p99 = 0, total_ms = 0;
  std::string first_error;
};
// Counts and nearest-rank percentiles of the requests that succeeded.
TimingSummary Summarize(const std::vector<dicom::RequestTiming>& timings);

}  // namespace pacs::bench
