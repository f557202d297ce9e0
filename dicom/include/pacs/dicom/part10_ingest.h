// File: part10_ingest.h
// Ingest of one DICOM Part 10 file that arrived in an HTTP request body
// (a STOW-RS part), in memory or in a spill file, through the same pipeline
// as C-STORE (IngestDataset: codec policy, dedup, index, durable commit).
// It says who the instance is even when it is refused, for the STOW-RS
// response's FailedSOPSequence.
//
//   Part10Identity who;
//   auto report = IngestPart10(ingestor, Part10Source::Memory(bytes), {.study_instance_uid = S}, &who);
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "pacs/base/result.h"
#include "pacs/dicom/ingest.h"

namespace pacs::dicom {

// Where the file's bytes are: in memory (which must outlive the call) or in a file.
struct Part10Source {
  std::string_view memory;
  std::filesystem::path file;
  static Part10Source Memory(std::string_view bytes) { return {.memory = bytes}; }
  static Part10Source File(std::filesystem::path path) { return {.file = std::move(path)}; }
};

// What the caller requires of the instance before anything is stored.
struct Part10Requirements {
  std::string study_instance_uid;  // "": any study
};

// Who the instance is, as far as it could be read ("" where not).
struct Part10Identity {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string transfer_syntax_uid;  // of the File Meta Information
};

// Why a part was refused, as the STOW-RS FailureReason (PS3.18 10.5.3,
// values from PS3.4's C-STORE statuses).
enum class Part10Failure : uint16_t {
  kProcessingFailure = 0x0110,
  kOutOfResources = 0xA700,
  kCannotUnderstand = 0xC000,
  kStudyMismatch = 0xC409,  // the instance is of another study than the request's URL names
};

// The failure reason of a refusal IngestPart10 returned.
Part10Failure Part10FailureOf(const Status& status);

// Reads the Part 10 file (File Meta Information required: a dataset without
// it is refused), checks `requirements`, and stores it through `ingestor`.
// A refusal says why and that nothing was stored; a study other than the
// required one is Status::InvalidArgument with "is of study" in it.
// `identity` (optional) is filled as soon as the file is read.
Result<IngestReport> IngestPart10(Ingestor& ingestor, const Part10Source& source,
                                  const Part10Requirements& requirements, Part10Identity* identity);

}  // namespace pacs::dicom
