// File: scp_context.h
// What every association worker is built with: the handlers that answer
// its requests, the server's counters and options. Nothing of the server is
// process-wide; everything the context refers to outlives the pool.
#pragma once

#include "pacs/dicom/dicom_server.h"
#include "request_handlers.h"

namespace pacs::dicom::scp {

struct ScpContext {
  StoreRequestHandler& store_handler;
  FindRequestHandler& find_handler;
  RetrieveRequestHandler& retrieve_handler;
  CommitmentRequestHandler& commitment_handler;
  ServerCounters& counters;      // atomics: shared by all workers
  const ServerOptions& options;  // read-only while serving
};

// The server-wide count of a C-MOVE / C-GET sub-operation's outcome.
inline void CountSubOperation(ServerCounters& counters, SubOperationResult result) {
  ++(result == SubOperationResult::kFailed ? counters.retrieve_suboperations_failed
                                           : counters.retrieve_suboperations_completed);
}

}  // namespace pacs::dicom::scp
