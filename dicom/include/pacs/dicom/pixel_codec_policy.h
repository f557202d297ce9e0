// File: pixel_codec_policy.h
// How ingest stores native pixel frames: which codec (`--codec`), and whether
// each encoded frame is decoded and compared before commit (`--verify-encode`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "pacs/base/result.h"
#include "pacs/codecs/frame_codec.h"

namespace pacs::dicom {

struct PixelCodecPolicy {
  // nullopt: `auto`, the per-format table of docs/codecs.md; kRaw: `none`.
  std::optional<codecs::CodecId> forced;
  bool verify_encode = true;
};

// Parses `jpegls|j2k|htj2k|auto|none`.
Result<PixelCodecPolicy> ParseCodecPolicy(std::string_view name);

// The frame description of a dataset's Image Pixel module, or an error when
// it cannot be described (missing attributes, BitsAllocated not 8 or 16).
Result<codecs::FrameInfo> FrameInfoFromDataset(DcmItem& dataset);

}  // namespace pacs::dicom
