// File: query_scu.h
// C-FIND and C-GET clients that time each request (DCMTK's DcmSCU stays
// behind this header): the query/retrieve side of `pacscore bench` and of
// the query latency driver.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pacs/dicom/store_scu.h"

namespace pacs::dicom {

struct FindQuery {
  std::string kind;           // "study by PatientID", ...
  bool patient_root = false;  // Patient Root model; Study Root otherwise
  std::string level;          // PATIENT, STUDY, SERIES, IMAGE
  // Matching and return keys by DICOM keyword ("PatientID"); empty value = return key.
  std::vector<std::pair<std::string, std::string>> keys;
};

struct RequestTiming {
  double ms = 0;
  uint64_t matches = 0;  // C-FIND: pending responses; C-GET: instances received
  uint64_t bytes = 0;    // C-GET: dataset bytes received
  std::string error;     // empty when the request completed with status Success
};

// Sends `queries` in order, over one association for all of them, or a new
// association for each (its set-up then counts in the time).
std::vector<RequestTiming> RunFinds(const ScuPeer& peer, const std::vector<FindQuery>& queries,
                                    bool association_per_query);

// Sends `queries` alternately over a new association each (even positions;
// set-up and release timed, into `per_query`) and over one association kept
// open (odd positions, into `reused`), so that both see the same server,
// caches and machine load.
void RunFindsInterleaved(const ScuPeer& peer, const std::vector<FindQuery>& queries,
                         std::vector<RequestTiming>& per_query, std::vector<RequestTiming>& reused);

struct GetRequest {
  std::string study_uid;
  std::string series_uid;  // empty: the whole study
};

// C-GETs `requests` over `associations` parallel associations (dealt
// round-robin). Each association offers to receive the SOP class/transfer
// syntax pairs in `storage` (role SCP). `wall_seconds` is the time from the
// first association request to the end of the last C-GET.
std::vector<RequestTiming> RunGets(const ScuPeer& peer, const std::vector<GetRequest>& requests,
                                   const std::vector<std::pair<std::string, std::string>>& storage, int associations,
                                   double& wall_seconds);

}  // namespace pacs::dicom
