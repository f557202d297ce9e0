// Grouping the fragments of an encapsulated Pixel Data element into frames
// (shared by ingest, which hashes decoded frames, and the transcoder).
#pragma once

#include <string>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::dicom {

// Index of the first fragment of each of `frames` frames: one fragment per
// frame, all fragments for a single frame, or grouped by the Basic Offset
// Table (`bot`, the first item's value). Unsupported otherwise.
Result<std::vector<size_t>> FrameStartFragments(const std::string& bot, const std::vector<size_t>& fragment_sizes,
                                                size_t frames);

// The frames' codestreams: the fragments of each frame concatenated.
Result<std::vector<std::string>> GroupFragments(const std::string& bot, const std::vector<std::string>& fragments,
                                                size_t frames);

}  // namespace pacs::dicom
