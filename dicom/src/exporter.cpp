#include "pacs/dicom/exporter.h"

#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/prefetch.h"

namespace pacs::dicom {
namespace {

// UIDs are [0-9.]; anything else (a malformed UID) must not escape the folder.
std::string SafeName(const std::string& uid) {
  std::string out;
  for (char c : uid) out.push_back((std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_');
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

// Writes a built instance to its path under `out_dir`.
Result<std::filesystem::path> WriteBuilt(BuiltInstance& built, const engine::InstanceRecord& record,
                                         const std::filesystem::path& out_dir) {
  const auto dir = out_dir / SafeName(record.study_instance_uid) / SafeName(record.series_instance_uid);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  const auto path = dir / (SafeName(record.sop_instance_uid) + ".dcm");
  PACS_RETURN_IF_ERROR(WritePart10(built, path).WithContext("instance " + record.sop_instance_uid));
  return path;
}

}  // namespace

Result<std::filesystem::path> ExportInstance(const engine::Store& store, const engine::InstanceRecord& record,
                                             const std::filesystem::path& out_dir, const TargetSyntax& target) {
  auto built = BuildInstance(store, record, target);
  if (!built.ok()) return built.status().WithContext("instance " + record.sop_instance_uid);
  return WriteBuilt(*built, record, out_dir);
}

Result<ExportSummary> ExportInstances(const engine::Store& store, const std::filesystem::path& out_dir,
                                      const std::string& study_uid, const TargetSyntax& target,
                                      const PrefetchOptions& options) {
  ExportSummary summary;
  // Instances are built (decoded, re-encoded) on worker threads ahead of the
  // thread that writes them, in batches of records so that a large archive's
  // records are never all held at once.
  constexpr size_t kBatch = 256;
  std::vector<engine::InstanceRecord> batch;
  auto flush = [&] {
    OrderedPrefetcher<BuiltInstance> prefetch(
        batch.size(),
        [&](size_t i) -> Result<BuiltInstance> {
          auto built = BuildInstance(store, batch[i], target);
          if (!built.ok()) return built.status().WithContext("instance " + batch[i].sop_instance_uid);
          return built;
        },
        [&](size_t i) { return EstimateBuiltBytes(batch[i]); },
        [](const BuiltInstance& built) { return built.held_bytes; }, options);
    for (const auto& rec : batch) {
      auto built = prefetch.Next();
      auto written = built.ok() ? WriteBuilt(*built, rec, out_dir) : Result<std::filesystem::path>(built.status());
      summary.studies.Add(rec.study_instance_uid, rec.patient_id, written.ok());
      if (written.ok()) {
        ++summary.exported;
      } else {
        ++summary.failed;
        summary.errors.push_back(written.status().ToString());
      }
    }
    batch.clear();
  };
  Status scan = store.ForEachInstance([&](const engine::InstanceRecord& rec) {
    if (!study_uid.empty() && rec.study_instance_uid != study_uid) return true;
    batch.push_back(rec);
    if (batch.size() == kBatch) flush();
    return true;
  });
  PACS_RETURN_IF_ERROR(scan);
  if (!batch.empty()) flush();
  return summary;
}

}  // namespace pacs::dicom
