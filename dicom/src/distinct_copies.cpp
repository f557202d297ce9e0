// Copies of DICOM files with distinct pixels (distinct_copies.h).
#include "pacs/dicom/distinct_copies.h"

#include <algorithm>
#include <map>
#include <system_error>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcuid.h"

namespace pacs::dicom {
namespace fs = std::filesystem;
namespace {

// Samples per frame whose lowest bit spells the copy number.
constexpr size_t kMarkedSamples = 32;

std::string NewUid() {
  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  return uid;
}

// XORs the lowest bit of the first kMarkedSamples samples of every frame with
// the bits of `copy`. Returns a reason when the pixel data is not native 8- or 16-bit.
std::string MarkFrames(DcmDataset& dataset, uint32_t copy) {
  Uint16 rows = 0, columns = 0, samples = 1, bits_allocated = 0;
  if (dataset.findAndGetUint16(DCM_Rows, rows).bad() || dataset.findAndGetUint16(DCM_Columns, columns).bad() ||
      dataset.findAndGetUint16(DCM_BitsAllocated, bits_allocated).bad())
    return "no Rows, Columns or BitsAllocated";
  (void)dataset.findAndGetUint16(DCM_SamplesPerPixel, samples);
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) return "no Pixel Data";
  auto* pixels = dynamic_cast<DcmPixelData*>(element);
  if (pixels == nullptr) return "Pixel Data of an unexpected type";
  if (pixels->getLength() == 0 || pixels->getLength() == DCM_UndefinedLength) return "encapsulated or empty Pixel Data";
  const size_t frame_samples = static_cast<size_t>(rows) * columns * std::max<Uint16>(samples, 1);
  if (frame_samples == 0) return "empty frames";
  if (bits_allocated == 16) {
    Uint16* data = nullptr;
    if (pixels->getUint16Array(data).bad() || data == nullptr) return "cannot read 16-bit Pixel Data";
    const size_t total = pixels->getLength() / 2;
    for (size_t frame = 0; frame + frame_samples <= total; frame += frame_samples)
      for (size_t i = 0; i < kMarkedSamples && i < frame_samples; ++i) data[frame + i] ^= (copy >> i) & 1u;
    return "";
  }
  if (bits_allocated == 8) {
    Uint8* data = nullptr;
    if (pixels->getUint8Array(data).bad() || data == nullptr) return "cannot read 8-bit Pixel Data";
    const size_t total = pixels->getLength();
    for (size_t frame = 0; frame + frame_samples <= total; frame += frame_samples)
      for (size_t i = 0; i < kMarkedSamples && i < frame_samples; ++i)
        data[frame + i] = static_cast<Uint8>(data[frame + i] ^ ((copy >> i) & 1u));
    return "";
  }
  return "BitsAllocated " + std::to_string(bits_allocated) + " (only 8 and 16 are changed)";
}

}  // namespace

Result<DistinctCopiesReport> WriteDistinctCopies(const fs::path& in, const fs::path& out, uint32_t copies) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) return Status::IOError("cannot list " + in.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  DistinctCopiesReport report;
  for (uint32_t copy = 1; copy <= copies; ++copy) {
    std::map<std::string, std::string> new_uids;  // original study / series UID -> this copy's
    auto renamed = [&](const std::string& uid) {
      auto [it, added] = new_uids.try_emplace(uid);
      if (added) it->second = NewUid();
      return it->second;
    };
    for (const auto& path : files) {
      DcmFileFormat file;
      if (file.loadFile(path.c_str()).bad()) {
        if (copy == 1) report.skipped.push_back(path.string() + ": not a DICOM file");
        continue;
      }
      DcmDataset& dataset = *file.getDataset();
      OFString study, series;
      if (dataset.findAndGetOFString(DCM_StudyInstanceUID, study).bad() ||
          dataset.findAndGetOFString(DCM_SeriesInstanceUID, series).bad()) {
        if (copy == 1) report.skipped.push_back(path.string() + ": no Study or Series Instance UID");
        continue;
      }
      if (const std::string why = MarkFrames(dataset, copy); !why.empty()) {
        if (copy == 1) report.skipped.push_back(path.string() + ": " + why);
        continue;
      }
      const std::string sop = NewUid();
      if (dataset.putAndInsertString(DCM_StudyInstanceUID, renamed("study/" + study).c_str()).bad() ||
          dataset.putAndInsertString(DCM_SeriesInstanceUID, renamed("series/" + series).c_str()).bad() ||
          dataset.putAndInsertString(DCM_SOPInstanceUID, sop.c_str()).bad())
        return Status::Internal("cannot set new UIDs in a copy of " + path.string());
      const fs::path target = out / ("copy" + std::to_string(copy)) / fs::relative(path, in, ec);
      fs::create_directories(target.parent_path(), ec);
      if (ec) return Status::IOError("cannot create " + target.parent_path().string() + ": " + ec.message());
      // EWM_updateMeta: the meta header's SOP Instance UID follows the dataset.
      OFCondition saved = file.saveFile(target.c_str(), EXS_Unknown, EET_UndefinedLength, EGL_recalcGL, EPD_noChange, 0,
                                        0, EWM_updateMeta);
      if (saved.bad())
        return Status::IOError("cannot write " + target.string() + ": " + saved.text() + "; copies stop here");
      ++report.files_written;
      report.bytes_written += fs::file_size(target, ec);
    }
  }
  return report;
}

}  // namespace pacs::dicom
