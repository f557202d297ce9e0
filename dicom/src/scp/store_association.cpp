#include "store_association.h"

#include <optional>
#include <set>
#include <utility>

#include "dcmtk/dcmnet/scu.h"
#include "pacs/dicom/frame_source.h"

namespace pacs::dicom::scp {
namespace {

// DcmSCU with the two DIMSE calls the C-STORE sender needs, and its TLS
// switch (protected in DCMTK 3.6.7), made reachable.
class ScuChannel final : public DcmSCU, public DimseChannel {
 public:
  using DcmSCU::useSecureConnection;
  OFCondition SendMessage(T_ASC_PresentationContextID pres_id, T_DIMSE_Message& message, DcmDataset* dataset) override {
    return sendDIMSEMessage(pres_id, &message, dataset);
  }
  OFCondition ReceiveCommand(T_ASC_PresentationContextID& pres_id, T_DIMSE_Message& message) override {
    DcmDataset* detail = nullptr;
    OFCondition cond = receiveDIMSECommand(&pres_id, &message, &detail);
    delete detail;
    return cond;
  }
};

}  // namespace

struct StoreAssociation::Impl {
  ScuChannel scu;
  std::optional<CStoreSender> sender;  // set once the association is negotiated
};

StoreAssociation::StoreAssociation() : impl_(std::make_unique<Impl>()) {}

StoreAssociation::~StoreAssociation() {
  if (impl_ && impl_->scu.isConnected()) impl_->scu.releaseAssociation();
}

CStoreSender& StoreAssociation::sender() {
  return *impl_->sender;
}

Result<std::unique_ptr<StoreAssociation>> StoreAssociation::Open(const PeerAddress& peer, const std::string& calling_ae,
                                                                 const std::vector<engine::InstanceRecord>& records,
                                                                 const engine::Store& store, DcmTransportLayer* tls) {
  std::unique_ptr<StoreAssociation> assoc(new StoreAssociation());
  ScuChannel& scu = assoc->impl_->scu;
  const std::string peer_name =
      peer.ae_title + "@" + peer.host + ":" + std::to_string(peer.port) + (peer.tls ? " (TLS)" : "");
  scu.setAETitle(calling_ae);
  scu.setPeerAETitle(peer.ae_title);
  scu.setPeerHostName(peer.host);
  scu.setPeerPort(peer.port);
  scu.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  scu.setACSETimeout(30);
  scu.setDIMSETimeout(120);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setConnectionTimeout(10);
  // One context per (SOP class, syntax): the peer accepts or refuses each.
  std::set<std::pair<std::string, std::string>> contexts;
  for (const auto& rec : records) {
    auto stored = StoredTransferSyntax(store, rec);  // as stored now: the background encoder may have changed it
    if (!stored.ok()) return stored.status();
    for (const auto& ts : RetrievalSyntaxes(rec, *stored)) contexts.emplace(rec.sop_class_uid, ts);
  }
  if (contexts.size() > 128)
    return Status::Unsupported("the instances to send need " + std::to_string(contexts.size()) +
                               " presentation contexts, more than the 128 of one association");
  for (const auto& [sop_class, ts] : contexts) {
    OFList<OFString> syntaxes;
    syntaxes.emplace_back(ts.c_str());
    OFCondition cond = scu.addPresentationContext(sop_class, syntaxes);
    if (cond.bad()) return Status::Internal(std::string("cannot propose a presentation context: ") + cond.text());
  }
  if (peer.tls && tls == nullptr) return Status::Internal("no TLS settings for " + peer_name);
  OFCondition cond = scu.initNetwork();
  if (cond.good() && peer.tls) cond = scu.useSecureConnection(tls);  // on the network initNetwork made
  if (cond.good()) cond = scu.negotiateAssociation();
  if (cond.bad()) return Status::IOError("cannot open an association to " + peer_name + ": " + cond.text());

  std::vector<StorageContext> accepted;
  for (const auto& [sop_class, ts] : contexts) {
    const T_ASC_PresentationContextID id = scu.findPresentationContextID(sop_class, ts);
    if (id != 0) accepted.push_back({id, sop_class, ts});
  }
  // Message IDs on a new association start at 1, as DcmSCU numbers them.
  assoc->impl_->sender.emplace(scu, std::move(accepted), store, CStoreSender::SyntaxChoice::kOwnProposals, peer_name,
                               1);
  return assoc;
}

}  // namespace pacs::dicom::scp
