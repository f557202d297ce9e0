// File: commit_scu.h
// A Storage Commitment Push Model client (the modality's side of PS3.4
// Annex J): asks a node to commit instances read from DICOM files and waits
// for its N-EVENT-REPORT, on the same association or, with a listen port, on
// a new association the node opens back. DCMTK stays behind this header.
// `pacscore commit-request` is its command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/dicom/store_scu.h"

namespace pacs::dicom {

struct CommitmentReference {
  std::string file;  // where the UIDs were read
  std::string sop_class_uid;
  std::string sop_instance_uid;
};

// The SOP Class and Instance UIDs of each file, in order; fails naming the
// first file that is not DICOM or lacks either UID.
Result<std::vector<CommitmentReference>> ReadCommitmentReferences(const std::vector<std::string>& files);

struct CommitmentOutcome {
  CommitmentReference reference;
  bool reported = false;        // the report named this instance
  bool committed = false;       // in the Referenced SOP Sequence
  uint16_t failure_reason = 0;  // from the Failed SOP Sequence
};

struct CommitmentReport {
  std::string transaction_uid;
  uint16_t event_type = 0;  // 1: all committed, 2: failures exist
  bool on_new_association = false;
  double seconds = 0;                        // from sending the N-ACTION to receiving the N-EVENT-REPORT
  std::vector<CommitmentOutcome> instances;  // in the order requested
  bool all_committed() const;
};

struct CommitmentRequestOptions {
  ScuPeer peer;
  // 0: keep the association open and take the report on it. Else release it
  // after the N-ACTION response and accept the report on this port (bound
  // before the request is sent).
  uint16_t listen_port = 0;
  int timeout_seconds = 120;  // for the report, from the N-ACTION response
};

// Sends one N-ACTION (Request Storage Commitment) for `references` with a
// new Transaction UID and returns the node's report. Fails when the request
// is refused, the association breaks, or no report arrives in time.
Result<CommitmentReport> RequestCommitment(const CommitmentRequestOptions& options,
                                           const std::vector<CommitmentReference>& references);

// "no such object instance" for 0112, ... (PS3.4 J.3.2.1.1.2).
std::string FailureReasonName(uint16_t reason);

}  // namespace pacs::dicom
