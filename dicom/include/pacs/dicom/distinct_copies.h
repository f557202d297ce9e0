// File: distinct_copies.h
// Copies of DICOM files with distinct pixels, for measuring disk use: a copy
// with new UIDs only shares every frame with its original (dedup), so it
// proves nothing about how stored frames take space. Each copy here also
// changes the lowest bit of a few samples per frame, which keeps the images
// as compressible as the originals.
//
//   auto report = WriteDistinctCopies("corpus/ct", "/tmp/copies", 3);
//   // /tmp/copies/copy1/..., copy2/..., copy3/...: 3 x the files, new UIDs
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::dicom {

struct DistinctCopiesReport {
  uint64_t files_written = 0;
  uint64_t bytes_written = 0;        // file bytes
  std::vector<std::string> skipped;  // file: reason (not DICOM, no native pixel data, ...)
};

// Writes `copies` copies of every DICOM file under `in` (searched
// recursively) to `out`/copyK/<path relative to in>, K = 1..copies. Copy K
// has new Study, Series and SOP Instance UIDs (one new study and series per
// original study and series and copy) and in every frame of its native Pixel
// Data the lowest bit of the first 32 samples XORed with the bits of K: its
// frames differ from the original's and from every other copy's. Files
// without native 8- or 16-bit pixel data are skipped and listed. Fails
// (naming the file) when a copy cannot be written.
Result<DistinctCopiesReport> WriteDistinctCopies(const std::filesystem::path& in, const std::filesystem::path& out,
                                                 uint32_t copies);

}  // namespace pacs::dicom
