// File: association_pool.h
// A fixed set of association threads (--max-associations), started once and
// reused, fed by the Listener (listener.h) with connections whose
// association request has arrived. Each thread hands its connection to
// DCMTK (ASC_receiveAssociation on a socket accepted elsewhere), then serves
// the association with an AssociationWorker. When every thread is busy, a
// refusing thread answers A-ASSOCIATE-RJ (transient, local limit exceeded).
// A monitor thread closes associations idle for --idle-timeout.
//
// TLS seam: each endpoint may carry a DcmTransportLayer (a
// DcmTLSTransportLayer built from the --tls-* flags). The pool wraps it in
// its hand-over layer (association_pool.cpp), which every network of that
// endpoint uses (ASC_setTransportLayer), so the TLS handshake that DCMTK runs
// inside ASC_receiveAssociation happens on the association thread, after
// the process-wide hand-over lock is released, bounded by a socket receive
// timeout of --association-request-timeout. Set ListenEndpoint::tls for such
// an endpoint so the listener waits for any first bytes (a ClientHello)
// rather than a whole A-ASSOCIATE-RQ.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dcmlayer.h"
#include "dcmtk/dcmnet/scpcfg.h"
#include "dcmtk/dcmnet/scppool.h"
#include "listener.h"
#include "pacs/base/mutex.h"
#include "pacs/base/result.h"
#include "scp_context.h"

namespace pacs::dicom::scp {

struct PoolEndpoint {
  ListenEndpoint listen;
  // Not owned; null for plain DICOM. Must outlive the pool.
  DcmTransportLayer* transport_layer = nullptr;
};

struct PoolOptions {
  uint16_t max_associations = 16;
  int max_connections_per_host = 4;
  std::chrono::milliseconds request_timeout{5000};  // first PDU, TLS handshake
  std::chrono::milliseconds idle_timeout{120000};   // no request for this long: A-ABORT
};

// Thread-safe: Listen() on one thread, Stop() from any other.
class AssociationPool {
 public:
  // `context` must outlive the pool. `config` (AE title, timeouts, PDU
  // size) is shared by every worker and read-only once Listen() starts.
  AssociationPool(const ScpContext& context, PoolOptions options);
  ~AssociationPool();
  AssociationPool(const AssociationPool&) = delete;
  AssociationPool& operator=(const AssociationPool&) = delete;

  DcmSCPConfig& config() { return config_; }

  // Binds every endpoint, calls `on_bound` once all are bound, then serves
  // until Stop(); returns once every association has ended. Fails, naming
  // the address and port, when it cannot bind.
  Status Listen(const std::vector<PoolEndpoint>& endpoints, const std::function<void()>& on_bound);

  // Stops accepting, closes connections still waiting for their request,
  // aborts idle associations at once and the others as soon as their
  // current request is answered. Safe from any thread, before or during Listen().
  void Stop();

  // Sends an A-ABORT (service user, no reason) straight to a socket and shuts
  // it down, so that the thread blocked reading it sees the end at once.
  // Only while that thread is not writing (between requests).
  static void AbortSocket(int fd);

 private:
  struct Slot;
  class HandoverLayer;

  void WorkerLoop(Slot& slot);
  void RefuserLoop();
  void MonitorLoop();
  // Called by the listener's gate thread.
  void OnReady(ReadyConnection connection);
  // ASC_receiveAssociation on `connection`, which DCMTK adopts (and closes
  // with the association). Null, with the connection closed, when no
  // request could be read.
  T_ASC_Association* Receive(T_ASC_Network* network, ReadyConnection& connection, bool secure);

  const ScpContext& context_;
  const PoolOptions options_;
  DcmSCPConfig config_;
  std::vector<PoolEndpoint> endpoints_;
  std::vector<std::unique_ptr<HandoverLayer>> layers_;  // one per endpoint
  std::unique_ptr<Listener> listener_;
  std::vector<std::unique_ptr<Slot>> slots_;  // built by Listen() before `slots_ready_`
  std::unique_ptr<DcmSharedSCPConfig> shared_config_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_flag_{false};  // `stopping_`, for the association threads' hooks

  Mutex mutex_;
  CondVar work_;     // a connection queued for the workers, or stopping
  CondVar refuse_;   // a connection queued for the refuser, or stopping
  CondVar stopped_;  // stopping: wakes Listen() and the monitor
  bool stopping_ GUARDED_BY(mutex_) = false;
  bool slots_ready_ GUARDED_BY(mutex_) = false;
  int idle_workers_ GUARDED_BY(mutex_) = 0;
  std::deque<ReadyConnection> queue_ GUARDED_BY(mutex_);         // for the workers
  std::deque<ReadyConnection> refuse_queue_ GUARDED_BY(mutex_);  // all workers busy
};

}  // namespace pacs::dicom::scp
