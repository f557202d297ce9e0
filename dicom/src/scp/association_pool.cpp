#include "association_pool.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <utility>

#include "../tls_layer.h"
#include "association_worker.h"
#include "audit_events.h"
#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/dcmnet/scppool.h"
#include "pacs/base/log.h"

namespace pacs::dicom::scp {
namespace {

using Clock = std::chrono::steady_clock;

// DCMTK takes a socket accepted elsewhere only through one process-wide
// variable, dcmExternalSocketHandle, read at the start of
// ASC_receiveAssociation (dul.h: "inherently thread unsafe"). Each hand-over
// holds this lock from setting it until DCMTK has adopted the socket, which
// the hand-over layer below sees (DCMTK then asks it for a connection object)
// and where it releases the lock: the reads that follow (the TLS handshake,
// the A-ASSOCIATE-RQ) run on the association thread with no lock held.
std::mutex& HandoverMutex() {
  static std::mutex mutex;
  return mutex;
}

struct Handover {
  std::unique_lock<std::mutex>* lock = nullptr;
  int fd = -1;
  bool adopted = false;  // DCMTK owns the socket (and closes it with the association)
  std::chrono::milliseconds timeout{0};
};
thread_local Handover* t_handover = nullptr;

void SetReceiveTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int WholeSeconds(std::chrono::milliseconds ms) {
  return static_cast<int>(std::max<int64_t>(1, (ms.count() + 999) / 1000));
}

std::string Seconds(std::chrono::milliseconds ms) {
  const auto count = ms.count();
  return count % 1000 == 0 ? std::to_string(count / 1000) + " s" : std::to_string(count) + " ms";
}

}  // namespace

// The transport layer of every network the pool receives on. DCMTK calls
// createConnection() once it has read the hand-over socket: the hand-over
// lock is released here, before any byte is read. The connection itself
// comes from the endpoint's own layer (TLS), or is plain TCP.
class AssociationPool::HandoverLayer : public DcmTransportLayer {
 public:
  explicit HandoverLayer(DcmTransportLayer* inner) : inner_(inner) {}

  DcmTransportConnection* createConnection(DcmNativeSocketType socket, OFBool secure) override {
    Handover* handover = t_handover;
    if (handover != nullptr && handover->fd == socket && handover->lock->owns_lock()) {
      dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
      handover->lock->unlock();
      handover->adopted = true;  // from here DCMTK closes the socket, whatever happens
    }
    DcmTransportConnection* connection = inner_ != nullptr ? inner_->createConnection(socket, secure)
                                                           : DcmTransportLayer::createConnection(socket, secure);
    // The connection set DCMTK's 60 s receive timeout; until the request is
    // read (and the TLS handshake done) the short one applies instead.
    if (connection != nullptr && handover != nullptr) SetReceiveTimeout(socket, handover->timeout);
    return connection;
  }

 private:
  DcmTransportLayer* const inner_;  // not owned; null: plain TCP
};

// One association thread and what the others need to know of it.
struct AssociationPool::Slot final : AssociationObserver {
  std::vector<T_ASC_Network*> networks;  // one per endpoint; this thread only

  Mutex mutex;
  int socket GUARDED_BY(mutex) = -1;  // a dup of the connection's socket, while there is one
  std::string peer GUARDED_BY(mutex);
  bool associated GUARDED_BY(mutex) = false;  // acknowledged, not yet ended
  int requests GUARDED_BY(mutex) = 0;         // being answered now (nested: Storage Commitment)
  bool aborted GUARDED_BY(mutex) = false;
  Clock::time_point idle_since GUARDED_BY(mutex);
  const std::atomic<bool>* stopping = nullptr;

