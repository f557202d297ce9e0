#include "pacs/dicom/dicom_server.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scppool.h"
#include "dcmtk/dcmnet/scpthrd.h"
#include "pacs/base/log.h"
#include "pacs/dicom/query.h"
#include "pacs/dicom/retrieve.h"

namespace pacs::dicom {
namespace {

// DcmSCPPool default-constructs its SCP objects, so they reach the shared
// ingest pipeline through this pointer, set once before listening starts.
struct Shared {
  Ingestor* ingestor = nullptr;
  ServerCounters* counters = nullptr;
  const QueryEngine* queries = nullptr;
  const ServerOptions* options = nullptr;
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

const char* const kPlainTransferSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
};

const char* const kServiceSopClasses[] = {
    UID_VerificationSOPClass,
    UID_FINDPatientRootQueryRetrieveInformationModel,
    UID_FINDStudyRootQueryRetrieveInformationModel,
    UID_MOVEPatientRootQueryRetrieveInformationModel,
    UID_MOVEStudyRootQueryRetrieveInformationModel,
    UID_GETPatientRootQueryRetrieveInformationModel,
    UID_GETStudyRootQueryRetrieveInformationModel,
};

template <size_t N>
std::string FirstOf(const char* const (&preferred)[N], const std::vector<std::string>& offered) {
  for (const char* ts : preferred)
    if (std::find(offered.begin(), offered.end(), ts) != offered.end()) return ts;
  return {};
}

bool IsServiceSopClass(const std::string& uid) {
  return std::find(std::begin(kServiceSopClasses), std::end(kServiceSopClasses), uid) != std::end(kServiceSopClasses);
}

bool IsStorageSopClass(const std::string& uid) {
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
    if (uid == dcmAllStorageSOPClassUIDs[i]) return true;
  return false;
}

InformationModel ModelOf(const std::string& sop_class) {
  return sop_class == UID_FINDPatientRootQueryRetrieveInformationModel ||
                 sop_class == UID_MOVEPatientRootQueryRetrieveInformationModel ||
                 sop_class == UID_GETPatientRootQueryRetrieveInformationModel
             ? InformationModel::kPatientRoot
             : InformationModel::kStudyRoot;
}

// Status detail carrying an Error Comment (0000,0902), at most 64 characters.
std::unique_ptr<DcmDataset> ErrorDetail(const std::string& comment) {
  auto detail = std::make_unique<DcmDataset>();
  detail->putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
  return detail;
}

// The final identifier of a retrieval with failures: Failed SOP Instance UID List.
std::unique_ptr<DcmDataset> FailedList(const std::vector<std::string>& uids) {
  if (uids.empty()) return nullptr;
  std::string joined;
  for (const auto& uid : uids) joined += (joined.empty() ? "" : "\\") + uid;
  auto identifier = std::make_unique<DcmDataset>();
  identifier->putAndInsertString(DCM_FailedSOPInstanceUIDList, joined.c_str());
  return identifier;
}

Uint16 StoreStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kAlreadyExists:
      return 0x0111;  // Duplicate SOP Instance
    case StatusCode::kIOError:
    case StatusCode::kBusy:
      return STATUS_STORE_Refused_OutOfResources;  // A700
    default:
      return STATUS_STORE_Error_CannotUnderstand;  // C000
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
    T_ASC_Parameters* params = assoc_->params;
    const int count = ASC_countPresentationContexts(params);
    for (int i = 0; i < count; ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
      const std::string abstract = pc.abstractSyntax;
      std::vector<std::string> offered(pc.proposedTransferSyntaxes,
                                       pc.proposedTransferSyntaxes + pc.transferSyntaxCount);
      OFCondition cond = EC_Normal;
      if (IsServiceSopClass(abstract)) {
        const std::string ts = FirstOf(kPlainTransferSyntaxes, offered);
        cond = ts.empty()
                   ? ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_TRANSFERSYNTAXESNOTSUPPORTED)
                   : ASC_acceptPresentationContext(params, pc.presentationContextID, ts.c_str());
      } else if (IsStorageSopClass(abstract)) {
        // A requester that proposes the SCP role wants C-GET sub-operations on
        // this context; the same preference serves it, since the transcoder
        // writes every lossless syntax we prefer.
        const bool get_receiver = pc.proposedRole == ASC_SC_ROLE_SCP || pc.proposedRole == ASC_SC_ROLE_SCUSCP;
        const std::string ts = FirstOf(kStorageTransferSyntaxes, offered);
        cond = ts.empty()
                   ? ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_TRANSFERSYNTAXESNOTSUPPORTED)
                   : ASC_acceptPresentationContext(params, pc.presentationContextID, ts.c_str(),
                                                   get_receiver ? ASC_SC_ROLE_SCUSCP : ASC_SC_ROLE_DEFAULT);
      } else {
        cond = ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
      }
      if (cond.bad()) return cond;
    }
    return EC_Normal;
  }

  OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) override {
    if (msg->CommandField == DIMSE_C_STORE_RQ) return HandleStore(msg->msg.CStoreRQ, info);
    if (msg->CommandField == DIMSE_C_FIND_RQ) return HandleFind(msg->msg.CFindRQ, info);
    if (msg->CommandField == DIMSE_C_MOVE_RQ) return HandleMove(msg->msg.CMoveRQ, info);
    if (msg->CommandField == DIMSE_C_GET_RQ) return HandleGet(msg->msg.CGetRQ, info);
    if (msg->CommandField == DIMSE_C_ECHO_RQ) ++g_shared.counters->echo_requests;
    return DcmThreadSCP::handleIncomingCommand(msg, info);
  }

  void notifyAssociationAcknowledge() override {
    ++g_shared.counters->associations;
    LogInfo("association from " + Peer() + " accepted");
  }

 private:
  T_ASC_Association* assoc_ = nullptr;

  std::string Peer() const { return std::string(getPeerAETitle().c_str()) + "@" + getPeerIP().c_str(); }

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
        LogWarning("C-STORE from " + Peer() + ": SOP Instance " + report->sop_instance_uid + " replaced (old header " +
                   report->commit.existing_header_hash + ", new " + report->commit.new_header_hash + ")");
    } else {
      ++g_shared.counters->stores_failed;
      status = StoreStatusFor(report.status());
      LogError("C-STORE from " + Peer() + " of " + request.AffectedSOPInstanceUID +
               " failed: " + report.status().ToString());
    }
    return sendSTOREResponse(info.presentationContextID, request, status);
  }

  // --- C-FIND ---------------------------------------------------------------

  OFCondition HandleFind(T_DIMSE_C_FindRQ& request, const DcmPresentationContextInfo& info) {
    ++g_shared.counters->find_requests;
    const T_ASC_PresentationContextID pres_id = info.presentationContextID;
    DcmDataset* received = nullptr;
    OFCondition cond = receiveFINDRequest(request, pres_id, received);
    std::unique_ptr<DcmDataset> identifier(received);
    if (cond.bad() || !identifier) {
      LogError("C-FIND from " + Peer() + ": identifier could not be received (" + cond.text() + ")");
      return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
    }
    const std::string sop_class = request.AffectedSOPClassUID;
    auto query = ParseIdentifier(*identifier, ModelOf(sop_class));
    if (!query.ok()) {
      LogWarning("C-FIND from " + Peer() + " refused: " + query.status().message());
      auto detail = ErrorDetail(query.status().message());
      return sendFINDResponse(pres_id, request.MessageID, sop_class.c_str(), nullptr,
                              STATUS_FIND_Error_DataSetDoesNotMatchSOPClass, detail.get());
    }
    bool cancelled = false;
    uint64_t sent = 0;
    OFCondition send_cond = EC_Normal;
    auto stats = g_shared.queries->Find(*query, [&](DcmDataset& response) {
      ConvertResponseCharset(response, query->requested_charset);
      send_cond = sendFINDResponse(pres_id, request.MessageID, sop_class.c_str(), &response,
                                   STATUS_FIND_Pending_MatchesAreContinuing);
      if (send_cond.bad()) return false;
      // C-CANCEL arrives between responses; looking costs a poll of the socket.
      if (++sent % 16 == 0 && checkForCANCEL(pres_id, request.MessageID).good()) {
        cancelled = true;
        return false;
      }
      return true;
    });
    if (send_cond.bad()) {
      LogError("C-FIND from " + Peer() + ": sending a response failed (" + send_cond.text() + ")");
      return send_cond;
    }
    if (!stats.ok()) {
      LogError("C-FIND from " + Peer() + " failed: " + stats.status().ToString());
      auto detail = ErrorDetail(stats.status().message());
      return sendFINDResponse(pres_id, request.MessageID, sop_class.c_str(), nullptr,
                              STATUS_FIND_Failed_UnableToProcess, detail.get());
    }
    Log(LogLevel::kDebug, "C-FIND from " + Peer() + ": " + std::to_string(stats->matches) + " matches of " +
                              std::to_string(stats->candidates) + " records read, index " + stats->index_used);
    return sendFINDResponse(pres_id, request.MessageID, sop_class.c_str(), nullptr,
                            cancelled ? STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest : STATUS_Success);
  }

  // --- C-MOVE / C-GET shared ------------------------------------------------

  // The stored instances an identifier designates, or a status to refuse with.
  struct Resolved {
    std::vector<engine::InstanceRecord> records;
    Uint16 refusal = 0;  // non-zero: answer with this status and `reason`
    std::string reason;
  };

  Resolved ResolveRetrieval(DcmDataset& identifier, const std::string& sop_class, const char* what) {
    Resolved out;
    auto query = ParseIdentifier(identifier, ModelOf(sop_class));
    if (!query.ok()) {
      out.refusal = STATUS_MOVE_Error_DataSetDoesNotMatchSOPClass;
      out.reason = query.status().message();
      return out;
    }
    auto refs = g_shared.queries->Resolve(*query);
    if (!refs.ok()) {
      out.refusal = query.ok() && refs.status().code() == StatusCode::kInvalidArgument
                        ? STATUS_MOVE_Error_DataSetDoesNotMatchSOPClass
                        : STATUS_MOVE_Failed_UnableToProcess;
      out.reason = refs.status().message();
      return out;
    }
    for (const auto& ref : *refs) {
      auto rec = g_shared.ingestor->store().GetInstance(ref.sop_instance_uid);
      if (rec.ok())
        out.records.push_back(std::move(*rec));
      else
        LogWarning(std::string(what) + ": indexed instance " + ref.sop_instance_uid +
                   " is not readable: " + rec.status().ToString());
    }
    if (out.records.empty()) {
      // Nothing stored matches: a failure the requester can see, not an empty success.
      out.refusal = STATUS_MOVE_Failed_UnableToProcess;
      out.reason = "no stored instance matches the identifier";
    }
    return out;
  }

  void CountSubOperation(SubOperations& ops, const engine::InstanceRecord& rec, const Result<uint16_t>& status,
                         const char* what) {
    --ops.remaining;
    if (status.ok() && *status == STATUS_Success) {
      ++ops.completed;
      ++g_shared.counters->retrieve_suboperations_completed;
    } else if (status.ok() && IsWarningStatus(*status)) {
      ++ops.warning;
      ++g_shared.counters->retrieve_suboperations_completed;
    } else {
      ++ops.failed;
      ++g_shared.counters->retrieve_suboperations_failed;
      ops.failed_uids.push_back(rec.sop_instance_uid);
      char hex[8];
      std::snprintf(hex, sizeof hex, "%04X", status.ok() ? *status : 0);
      LogWarning(std::string(what) + " from " + Peer() + ": sub-operation for " + rec.sop_instance_uid +
                 " failed: " + (status.ok() ? "status " + std::string(hex) : status.status().ToString()));
    }
  }

  static Uint16 FinalStatus(const SubOperations& ops, bool cancelled) {
    if (cancelled) return STATUS_MOVE_Cancel_SubOperationsTerminatedDueToCancelIndication;
    if (ops.failed > 0 || ops.warning > 0) return STATUS_MOVE_Warning_SubOperationsCompleteOneOrMoreFailures;
    return STATUS_Success;
  }

  // --- C-MOVE ---------------------------------------------------------------

  OFCondition HandleMove(T_DIMSE_C_MoveRQ& request, const DcmPresentationContextInfo& info) {
    ++g_shared.counters->move_requests;
    const T_ASC_PresentationContextID pres_id = info.presentationContextID;
    DcmDataset* received = nullptr;
    OFString destination;
    OFCondition cond = receiveMOVERequest(request, pres_id, received, destination);
    std::unique_ptr<DcmDataset> identifier(received);
    if (cond.bad() || !identifier) {
      LogError("C-MOVE from " + Peer() + ": identifier could not be received (" + cond.text() + ")");
      return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
    }
    const std::string sop_class = request.AffectedSOPClassUID;
    const PeerAddress* peer = FindPeer(destination.c_str());
    if (peer == nullptr) {
      LogWarning("C-MOVE from " + Peer() + " refused: move destination '" + destination.c_str() +
                 "' is not configured (serve --peer NAME=AET@HOST:PORT)");
      auto detail = ErrorDetail("unknown move destination " + std::string(destination.c_str()));
      return sendMOVEResponse(pres_id, request.MessageID, sop_class.c_str(), nullptr,
                              STATUS_MOVE_Refused_MoveDestinationUnknown, detail.get());
    }
    Resolved resolved = ResolveRetrieval(*identifier, sop_class, "C-MOVE");
    if (resolved.refusal != 0) {
      LogWarning("C-MOVE from " + Peer() + " to " + peer->ae_title + " refused: " + resolved.reason);
      auto detail = ErrorDetail(resolved.reason);
      return sendMOVEResponse(pres_id, request.MessageID, sop_class.c_str(), nullptr, resolved.refusal, detail.get());
    }
    SubOperations ops;
    ops.remaining = static_cast<uint32_t>(resolved.records.size());
    auto sink = StoreAssociation::Open(*peer, g_shared.options->ae_title, resolved.records);
    if (!sink.ok()) {
      LogWarning("C-MOVE from " + Peer() + ": " + sink.status().ToString() + "; nothing sent");
      auto detail = ErrorDetail(sink.status().message());
      return sendMOVEResponse(pres_id, request.MessageID, sop_class.c_str(), nullptr,
                              STATUS_MOVE_Refused_OutOfResourcesSubOperations, detail.get(), 0, 0,
                              SubOperations::Clamp(ops.remaining), 0);
    }
    bool cancelled = false;
    for (const auto& rec : resolved.records) {
      auto status = (*sink)->Send(g_shared.ingestor->store(), rec, getPeerAETitle().c_str(), request.MessageID);
      CountSubOperation(ops, rec, status, "C-MOVE");
      if (ops.remaining == 0) break;
      cond = sendMOVEResponse(pres_id, request.MessageID, sop_class.c_str(), nullptr,
                              STATUS_MOVE_Pending_SubOperationsAreContinuing, nullptr,
                              SubOperations::Clamp(ops.remaining), SubOperations::Clamp(ops.completed),
                              SubOperations::Clamp(ops.failed), SubOperations::Clamp(ops.warning));
      if (cond.bad()) return cond;
      if (checkForCANCEL(pres_id, request.MessageID).good()) {
        cancelled = true;
        break;
      }
    }
    sink->reset();  // release the destination association before the final response
    if (cancelled) {
      for (size_t i = resolved.records.size() - ops.remaining; i < resolved.records.size(); ++i)
        ops.failed_uids.push_back(resolved.records[i].sop_instance_uid);
    }
    LogInfo("C-MOVE from " + Peer() + " to " + peer->ae_title + ": " + std::to_string(ops.completed) + " completed, " +
            std::to_string(ops.failed) + " failed, " + std::to_string(ops.warning) + " warnings" +
            (cancelled ? ", cancelled" : ""));
    auto failed = FailedList(ops.failed_uids);
    return sendMOVEResponse(pres_id, request.MessageID, sop_class.c_str(), failed.get(), FinalStatus(ops, cancelled),
                            nullptr, SubOperations::Clamp(cancelled ? ops.remaining : 0),
                            SubOperations::Clamp(ops.completed), SubOperations::Clamp(ops.failed),
                            SubOperations::Clamp(ops.warning));
  }

  const PeerAddress* FindPeer(const std::string& destination) const {
    for (const auto& peer : g_shared.options->peers)
      if (peer.ae_title == destination) return &peer;
    for (const auto& peer : g_shared.options->peers)
      if (peer.name == destination) return &peer;
    return nullptr;
  }

  // --- C-GET ----------------------------------------------------------------

  OFCondition SendGetResponse(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_GetRQ& request, Uint16 status,
                              const SubOperations& ops, DcmDataset* identifier, DcmDataset* detail, bool with_counts) {
    T_DIMSE_Message rsp;
    std::memset(&rsp, 0, sizeof rsp);
    rsp.CommandField = DIMSE_C_GET_RSP;
    T_DIMSE_C_GetRSP& get = rsp.msg.CGetRSP;
    get.MessageIDBeingRespondedTo = request.MessageID;
    OFStandard::strlcpy(get.AffectedSOPClassUID, request.AffectedSOPClassUID, sizeof get.AffectedSOPClassUID);
    get.DimseStatus = status;
    get.DataSetType = identifier ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    get.opts = O_GET_AFFECTEDSOPCLASSUID;
    if (with_counts) {
      get.NumberOfRemainingSubOperations = SubOperations::Clamp(ops.remaining);
      get.NumberOfCompletedSubOperations = SubOperations::Clamp(ops.completed);
      get.NumberOfFailedSubOperations = SubOperations::Clamp(ops.failed);
      get.NumberOfWarningSubOperations = SubOperations::Clamp(ops.warning);
      get.opts |= O_GET_NUMBEROFREMAININGSUBOPERATIONS | O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS |
                  O_GET_NUMBEROFFAILEDSUBOPERATIONS | O_GET_NUMBEROFWARNINGSUBOPERATIONS;
    }
    return sendDIMSEMessage(pres_id, &rsp, identifier, detail);
  }

  // Accepted storage contexts of this association, by SOP class.
  std::map<std::string, std::vector<std::pair<T_ASC_PresentationContextID, std::string>>> StorageContexts() const {
    std::map<std::string, std::vector<std::pair<T_ASC_PresentationContextID, std::string>>> out;
    T_ASC_Parameters* params = assoc_->params;
    const int count = ASC_countPresentationContexts(params);
    for (int i = 0; i < count; ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(params, i, &pc).bad() || pc.resultReason != ASC_P_ACCEPTANCE) continue;
      if (IsStorageSopClass(pc.abstractSyntax))
        out[pc.abstractSyntax].emplace_back(pc.presentationContextID, pc.acceptedTransferSyntax);
    }
    return out;
  }

  // One C-STORE sub-operation on this association; returns the peer's status.
  Result<uint16_t> SendOnThisAssociation(
      const engine::InstanceRecord& rec, Uint16 message_id,
      const std::vector<std::pair<T_ASC_PresentationContextID, std::string>>& contexts) {
    std::vector<std::string> accepted;
    for (const auto& c : contexts) accepted.push_back(c.second);
    const std::string ts = ChooseSyntax(rec, accepted);
    if (ts.empty())
      return Status::Unsupported("the requester accepted no transfer syntax pacscore can send " + rec.sop_instance_uid +
                                 " (received in " + rec.transfer_syntax_uid + ") in");
    T_ASC_PresentationContextID pres_id = 0;
    for (const auto& c : contexts)
      if (c.second == ts) pres_id = c.first;
    auto file = BuildForTransfer(g_shared.ingestor->store(), rec, ts);
    if (!file.ok()) return file.status();

    T_DIMSE_Message req;
    std::memset(&req, 0, sizeof req);
    req.CommandField = DIMSE_C_STORE_RQ;
    T_DIMSE_C_StoreRQ& store = req.msg.CStoreRQ;
    store.MessageID = message_id;
    OFStandard::strlcpy(store.AffectedSOPClassUID, rec.sop_class_uid.c_str(), sizeof store.AffectedSOPClassUID);
    OFStandard::strlcpy(store.AffectedSOPInstanceUID, rec.sop_instance_uid.c_str(),
                        sizeof store.AffectedSOPInstanceUID);
    store.Priority = DIMSE_PRIORITY_MEDIUM;
    store.DataSetType = DIMSE_DATASET_PRESENT;
    OFCondition cond = sendDIMSEMessage(pres_id, &req, (*file)->getDataset());
    if (cond.bad()) return Status::IOError(std::string("sending C-STORE-RQ failed: ") + cond.text());

    T_ASC_PresentationContextID rsp_pres = 0;
    T_DIMSE_Message rsp;
    DcmDataset* detail = nullptr;
    cond = receiveDIMSECommand(&rsp_pres, &rsp, &detail);
    delete detail;
    if (cond.bad()) return Status::IOError(std::string("no C-STORE-RSP: ") + cond.text());
    if (rsp.CommandField != DIMSE_C_STORE_RSP || rsp.msg.CStoreRSP.MessageIDBeingRespondedTo != message_id)
      return Status::IOError("the requester answered a C-STORE-RQ with another message");
    return static_cast<uint16_t>(rsp.msg.CStoreRSP.DimseStatus);
  }

  OFCondition HandleGet(T_DIMSE_C_GetRQ& request, const DcmPresentationContextInfo& info) {
    ++g_shared.counters->get_requests;
    T_ASC_PresentationContextID pres_id = info.presentationContextID;
    DcmDataset* received = nullptr;
    OFCondition cond = receiveDIMSEDataset(&pres_id, &received);
    std::unique_ptr<DcmDataset> identifier(received);
    if (cond.bad() || !identifier) {
      LogError("C-GET from " + Peer() + ": identifier could not be received (" + cond.text() + ")");
      return cond.bad() ? cond : DIMSE_RECEIVEFAILED;
    }
    const std::string sop_class = request.AffectedSOPClassUID;
    SubOperations ops;
    Resolved resolved = ResolveRetrieval(*identifier, sop_class, "C-GET");
    if (resolved.refusal != 0) {
      LogWarning("C-GET from " + Peer() + " refused: " + resolved.reason);
      auto detail = ErrorDetail(resolved.reason);
      return SendGetResponse(pres_id, request, resolved.refusal, ops, nullptr, detail.get(), false);
    }
    ops.remaining = static_cast<uint32_t>(resolved.records.size());
    const auto contexts = StorageContexts();
    Uint16 message_id = request.MessageID;
    bool cancelled = false;
    for (const auto& rec : resolved.records) {
      auto it = contexts.find(rec.sop_class_uid);
      Result<uint16_t> status =
          it == contexts.end()
              ? Result<uint16_t>(Status::Unsupported("no storage context for SOP class " + rec.sop_class_uid))
              : SendOnThisAssociation(rec, ++message_id, it->second);
      CountSubOperation(ops, rec, status, "C-GET");
      if (!status.ok() && status.status().code() == StatusCode::kIOError) return DIMSE_RECEIVEFAILED;
      if (ops.remaining == 0) break;
      cond =
          SendGetResponse(pres_id, request, STATUS_GET_Pending_SubOperationsAreContinuing, ops, nullptr, nullptr, true);
      if (cond.bad()) return cond;
      if (checkForCANCEL(pres_id, request.MessageID).good()) {
        cancelled = true;
        break;
      }
    }
    if (cancelled) {
      for (size_t i = resolved.records.size() - ops.remaining; i < resolved.records.size(); ++i)
        ops.failed_uids.push_back(resolved.records[i].sop_instance_uid);
    }
    LogInfo("C-GET from " + Peer() + ": " + std::to_string(ops.completed) + " completed, " +
            std::to_string(ops.failed) + " failed, " + std::to_string(ops.warning) + " warnings" +
            (cancelled ? ", cancelled" : ""));
    auto failed = FailedList(ops.failed_uids);
    if (!cancelled) ops.remaining = 0;
    return SendGetResponse(pres_id, request, FinalStatus(ops, cancelled), ops, failed.get(), nullptr, true);
  }
};

}  // namespace

struct DicomServer::Impl {
  Ingestor& ingestor;
  ServerOptions options;
  ServerCounters counters;
  QueryEngine queries;
  DcmSCPPool<StorageScp> pool;
  Impl(Ingestor& i, ServerOptions o) : ingestor(i), options(std::move(o)), queries(i.store(), options.ae_title) {}
};

DicomServer::DicomServer(Ingestor& ingestor, ServerOptions options)
    : impl_(std::make_unique<Impl>(ingestor, std::move(options))) {}
DicomServer::~DicomServer() = default;

const ServerCounters& DicomServer::counters() const {
  return impl_->counters;
}

void DicomServer::Stop() {
  impl_->pool.stopAfterCurrentAssociations();
}

Status DicomServer::Run() {
  g_shared = {&impl_->ingestor, &impl_->counters, &impl_->queries, &impl_->options};
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
  if (cond.bad())
    return Status::IOError("cannot listen on port " + std::to_string(impl_->options.port) + ": " + cond.text());
  return Status::Ok();
}

}  // namespace pacs::dicom
