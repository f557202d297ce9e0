// File: store_scu.h
// A C-STORE client: the sendable DICOM files of a folder and a sender that
// pushes them over N parallel associations, each file in its own transfer
// syntax, timing every round trip (DCMTK's DcmSCU stays behind this header).
// The load generator of `pacscore bench`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::dicom {

struct SendableFile {
  std::string path;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax;
  uint64_t file_bytes = 0;
  uint64_t dataset_bytes = 0;  // the file without preamble and meta header: what travels in the C-STORE
  // Query keys, for benchmarks that ask for what was sent.
  std::string patient_id;
  std::string patient_name;
  std::string accession_number;
  std::string study_date;
  std::string study_uid;
  std::string series_uid;
};

// The sendable files under a folder. Not shared between threads except
// through PushFiles(), which gives each file to exactly one association.
class SendableFiles {
 public:
  // Every regular file under `dir`, recursively, in path order. Files DCMTK
  // cannot read, without SOP Class/Instance UID, of a non-storage SOP class or
  // in a transfer syntax DCMTK cannot send are listed in skipped().
  static Result<SendableFiles> Scan(const std::string& dir);
  SendableFiles(SendableFiles&& /*unused*/) noexcept;
  SendableFiles& operator=(SendableFiles&& /*unused*/) noexcept;
  ~SendableFiles();

  const std::vector<SendableFile>& files() const;
  const std::vector<std::string>& skipped() const;  // "path: reason"
  uint64_t dataset_bytes() const;
  uint64_t file_bytes() const;
  // Loads every dataset into memory so that reading files does not count in
  // the measurement; without it each file is read right before it is sent.
  Status Preload();
  bool preloaded() const;

  struct Impl;  // defined in store_scu.cpp, where PushFiles() reaches the loaded datasets

 private:
  SendableFiles();
  friend struct SendableFilesAccess;
  std::unique_ptr<Impl> impl_;
};

// The peer an association goes to, and the AE title we call it with.
struct ScuPeer {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string called_aet;
  std::string calling_aet;
};

struct PushResult {
  double wall_seconds = 0;
  uint64_t attempted = 0;
  uint64_t succeeded = 0;             // status Success or Warning
  uint64_t failed = 0;                // failure status, context not accepted, or association lost
  uint64_t succeeded_bytes = 0;       // dataset bytes of the succeeded files
  uint64_t associations = 0;          // associations opened
  std::vector<double> latencies_ms;   // one per succeeded C-STORE
  std::vector<std::string> failures;  // the first few, with file and reason
};

// Sends every file of `files` once over `associations` parallel associations
// (files dealt round-robin; an association proposes exactly the SOP class and
// transfer syntax pairs of its files, at most 128, opening further
// associations when one worker's files need more). `on_progress(files, bytes)`
// is called from the calling thread a few times a second.
PushResult PushFiles(SendableFiles& files, const ScuPeer& peer, int associations,
                     const std::function<void(uint64_t files, uint64_t bytes)>& on_progress);

// One C-ECHO; OK when the peer answered it.
Status Echo(const ScuPeer& peer, int timeout_seconds);

// The DCMTK version this binary was built with.
std::string DcmtkVersion();

}  // namespace pacs::dicom
