// File: dicom_server.h
// The DICOM node: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET and Storage
// Commitment (N-ACTION / N-EVENT-REPORT) over a pool of
// association threads (dicom/src/scp/). Each C-STORE is answered only after
// the instance is durable in the store; queries read the query index.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/retrieve.h"

namespace pacs::dicom {

struct ServerOptions {
  uint16_t port = 11112;
  std::string ae_title = "PACSCORE";
  uint16_t max_associations = 16;
  std::vector<PeerAddress> peers;  // C-MOVE destinations and Storage Commitment requesters (`--peer`)
  // After the N-ACTION response, how long a Storage Commitment requester has
  // to release its association before the report goes on that association
  // (docs/conformance.md, "Storage Commitment").
  std::chrono::milliseconds commitment_release_wait{1000};
};

// Live counters of the running server (since start).
struct ServerCounters {
  std::atomic<uint64_t> associations{0};
  std::atomic<uint64_t> echo_requests{0};
  std::atomic<uint64_t> stores_succeeded{0};
  std::atomic<uint64_t> stores_failed{0};
  std::atomic<uint64_t> receive_failures{0};  // datasets that could not be received (association aborted)
  std::atomic<uint64_t> find_requests{0};
  std::atomic<uint64_t> move_requests{0};
  std::atomic<uint64_t> get_requests{0};
  std::atomic<uint64_t> retrieve_suboperations_completed{0};
  std::atomic<uint64_t> retrieve_suboperations_failed{0};
  std::atomic<uint64_t> commitment_requests{0};
  std::atomic<uint64_t> commitment_instances_committed{0};
  std::atomic<uint64_t> commitment_instances_failed{0};
  std::atomic<uint64_t> commitment_reports_failed{0};  // N-EVENT-REPORTs that could not be delivered
};

// Run() on one thread; Stop() and counters() from any other.
class DicomServer {
 public:
  DicomServer(Ingestor& ingestor, ServerOptions options);
  ~DicomServer();
  // Listens until Stop(); returns once running associations have ended.
  // Logs "listening" only once the port is bound; fails with an IOError
  // naming the port when it cannot be bound.
  Status Run();
  // Safe to call from any thread (e.g. a signal-handling thread).
  void Stop();
  const ServerCounters& counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pacs::dicom
