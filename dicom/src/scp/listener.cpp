#include "listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "pacs/base/log.h"

namespace pacs::dicom::scp {
namespace {

using Clock = std::chrono::steady_clock;

// An A-ASSOCIATE-RQ is read whole by the gate before DCMTK sees it, so that
// DCMTK's read of it never waits on the client. Requests are a few KB (128
// presentation contexts come to ~15 KB); past this size the gate hands the
// connection on with this much present instead of waiting for all of it,
// since a socket buffer nobody reads may not hold more.
constexpr size_t kRequestPeekLimit = size_t{32} * 1024;
constexpr size_t kPduHeader = 6;  // type, reserved, 32-bit big-endian length
// TCP_DEFER_ACCEPT: the kernel holds a connection that has sent nothing for
// about this long before accept() sees it.
constexpr int kDeferAcceptSeconds = 1;

std::string ErrnoText() {
  return std::strerror(errno);
}

std::string Seconds(std::chrono::milliseconds ms) {
  const auto count = ms.count();
  return count % 1000 == 0 ? std::to_string(count / 1000) + " s" : std::to_string(count) + " ms";
}

// How many bytes of the connection's first PDU must be present before it is
// handed on: the whole A-ASSOCIATE-RQ on a plain endpoint, any byte on TLS.
size_t BytesWanted(const unsigned char* head, size_t have, bool tls) {
  if (tls) return 1;
  if (have < kPduHeader) return kPduHeader;
  const uint32_t length = (uint32_t{head[2]} << 24) | (uint32_t{head[3]} << 16) | (uint32_t{head[4]} << 8) | head[5];
  return std::min<size_t>(kPduHeader + length, kRequestPeekLimit);
}

void Wake(int event_fd) {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(event_fd, &one, sizeof one);
}

// Whether the whole association request (a TLS endpoint: any first bytes)
// is already readable on the non-blocking `fd`, and starts as an
// A-ASSOCIATE-RQ does. Anything else (nothing yet, part of it, something
// else) is for the gate thread to wait for or refuse.
bool RequestComplete(int fd, std::vector<unsigned char>& head, bool tls) {
  const ssize_t have = recv(fd, head.data(), head.size(), MSG_PEEK | MSG_DONTWAIT);
  if (have <= 0) return false;
  const auto got = static_cast<size_t>(have);
  if (!tls && head[0] != 0x01) return false;
  return got >= BytesWanted(head.data(), got, tls);
}

void SetBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

}  // namespace

Listener::Listener(std::vector<ListenEndpoint> endpoints, ListenerLimits limits, ServerCounters& counters,
                   ReadyHandler ready)
    : endpoints_(std::move(endpoints)), limits_(limits), counters_(counters), ready_(std::move(ready)) {}

Listener::~Listener() {
  Stop();
  for (int fd : listen_fds_) close(fd);
  if (accept_wake_ >= 0) close(accept_wake_);
  if (gate_wake_ >= 0) close(gate_wake_);
}

Status Listener::Bind() {
  accept_wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  gate_wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (accept_wake_ < 0 || gate_wake_ < 0) return Status::IOError("cannot create an eventfd: " + ErrnoText());
  for (const ListenEndpoint& endpoint : endpoints_) {
    const std::string name = endpoint.address + ":" + std::to_string(endpoint.port);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(endpoint.port);
    if (inet_pton(AF_INET, endpoint.address.c_str(), &addr.sin_addr) != 1)
      return Status::InvalidArgument("cannot listen on " + name + ": not an IPv4 address");
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Status::IOError("cannot listen on " + name + ": socket: " + ErrnoText());
    listen_fds_.push_back(fd);
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      return Status::IOError("cannot listen on " + name + ": " + ErrnoText());
    // A connection becomes acceptable only once its first bytes have
    // arrived (or, silent, after about kDeferAcceptSeconds in the kernel;
    // the gate then gives it --association-request-timeout). A DICOM or TLS
    // client speaks first, so the accepting thread usually finds the whole
    // A-ASSOCIATE-RQ there and hands it straight to an association thread:
    // without this, one connection in six at 1M instances was accepted
    // before its request and took a round through the gate thread, which
    // showed in the p99 of association set-up (docs/architecture.md).
    const int defer_seconds = kDeferAcceptSeconds;
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof defer_seconds);
    // The kernel caps the backlog at net.core.somaxconn (4096 on Debian 12):
    // a burst of clients waits there, not in refused connections.
    if (listen(fd, SOMAXCONN) != 0) return Status::IOError("cannot listen on " + name + ": " + ErrnoText());
  }
  return Status::Ok();
}

