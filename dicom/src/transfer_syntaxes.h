// File: transfer_syntaxes.h
// The one table of the transfer syntaxes pacscore reads and writes: how each
// carries pixel data, whose codec reads and writes it (ours or DCMTK's), and
// whether retrieval may transcode into it. Retrieval's choice of syntax
// (retrieve.cpp), the transcoder (transcode.cpp), the frame source and
// ingest's decoding of received pixel data all read this table; the UIDs of
// our own codecs' output come from codecs::TransferSyntaxUid.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/codecs/frame_codec.h"

namespace pacs::dicom {

enum class PixelCoding {
  kNative,      // uncompressed pixels (implicit/explicit little endian, big endian, deflated)
  kOurCodec,    // encapsulated; `codec` (one of ours) decodes and encodes it
  kDcmtkCodec,  // encapsulated lossless; DCMTK's decoder and encoder (JPEG lossless, RLE)
};

struct TransferSyntaxInfo {
  std::string uid;
  PixelCoding coding = PixelCoding::kNative;
  codecs::CodecId codec = codecs::CodecId::kRaw;  // kOurCodec: its codec
  // Whether retrieval may transcode into it (DCMTK 3.6.7 can send it, and it
  // is not deflate, which we only send as received).
  bool retrieval_target = true;
};

// The syntax's row, or nullptr for a syntax not in the table (lossy or
// unknown ones: their pixel data is kept and sent only as received).
const TransferSyntaxInfo* FindTransferSyntax(std::string_view uid);

// Our codec that reads and writes `uid`, if any.
std::optional<codecs::CodecId> OurCodecFor(std::string_view uid);

// The uncompressed syntaxes retrieval offers, in the order it prefers them.
const std::vector<std::string>& UncompressedRetrievalSyntaxes();

// Whether DCMTK 3.6.7 knows the syntax (can parse, write and send it).
bool DcmtkKnows(std::string_view uid);

}  // namespace pacs::dicom
