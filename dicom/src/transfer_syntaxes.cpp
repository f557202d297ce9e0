#include "transfer_syntaxes.h"

#include <algorithm>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "pacs/codecs/codec_choice.h"

namespace pacs::dicom {
namespace {

const std::vector<TransferSyntaxInfo>& Table() {
  using codecs::CodecId;
  auto ours = [](CodecId codec) {
    const std::string uid(codecs::TransferSyntaxUid(codec));
    return TransferSyntaxInfo{uid, PixelCoding::kOurCodec, codec, DcmtkKnows(uid)};
  };
  static const std::vector<TransferSyntaxInfo> table = {
      {UID_LittleEndianExplicitTransferSyntax, PixelCoding::kNative, CodecId::kRaw, true},
      {UID_LittleEndianImplicitTransferSyntax, PixelCoding::kNative, CodecId::kRaw, true},
      {UID_BigEndianExplicitTransferSyntax, PixelCoding::kNative, CodecId::kRaw, true},
      {UID_DeflatedExplicitVRLittleEndianTransferSyntax, PixelCoding::kNative, CodecId::kRaw, false},
      ours(CodecId::kJpegLs),
      ours(CodecId::kJ2k),
      ours(CodecId::kHtj2k),  // DCMTK 3.6.7 does not know it: written to files, never sent
      {UID_RLELosslessTransferSyntax, PixelCoding::kDcmtkCodec, CodecId::kRaw, true},
      {UID_JPEGProcess14SV1TransferSyntax, PixelCoding::kDcmtkCodec, CodecId::kRaw, true},
      {UID_JPEGProcess14TransferSyntax, PixelCoding::kDcmtkCodec, CodecId::kRaw, true},
  };
  return table;
}

}  // namespace

bool DcmtkKnows(std::string_view uid) {
  return DcmXfer(std::string(uid).c_str()).getXfer() != EXS_Unknown;
}

const TransferSyntaxInfo* FindTransferSyntax(std::string_view uid) {
  const auto& table = Table();
  auto it = std::find_if(table.begin(), table.end(), [&](const TransferSyntaxInfo& t) { return t.uid == uid; });
  return it == table.end() ? nullptr : &*it;
}

std::optional<codecs::CodecId> OurCodecFor(std::string_view uid) {
  const TransferSyntaxInfo* t = FindTransferSyntax(uid);
  if (t == nullptr || t->coding != PixelCoding::kOurCodec) return std::nullopt;
  return t->codec;
}

const std::vector<std::string>& UncompressedRetrievalSyntaxes() {
  static const std::vector<std::string> syntaxes = [] {
    std::vector<std::string> out;
    for (const auto& t : Table())
      if (t.coding == PixelCoding::kNative && t.retrieval_target) out.push_back(t.uid);
    return out;
  }();
  return syntaxes;
}

}  // namespace pacs::dicom
