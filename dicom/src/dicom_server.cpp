#include "pacs/dicom/dicom_server.h"

#include <mutex>

#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scppool.h"
#include "dcmtk/dcmnet/scpthrd.h"
#include "pacs/base/log.h"

namespace pacs::dicom {
namespace {

// DcmSCPPool default-constructs its SCP objects, so they reach the shared
// ingest pipeline through this pointer, set once before listening starts.
struct Shared {
  Ingestor* ingestor = nullptr;
  ServerCounters* counters = nullptr;
};
Shared g_shared;

// Preference order when a peer offers several syntaxes in one context:
// lossless compressed (kept as received), then uncompressed, then lossy
// (accepted only when nothing else is offered, and stored as received).
const char* const kStorageTransferSyntaxes[] = {
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_LittleEndianExplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG2MainProfileAtHighLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
    UID_MPEG4BDcompatibleHighProfileLevel4_1TransferSyntax,
    UID_MPEG4HighProfileLevel4_2_For2DVideoTransferSyntax,
    UID_MPEG4HighProfileLevel4_2_For3DVideoTransferSyntax,
    UID_MPEG4StereoHighProfileLevel4_2TransferSyntax,
    UID_HEVCMainProfileLevel5_1TransferSyntax,
    UID_HEVCMain10ProfileLevel5_1TransferSyntax,
};

Uint16 StoreStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kAlreadyExists: return 0x0111;  // Duplicate SOP Instance
    case StatusCode::kIOError:
    case StatusCode::kBusy: return STATUS_STORE_Refused_OutOfResources;  // A700
    default: return STATUS_STORE_Error_CannotUnderstand;                 // C000
  }
}

class StorageScp : public DcmThreadSCP {
 public:
  // DcmSCP keeps its association pointer private; we need it to negotiate.
  OFCondition run(T_ASC_Association* assoc) override {
    assoc_ = assoc;
    OFCondition cond = DcmThreadSCP::run(assoc);
    assoc_ = nullptr;
    return cond;
  }

 protected:
  // DCMTK's association profiles hold at most 128 presentation contexts, fewer
  // than the storage SOP classes we accept, so contexts are negotiated here.
  OFCondition negotiateAssociation() override {
    if (assoc_ == nullptr) return DIMSE_ILLEGALASSOCIATION;
    const char* verification[] = {UID_VerificationSOPClass};
    const char* plain[] = {UID_LittleEndianExplicitTransferSyntax, UID_BigEndianExplicitTransferSyntax,
                           UID_LittleEndianImplicitTransferSyntax};
    OFCondition cond = ASC_acceptContextsWithPreferredTransferSyntaxes(assoc_->params, verification, 1, plain, 3);
    if (cond.good())
      cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
          assoc_->params, dcmAllStorageSOPClassUIDs, numberOfDcmAllStorageSOPClassUIDs,
          const_cast<const char**>(kStorageTransferSyntaxes), std::size(kStorageTransferSyntaxes));
    return cond;
  }

  OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) override {
    if (msg->CommandField == DIMSE_C_STORE_RQ) return HandleStore(msg->msg.CStoreRQ, info);
    if (msg->CommandField == DIMSE_C_ECHO_RQ) ++g_shared.counters->echo_requests;
    return DcmThreadSCP::handleIncomingCommand(msg, info);
  }

  void notifyAssociationAcknowledge() override {
    ++g_shared.counters->associations;
    LogInfo("association from " + Peer() + " accepted");
  }

 private:
  T_ASC_Association* assoc_ = nullptr;

  std::string Peer() const {
    return std::string(getPeerAETitle().c_str()) + "@" + getPeerIP().c_str();
  }

  OFCondition HandleStore(T_DIMSE_C_StoreRQ& request, const DcmPresentationContextInfo& info) {
    DcmDataset* received = nullptr;
    OFCondition cond = receiveSTORERequest(request, info.presentationContextID, received);
    std::unique_ptr<DcmDataset> dataset(received);
    if (cond.bad() || !dataset) {
      ++g_shared.counters->receive_failures;
      LogError("C-STORE from " + Peer() + " of " + request.AffectedSOPInstanceUID +
               ": dataset could not be received (" + cond.text() + "); association aborted, nothing stored");
      return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
    }
    const E_TransferSyntax xfer = DcmXfer(info.acceptedTransferSyntax.c_str()).getXfer();
    auto report = g_shared.ingestor->IngestDataset(*dataset, xfer);
    Uint16 status = STATUS_Success;
    if (report.ok()) {
      ++g_shared.counters->stores_succeeded;
      if (report->commit.outcome == engine::CommitOutcome::kKeptExisting)
        LogWarning("C-STORE from " + Peer() + ": SOP Instance " + report->sop_instance_uid +
                   " already stored with different content (stored header " + report->commit.existing_header_hash +
                   ", received " + report->commit.new_header_hash + "); kept the stored one");
      else if (report->commit.outcome == engine::CommitOutcome::kReplaced)
        LogWarning("C-STORE from " + Peer() + ": SOP Instance " + report->sop_instance_uid +
                   " replaced (old header " + report->commit.existing_header_hash + ", new " +
                   report->commit.new_header_hash + ")");
    } else {
      ++g_shared.counters->stores_failed;
      status = StoreStatusFor(report.status());
      LogError("C-STORE from " + Peer() + " of " + request.AffectedSOPInstanceUID + " failed: " +
               report.status().ToString());
    }
    return sendSTOREResponse(info.presentationContextID, request, status);
  }
};

}  // namespace

