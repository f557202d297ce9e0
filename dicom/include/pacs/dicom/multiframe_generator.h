// File: multiframe_generator.h
// A large multi-frame dataset made of real CT pixels, for measuring what a
// big C-STORE costs (bench/long/multiframe_rss.sh, the memory-bound test):
// the slices of one series repeated as frames, each repetition with the
// lowest bit of a few samples changed, so that no two frames are identical
// (dedup would hide the cost) and every frame compresses like the original.
//
//   auto bytes = WriteMultiFrame("corpus/dcm_qa_ct/philips_ct_140_slices", "/tmp/mf.dcm", 600'000'000);
#pragma once

#include <cstdint>
#include <filesystem>

#include "pacs/base/result.h"

namespace pacs::dicom {

// Writes to `out` one Part 10 file (Explicit VR Little Endian) with the
// header of the first slice of `series_dir` (new Study, Series and SOP
// Instance UIDs) and Pixel Data of as many frames as make at least
// `pixel_bytes`, taken from the series' slices in turn. Returns the file's
// size. Fails, naming the file, when the slices are not native 16-bit
// single frames of one size.
Result<uint64_t> WriteMultiFrame(const std::filesystem::path& series_dir, const std::filesystem::path& out,
                                 uint64_t pixel_bytes);

}  // namespace pacs::dicom
