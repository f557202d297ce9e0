// File: association_worker.h
// One association on its own thread: negotiates its presentation contexts
// and hands each DIMSE request to its service (echo_scp, store_scp, ...).
// DcmSCP keeps its DIMSE calls protected; the worker makes public the ones
// the services use, so that each service is a function of the worker.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/scpthrd.h"
#include "negotiation.h"
#include "pacs/base/audit.h"
#include "scp_context.h"

namespace pacs::dicom::scp {

class AssociationWorker : public DcmThreadSCP {
 public:
  explicit AssociationWorker(const ScpContext& context) : context_(context) {}

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
  // Answers a command read outside the worker's own loop, as that loop would.
  OFCondition Dispatch(T_DIMSE_Message& message, T_ASC_PresentationContextID pres_id);
  // Runs `job` on this thread once the association has ended (its release
  // acknowledged): Storage Commitment sends its report on a new association.
  void AfterAssociation(std::function<void()> job) { after_association_.push_back(std::move(job)); }
  // Counts a C-STORE for the association's audit event (one Instances
  // Transferred event per association, written when it ends).
  void TallyStore(const std::string& study_uid, const std::string& patient_id, bool stored) {
    store_tally_.Add(study_uid, patient_id, stored);
  }

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
  OFCondition negotiateAssociation() override;
  OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) override;
  void notifyAssociationAcknowledge() override;
  // Counts the refusal by reason, then refuses as DCMTK does.
  void refuseAssociation(DcmRefuseReasonType reason) override;
  // Writes the association's C-STOREs as one audit event.
  void AuditStores();

 private:
  const ScpContext& context_;
  T_ASC_Association* assoc_ = nullptr;                    // while run() serves one, on this thread only
  std::vector<std::function<void()>> after_association_;  // this thread only
  bool acknowledged_ = false;      // the association run() serves was accepted (and counted open)
  audit::Peer audit_peer_;         // of the association run() serves, taken when it is accepted
  audit::StudyTally store_tally_;  // its C-STOREs
};

}  // namespace pacs::dicom::scp
