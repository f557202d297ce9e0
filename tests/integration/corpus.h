// File: corpus.h
// The DICOM files the integration tests push: the shared corpus (outside
// malformed/) and pydicom's test files that DCMTK reads and storescu can send.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace pacs::testing {

struct SampleFile {
  std::filesystem::path path;
  std::string transfer_syntax;
  std::string sop_instance_uid;
  std::string patient_key;  // PatientID + '\0' + IssuerOfPatientID
  std::string study_uid;
  std::string series_uid;
  std::string storescu_flag;
};

struct SampleSet {
  std::vector<SampleFile> files;
  std::vector<std::string> skipped;  // "path: reason"
};

// Every corpus file outside malformed/ (from MANIFEST.tsv).
SampleSet LoadCorpus();
// pydicom's test files that DCMTK parses, that carry a storage SOP class and
// a SOP Instance UID, and whose transfer syntax storescu can propose.
SampleSet LoadPydicomValid();

// Pushes `files` with storescu over `associations` parallel associations;
// returns the number of C-STORE responses with status Success and appends
// storescu's output for failures to `log`.
size_t PushWithStorescu(const std::vector<SampleFile>& files, int port, int associations, std::string& log);

// Loads both files and compares them attribute by attribute (CompareDatasets);
// returns an empty string when equal, else the difference.
std::string CompareFiles(const std::filesystem::path& expected, const std::filesystem::path& actual);

// Checks an export folder against what was sent: every exported instance
// equals one of the files sent under its SOP Instance UID, and every UID sent
// was exported. Fills `stored` with the matching source file of each instance.
std::vector<std::string> CheckRoundTrip(const std::vector<SampleFile>& sent, const std::filesystem::path& export_dir,
                                        std::vector<SampleFile>& stored);

}  // namespace pacs::testing
