// File: association_pool.h
// The pool of association threads (DCMTK's DcmBaseSCPPool) and its
// listening step. Each worker is built with the server's ScpContext, which
// is why this is not a DcmSCPPool<SCP> (that default-constructs workers).
#pragma once

#include <functional>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/scppool.h"
#include "pacs/base/result.h"
#include "scp_context.h"

namespace pacs::dicom::scp {

// Thread-safe as DcmBaseSCPPool is: Listen() on one thread,
// stopAfterCurrentAssociations() from any other.
class AssociationPool : public DcmBaseSCPPool {
 public:
  // `context` must outlive the pool.
  explicit AssociationPool(const ScpContext& context) : context_(context) {}

  // The listening step, a seam of its own: binds the configured port, calls
  // `on_bound` once it is bound, then accepts associations and hands each to
  // a worker until stopAfterCurrentAssociations(); returns once the running
  // associations have ended. Fails, naming the port, when it cannot bind.
  // This one runs DCMTK's loop, which receives each association request
  // (ASC_receiveAssociation) on the listening thread itself; a listener that
  // accepts elsewhere overrides it and hands associations to runAssociation().
  virtual Status Listen(const std::function<void()>& on_bound);

 protected:
  DcmBaseSCPWorker* createSCPWorker() override;
  // DCMTK's listening loop calls this for the association requests it does
  // not hand to a worker: refused because every worker is busy, or not read
  // at all (a peer that hung up or sent no A-ASSOCIATE-RQ in time). Counted
  // by reason, then dropped as DCMTK does.
  void dropAndDestroyAssociation(T_ASC_Association* assoc) override;

 private:
  const ScpContext& context_;
};

}  // namespace pacs::dicom::scp