  void OnAcknowledged(const std::string& who) override {
    MutexLock lock(mutex);
    associated = true;
    peer = who;
    requests = 0;
    idle_since = Clock::now();
    if (stopping->load() && socket >= 0 && !aborted) {  // Stop() came during the hand-over
      AbortSocket(socket);
      aborted = true;
    }
  }
  void OnRequestStart() override {
    MutexLock lock(mutex);
    ++requests;
  }
  void OnRequestEnd() override {
    MutexLock lock(mutex);
    if (--requests > 0) return;
    idle_since = Clock::now();
    // Stop() came while this request was being answered: now it is, end here.
    if (stopping->load() && socket >= 0 && !aborted) {
      AbortSocket(socket);
      aborted = true;
    }
  }
  void OnEnded() override {
    MutexLock lock(mutex);
    associated = false;
  }
};

AssociationPool::AssociationPool(const ScpContext& context, PoolOptions options)
    : context_(context), options_(options) {}

AssociationPool::~AssociationPool() {
  Stop();
  for (auto& slot : slots_)
    for (T_ASC_Network*& network : slot->networks)
      if (network != nullptr) ASC_dropNetwork(&network);
}

void AssociationPool::AbortSocket(int fd) {
  // A-ABORT PDU (PS3.8 9.3.8): type 7, length 4, source 0 (service user), reason 0.
  static constexpr std::array<unsigned char, 10> kAbort = {0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0};
  [[maybe_unused]] const ssize_t sent = send(fd, kAbort.data(), kAbort.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  shutdown(fd, SHUT_RDWR);
}

Status AssociationPool::Listen(const std::vector<PoolEndpoint>& endpoints, const std::function<void()>& on_bound) {
  endpoints_ = endpoints;
  std::vector<ListenEndpoint> listen;
  for (const PoolEndpoint& endpoint : endpoints_) listen.push_back(endpoint.listen);
  listener_ = std::make_unique<Listener>(listen,
                                         ListenerLimits{.max_connections_per_host = options_.max_connections_per_host,
                                                        .request_timeout = options_.request_timeout},
                                         context_.counters,
                                         [this](ReadyConnection connection) { OnReady(std::move(connection)); });
  if (Status bound = listener_->Bind(); !bound.ok()) return bound;

  for (const PoolEndpoint& endpoint : endpoints_)
    layers_.push_back(std::make_unique<HandoverLayer>(endpoint.transport_layer));
  // Networks that never listen: with dcmExternalSocketHandle set, DCMTK
  // creates no listening socket of its own (it would bind every interface).
  const int acse_seconds = WholeSeconds(options_.request_timeout);
  auto make_networks = [&](std::vector<T_ASC_Network*>& networks) -> Status {
    for (size_t e = 0; e < endpoints_.size(); ++e) {
      T_ASC_Network* network = nullptr;
      OFCondition cond;
      {
        std::lock_guard<std::mutex> lock(HandoverMutex());
        dcmExternalSocketHandle.set(0);
        cond = ASC_initializeNetwork(NET_ACCEPTOR, endpoints_[e].listen.port, acse_seconds, &network);
        dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
      }
      if (cond.good()) cond = ASC_setTransportLayer(network, layers_[e].get(), 0);
      networks.push_back(network);
      if (cond.bad()) return Status::Internal(std::string("cannot set up a DICOM network: ") + cond.text());
    }
    return Status::Ok();
  };
  for (int i = 0; i <= options_.max_associations; ++i) {  // the last one is the refuser's
    auto slot = std::make_unique<Slot>();
    slot->stopping = &stopping_flag_;
    if (Status made = make_networks(slot->networks); !made.ok()) {
      slots_.push_back(std::move(slot));
      return made;
    }
    slots_.push_back(std::move(slot));
  }
  shared_config_ = std::make_unique<DcmSharedSCPConfig>(config_);
  {
    MutexLock lock(mutex_);
    idle_workers_ = options_.max_associations;
    slots_ready_ = true;
  }
  for (int i = 0; i < options_.max_associations; ++i)
    threads_.emplace_back([this, i] { WorkerLoop(*slots_[static_cast<size_t>(i)]); });
  threads_.emplace_back([this] { RefuserLoop(); });
  threads_.emplace_back([this] { MonitorLoop(); });

  on_bound();
  listener_->Start();
  {
    MutexLock lock(mutex_);
    while (!stopping_) stopped_.Wait(mutex_);
  }
  listener_->Stop();
  Stop();  // whatever the listener handed on meanwhile
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  return Status::Ok();
}

void AssociationPool::Stop() {
  std::deque<ReadyConnection> dropped;
  bool ready = false;
  {
    MutexLock lock(mutex_);
    stopping_ = true;
    stopping_flag_.store(true);
    ready = slots_ready_;
    dropped.swap(queue_);
    for (ReadyConnection& c : refuse_queue_) dropped.push_back(std::move(c));
    refuse_queue_.clear();
    work_.SignalAll();
    refuse_.SignalAll();
    stopped_.SignalAll();
  }
  for (ReadyConnection& c : dropped) {
    close(c.fd);
    listener_->ConnectionClosed(c.peer);  // queued only by the listener: it exists
  }
  if (!ready) return;  // Listen() has not built its threads yet; it checks `stopping_` once it has
  for (auto& slot : slots_) {
    MutexLock lock(slot->mutex);
    if (slot->socket < 0 || slot->aborted) continue;
    if (!slot->associated) {
      shutdown(slot->socket, SHUT_RDWR);  // still being received (TLS handshake, request)
    } else if (slot->requests == 0) {
      AbortSocket(slot->socket);  // idle: the thread blocked reading it ends at once
      slot->aborted = true;
      context_.counters.CountClosed("shutdown");
    }  // else: OnRequestEnd() ends it once the response is sent
  }
}

void AssociationPool::OnReady(ReadyConnection connection) {
  static LogLimiter refusals(10);
  {
    MutexLock lock(mutex_);
    if (!stopping_) {
      if (idle_workers_ > 0) {
        --idle_workers_;
        queue_.push_back(std::move(connection));
        work_.Signal();
        return;
      }
      // Every thread busy: read the request and answer A-ASSOCIATE-RJ, on
      // the refuser's thread (a few queued at most).
      if (refuse_queue_.size() < 16) {
        refuse_queue_.push_back(std::move(connection));
        refuse_.Signal();
        return;
      }
    }
  }
  close(connection.fd);
  listener_->ConnectionClosed(connection.peer);
  context_.counters.CountRefusal("too_many_associations");
  audit::SecurityAlert(audit::EventType::kNodeAuthentication, {.host = connection.peer}, "DICOM association",
                       "connection closed: every association thread busy and refusals queued");
  refusals.Warn("closed the connection from " + connection.peer + " before its association: all " +
                std::to_string(options_.max_associations) +
                " association threads are busy and refusals are queued (--max-associations)");
}

T_ASC_Association* AssociationPool::Receive(T_ASC_Network* network, ReadyConnection& connection, bool secure) {
  static LogLimiter failures(10);
  const int fd = std::exchange(connection.fd, -1);
  T_ASC_Association* assoc = nullptr;
  Handover handover{.fd = fd, .timeout = options_.request_timeout};
  OFCondition cond;
  {
    std::unique_lock<std::mutex> lock(HandoverMutex());
    handover.lock = &lock;
    t_handover = &handover;
    dcmExternalSocketHandle.set(fd);
    cond = ASC_receiveAssociation(network, &assoc, config_.getMaxReceivePDULength(), nullptr, nullptr, secure,
                                  DUL_NOBLOCK, WholeSeconds(options_.request_timeout));
    if (lock.owns_lock()) dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    t_handover = nullptr;
  }
  if (!handover.adopted) close(fd);
  if (cond.bad()) {
    // A failed TLS handshake was counted and logged by the TLS layer already.
    if (!TakeHandshakeFailure()) {
      context_.counters.CountRefusal("unreadable_request");
      audit::SecurityAlert(audit::EventType::kNodeAuthentication, {.host = connection.peer}, "DICOM association",
                           std::string("unreadable association request: ") + cond.text());
      failures.Warn("could not read the association request from " + connection.peer + ": " + cond.text() +
                    "; connection closed");
    }
    if (assoc != nullptr) {
      ASC_dropAssociation(assoc);
      ASC_destroyAssociation(&assoc);
    }
    return nullptr;
  }
  // Back to DCMTK's own receive timeout for the association's life.
  const Sint32 seconds = dcmSocketReceiveTimeout.get();
  if (seconds >= 0) SetReceiveTimeout(fd, std::chrono::seconds(seconds));
  return assoc;
}

void AssociationPool::WorkerLoop(Slot& slot) {
  for (;;) {
    ReadyConnection connection;
    {
      MutexLock lock(mutex_);
      while (queue_.empty() && !stopping_) work_.Wait(mutex_);
      if (queue_.empty()) return;  // stopping
      connection = std::move(queue_.front());
      queue_.pop_front();
    }
    const int watch = dup(connection.fd);  // outlives DCMTK's descriptor: no reuse races
    {
      MutexLock lock(slot.mutex);
      slot.socket = watch;
      slot.peer = connection.peer;
      slot.associated = false;
      slot.aborted = false;
      slot.requests = 0;
    }
    const std::string peer = connection.peer;
    const bool secure = endpoints_[connection.endpoint].transport_layer != nullptr;
    if (T_ASC_Association* assoc = Receive(slot.networks[connection.endpoint], connection, secure)) {
      AssociationWorker worker(context_, &slot);
      worker.setSharedConfig(*shared_config_);
      worker.run(assoc);
    }  // the worker drops the association (DCMTK closes its descriptor)
    {
      MutexLock lock(slot.mutex);
      slot.socket = -1;
      slot.associated = false;
    }
    if (watch >= 0) close(watch);
    listener_->ConnectionClosed(peer);
    MutexLock lock(mutex_);
    ++idle_workers_;
  }
}

void AssociationPool::RefuserLoop() {
  static LogLimiter refusals(10);
  Slot& slot = *slots_.back();
  for (;;) {
    ReadyConnection connection;
    {
      MutexLock lock(mutex_);
      while (refuse_queue_.empty() && !stopping_) refuse_.Wait(mutex_);
      if (refuse_queue_.empty()) return;
      connection = std::move(refuse_queue_.front());
      refuse_queue_.pop_front();
    }
    const std::string peer = connection.peer;
    const bool secure = endpoints_[connection.endpoint].transport_layer != nullptr;
    if (T_ASC_Association* assoc = Receive(slot.networks[connection.endpoint], connection, secure)) {
      T_ASC_RejectParameters reject{};
      reject.result = ASC_RESULT_REJECTEDTRANSIENT;
      reject.source = ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED;
      reject.reason = ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED;
      ASC_rejectAssociation(assoc, &reject);
      context_.counters.CountRefusal("too_many_associations");
      audit::SecurityAlert(audit::EventType::kNodeAuthentication, AuditPeerOf(assoc), "DICOM association",
                           "association refused: too_many_associations");
      refusals.Warn("refused the association from " + std::string(assoc->params->DULparams.callingAPTitle) + "@" +
                    peer + ": all " + std::to_string(options_.max_associations) +
                    " association threads are busy (--max-associations); A-ASSOCIATE-RJ transient, local limit "
                    "exceeded");
      ASC_dropAssociation(assoc);
      ASC_destroyAssociation(&assoc);
    }
    listener_->ConnectionClosed(peer);
  }
}

void AssociationPool::MonitorLoop() {
  const auto tick = std::clamp<std::chrono::milliseconds>(options_.idle_timeout / 4, std::chrono::milliseconds(50),
                                                          std::chrono::milliseconds(1000));
  for (;;) {
    {
      MutexLock lock(mutex_);
      if (stopping_) return;
      stopped_.WaitFor(mutex_, tick);
      if (stopping_) return;
    }
    const auto now = Clock::now();
    for (size_t i = 0; i + 1 < slots_.size(); ++i) {
      Slot& slot = *slots_[i];
      std::string closed;
      {
        MutexLock lock(slot.mutex);
        if (slot.socket < 0 || !slot.associated || slot.requests > 0 || slot.aborted) continue;
        if (now - slot.idle_since < options_.idle_timeout) continue;
        AbortSocket(slot.socket);
        slot.aborted = true;
        closed = slot.peer;
      }
      context_.counters.CountClosed("idle_timeout");
      LogWarning("aborted the association from " + closed + ": no request for " + Seconds(options_.idle_timeout) +
                 " (--idle-timeout)");
    }
  }
}

}  // namespace pacs::dicom::scp
