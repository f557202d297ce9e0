// File: access_control.h
// Who may do what on the DICOM node, decided in one place: the called AE
// title, the calling AE title and host against the peers table, the
// per-AE association caps, which presentation contexts an association may
// have and which DIMSE requests it may make. Every refusal goes through
// AccessControl::Report (logged, counted; the audit trail hooks there).
// docs/security.md, "Access control (AE table)", describes the rules.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dimse_status.h"
#include "pacs/base/mutex.h"
#include "pacs/dicom/dicom_server.h"

namespace pacs::dicom::scp {

// What an association may be used for; one per permission of PeerPermissions.
enum class AccessService { kEcho, kStore, kFind, kGet, kMove, kCommit };
const char* AccessServiceName(AccessService service);  // "echo", ..., "commit"

// Who asks: from the A-ASSOCIATE-RQ and the socket.
struct AccessRequest {
  std::string calling_ae;
  std::string called_ae;
  std::string host;  // the requester's IP address
};

// An A-ASSOCIATE-RJ (PS3.8 9.3.4) and why: `label` is the reason counted in
// pacscore_associations_refused_total (docs/operations.md).
struct AssociationRefusal {
  T_ASC_RejectParametersResult result = ASC_RESULT_REJECTEDPERMANENT;
  T_ASC_RejectParametersSource source = ASC_SOURCE_SERVICEUSER;
  T_ASC_RejectParametersReason reason = ASC_REASON_SU_NOREASON;
  const char* label = "internal_error";
  std::string why;
};

class AccessControl;

// What an accepted association request may do. Holds one of its calling
// AE's association slots until destroyed. Movable, used by one thread.
class AssociationGrant {
 public:
  AssociationGrant() = default;
  AssociationGrant(AssociationGrant&& other) noexcept;
  AssociationGrant& operator=(AssociationGrant&& other) noexcept;
  AssociationGrant(const AssociationGrant&) = delete;
  AssociationGrant& operator=(const AssociationGrant&) = delete;
  ~AssociationGrant();

  bool Permits(AccessService service) const;
  const AccessRequest& request() const { return request_; }
  // The configured peer the requester was matched to, or null (any AE).
  const PeerAddress* peer() const { return peer_; }

 private:
  friend class AccessControl;
  AccessControl* owner_ = nullptr;  // set while a slot is held
  AccessRequest request_;
  const PeerAddress* peer_ = nullptr;
  PeerPermissions permissions_ = PeerPermissions::None();
  // A peer whose AE title matched but whose host did not (for the refusal label).
  bool host_mismatch_ = false;
};

// Thread-safe: every association thread asks at once; the per-AE counts
// are guarded by `mutex_`. Built from the server's options, which outlive it.
class AccessControl {
 public:
  AccessControl(const ServerOptions& options, ServerCounters& counters) : options_(options), counters_(counters) {}

  // The decision on an association request, before its presentation
  // contexts are negotiated: a grant, or the A-ASSOCIATE-RJ to send
  // (already reported).
  std::variant<AssociationGrant, AssociationRefusal> DecideAssociation(const AccessRequest& request);

  // After negotiation, when no presentation context was left because the
  // requester may not use any of the services it proposed: the refusal to
  // send instead of "no reason given" (already reported). `refused` names
  // the services whose contexts were refused.
  AssociationRefusal RefuseForServices(const AssociationGrant& grant, const std::string& refused) const;
  // Some contexts were refused for want of permission, others accepted: logged.
  static void NoteRefusedContexts(const AssociationGrant& grant, const std::string& refused);

  // A DIMSE request on an accepted association: nullopt when permitted,
  // else the refusal status (0124, Refused: Not Authorized; PS3.7 C.5) to
  // answer with (already reported).
  std::optional<DimseStatus> CheckRequest(const AssociationGrant& grant, AccessService service) const;

  // The one place every refusal goes through: a log line naming the peer
  // AE, host and reason, and the count under `label`.
  void Report(const AccessRequest& request, const char* label, const std::string& why) const;

 private:
  friend class AssociationGrant;
  void Release(const std::string& calling_ae);
  // The peer with this AE title whose host (if any) matches; `host_mismatch`
  // tells whether a peer had the AE title but another host.
  const PeerAddress* MatchPeer(const AccessRequest& request, bool& host_mismatch) const;

  const ServerOptions& options_;
  ServerCounters& counters_;
  Mutex mutex_;
  std::map<std::string, uint32_t> open_by_ae_ GUARDED_BY(mutex_);
};

}  // namespace pacs::dicom::scp
