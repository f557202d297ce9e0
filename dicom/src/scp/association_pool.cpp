#include "association_pool.h"

#include <string>

#include "association_worker.h"
#include "audit_events.h"

namespace pacs::dicom::scp {
namespace {

// A pool thread serving one association at a time with an AssociationWorker.
class PoolWorker final : public DcmBaseSCPPool::DcmBaseSCPWorker {
 public:
  PoolWorker(DcmBaseSCPPool& pool, const ScpContext& context) : DcmBaseSCPWorker(pool), scp_(context) {}

  OFCondition setSharedConfig(const DcmSharedSCPConfig& config) override { return scp_.setSharedConfig(config); }
  OFBool busy() override { return scp_.isConnected(); }

 protected:
  OFCondition workerListen(T_ASC_Association* const assoc) override { return scp_.run(assoc); }

 private:
  AssociationWorker scp_;
};

}  // namespace

DcmBaseSCPPool::DcmBaseSCPWorker* AssociationPool::createSCPWorker() {
  return new PoolWorker(*this, context_);  // owned by DcmBaseSCPPool, which deletes it when its thread ends
}

void AssociationPool::dropAndDestroyAssociation(T_ASC_Association* assoc) {
  // DcmBaseSCPPool does not say why; a full pool is the one reason it refuses
  // a request it has read. (A worker that ends between the pool's check and
  // this one turns a refusal into "unreadable_request": rare, and only when
  // the pool was full a moment ago.)
  if (assoc != nullptr) {
    const char* reason = numThreads(OFTrue) >= getMaxThreads() ? "too_many_associations" : "unreadable_request";
    context_.counters.CountRefusal(reason);
    audit::SecurityAlert(audit::EventType::kNodeAuthentication, AuditPeerOf(assoc), "DICOM association",
                         std::string("association refused: ") + reason);
  }
  DcmBaseSCPPool::dropAndDestroyAssociation(assoc);
}

Status AssociationPool::Listen(const std::function<void()>& on_bound) {
  const int port = static_cast<int>(getConfig().getPort());
  auto cannot_listen = [&](const OFCondition& cond) {
    return Status::IOError("cannot listen on port " + std::to_string(port) + ": " + cond.text());
  };
  // DcmBaseSCPPool::listen() binds and serves in one call. Bind here first,
  // with the same call it makes, so that a port in use is an error before
  // anything says "listening"; the port is released just before listen()
  // binds it again (SO_REUSEADDR: no wait in between).
  T_ASC_Network* probe = nullptr;
  OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, port, static_cast<int>(getConfig().getACSETimeout()), &probe);
  if (cond.bad()) return cannot_listen(cond);
  on_bound();
  ASC_dropNetwork(&probe);
  cond = listen();
  if (cond.bad()) return cannot_listen(cond);
  return Status::Ok();
}

}  // namespace pacs::dicom::scp
