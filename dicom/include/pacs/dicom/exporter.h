// File: exporter.h
// Writes stored instances back out as DICOM Part 10 files, laid out as
// OUT/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pacs/base/audit.h"
#include "pacs/base/result.h"
#include "pacs/dicom/prefetch.h"
#include "pacs/dicom/transcode.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

struct ExportSummary {
  uint64_t exported = 0;
  uint64_t failed = 0;
  std::vector<std::string> errors;  // one line per failed instance
  audit::StudyTally studies;        // what was exported, per study (for the audit trail)
};

// Writes one instance in `target` (default: the syntax it arrived in); returns the path.
Result<std::filesystem::path> ExportInstance(const engine::Store& store, const engine::InstanceRecord& record,
                                             const std::filesystem::path& out_dir, const TargetSyntax& target = {});

// Exports every instance, or those of one study when `study_uid` is not
// empty. Instances are built on worker threads ahead of the writer
// (prefetch.h: `options` sets their count and the memory cap) and written
// in the order the store lists them.
Result<ExportSummary> ExportInstances(const engine::Store& store, const std::filesystem::path& out_dir,
                                      const std::string& study_uid, const TargetSyntax& target = {},
                                      const PrefetchOptions& options = {});

}  // namespace pacs::dicom
