// File: bench_scu.h
// The load generator of `pacscore bench`: the DICOM files of a corpus folder
// and a C-STORE client (DCMTK's DcmSCU, kept behind this header) that pushes
// them over N parallel associations, each file in its own transfer syntax,
// timing every C-STORE round trip.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::tools::bench {

struct CorpusFile {
  std::string path;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax;
  uint64_t file_bytes = 0;
  uint64_t dataset_bytes = 0;  // the file without preamble and meta header: what travels in the C-STORE
  // Query keys `bench query` and `bench retrieve` ask for.
  std::string patient_id;
  std::string patient_name;
  std::string accession_number;
  std::string study_date;
  std::string study_uid;
  std::string series_uid;
};

// The sendable files under a folder. Not shared between threads except
// through Push(), which gives each file to exactly one association.
class Corpus {
 public:
  // Every regular file under `dir`, recursively, in path order. Files DCMTK
  // cannot read, without SOP Class/Instance UID, of a non-storage SOP class or
  // in a transfer syntax DCMTK cannot send are listed in skipped().
  static Result<Corpus> Scan(const std::string& dir);
  Corpus(Corpus&&) noexcept;
  Corpus& operator=(Corpus&&) noexcept;
  ~Corpus();

  const std::vector<CorpusFile>& files() const;
  const std::vector<std::string>& skipped() const;  // "path: reason"
  uint64_t dataset_bytes() const;
  uint64_t file_bytes() const;
  // Loads every dataset into memory so that reading files does not count in
  // the measurement; without it each file is read right before it is sent.
  Status Preload();
  bool preloaded() const;

  struct Impl;  // defined in bench_scu.cpp, where Push() reaches the loaded datasets

 private:
  Corpus();
  friend struct CorpusAccess;
  std::unique_ptr<Impl> impl_;
};

struct PushTarget {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string called_aet;
  std::string calling_aet = "PACSBENCH";
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

// Sends every file of `corpus` once over `associations` parallel associations
// (files dealt round-robin; an association proposes exactly the SOP class and
// transfer syntax pairs of its files, at most 128, opening further
// associations when one worker's files need more). `on_progress(files, bytes)`
// is called from the calling thread a few times a second.
PushResult Push(Corpus& corpus, const PushTarget& target, int associations,
                const std::function<void(uint64_t files, uint64_t bytes)>& on_progress);

// One C-ECHO; OK when the peer answered it.
Status Echo(const PushTarget& target, int timeout_seconds);

// The DCMTK version this binary was built with.
std::string DcmtkVersion();

}  // namespace pacs::tools::bench
