// File: dicom_server.h
// The DICOM node: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET and Storage
// Commitment (N-ACTION / N-EVENT-REPORT) over a pool of
// association threads (dicom/src/scp/). Each C-STORE is answered only after
// the instance is durable in the store; queries read the query index.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pacs/base/metrics.h"
#include "pacs/base/result.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/retrieve.h"
#include "pacs/dicom/tls_settings.h"

namespace pacs::dicom {

struct ServerOptions {
  uint16_t port = 11112;
  std::string ae_title = "PACSCORE";
  uint16_t max_associations = 16;
  // The DICOM port's address (an IPv4 address; 0.0.0.0: every interface),
  // and what the listener allows (docs/operations.md, "The DICOM listener").
  std::string bind_address = "0.0.0.0";
  int max_connections_per_host = 4;                             // connections open from one source address
  std::chrono::milliseconds association_request_timeout{5000};  // first PDU (and TLS handshake)
  std::chrono::milliseconds idle_timeout{120000};               // no request for this long: A-ABORT
  std::vector<PeerAddress> peers;  // C-MOVE destinations and Storage Commitment requesters (`--peer`)
  // After the N-ACTION response, how long a Storage Commitment requester has
  // to release its association before the report goes on that association
  // (docs/conformance.md, "Storage Commitment").
  std::chrono::milliseconds commitment_release_wait{1000};
  // DICOM TLS (docs/security.md). `plain_port` false: no plain DICOM port
  // (`--port off`); `tls_port` 0: no TLS port. `tls` serves the TLS port and
  // the associations opened to peers marked tls (C-MOVE, commitment reports).
  bool plain_port = true;
  uint16_t tls_port = 0;
  TlsSettings tls;
  // Access control (docs/security.md, "Access control (AE table)"): C-ECHO
  // and C-STORE from any calling AE unless switched off; C-FIND, C-GET,
  // C-MOVE and Storage Commitment only for `peers` with the permission.
  bool echo_from_any_ae = true;
  bool store_from_any_ae = true;
  bool any_called_aet = false;           // accept any called AE title, not only `ae_title`
  uint16_t max_associations_per_ae = 8;  // at once per calling AE title (a peer may set its own); 0: no cap
  // A C-STORE dataset larger than this is refused (A700) as its PDVs
  // arrive, never held whole; 0: no limit (`--max-dataset-bytes`).
  uint64_t max_dataset_bytes = 0;
  // A dataset larger than this is received into a file in `spill_dir`
  // (default: "incoming" in the data folder) and read from it lazily.
  uint64_t spill_threshold_bytes = 16ull << 20;
  std::string spill_dir;
  // C-GET and C-MOVE build the instances they send on this many threads
  // (0: one per core) ahead of the sender, holding at most this many bytes
  // per retrieval (`--retrieval-buffer`; prefetch.h, docs/operations.md).
  size_t retrieval_threads = 0;
  uint64_t retrieval_buffer_bytes = 64ull << 20;
};

// A DIMSE service the server provides, and what one request of it came to
// by its final status (PS3.7 Annex C: Warning is 0001, Bxxx, 0107, 0116;
// Cancel is FE00; Failure is everything else that is not Success).
enum class DimseService { kEcho, kStore, kFind, kMove, kGet };
enum class DimseOutcome { kSuccess, kWarning, kFailure, kCancel };
// "echo", ..., "get" and "success", ..., "cancel": the label values.
const char* ServiceLabel(DimseService service);
const char* OutcomeLabel(DimseOutcome outcome);

// Live counts of the running server (since start), kept as Prometheus
// metrics in the registry the server is given (docs/operations.md lists
// them). Thread-safe: the association threads count at once (atomics).
class ServerCounters {
 public:
  explicit ServerCounters(metrics::Registry& registry);
  ServerCounters(const ServerCounters&) = delete;
  ServerCounters& operator=(const ServerCounters&) = delete;

  void CountRequest(DimseService service, DimseOutcome outcome) { Requests(service, outcome).Increment(); }
  uint64_t requests(DimseService service, DimseOutcome outcome) const;
  uint64_t requests(DimseService service) const;  // every outcome
  // An association refused, by a reason from the list in docs/operations.md.
  void CountRefusal(const std::string& reason) { associations_refused_.With({reason}).Increment(); }
  // An association or connection the server closed, by a reason from the
  // list in docs/operations.md ("idle_timeout", "shutdown").
  void CountClosed(const std::string& reason) { associations_closed_.With({reason}).Increment(); }
  // A C-MOVE / C-GET sub-operation: "completed", "warning" or "failed".
  void CountSubOperation(DimseService service, const char* result);

  // The metrics, declared in the order they are registered, which is the
  // order /metrics lists them in.
  metrics::Counter& associations;     // accepted
  metrics::Gauge& associations_open;  // being served now

 private:
  metrics::Family<metrics::Counter>& associations_refused_;
  metrics::Family<metrics::Counter>& associations_closed_;
  metrics::Family<metrics::Counter>& requests_by_outcome_;
  metrics::Family<metrics::Counter>& suboperations_;

 public:
  metrics::Histogram& store_seconds;       // a C-STORE from request to response
  metrics::Counter& store_received_bytes;  // C-STORE datasets as received (encoded size)
  metrics::Counter& receive_failures;      // C-STORE datasets that could not be received (association aborted)
  metrics::Counter& commitment_requests;   // Storage Commitment N-ACTIONs
  metrics::Counter& commitment_instances_committed;  // instances reported as committed
  metrics::Counter& commitment_instances_failed;     // instances reported as failed
  metrics::Counter& commitment_reports_failed;       // N-EVENT-REPORTs that could not be delivered

 private:
  metrics::Counter& Requests(DimseService service, DimseOutcome outcome) const {
    return *requests_[static_cast<size_t>(service)][static_cast<size_t>(outcome)];
  }

  std::array<std::array<metrics::Counter*, 4>, 5> requests_{};  // resolved once: counting takes no lock
};

// Run() on one thread; Stop() and counters() from any other.
class DicomServer {
 public:
  // The server counts into `registry`, which must outlive it.
  DicomServer(Ingestor& ingestor, ServerOptions options, metrics::Registry& registry);
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