void Listener::Start() {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  gate_thread_ = std::thread([this] { GateLoop(); });
}

void Listener::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  if (accept_wake_ >= 0) Wake(accept_wake_);
  if (gate_wake_ >= 0) Wake(gate_wake_);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (gate_thread_.joinable()) gate_thread_.join();
  for (int& fd : listen_fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  listen_fds_.clear();
  std::vector<Pending> left;
  {
    MutexLock lock(mutex_);
    left.swap(incoming_);
  }
  for (Pending& pending : left) ClosePending(pending);
}

void Listener::ConnectionClosed(const std::string& peer) {
  MutexLock lock(mutex_);
  auto it = per_host_.find(peer);
  if (it != per_host_.end() && --it->second <= 0) per_host_.erase(it);
}

void Listener::ClosePending(Pending& pending) {
  if (pending.fd >= 0) close(pending.fd);
  pending.fd = -1;
  ConnectionClosed(pending.peer);
}

void Listener::AcceptLoop() {
  static LogLimiter refusals(10);
  std::vector<unsigned char> head(kRequestPeekLimit);
  std::vector<pollfd> fds;
  for (int fd : listen_fds_) fds.push_back({fd, POLLIN, 0});
  fds.push_back({accept_wake_, POLLIN, 0});
  for (;;) {
    const int n = poll(fds.data(), fds.size(), -1);
    if (n < 0 && errno != EINTR) {
      LogError("DICOM listener: poll failed: " + ErrnoText());
      return;
    }
    if (fds.back().revents != 0) return;  // Stop()
    for (size_t i = 0; i + 1 < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const int fd = accept4(fds[i].fd, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: the listening socket stays readable, so wait
          // a little instead of spinning; the gate frees descriptors meanwhile.
          refusals.Warn("DICOM listener: cannot accept a connection: " + ErrnoText());
          poll(&fds.back(), 1, 100);
        }
        continue;
      }
      // DCMTK sets TCP_NODELAY only on sockets it accepts itself (and only
      // with TCP_NODELAY=1 in the environment); this one is handed to it
      // ready-made. Without it every C-GET sub-operation (a C-STORE request
      // written in pieces, then a wait for its response) waits on the
      // peer's delayed ACK. TCP_NODELAY=0 in the environment keeps Nagle on.
      if (const char* nodelay = std::getenv("TCP_NODELAY"); nodelay == nullptr || std::strcmp(nodelay, "0") != 0) {
        const int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      }
      std::array<char, INET_ADDRSTRLEN> text{};
      inet_ntop(AF_INET, &from.sin_addr, text.data(), text.size());
      std::string peer(text.data());
      int open_from_peer = 0;
      {
        MutexLock lock(mutex_);
        int& count = per_host_[peer];
        if (count < limits_.max_connections_per_host) {
          ++count;
          open_from_peer = -1;
        } else {
          open_from_peer = count;
        }
      }
      if (open_from_peer < 0) {
        // A client usually sends its request right after connecting, so it
        // is often here already: then the connection goes straight to an
        // association thread, without a round through the gate thread (one
        // thread wake-up less in every association's set-up).
        if (RequestComplete(fd, head, endpoints_[i].tls)) {
          SetBlocking(fd);
          ready_(ReadyConnection{fd, peer, i});
          continue;
        }
        {
          MutexLock lock(mutex_);
          incoming_.push_back({fd, peer, i, Clock::now() + limits_.request_timeout});
        }
        Wake(gate_wake_);
        continue;
      }
      // Closed before any association: DCMTK cannot send an A-ASSOCIATE-RJ
      // without reading the request, which is what this cap avoids.
      close(fd);
      counters_.CountRefusal("too_many_connections_from_host");
      refusals.Warn("refused a connection from " + peer + ": " + std::to_string(open_from_peer) +
                    " connections from that address are open (--max-connections-per-host " +
                    std::to_string(limits_.max_connections_per_host) + ")");
    }
  }
}

