#include "commitment_scp.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "../scu/scu_config.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/scu.h"
#include "pacs/base/log.h"
#include "pacs/base/parallel.h"

namespace pacs::dicom::scp {
namespace {

constexpr uint16_t kActionRequestCommitment = 1;  // PS3.4 J.3.2.1.1
constexpr uint16_t kEventAllCommitted = 1;        // PS3.4 J.3.3.1.1
constexpr uint16_t kEventFailuresExist = 2;
// N-ACTION response statuses (PS3.7 10.1.4.1.10).
constexpr uint16_t kStatusNoSuchSopInstance = 0x0112;
constexpr uint16_t kStatusNoSuchSopClass = 0x0118;
constexpr uint16_t kStatusMissingAttribute = 0x0120;
constexpr uint16_t kStatusNoSuchAction = 0x0123;

struct InstanceOutcome {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  CommitmentCheck check;
};

// One commitment request, shared by the association thread and the threads
// that check its instances; each `instances[i].check` is written by one
// checking thread, and read only after `checked` is ready.
struct Transaction {
  std::string transaction_uid;
  std::string requester;  // "AET@address"
  std::string requester_ae_title;
  std::vector<InstanceOutcome> instances;
  std::shared_future<void> checked;
  std::chrono::steady_clock::time_point received;
};

std::string Get(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFString(tag, value);
  return value;
}

// The Action Information of a Request Storage Commitment: a Transaction UID
// and at least one Referenced SOP Sequence item with both UIDs. Returns why
// not, or "".
std::string ParseActionInformation(DcmDataset& dataset, Transaction& transaction) {
  transaction.transaction_uid = Get(dataset, DCM_TransactionUID);
  if (transaction.transaction_uid.empty()) return "no Transaction UID (0008,1195)";
  DcmSequenceOfItems* sequence = nullptr;
  if (dataset.findAndGetSequence(DCM_ReferencedSOPSequence, sequence).bad() || sequence == nullptr ||
      sequence->card() == 0)
    return "no Referenced SOP Sequence (0008,1199) items";
  for (unsigned long i = 0; i < sequence->card(); ++i) {
    DcmItem* item = sequence->getItem(i);
    InstanceOutcome outcome;
    outcome.sop_class_uid = Get(*item, DCM_ReferencedSOPClassUID);
    outcome.sop_instance_uid = Get(*item, DCM_ReferencedSOPInstanceUID);
    if (outcome.sop_class_uid.empty() || outcome.sop_instance_uid.empty())
      return "Referenced SOP Sequence item " + std::to_string(i + 1) + " lacks a SOP Class or Instance UID";
    transaction.instances.push_back(std::move(outcome));
  }
  return {};
}

OFCondition SendActionResponse(AssociationWorker& worker, T_ASC_PresentationContextID pres_id,
                               const T_DIMSE_N_ActionRQ& request, uint16_t status, const std::string& comment) {
  T_DIMSE_Message rsp;
  std::memset(&rsp, 0, sizeof rsp);
  rsp.CommandField = DIMSE_N_ACTION_RSP;
  T_DIMSE_N_ActionRSP& action = rsp.msg.NActionRSP;
  action.MessageIDBeingRespondedTo = request.MessageID;
  action.DimseStatus = status;
  action.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(action.AffectedSOPClassUID, request.RequestedSOPClassUID, sizeof action.AffectedSOPClassUID);
  OFStandard::strlcpy(action.AffectedSOPInstanceUID, request.RequestedSOPInstanceUID,
                      sizeof action.AffectedSOPInstanceUID);
  action.opts = O_NACTION_AFFECTEDSOPCLASSUID | O_NACTION_AFFECTEDSOPINSTANCEUID;
  auto detail = status == 0 ? nullptr : ErrorDetail(comment);
  return worker.sendDIMSEMessage(pres_id, &rsp, nullptr, detail.get());
}

// The instances are independent: they are checked by up to four threads
// (decoding and hashing are CPU-bound). Returns once all are checked.
void CheckAll(CommitmentRequestHandler& handler, Transaction& transaction) {
  ParallelFor(transaction.instances.size(), 4, [&](size_t i) {
    InstanceOutcome& instance = transaction.instances[i];
    instance.check = handler.CheckInstance(instance.sop_class_uid, instance.sop_instance_uid);
  });
}

uint16_t EventType(const Transaction& transaction) {
  for (const auto& instance : transaction.instances)
    if (!instance.check.committed()) return kEventFailuresExist;
  return kEventAllCommitted;
}

// The Event Information of PS3.4 J.3.3.1.1: committed instances in the
// Referenced SOP Sequence, the others with their Failure Reason in the
// Failed SOP Sequence (each sequence only when it has items).
std::unique_ptr<DcmDataset> EventInformation(const Transaction& transaction) {
  auto dataset = std::make_unique<DcmDataset>();
  dataset->putAndInsertString(DCM_TransactionUID, transaction.transaction_uid.c_str());
  for (const auto& instance : transaction.instances) {
    DcmItem* item = nullptr;
    const DcmTagKey sequence = instance.check.committed() ? DCM_ReferencedSOPSequence : DCM_FailedSOPSequence;
    if (dataset->findOrCreateSequenceItem(sequence, item, -2).bad() || item == nullptr) continue;
    item->putAndInsertString(DCM_ReferencedSOPClassUID, instance.sop_class_uid.c_str());
    item->putAndInsertString(DCM_ReferencedSOPInstanceUID, instance.sop_instance_uid.c_str());
    if (!instance.check.committed()) item->putAndInsertUint16(DCM_FailureReason, instance.check.failure_reason);
  }
  return dataset;
}

std::string Hex4(uint16_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "%04X", value);
  return text;
}

// Logs the outcome (one line per failed instance, one summary) and counts
// the instances of a report that was delivered.
void LogOutcome(const ScpContext& context, const Transaction& transaction, const std::string& delivery,
                bool delivered = true) {
  uint64_t committed = 0;
  for (const auto& instance : transaction.instances) {
    if (instance.check.committed()) {
      ++committed;
      continue;
    }
    LogWarning("Storage Commitment from " + transaction.requester + ", transaction " + transaction.transaction_uid +
               ": " + instance.sop_instance_uid + " not committed (failure reason " +
               Hex4(instance.check.failure_reason) + "): " + instance.check.problem);
  }
  const uint64_t failed = transaction.instances.size() - committed;
  if (delivered) {
    context.counters.commitment_instances_committed.Increment(committed);
    context.counters.commitment_instances_failed.Increment(failed);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - transaction.received).count();
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.2f", seconds);
  LogInfo("Storage Commitment from " + transaction.requester + ", transaction " + transaction.transaction_uid + ": " +
          std::to_string(committed) + " committed, " + std::to_string(failed) + " failed, " + delivery + " after " +
          elapsed + " s");
}

// The report on an association of its own to the requester (PS3.4 J.3.3):
// we are the association requester and propose the Storage Commitment class
// with the SCP role for ourselves.
// DcmSCU with its TLS switch (protected in DCMTK 3.6.7) made reachable.
class ReportScu final : public DcmSCU {
 public:
  using DcmSCU::useSecureConnection;
};

// A peer marked tls is reached over `tls` (ScpContext::tls_requestor).
Status SendReportOnNewAssociation(const PeerAddress& peer, const std::string& calling_ae, uint16_t event_type,
                                  DcmDataset& information, DcmTransportLayer* tls) {
  const std::string peer_name =
      peer.ae_title + "@" + peer.host + ":" + std::to_string(peer.port) + (peer.tls ? " (TLS)" : "");
  ReportScu scu;
  ConfigureScu(scu, {.host = peer.host, .port = peer.port, .called_aet = peer.ae_title, .calling_aet = calling_ae});
  scu.setACSETimeout(30);  // a report is small: shorter waits than a client's
  scu.setDIMSETimeout(60);
  if (peer.tls && tls == nullptr) return Status::Internal("no TLS settings for " + peer_name);
  OFCondition cond =
      scu.addPresentationContext(UID_StorageCommitmentPushModelSOPClass, PlainSyntaxes(), ASC_SC_ROLE_SCP);
  if (cond.good()) cond = scu.initNetwork();
  if (cond.good() && peer.tls) cond = scu.useSecureConnection(tls);  // on the network initNetwork made
  if (cond.good()) cond = scu.negotiateAssociation();
  if (cond.bad()) return Status::IOError("cannot open an association to " + peer_name + ": " + cond.text());
  const T_ASC_PresentationContextID pres_id =
      scu.findAnyPresentationContextID(UID_StorageCommitmentPushModelSOPClass, UID_LittleEndianExplicitTransferSyntax);
  if (pres_id == 0) {
    scu.releaseAssociation();
    return Status::Unsupported(peer_name + " accepted no Storage Commitment context with us as SCP");
  }
  Uint16 rsp_status = 0;
  cond = scu.sendEVENTREPORTRequest(pres_id, UID_StorageCommitmentPushModelSOPInstance, event_type, &information,
                                    rsp_status);
  scu.releaseAssociation();
  if (cond.bad()) return Status::IOError("N-EVENT-REPORT to " + peer_name + " failed: " + cond.text());
  if (rsp_status != 0)
    return Status::IOError(peer_name + " answered the N-EVENT-REPORT with status " + Hex4(rsp_status));
  return Status::Ok();
}

// After the requester released (or lost) its association.
void ReportOnNewAssociation(const ScpContext& context, const std::shared_ptr<Transaction>& transaction) {
  transaction->checked.wait();
  const PeerAddress* peer = context.commitment_handler.FindCommitmentRequester(transaction->requester_ae_title);
  if (peer == nullptr) {
    context.counters.commitment_reports_failed.Increment();
    LogOutcome(context, *transaction, "report NOT sent", false);
    LogError("Storage Commitment from " + transaction->requester + ", transaction " + transaction->transaction_uid +
             ": the requester released its association and no --peer has AE title " + transaction->requester_ae_title +
             "; the N-EVENT-REPORT could not be sent (configure serve --peer NAME=" + transaction->requester_ae_title +
             "@HOST:PORT)");
    return;
  }
  auto information = EventInformation(*transaction);
  Status sent = SendReportOnNewAssociation(*peer, context.options.ae_title, EventType(*transaction), *information,
                                           context.tls_requestor);
  if (!sent.ok()) {
    context.counters.commitment_reports_failed.Increment();
    LogOutcome(context, *transaction, "report NOT sent", false);
    LogError("Storage Commitment from " + transaction->requester + ", transaction " + transaction->transaction_uid +
             ": " + sent.ToString());
    return;
  }
  LogOutcome(
      context, *transaction,
      "reported on a new association to " + peer->ae_title + "@" + peer->host + ":" + std::to_string(peer->port));
}

}  // namespace

