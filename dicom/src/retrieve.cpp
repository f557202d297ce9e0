#include "pacs/dicom/retrieve.h"

#include <algorithm>
#include <optional>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "pacs/codecs/codec_choice.h"
#include "pacs/dicom/transcode.h"

namespace pacs::dicom {
namespace {

const char* const kUncompressed[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax,
                                     UID_BigEndianExplicitTransferSyntax};

bool IsUncompressed(const std::string& ts) {
  return std::find(std::begin(kUncompressed), std::end(kUncompressed), ts) != std::end(kUncompressed);
}

// Encapsulated syntaxes the transcoder writes losslessly.
bool IsLosslessTarget(const std::string& ts) {
  return ts == UID_JPEGLSLosslessTransferSyntax || ts == UID_JPEG2000LosslessOnlyTransferSyntax ||
         ts == UID_RLELosslessTransferSyntax || ts == UID_JPEGProcess14SV1TransferSyntax ||
         ts == UID_JPEGProcess14TransferSyntax;
}

bool DcmtkKnows(const std::string& ts) {
  return DcmXfer(ts.c_str()).getXfer() != EXS_Unknown;
}

// The syntax of pacscore's own encoding of the frames, when every frame is
// stored with one codec (what the transcoder's `stored` target gives).
std::string StoredSyntax(const engine::InstanceRecord& record) {
  if (record.pixel_layout != engine::PixelLayout::kNative || record.chunks.empty()) return {};
  std::optional<uint8_t> codec;
  for (const auto& c : record.chunks) {
    if (c.size == 0 || c.codec == static_cast<uint8_t>(codecs::CodecId::kRaw)) continue;
    if (codec && *codec != c.codec) return {};
    codec = c.codec;
  }
  if (!codec) return {};
  return std::string(codecs::TransferSyntaxUid(static_cast<codecs::CodecId>(*codec)));
}

}  // namespace

Result<PeerAddress> ParsePeer(std::string_view text) {
  const std::string usage = "--peer must be NAME=AET@HOST:PORT, not '" + std::string(text) + "'";
  const size_t eq = text.find('='), at = text.rfind('@'), colon = text.rfind(':');
  if (eq == std::string_view::npos || at == std::string_view::npos || colon == std::string_view::npos ||
      !(eq < at && at < colon))
    return Status::InvalidArgument(usage);
  PeerAddress peer;
  peer.name = std::string(text.substr(0, eq));
  peer.ae_title = std::string(text.substr(eq + 1, at - eq - 1));
  peer.host = std::string(text.substr(at + 1, colon - at - 1));
  const std::string port(text.substr(colon + 1));
  if (peer.name.empty() || peer.ae_title.empty() || peer.ae_title.size() > 16 || peer.host.empty() || port.empty() ||
      port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit))
    return Status::InvalidArgument(usage);
  const long p = std::stol(port);
  if (p < 1 || p > 65535) return Status::InvalidArgument(usage);
  peer.port = static_cast<uint16_t>(p);
  return peer;
}

bool CanProduce(const engine::InstanceRecord& record, const std::string& transfer_syntax) {
  const std::string& ts = transfer_syntax;
  if (ts == record.transfer_syntax_uid) return DcmtkKnows(ts);  // as received, always
  // HTJ2K (unknown to DCMTK 3.6.7) and deflate are never sent; lossy input
  // passes through unchanged or not at all.
  if (!DcmtkKnows(ts) || ts == UID_DeflatedExplicitVRLittleEndianTransferSyntax) return false;
  if (record.pixel_layout == engine::PixelLayout::kNone) return IsUncompressed(ts);
  return CanTranscode(record) && (IsUncompressed(ts) || IsLosslessTarget(ts));
}

std::vector<std::string> RetrievalSyntaxes(const engine::InstanceRecord& record) {
  std::vector<std::string> out;
  auto add = [&](const std::string& ts) {
    if (!ts.empty() && std::find(out.begin(), out.end(), ts) == out.end() && CanProduce(record, ts)) out.push_back(ts);
  };
  add(StoredSyntax(record));  // no encoding work: the stored codestreams go out as they are
  add(record.transfer_syntax_uid);
  for (const char* ts : kUncompressed) add(ts);
  return out;
}

std::string ChooseSyntax(const engine::InstanceRecord& record, const std::vector<std::string>& accepted) {
  for (const auto& ts : RetrievalSyntaxes(record))
    if (std::find(accepted.begin(), accepted.end(), ts) != accepted.end()) return ts;
  // A syntax accepted by the peer that is not among our proposals (C-GET:
  // the requester chose the contexts), if the transcoder can write it.
  for (const auto& ts : accepted)
    if (CanProduce(record, ts)) return ts;
  return {};
}

}  // namespace pacs::dicom
