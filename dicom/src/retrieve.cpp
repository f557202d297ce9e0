#include "pacs/dicom/retrieve.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/scu.h"
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
  if (eq == text.npos || at == text.npos || colon == text.npos || !(eq < at && at < colon))
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

bool CanProduce(const engine::InstanceRecord& record, const std::string& ts) {
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

Result<std::unique_ptr<DcmFileFormat>> BuildForTransfer(const engine::Store& store,
                                                        const engine::InstanceRecord& record, const std::string& ts) {
  if (!CanProduce(record, ts))
    return Status::Unsupported("instance " + record.sop_instance_uid + " (received in " + record.transfer_syntax_uid +
                               ") cannot be sent in " + ts);
  auto built = BuildInstance(store, record, TargetSyntax{TargetSyntax::Kind::kUid, ts});
  if (!built.ok()) return built.status().WithContext("instance " + record.sop_instance_uid + " in " + ts);
  if (!built->file->getDataset()->canWriteXfer(DcmXfer(ts.c_str()).getXfer()))
    return Status::Unsupported("instance " + record.sop_instance_uid + " cannot be written in " + ts);
  return std::move(built->file);
}

// --- C-MOVE sub-association ---------------------------------------------------

struct StoreAssociation::Impl {
  DcmSCU scu;
  std::string peer;
};

StoreAssociation::StoreAssociation() : impl_(std::make_unique<Impl>()) {}

StoreAssociation::~StoreAssociation() {
  if (impl_ && impl_->scu.isConnected()) impl_->scu.releaseAssociation();
}

Result<std::unique_ptr<StoreAssociation>> StoreAssociation::Open(const PeerAddress& peer, const std::string& calling_ae,
                                                                 const std::vector<engine::InstanceRecord>& records) {
  std::unique_ptr<StoreAssociation> assoc(new StoreAssociation());
  DcmSCU& scu = assoc->impl_->scu;
  assoc->impl_->peer = peer.ae_title + "@" + peer.host + ":" + std::to_string(peer.port);
  scu.setAETitle(calling_ae.c_str());
  scu.setPeerAETitle(peer.ae_title.c_str());
  scu.setPeerHostName(peer.host.c_str());
  scu.setPeerPort(peer.port);
  scu.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  scu.setACSETimeout(30);
  scu.setDIMSETimeout(120);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setConnectionTimeout(10);
  // One context per (SOP class, syntax): the peer accepts or refuses each.
  std::set<std::pair<std::string, std::string>> contexts;
  for (const auto& rec : records)
    for (const auto& ts : RetrievalSyntaxes(rec)) contexts.emplace(rec.sop_class_uid, ts);
  if (contexts.size() > 128)
    return Status::Unsupported("the instances to send need " + std::to_string(contexts.size()) +
                               " presentation contexts, more than the 128 of one association");
  for (const auto& [sop_class, ts] : contexts) {
    OFList<OFString> syntaxes;
    syntaxes.push_back(ts.c_str());
    OFCondition cond = scu.addPresentationContext(sop_class.c_str(), syntaxes);
    if (cond.bad()) return Status::Internal(std::string("cannot propose a presentation context: ") + cond.text());
  }
  OFCondition cond = scu.initNetwork();
  if (cond.good()) cond = scu.negotiateAssociation();
  if (cond.bad()) return Status::IOError("cannot open an association to " + assoc->impl_->peer + ": " + cond.text());
  return assoc;
}

Result<uint16_t> StoreAssociation::Send(const engine::Store& store, const engine::InstanceRecord& record,
                                        const std::string& move_originator_ae, uint16_t move_originator_message_id) {
  DcmSCU& scu = impl_->scu;
  std::string chosen;
  T_ASC_PresentationContextID pres_id = 0;
  for (const auto& ts : RetrievalSyntaxes(record)) {
    pres_id = scu.findPresentationContextID(record.sop_class_uid.c_str(), ts.c_str());
    if (pres_id != 0) {
      chosen = ts;
      break;
    }
  }
  if (pres_id == 0)
    return Status::Unsupported(impl_->peer + " accepted no transfer syntax pacscore can send instance " +
                               record.sop_instance_uid + " (" + record.sop_class_uid + ") in");
  auto file = BuildForTransfer(store, record, chosen);
  if (!file.ok()) return file.status();
  Uint16 status = 0;
  OFCondition cond = scu.sendSTORERequest(pres_id, "", (*file)->getDataset(), status, move_originator_ae.c_str(),
                                          move_originator_message_id);
  if (cond.bad())
    return Status::IOError("C-STORE of " + record.sop_instance_uid + " to " + impl_->peer + " failed: " + cond.text());
  return static_cast<uint16_t>(status);
}

}  // namespace pacs::dicom
