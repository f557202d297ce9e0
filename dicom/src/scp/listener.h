// File: listener.h
// The DICOM port's sockets, before DCMTK sees them: binds each endpoint
// (address and port), accepts on one thread that never waits for a client
// (it only peeks: a request that came with the connection is handed on at
// once), caps connections per source address, and holds each other new
// connection on a second thread (the gate) until its association request
// has arrived, or closes it when none came within the request timeout. Only then is the
// connection handed on (association_pool.h), so a silent or slow client
// never holds up anyone else. No DCMTK here: plain POSIX sockets and poll().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pacs/base/mutex.h"
#include "pacs/base/result.h"
#include "pacs/dicom/dicom_server.h"

namespace pacs::dicom::scp {

struct ListenEndpoint {
  std::string address = "0.0.0.0";  // an IPv4 address; 0.0.0.0: every interface
  uint16_t port = 11112;
  // The first bytes of a TLS endpoint are a TLS ClientHello, not an
  // A-ASSOCIATE-RQ: the gate then waits for any first bytes only.
  bool tls = false;
};

struct ListenerLimits {
  int max_connections_per_host = 4;  // pending and associated, per source address
  std::chrono::milliseconds request_timeout{5000};
  // Connections waiting for their first PDU, over all sources; past it the
  // oldest waiting one is closed to make room (a real client sends its
  // request at once, so the oldest is the likeliest to be silent).
  size_t max_pending = 512;
};

// A connection whose association request (or TLS ClientHello) has arrived.
// The receiver owns `fd` (blocking mode) and must call
// Listener::ConnectionClosed(peer) once it has closed it.
struct ReadyConnection {
  int fd = -1;
  std::string peer;  // source IPv4 address
  size_t endpoint = 0;
};

// Thread-safe: Start() and Stop() from the thread that owns it,
// ConnectionClosed() from any thread.
class Listener {
 public:
  using ReadyHandler = std::function<void(ReadyConnection)>;

  // `ready` runs on the accept thread (a request that came with the
  // connection) or the gate thread: it must be thread-safe and must not
  // block on the client.
  Listener(std::vector<ListenEndpoint> endpoints, ListenerLimits limits, ServerCounters& counters, ReadyHandler ready);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens on every endpoint; fails naming ADDRESS:PORT.
  Status Bind();
  // Starts the accepting and gate threads (after Bind()).
  void Start();
  // Closes the listening sockets and every connection still waiting for its
  // request, and joins both threads. Idempotent.
  void Stop();
  // A connection handed to `ready` has been closed: it no longer counts
  // against its source's cap.
  void ConnectionClosed(const std::string& peer);

 private:
  struct Pending {
    int fd = -1;
    std::string peer;
    size_t endpoint = 0;
    std::chrono::steady_clock::time_point deadline;
  };

  void AcceptLoop();
  void GateLoop();
  // Closes a pending connection and releases its source's count.
  void ClosePending(Pending& pending);

  const std::vector<ListenEndpoint> endpoints_;
  const ListenerLimits limits_;
  ServerCounters& counters_;
  const ReadyHandler ready_;

  std::vector<int> listen_fds_;  // one per endpoint; owned, closed by Stop()
  int accept_wake_ = -1;         // eventfd: Stop() wakes the accepting thread
  int gate_wake_ = -1;           // eventfd: new pending connections and Stop() wake the gate
  std::thread accept_thread_;
  std::thread gate_thread_;

  Mutex mutex_;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::map<std::string, int> per_host_ GUARDED_BY(mutex_);  // open connections by source address
  std::vector<Pending> incoming_ GUARDED_BY(mutex_);        // accepted, not yet seen by the gate
};

}  // namespace pacs::dicom::scp