OFCondition HandleCommitmentRequest(AssociationWorker& worker, T_DIMSE_N_ActionRQ& request,
                                    const DcmPresentationContextInfo& info) {
  const ScpContext& context = worker.context();
  context.counters.commitment_requests.Increment();
  const T_ASC_PresentationContextID pres_id = info.presentationContextID;
  DcmDataset* received = nullptr;
  Uint16 action_type = 0;
  OFCondition cond = worker.receiveACTIONRequest(request, pres_id, received, action_type);
  std::unique_ptr<DcmDataset> action_information(received);
  if (cond.bad()) {
    LogError("Storage Commitment from " + worker.Peer() + ": N-ACTION could not be received (" + cond.text() + ")");
    return cond;
  }
  if (auto refused = worker.CheckPermitted(AccessService::kCommit))
    return SendActionResponse(worker, pres_id, request, refused->code, refused->error_comment);
  auto transaction = std::make_shared<Transaction>();
  transaction->requester = worker.Peer();
  transaction->requester_ae_title = worker.getPeerAETitle();
  transaction->received = std::chrono::steady_clock::now();

  uint16_t refusal = 0;
  std::string problem;
  if (std::string(request.RequestedSOPClassUID) != UID_StorageCommitmentPushModelSOPClass) {
    refusal = kStatusNoSuchSopClass;
    problem = "N-ACTION for SOP class " + std::string(request.RequestedSOPClassUID);
  } else if (std::string(request.RequestedSOPInstanceUID) != UID_StorageCommitmentPushModelSOPInstance) {
    refusal = kStatusNoSuchSopInstance;
    problem = "requested SOP instance " + std::string(request.RequestedSOPInstanceUID) +
              " is not the well-known " UID_StorageCommitmentPushModelSOPInstance;
  } else if (action_type != kActionRequestCommitment) {
    refusal = kStatusNoSuchAction;
    problem = "action type " + std::to_string(action_type) + " is not 1 (Request Storage Commitment)";
  } else if (!action_information) {
    refusal = kStatusMissingAttribute;
    problem = "no Action Information";
  } else if (problem = ParseActionInformation(*action_information, *transaction); !problem.empty()) {
    refusal = kStatusMissingAttribute;
  }
  if (refusal != 0) {
    LogWarning("Storage Commitment from " + transaction->requester + " refused (status " + Hex4(refusal) +
               "): " + problem);
    return SendActionResponse(worker, pres_id, request, refusal, problem);
  }
  LogInfo("Storage Commitment request from " + transaction->requester + ", transaction " +
          transaction->transaction_uid + ": " + std::to_string(transaction->instances.size()) + " instances");

  // The checks run beside this thread, which meanwhile watches whether the
  // requester releases; nothing is reported before every check has ended.
  CommitmentRequestHandler& handler = context.commitment_handler;
  transaction->checked =
      std::async(std::launch::async, [&handler, transaction] { CheckAll(handler, *transaction); }).share();
  cond = SendActionResponse(worker, pres_id, request, 0, {});
  if (cond.bad()) {
    transaction->checked.wait();
    LogError("Storage Commitment from " + transaction->requester + ", transaction " + transaction->transaction_uid +
             ": N-ACTION response could not be sent (" + cond.text() + "); nothing reported");
    return cond;
  }

  // "Keeps it open": the requester has not released, aborted or sent
  // anything within the release wait after our N-ACTION response, nor by the
  // time every instance is checked (docs/conformance.md).
  const auto deadline = std::chrono::steady_clock::now() + context.options.commitment_release_wait;
  for (;;) {
    if (worker.DataWaiting()) {
      T_ASC_PresentationContextID next_pres_id = 0;
      T_DIMSE_Message next;
      std::memset(&next, 0, sizeof next);
      DcmDataset* detail = nullptr;
      OFCondition next_cond = worker.receiveDIMSECommand(&next_pres_id, &next, &detail);
      delete detail;
      if (next_cond.good()) {
        // Another request: the association stays; answer it, then report here.
        next_cond = worker.Dispatch(next, next_pres_id);
        if (next_cond.good()) break;
      }
      // Released, aborted or broken: the report goes on a new association
      // once DCMTK has acknowledged the release.
      worker.AfterAssociation([&context, transaction] { ReportOnNewAssociation(context, transaction); });
      return next_cond;
    }
    if (std::chrono::steady_clock::now() >= deadline &&
        transaction->checked.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // After another request the checks may still run: never report before they end
  // (an unchecked outcome reads as committed).
  transaction->checked.wait();
  auto information = EventInformation(*transaction);
  Uint16 rsp_status = 0;
  cond = worker.sendEVENTREPORTRequest(pres_id, UID_StorageCommitmentPushModelSOPInstance, 1, EventType(*transaction),
                                       information.get(), rsp_status);
  if (cond.bad()) {
    // Released or aborted instead of answering (or the association broke):
    // the report goes on a new association, as if it had released before.
    LogWarning("Storage Commitment from " + transaction->requester + ", transaction " + transaction->transaction_uid +
               ": N-EVENT-REPORT on the requester's association failed (" + cond.text() +
               "); sending it on a new association");
    worker.AfterAssociation([&context, transaction] { ReportOnNewAssociation(context, transaction); });
    return cond;
  }
  LogOutcome(context, *transaction,
             "reported on the same association" +
                 (rsp_status == 0 ? std::string() : " (requester answered status " + Hex4(rsp_status) + ")"));
  return EC_Normal;
}

}  // namespace pacs::dicom::scp