struct DicomServer::Impl {
  Ingestor& ingestor;
  ServerOptions options;
  ServerCounters counters;
  DcmSCPPool<StorageScp> pool;
  Impl(Ingestor& i, ServerOptions o) : ingestor(i), options(std::move(o)) {}
};

DicomServer::DicomServer(Ingestor& ingestor, ServerOptions options)
    : impl_(std::make_unique<Impl>(ingestor, std::move(options))) {}
DicomServer::~DicomServer() = default;

const ServerCounters& DicomServer::counters() const { return impl_->counters; }

void DicomServer::Stop() { impl_->pool.stopAfterCurrentAssociations(); }

Status DicomServer::Run() {
  g_shared = {&impl_->ingestor, &impl_->counters};
  DcmSCPConfig& cfg = impl_->pool.getConfig();
  cfg.setPort(impl_->options.port);
  cfg.setAETitle(impl_->options.ae_title.c_str());
  cfg.setRespondWithCalledAETitle(false);
  cfg.setHostLookupEnabled(false);
  cfg.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  cfg.setConnectionBlockingMode(DUL_NOBLOCK);  // so that listen() notices Stop() within a second
  cfg.setConnectionTimeout(1);
  cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  cfg.setDIMSETimeout(120);
  cfg.setACSETimeout(30);
  impl_->pool.setMaxThreads(impl_->options.max_associations);

  // The pool wants a profile; the real negotiation is StorageScp::negotiateAssociation.
  OFList<OFString> plain;
  plain.push_back(UID_LittleEndianExplicitTransferSyntax);
  plain.push_back(UID_LittleEndianImplicitTransferSyntax);
  OFCondition cond = cfg.addPresentationContext(UID_VerificationSOPClass, plain);
  if (cond.bad()) return Status::Internal(std::string("cannot configure presentation contexts: ") + cond.text());

  LogInfo("DICOM node " + impl_->options.ae_title + " listening on port " + std::to_string(impl_->options.port));
  cond = impl_->pool.listen();
  if (cond.bad()) return Status::IOError("cannot listen on port " + std::to_string(impl_->options.port) + ": " + cond.text());
  return Status::Ok();
}

}  // namespace pacs::dicom