void Listener::GateLoop() {
  static LogLimiter timeouts(10);
  std::vector<Pending> pending;
  std::vector<unsigned char> head(kRequestPeekLimit);
  std::vector<pollfd> fds;
  for (;;) {
    {
      MutexLock lock(mutex_);
      if (stopping_) break;
      for (Pending& p : incoming_) pending.push_back(std::move(p));
      incoming_.clear();
    }
    // Too many waiting: the oldest make room (they are first in the list).
    while (pending.size() > limits_.max_pending) {
      counters_.CountRefusal("too_many_pending_connections");
      timeouts.Warn("closed the connection from " + pending.front().peer + " before its association request: " +
                    std::to_string(pending.size()) + " connections are waiting for theirs");
      ClosePending(pending.front());
      pending.erase(pending.begin());
    }
    const auto now = Clock::now();
    auto next_deadline = now + std::chrono::seconds(3600);
    for (size_t i = 0; i < pending.size();) {
      if (pending[i].deadline <= now) {
        counters_.CountRefusal("association_request_timeout");
        timeouts.Warn("closed the connection from " + pending[i].peer + ": no association request within " +
                      Seconds(limits_.request_timeout) + " (--association-request-timeout)");
        ClosePending(pending[i]);
        pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      next_deadline = std::min(next_deadline, pending[i].deadline);
      ++i;
    }
    fds.clear();
    fds.push_back({gate_wake_, POLLIN, 0});
    for (const Pending& p : pending) fds.push_back({p.fd, POLLIN | POLLRDHUP, 0});
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_deadline - now).count();
    const int n = poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait, 0, int64_t{3600} * 1000)));
    if (n < 0 && errno != EINTR) {
      LogError("DICOM listener: poll failed: " + ErrnoText());
      break;
    }
    if (fds[0].revents != 0) {
      uint64_t drained = 0;
      [[maybe_unused]] const ssize_t r = read(gate_wake_, &drained, sizeof drained);
    }
    std::vector<Pending> still;
    still.reserve(pending.size());
    for (size_t i = 0; i < pending.size(); ++i) {
      Pending& p = pending[i];
      const short revents = fds[i + 1].revents;
      if (revents == 0) {
        still.push_back(std::move(p));
        continue;
      }
      const bool tls = endpoints_[p.endpoint].tls;
      const ssize_t have = recv(p.fd, head.data(), head.size(), MSG_PEEK | MSG_DONTWAIT);
      if (have <= 0 && !(have < 0 && (errno == EAGAIN || errno == EINTR))) {
        ClosePending(p);  // closed by the client before any request: nothing to report
        continue;
      }
      const size_t got = have > 0 ? static_cast<size_t>(have) : 0;
      if (!tls && got > 0 && head[0] != 0x01) {
        // Not an A-ASSOCIATE-RQ (an HTTP request, a port scanner): DCMTK
        // would only abort it, after waiting for a PDU that never ends.
        counters_.CountRefusal("unreadable_request");
        timeouts.Warn("closed the connection from " + p.peer + ": it sent no A-ASSOCIATE-RQ (first byte " +
                      std::to_string(head[0]) + ")");
        ClosePending(p);
        continue;
      }
      const size_t wanted = BytesWanted(head.data(), got, tls);
      if (got >= wanted) {
        // Whole request present: from here DCMTK reads it without waiting.
        const int one = 1;
        setsockopt(p.fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
        SetBlocking(p.fd);
        ready_(ReadyConnection{std::exchange(p.fd, -1), p.peer, p.endpoint});
        continue;
      }
      if ((revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        ClosePending(p);  // the client hung up part-way through its request
        continue;
      }
      // Part of the request is here: wake again only once all of it is
      // (SO_RCVLOWAT), rather than spinning on the bytes already seen.
      const int lowat = static_cast<int>(wanted);
      setsockopt(p.fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
      still.push_back(std::move(p));
    }
    pending.swap(still);
  }
  for (Pending& p : pending) ClosePending(p);
}

}  // namespace pacs::dicom::scp
