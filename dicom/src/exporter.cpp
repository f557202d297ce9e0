#include "pacs/dicom/exporter.h"

#include "pacs/dicom/instance_split.h"

namespace pacs::dicom {
namespace {

// UIDs are [0-9.]; anything else (a malformed UID) must not escape the folder.
std::string SafeName(const std::string& uid) {
  std::string out;
  for (char c : uid) out.push_back((std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_');
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

}  // namespace

Result<std::filesystem::path> ExportInstance(const engine::Store& store, const engine::InstanceRecord& record,
                                             const std::filesystem::path& out_dir, const TargetSyntax& target) {
  auto built = BuildInstance(store, record, target);
  if (!built.ok()) return built.status().WithContext("instance " + record.sop_instance_uid);
  const auto dir = out_dir / SafeName(record.study_instance_uid) / SafeName(record.series_instance_uid);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  const auto path = dir / (SafeName(record.sop_instance_uid) + ".dcm");
  PACS_RETURN_IF_ERROR(WritePart10(*built, path).WithContext("instance " + record.sop_instance_uid));
  return path;
}

Result<ExportSummary> ExportInstances(const engine::Store& store, const std::filesystem::path& out_dir,
                                      const std::string& study_uid, const TargetSyntax& target) {
  ExportSummary summary;
  Status scan = store.ForEachInstance([&](const engine::InstanceRecord& rec) {
    if (!study_uid.empty() && rec.study_instance_uid != study_uid) return true;
    auto written = ExportInstance(store, rec, out_dir, target);
    summary.studies.Add(rec.study_instance_uid, rec.patient_id, written.ok());
    if (written.ok()) {
      ++summary.exported;
    } else {
      ++summary.failed;
      summary.errors.push_back(written.status().ToString());
    }
    return true;
  });
  PACS_RETURN_IF_ERROR(scan);
  return summary;
}

}  // namespace pacs::dicom
