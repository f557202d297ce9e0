// File: dimse_status.h
// What a request handler answers a DIMSE service with: a status word and,
// for a refusal or failure, the Error Comment (0000,0902) that goes with it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "pacs/dicom/dicom_server.h"

namespace pacs::dicom::scp {

struct DimseStatus {
  uint16_t code = 0;          // 0000: success
  std::string error_comment;  // sent as the status detail when `code` is not success
  bool ok() const { return code == 0; }
};

// Warning statuses of a C-STORE sub-operation (Bxxx, and the two of Part 4 C.4.2.1.4).
inline bool IsWarningStatus(uint16_t status) {
  return (status & 0xF000) == 0xB000 || status == 0x0107 || status == 0x0116;
}

// What a final response status counts as (PS3.7 Annex C).
inline DimseOutcome OutcomeOf(uint16_t status) {
  if (status == 0x0000) return DimseOutcome::kSuccess;
  if (status == 0xFE00) return DimseOutcome::kCancel;
  if (status == 0x0001 || IsWarningStatus(status)) return DimseOutcome::kWarning;
  return DimseOutcome::kFailure;
}

// Status detail carrying an Error Comment (0000,0902), at most 64 characters.
inline std::unique_ptr<DcmDataset> ErrorDetail(const std::string& comment) {
  auto detail = std::make_unique<DcmDataset>();
  detail->putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
  return detail;
}

}  // namespace pacs::dicom::scp
