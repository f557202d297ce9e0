// File: scp_context.h
// What every association worker is built with: the handlers that answer
// its requests, the server's counters and options. Nothing of the server is
// process-wide; everything the context refers to outlives the pool.
#pragma once

#include "access_control.h"
#include "pacs/dicom/dicom_server.h"
#include "request_handlers.h"

class DcmTransportLayer;

namespace pacs::dicom::scp {

struct ScpContext {
  StoreRequestHandler& store_handler;
  FindRequestHandler& find_handler;
  RetrieveRequestHandler& retrieve_handler;
  CommitmentRequestHandler& commitment_handler;
  ServerCounters& counters;      // atomics: shared by all workers
  const ServerOptions& options;  // read-only while serving
  AccessControl& access;         // thread-safe: who may do what
  // DICOM TLS for the associations we open to peers marked tls (a TlsLayer,
  // tls_layer.h); null when no peer is. Set before serving starts.
  DcmTransportLayer* tls_requestor = nullptr;
};

// The server-wide count of a C-MOVE / C-GET sub-operation's outcome.
inline void CountSubOperation(ServerCounters& counters, DimseService service, SubOperationResult result) {
  counters.CountSubOperation(service, result == SubOperationResult::kFailed    ? "failed"
                                      : result == SubOperationResult::kWarning ? "warning"
                                                                               : "completed");
}

}  // namespace pacs::dicom::scp
