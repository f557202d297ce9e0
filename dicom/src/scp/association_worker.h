// File: association_worker.h
// One association on its own thread: negotiates its presentation contexts
// and hands each DIMSE request to its service (echo_scp, store_scp, ...).
// DcmSCP keeps its DIMSE calls protected; the worker makes public the ones
// the services use, so that each service is a function of the worker.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "access_control.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/scpthrd.h"
#include "negotiation.h"
#include "pacs/base/audit.h"
#include "scp_context.h"

namespace pacs::dicom::scp {

// What the pool that runs a worker learns of its association, on the
// worker's thread: whether the peer is inside a request or idle between
// requests (for --idle-timeout and a prompt Stop()).
class AssociationObserver {
 public:
  virtual ~AssociationObserver() = default;
  virtual void OnAcknowledged(const std::string& peer) = 0;  // A-ASSOCIATE-AC sent; idle from now
  virtual void OnRequestStart() = 0;
  virtual void OnRequestEnd() = 0;  // the response sent; idle from now
  virtual void OnEnded() = 0;       // released, aborted or refused
};

class AssociationWorker : public DcmThreadSCP {
 public:
  // `observer` (may be null) must outlive the worker.
  explicit AssociationWorker(const ScpContext& context, AssociationObserver* observer = nullptr)
      : context_(context), observer_(observer) {}

  // DcmSCP keeps its association pointer private; negotiation and C-GET need it.
  OFCondition run(T_ASC_Association* assoc) override;

  const ScpContext& context() const { return context_; }
  // "AET@address" of the peer, for log lines.
  std::string Peer() const;
  // The storage contexts accepted on this association (C-GET sends on them).
  std::vector<StorageContext> AcceptedStorageContexts() const;
  // Whether the requester has sent something not read yet (a command, a
  // release or an abort); does not wait.
  bool DataWaiting() const;
  // Reads the dataset of the current request into `sink`, PDV by PDV (DCMTK's
  // DIMSE_receiveDataSetInFile); when the sink stops taking bytes, DCMTK
  // reads and drops the rest and returns DIMSEC_OUTOFRESOURCES.
  OFCondition ReceiveDatasetInto(T_ASC_PresentationContextID& pres_id, DcmOutputStream& sink);
  // Answers a command read outside the worker's own loop, as that loop would.
  OFCondition Dispatch(T_DIMSE_Message& message, T_ASC_PresentationContextID pres_id);
  // A DIMSE request of `service`: nullopt when this association may make
  // it, else the refusal status to answer with (access_control.h).
  std::optional<DimseStatus> CheckPermitted(AccessService service);
  // A C-ECHO response with a refusal status.
  OFCondition SendEchoRefusal(T_DIMSE_C_EchoRQ& request, T_ASC_PresentationContextID pres_id, uint16_t status);
  // Runs `job` on this thread once the association has ended (its release
  // acknowledged): Storage Commitment sends its report on a new association.
  void AfterAssociation(std::function<void()> job) { after_association_.push_back(std::move(job)); }
  // Once an association may send C-STOREs (accepted with a storage
  // context, or before its first C-STORE): tells the store handler a sender
  // opened, and at the association's end (AfterAssociation) that it closed.
  // Once per association.
  void BeginStoring();
  // Counts a C-STORE for the association's audit event (one Instances
  // Transferred event per association, written when it ends).
  void TallyStore(const std::string& study_uid, const std::string& patient_id, bool stored) {
    store_tally_.Add(study_uid, patient_id, stored);
  }

  // The size of the last dataset this worker received: a C-STORE's buffer
  // is reserved for about as much (the slices of a series are alike).
  uint64_t LastDatasetBytes() const { return last_dataset_bytes_; }
  void NoteDatasetBytes(uint64_t bytes) { last_dataset_bytes_ = bytes; }

  using DcmSCP::checkForCANCEL;
  using DcmSCP::getPeerAETitle;
  using DcmSCP::handleECHORequest;
  using DcmSCP::receiveACTIONRequest;
  using DcmSCP::receiveDIMSECommand;
  using DcmSCP::receiveDIMSEDataset;
  using DcmSCP::receiveFINDRequest;
  using DcmSCP::receiveMOVERequest;
  using DcmSCP::receiveSTORERequest;
  using DcmSCP::sendDIMSEMessage;
  using DcmSCP::sendEVENTREPORTRequest;
  using DcmSCP::sendFINDResponse;
  using DcmSCP::sendMOVEResponse;
  using DcmSCP::sendSTOREResponse;

 protected:
  // Access control (access_control.h) decides on the request first.
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& desired_action) override;
  OFCondition negotiateAssociation() override;
  OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) override;
  void notifyAssociationAcknowledge() override;
  // Sends the refusal access control decided on, if any; else counts the
  // refusal by reason and refuses as DCMTK does.
  void refuseAssociation(DcmRefuseReasonType reason) override;
  // Writes the association's C-STOREs as one audit event.
  void AuditStores();

 private:
  OFCondition HandleCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info);

  const ScpContext& context_;
  AssociationObserver* const observer_;
  T_ASC_Association* assoc_ = nullptr;                    // while run() serves one, on this thread only
  std::vector<std::function<void()>> after_association_;  // this thread only
  bool acknowledged_ = false;  // the association run() serves was accepted (and counted open)
  bool storing_ = false;       // it counts as a sender (BeginStoring)
  // What access control granted the association run() serves (holds its
  // per-AE slot), or the refusal to send; this thread only.
  std::optional<AssociationGrant> grant_;
  std::optional<AssociationRefusal> refusal_;
  audit::Peer audit_peer_;           // of the association run() serves, taken when it is accepted
  audit::StudyTally store_tally_;    // its C-STOREs
  uint64_t last_dataset_bytes_ = 0;  // this thread only
};

}  // namespace pacs::dicom::scp
