// File: pixel_codec_policy.h
// How ingest stores native pixel frames: which codec (`--codec`), and whether
// each encoded frame is decoded and compared before commit (`--verify-encode`).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "pacs/base/result.h"
#include "pacs/codecs/codec_options.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/engine/store.h"

class DcmItem;  // DCMTK's; only the dicom module's sources see its definition

namespace pacs::dicom {

struct PixelCodecPolicy {
  // nullopt: `auto`, the per-format table of docs/codecs.md; kRaw: `none`.
  std::optional<codecs::CodecId> forced;
  bool verify_encode = true;
  // Store frames raw at commit and re-encode them in the background (the
  // server does, while its backlog is short; see BackgroundEncoder).
  bool background = false;
  // Memory bound for large instances: the split hands every `stage_bytes` of
  // new frames to `stage` (Store::StageChunks, with the index of the first
  // chunk not handed over yet), which stores them and empties their bytes.
  // Empty: the whole instance is committed at once. Set by ingest per call.
  std::function<Status(engine::InstanceWrite& write, size_t first)> stage;
  uint64_t stage_bytes = 32ull << 20;
};

// A deferred re-encoding of one raw frame: all the encoder needs, without
// the dataset. Serialised into the engine's work queue.
struct EncodeJob {
  codecs::CodecId codec = codecs::CodecId::kRaw;
  bool rgb_colour_transform = false;
  codecs::FrameInfo info;
  std::string Serialize() const;
  static Result<EncodeJob> Parse(std::string_view in);
};

// Encodes one native frame with `codec`; kRaw and no bytes when the codec
// fails, does not shrink it, or (with `verify`) does not decode back to it
// (logged loudly, naming `where`).
std::pair<codecs::CodecId, std::string> EncodeFrameLosslessly(const codecs::FrameInfo& info, std::string_view raw,
                                                              codecs::CodecId codec,
                                                              const codecs::CodecOptions& options, bool verify,
                                                              const std::string& where);

// Parses `jpegls|j2k|htj2k|auto|none`.
Result<PixelCodecPolicy> ParseCodecPolicy(std::string_view name);

// The frame description of a dataset's Image Pixel module, or an error when
// it cannot be described (missing attributes, BitsAllocated not 8 or 16).
Result<codecs::FrameInfo> FrameInfoFromDataset(DcmItem& ds);

}  // namespace pacs::dicom
