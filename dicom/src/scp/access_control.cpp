#include "access_control.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <memory>

#include "pacs/base/audit.h"
#include "pacs/base/log.h"

namespace pacs::dicom::scp {
namespace {

// PS3.7 C.5: Refused: Not Authorized.
constexpr uint16_t kNotAuthorized = 0x0124;

bool IsNumericAddress(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// Whether a peer configured at `host` (an address or a name) is the
// requester at `address`. Names are resolved on each request, so that a
// changed DNS entry holds without a restart.
bool HostMatches(const std::string& host, const std::string& address) {
  if (host == address) return true;
  if (host.empty() || IsNumericAddress(host)) return false;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, &freeaddrinfo);
  for (const addrinfo* info = found; info != nullptr; info = info->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = info->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(info->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(info->ai_addr)->sin6_addr);
    if (inet_ntop(info->ai_family, raw, text, sizeof text) != nullptr && address == text) return true;
  }
  return false;
}

PeerPermissions Union(PeerPermissions a, const PeerPermissions& b) {
  a.echo = a.echo || b.echo;
  a.store = a.store || b.store;
  a.find = a.find || b.find;
  a.get = a.get || b.get;
  a.move = a.move || b.move;
  a.commit = a.commit || b.commit;
  return a;
}

bool Any(const PeerPermissions& p) {
  return p.echo || p.store || p.find || p.get || p.move || p.commit;
}

AssociationRefusal CallingAeNotRecognized(bool host_mismatch, std::string why) {
  return {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED,
          host_mismatch ? "calling_host" : "calling_ae_title", std::move(why)};
}

}  // namespace

const char* AccessServiceName(AccessService service) {
  switch (service) {
    case AccessService::kEcho:
      return "echo";
    case AccessService::kStore:
      return "store";
    case AccessService::kFind:
      return "find";
    case AccessService::kGet:
      return "get";
    case AccessService::kMove:
      return "move";
    case AccessService::kCommit:
      return "commit";
  }
  return "unknown";
}

AssociationGrant::AssociationGrant(AssociationGrant&& other) noexcept
    : owner_(other.owner_),
      request_(std::move(other.request_)),
      peer_(other.peer_),
      permissions_(other.permissions_),
      host_mismatch_(other.host_mismatch_) {
  other.owner_ = nullptr;
}

AssociationGrant& AssociationGrant::operator=(AssociationGrant&& other) noexcept {
  if (this == &other) return *this;
  if (owner_ != nullptr) owner_->Release(request_.calling_ae);
  owner_ = other.owner_;
  request_ = std::move(other.request_);
  peer_ = other.peer_;
  permissions_ = other.permissions_;
  host_mismatch_ = other.host_mismatch_;
  other.owner_ = nullptr;
  return *this;
}

AssociationGrant::~AssociationGrant() {
  if (owner_ != nullptr) owner_->Release(request_.calling_ae);
}

bool AssociationGrant::Permits(AccessService service) const {
  switch (service) {
    case AccessService::kEcho:
      return permissions_.echo;
    case AccessService::kStore:
      return permissions_.store;
    case AccessService::kFind:
      return permissions_.find;
    case AccessService::kGet:
      return permissions_.get;
    case AccessService::kMove:
      return permissions_.move;
    case AccessService::kCommit:
      return permissions_.commit;
  }
  return false;
}

const PeerAddress* AccessControl::MatchPeer(const AccessRequest& request, bool& host_mismatch) const {
  host_mismatch = false;
  for (const PeerAddress& peer : options_.peers) {
    if (peer.ae_title != request.calling_ae) continue;
    if (peer.host.empty() || HostMatches(peer.host, request.host)) return &peer;
    host_mismatch = true;
  }
  return nullptr;
}

std::variant<AssociationGrant, AssociationRefusal> AccessControl::DecideAssociation(const AccessRequest& request) {
  auto refuse = [&](AssociationRefusal refusal) {
    Report(request, refusal.label, refusal.why);
    return refusal;
  };
  if (!options_.any_called_aet && request.called_ae != options_.ae_title)
    return refuse({ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED,
                   "called_ae_title",
                   "called AE title '" + request.called_ae + "' is not this node's (" + options_.ae_title + ")"});

  AssociationGrant grant;
  grant.request_ = request;
  grant.peer_ = MatchPeer(request, grant.host_mismatch_);
  PeerPermissions any_ae = PeerPermissions::None();
  any_ae.echo = options_.echo_from_any_ae;
  any_ae.store = options_.store_from_any_ae;
  grant.permissions_ = grant.peer_ != nullptr ? Union(grant.peer_->permissions, any_ae) : any_ae;
  if (!Any(grant.permissions_))
    return refuse(CallingAeNotRecognized(
        grant.host_mismatch_,
        grant.host_mismatch_
            ? "the peer with AE title '" + request.calling_ae + "' is configured at another host"
            : "calling AE title '" + request.calling_ae + "' is not a configured peer and any-AE access is off"));

  const uint32_t cap = grant.peer_ != nullptr && grant.peer_->max_associations > 0 ? grant.peer_->max_associations
                                                                                   : options_.max_associations_per_ae;
  {
    MutexLock lock(mutex_);
    uint32_t& open = open_by_ae_[request.calling_ae];
    if (cap > 0 && open >= cap) {
      if (open == 0) open_by_ae_.erase(request.calling_ae);
    } else {
      ++open;
      grant.owner_ = this;
    }
  }
  if (grant.owner_ == nullptr)
    return refuse({ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                   ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED, "too_many_associations_for_ae",
                   std::to_string(cap) + " associations from this AE title are open already (its cap)"});
  return grant;
}

void AccessControl::Release(const std::string& calling_ae) {
  MutexLock lock(mutex_);
  auto it = open_by_ae_.find(calling_ae);
  if (it == open_by_ae_.end()) return;
  if (--it->second == 0) open_by_ae_.erase(it);
}

AssociationRefusal AccessControl::RefuseForServices(const AssociationGrant& grant, const std::string& refused) const {
  const AccessRequest& request = grant.request();
  AssociationRefusal refusal =
      grant.peer() != nullptr
          ? AssociationRefusal{ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON,
                               "not_permitted",
                               "peer " + grant.peer()->name + " may not use " + refused +
                                   " (permissions: " + PermissionsText(grant.peer()->permissions) + ")"}
          : CallingAeNotRecognized(grant.host_mismatch_,
                                   "calling AE title '" + request.calling_ae + "' is not " +
                                       (grant.host_mismatch_ ? "configured at this host" : "a configured peer") +
                                       "; it proposed only services for peers with the permission (" + refused + ")");
  Report(request, refusal.label, refusal.why);
  return refusal;
}

void AccessControl::NoteRefusedContexts(const AssociationGrant& grant, const std::string& refused) {
  const AccessRequest& request = grant.request();
  LogWarning("association from " + request.calling_ae + "@" + request.host + ": presentation contexts for " + refused +
             " refused: " +
             (grant.peer() != nullptr ? "peer " + grant.peer()->name + " lacks the permission"
                                      : std::string("not a configured peer")));
}

std::optional<DimseStatus> AccessControl::CheckRequest(const AssociationGrant& grant, AccessService service) const {
  if (grant.Permits(service)) return std::nullopt;
  const std::string name = AccessServiceName(service);
  Report(grant.request(), "request_not_permitted",
         name + " request refused with 0124 (" +
             (grant.peer() != nullptr ? "peer " + grant.peer()->name + " may not " + name
                                      : "not a configured peer: " + name + " is for peers with that permission") +
             ")");
  return DimseStatus{kNotAuthorized, "not authorized: " + name + " is not permitted to " + grant.request().calling_ae};
}

void AccessControl::Report(const AccessRequest& request, const char* label, const std::string& why) const {
  audit::SecurityAlert(label == std::string_view("request_not_permitted") || label == std::string_view("not_permitted")
                           ? audit::EventType::kUseOfRestrictedFunction
                           : audit::EventType::kNodeAuthentication,
                       {.ae = request.calling_ae, .host = request.host}, "DICOM access control",
                       std::string(label) + ": " + why);
  LogWarning("refused " + request.calling_ae + "@" + request.host + " (called " + request.called_ae + "): " + label +
             ": " + why);
  counters_.CountRefusal(label);
}

}  // namespace pacs::dicom::scp
