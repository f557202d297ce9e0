// File: qr_test_support.h
// What the query/retrieve integration tests share: C-FIND with the real
// findscu (query files built with DCMTK, responses extracted to files), a
// background DICOM receiver process, and the attributes of corpus files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcfilefo.h"

namespace pacs::testing {

// Top-level attributes of a DICOM file, text converted to UTF-8.
struct FileAttributes {
  std::filesystem::path path;
  std::map<std::string, std::string> values;  // keyword -> value
  const std::string& operator[](const std::string& keyword) const;
};
FileAttributes ReadAttributes(const std::filesystem::path& path);

// One C-FIND: `keys` are "Keyword" or "Keyword=value" (UTF-8 values are
// written as given, so set SpecificCharacterSet to match). `raw_values`
// overrides a value with exact bytes (other character sets).
struct FindRequest {
  bool patient_root = false;
  std::string level;  // PATIENT, STUDY, SERIES, IMAGE
  std::vector<std::string> keys;
  std::map<std::string, std::string> raw_values;  // keyword -> bytes
  std::string charset;                            // SpecificCharacterSet of the request ("" = none)
};
struct FindResult {
  int exit_code = -1;
  std::string output;
  std::vector<std::unique_ptr<DcmFileFormat>> responses;
  // Values of `keyword` over all responses (UTF-8 after converting each
  // response from its own SpecificCharacterSet).
  std::multiset<std::string> Values(const std::string& keyword) const;
  std::set<std::string> DistinctValues(const std::string& keyword) const;
  // One line per response, "Keyword=value|" for each of `keys` (a request's
  // keys; a "=value" part is ignored), values as sent, lines sorted: an
  // answer to compare with another server's or an earlier run's.
  std::vector<std::string> SortedLines(const std::vector<std::string>& keys) const;
};
FindResult RunFindscu(int port, const FindRequest& request, const std::filesystem::path& work_dir);

// A process running in the background (e.g. storescp), stopped on destruction.
class BackgroundProcess {
 public:
  BackgroundProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
                    std::filesystem::path log_path);
  ~BackgroundProcess();
  bool running() const { return pid_ > 0; }
  void Stop();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_path_;
};

// Waits (bounded) until `dir` holds `count` regular files, recursively.
size_t WaitForFiles(const std::filesystem::path& dir, size_t count, std::chrono::seconds timeout);
std::vector<std::filesystem::path> FilesIn(const std::filesystem::path& dir);

}  // namespace pacs::testing
