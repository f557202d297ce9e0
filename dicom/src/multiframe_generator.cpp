// A large multi-frame dataset from real CT slices (multiframe_generator.h).
#include "pacs/dicom/multiframe_generator.h"

#include <algorithm>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcuid.h"

namespace pacs::dicom {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMarkedSamples = 32;  // samples per frame whose lowest bit spells the repetition

std::string NewUid() {
  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  return uid;
}

}  // namespace

Result<uint64_t> WriteMultiFrame(const fs::path& series_dir, const fs::path& out, uint64_t pixel_bytes) {
  std::vector<fs::path> slices;
  std::error_code ec;
  for (auto it = fs::directory_iterator(series_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) slices.push_back(it->path());
  if (ec || slices.empty()) return Status::NotFound("no slices in " + series_dir.string());
  std::sort(slices.begin(), slices.end());

  DcmFileFormat header;
  if (header.loadFile(slices[0].c_str()).bad()) return Status::InvalidArgument("cannot read " + slices[0].string());
  DcmDataset& dataset = *header.getDataset();
  Uint16 rows = 0, columns = 0, bits = 0;
  dataset.findAndGetUint16(DCM_Rows, rows);
  dataset.findAndGetUint16(DCM_Columns, columns);
  dataset.findAndGetUint16(DCM_BitsAllocated, bits);
  const size_t frame_samples = static_cast<size_t>(rows) * columns;
  if (bits != 16 || frame_samples == 0) return Status::Unsupported(slices[0].string() + " is not 16-bit native");
  const uint64_t frame_bytes = frame_samples * 2;
  const uint64_t frames = (pixel_bytes + frame_bytes - 1) / frame_bytes;
  if (frames * frame_bytes > 0xFFFFFFF0ull) return Status::InvalidArgument("more Pixel Data than one element holds");

  std::vector<Uint16> pixels(frames * frame_samples);
  std::vector<std::vector<Uint16>> originals;
  for (const auto& path : slices) {
    DcmFileFormat slice;
    const Uint16* data = nullptr;
    unsigned long count = 0;
    if (slice.loadFile(path.c_str()).bad() ||
        slice.getDataset()->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
        slice.getDataset()->findAndGetUint16Array(DCM_PixelData, data, &count).bad() || count != frame_samples)
      continue;  // not a slice of this size: left out
    originals.emplace_back(data, data + count);
  }
  if (originals.empty())
    return Status::InvalidArgument("no readable slice of " + std::to_string(rows) + "x" + std::to_string(columns) +
                                   " in " + series_dir.string());
  for (uint64_t f = 0; f < frames; ++f) {
    const auto& source = originals[f % originals.size()];
    Uint16* frame = pixels.data() + f * frame_samples;
    std::copy(source.begin(), source.end(), frame);
    const uint64_t repetition = f / originals.size() + 1;
    for (size_t i = 0; i < kMarkedSamples; ++i) frame[i] ^= static_cast<Uint16>((repetition >> i) & 1u);
  }
  dataset.putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size()));
  std::vector<Uint16>().swap(pixels);
  dataset.putAndInsertString(DCM_NumberOfFrames, std::to_string(frames).c_str());
  dataset.putAndInsertString(DCM_StudyInstanceUID, NewUid().c_str());
  dataset.putAndInsertString(DCM_SeriesInstanceUID, NewUid().c_str());
  const std::string sop = NewUid();
  dataset.putAndInsertString(DCM_SOPInstanceUID, sop.c_str());
  OFCondition cond = header.saveFile(out.c_str(), EXS_LittleEndianExplicit);
  if (cond.bad()) return Status::IOError("cannot write " + out.string() + ": " + cond.text());
  return static_cast<uint64_t>(fs::file_size(out));
}

}  // namespace pacs::dicom
