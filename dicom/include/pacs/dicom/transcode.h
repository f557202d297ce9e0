// File: transcode.h
// Builds a stored instance in the transfer syntax a reader asks for: as
// received, as stored (our compressed encoding), or any syntax we can
// produce losslessly. Used by `export --transfer-syntax` and by retrieval.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "pacs/base/result.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

// HTJ2K lossless; DCMTK 3.6.7 does not know it, so files in it are written by us.
inline constexpr char kHtj2kLosslessUid[] = "1.2.840.10008.1.2.4.201";

struct TargetSyntax {
  enum class Kind { kOriginal, kStored, kUid } kind = Kind::kOriginal;
  std::string uid;  // kUid only
};

// Parses `original`, `stored` or a transfer syntax UID.
Result<TargetSyntax> ParseTargetSyntax(std::string_view text);

struct BuiltInstance {
  std::unique_ptr<DcmFileFormat> file;
  // Syntax the dataset is encoded for. For HTJ2K the dataset carries its
  // codestreams under DCMTK's JPEG 2000 representation; WritePart10 labels it.
  std::string transfer_syntax_uid;
  E_TransferSyntax dcmtk_xfer = EXS_Unknown;  // what DCMTK writes the dataset as
  // Memory the built dataset holds: the stored header's size and the pixel
  // data in every representation DCMTK keeps (the prefetch queue's measure).
  uint64_t held_bytes = 0;
};

// What BuildInstance may hold for `record` before it is built: the header
// and the pixels as native (or, received encapsulated, as received).
uint64_t EstimateBuiltBytes(const engine::InstanceRecord& record);

// The transfer syntaxes an instance can be built in, besides its original:
// for lossy-compressed input none (its codestream passes through unchanged).
bool CanTranscode(const engine::InstanceRecord& record);

// Builds the instance. Unsupported when the syntax cannot be produced
// losslessly (lossy input into another syntax, a codec that does not
// support the pixel format, a syntax we have no encoder for).
Result<BuiltInstance> BuildInstance(const engine::Store& store, const engine::InstanceRecord& record,
                                    const TargetSyntax& target);

// Writes a Part 10 file with a fresh meta header.
Status WritePart10(BuiltInstance& built, const std::filesystem::path& path);

// The Part 10 preamble and File Meta Information DCMTK would write for an
// instance, built by hand so that it also works for transfer syntaxes DCMTK
// 3.6.7 does not know (HTJ2K): 128 zero bytes, "DICM", then group 0002.
std::string EncodeMetaHeader(const std::string& sop_class, const std::string& sop_instance, const std::string& ts);

}  // namespace pacs::dicom
