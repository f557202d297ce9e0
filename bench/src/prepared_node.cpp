// The node `pacscore bench query|retrieve` talk to (prepared_node.h).
#include "prepared_node.h"

#include <cstdio>
#include <system_error>

#include "run_common.h"

namespace pacs::bench {
namespace fs = std::filesystem;

Result<PreparedNode> PrepareNode(const ServerOptions& options, dicom::SendableFiles& corpus) {
  PreparedNode node;
  if (options.target) {
    if (options.codec || !options.serve_args.empty())
      return Status::InvalidArgument("--codec and --serve-arg are for the server bench starts, not with --target");
    auto t = ParseTarget(*options.target);
    if (!t.ok()) return t.status();
    node.target = *t;
    node.system = *options.target;
    node.setup = "external node " + node.system;
    node.pid = options.target_pid.value_or(0);
  } else {
    PeerSpec spec{.kind = PeerKind::kPacscore,
                  .codec = options.codec.value_or(""),
                  .serve_args = options.serve_args,
                  .associations = 4};
    auto folder = MakeWorkFolder(WorkParent(options.work_dir));
    if (!folder.ok()) return folder.status();
    node.work = *folder;
    auto started = RunningPeer::Start(spec, *node.work / "pacscore");
    if (!started.ok()) return started.status();
    node.server.emplace(std::move(*started));
    node.target = node.server->target();
    node.pid = node.server->pid();
    node.system = PeerLabel(spec);
    node.setup = PeerSetup(spec);
  }
  std::fprintf(stderr, "storing the corpus in %s first\n", node.system.c_str());
  node.ingest = MeasurePush(corpus, node.target, 2, node.pid, node.system);
  PrintFailures(node.ingest);
  // Queries and retrievals are measured on the archive at rest, not while
  // frames are still being re-encoded behind the push.
  if (node.server) {
    Settle(*node.server, node.ingest);
    if (!node.ingest.error.empty()) return Status::IOError(node.system + ": " + node.ingest.error);
    std::fprintf(stderr, "background encoding finished %.1f s after the push\n",
                 node.ingest.settle_seconds.value_or(0));
  } else {
    std::fprintf(stderr, "external node: cannot tell when its background encoding ends; measuring right away\n");
  }
  if (node.ingest.push.succeeded == 0)
    return Status::IOError("no instance of the corpus could be stored in " + node.system);
  return node;
}

void FinishNode(PreparedNode& node, bool keep) {
  if (node.server)
    if (auto stopped = node.server->StopAndMeasureStored(); !stopped.ok())
      std::fprintf(stderr, "pacscore bench: %s\n", stopped.status().ToString().c_str());
  if (!node.work) return;
  if (keep) {
    std::fprintf(stderr, "kept the server's folder %s\n", node.work->c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(*node.work, ec);
}

TimingSummary Summarize(const std::vector<dicom::RequestTiming>& timings) {
  TimingSummary s;
  PushMeasurement helper;  // reuses the percentile rule of the ingest numbers
  for (const auto& t : timings) {
    ++s.requests;
    s.total_ms += t.ms;
    if (!t.error.empty()) {
      ++s.failed;
      if (s.first_error.empty()) s.first_error = t.error;
      continue;
    }
    s.matches += t.matches;
    s.bytes += t.bytes;
    helper.push.latencies_ms.push_back(t.ms);
  }
  s.p50 = helper.latency_percentile_ms(50);
  s.p95 = helper.latency_percentile_ms(95);
  s.p99 = helper.latency_percentile_ms(99);
  return s;
}

}  // namespace pacs::bench
