// The DICOM listener under silent and idle clients (issue 13, "No stalls"):
// the real `pacscore serve`, real echoscu, and raw sockets bound to chosen
// loopback source addresses (127.0.0.2 ...), some silent, some sending a
// real A-ASSOCIATE-RQ and then nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A TCP connection from `source` (127.0.0.x) to 127.0.0.1:port; -1 on failure.
int ConnectFrom(const std::string& source, const std::string& target, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, target.c_str(), &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void Put16(std::vector<uint8_t>& out, size_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

void PutItem(std::vector<uint8_t>& into, uint8_t type, const std::vector<uint8_t>& value) {
  into.push_back(type);
  into.push_back(0);
  Put16(into, value.size());
  into.insert(into.end(), value.begin(), value.end());
}

std::vector<uint8_t> Bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

// An A-ASSOCIATE-RQ (PS3.8 9.3.2) for Verification, Implicit VR Little Endian.
std::vector<uint8_t> AssociateRequest(const std::string& calling, const std::string& called) {
  std::vector<uint8_t> body = {0x00, 0x01, 0x00, 0x00};
  std::string title = called;
  title.resize(16, ' ');
  body.insert(body.end(), title.begin(), title.end());
  title = calling;
  title.resize(16, ' ');
  body.insert(body.end(), title.begin(), title.end());
  body.insert(body.end(), 32, 0);
  PutItem(body, 0x10, Bytes("1.2.840.10008.3.1.1.1"));
  std::vector<uint8_t> context = {0x01, 0x00, 0x00, 0x00};
  PutItem(context, 0x30, Bytes("1.2.840.10008.1.1"));
  PutItem(context, 0x40, Bytes("1.2.840.10008.1.2"));
  PutItem(body, 0x20, context);
  std::vector<uint8_t> user = {0x51, 0x00, 0x00, 0x04, 0x00, 0x00, 0x40, 0x00};
  PutItem(user, 0x52, Bytes("1.2.826.0.1.3680043.9.7433.1"));
  PutItem(body, 0x50, user);
  std::vector<uint8_t> pdu = {0x01, 0x00};
  const auto length = static_cast<uint32_t>(body.size());
  for (int shift = 24; shift >= 0; shift -= 8) pdu.push_back(static_cast<uint8_t>(length >> shift));
  pdu.insert(pdu.end(), body.begin(), body.end());
  return pdu;
}

// Reads the next PDU's first bytes: its type (0 when the connection ended or
// nothing came within `timeout`) and, for an A-ASSOCIATE-RJ or A-ABORT,
// the 4 bytes after the header in `tail`.
uint8_t ReadPduType(int fd, std::chrono::milliseconds timeout, std::array<uint8_t, 4>* tail = nullptr) {
  std::vector<uint8_t> got;
  const auto deadline = Clock::now() + timeout;
  while (got.size() < 10) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    std::array<uint8_t, 4096> buf{};
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + n);
    if (got.size() >= 6 && got[0] == 0x02) break;  // A-ASSOCIATE-AC: its type is all the caller needs
  }
  if (got.size() < 6) return 0;
  if (tail != nullptr && got.size() >= 10) std::copy(got.begin() + 6, got.begin() + 10, tail->begin());
  return got[0];
}

// Whether the server closed `fd` (EOF, reset, or an A-ABORT) within `timeout`.
bool ClosedByServer(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    std::array<uint8_t, 256> buf{};
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return true;
    if (buf[0] == 0x07) return true;  // A-ABORT; the close follows
  }
}

struct Echo {
  int exit_code = -1;
  double seconds = 0;
  std::string output;
};

Echo TimedEcho(int port, const std::string& host = "127.0.0.1") {
  const auto start = Clock::now();
  auto run = RunCommand({"echoscu", "-to", "10", "-aec", "PACSCORE", host, std::to_string(port)},
                        {{"TCP_NODELAY", "1"}}, std::chrono::seconds(30));
  return {run.exit_code, SecondsSince(start), run.output};
}

void CloseAll(std::vector<int>& fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
  fds.clear();
}

// The case, with default settings: 200 silent sockets from
// 127.0.0.2-201 and 16 idle associations from 127.0.0.202.
TEST(ListenerTest, SilentSocketsAndIdleAssociationsDoNotStallEcho) {
  const fs::path data = MakeTempDir("listener_stall") / "data";
  ServerProcess server(data);
  ASSERT_TRUE(server.Start()) << server.Log();

  std::vector<int> silent;
  const auto silent_opened = Clock::now();
  for (int i = 2; i <= 201; ++i) {
    const int fd = ConnectFrom("127.0.0." + std::to_string(i), "127.0.0.1", server.port());
    ASSERT_GE(fd, 0) << "connect from 127.0.0." << i;
    silent.push_back(fd);
  }
  // 16 associations from one address: the default cap of 4 connections per
  // source address lets 4 in and closes the others before any association.
  std::vector<int> idle;
  int accepted = 0, closed = 0;
  const std::vector<uint8_t> request = AssociateRequest("IDLER", "PACSCORE");
  for (int i = 0; i < 16; ++i) {
    const int fd = ConnectFrom("127.0.0.202", "127.0.0.1", server.port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    const uint8_t type = ReadPduType(fd, std::chrono::seconds(5));
    if (type == 0x02) ++accepted;
    if (type == 0) ++closed;
  }
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(closed, 12);

  const Echo echo = TimedEcho(server.port());
  std::printf("C-ECHO under 200 silent sockets and %d idle associations: %.3f s\n", accepted, echo.seconds);
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  EXPECT_LT(echo.seconds, 2.0);

  // The silent sockets are closed after --association-request-timeout (5 s),
  // once the kernel has let them be accepted (TCP_DEFER_ACCEPT, about 1 s).
  int silent_closed = 0;
  for (int fd : silent) silent_closed += ClosedByServer(fd, std::chrono::seconds(10)) ? 1 : 0;
  const double after = SecondsSince(silent_opened);
  EXPECT_EQ(silent_closed, 200);
  EXPECT_GE(after, 4.5);
  EXPECT_LT(after, 12.0);
  CloseAll(silent);

  // The idle associations are still open (--idle-timeout is 120 s); SIGTERM
  // ends them and the server at once.
  const auto stop = Clock::now();
  EXPECT_EQ(server.Stop(), 0);
  const double stop_seconds = SecondsSince(stop);
  std::printf("stop with %d idle associations open: %.3f s\n", accepted, stop_seconds);
  EXPECT_LT(stop_seconds, 5.0);
  CloseAll(idle);

  const std::string log = server.Log();
  EXPECT_NE(log.find("no association request within 5 s (--association-request-timeout)"), std::string::npos) << log;
  EXPECT_NE(log.find("refused a connection from 127.0.0.202: 4 connections from that address are open "
                     "(--max-connections-per-host 4)"),
            std::string::npos)
      << log;
}

TEST(ListenerTest, IdleAssociationsAreAbortedAfterIdleTimeout) {
  const fs::path data = MakeTempDir("listener_idle") / "data";
  ServerProcess server(data, {"--idle-timeout", "2s"});
  ASSERT_TRUE(server.Start()) << server.Log();
  const std::vector<uint8_t> request = AssociateRequest("IDLER", "PACSCORE");
  std::vector<int> idle;
  const auto opened = Clock::now();
  for (int i = 0; i < 3; ++i) {
    const int fd = ConnectFrom("127.0.0.203", "127.0.0.1", server.port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    ASSERT_EQ(ReadPduType(fd, std::chrono::seconds(5)), 0x02);
  }
  for (int fd : idle) {
    std::array<uint8_t, 4> tail{};
    EXPECT_EQ(ReadPduType(fd, std::chrono::seconds(6), &tail), 0x07);  // A-ABORT
  }
  const double after = SecondsSince(opened);
  EXPECT_GE(after, 1.9);
  EXPECT_LT(after, 6.0);
  CloseAll(idle);
  EXPECT_EQ(TimedEcho(server.port()).exit_code, 0);
  EXPECT_EQ(server.Stop(), 0);
  const std::string log = server.Log();
  EXPECT_NE(log.find("aborted the association from IDLER@127.0.0.203: no request for 2 s (--idle-timeout)"),
            std::string::npos)
      << log;
}

TEST(ListenerTest, TooManyAssociationsGetTransientReject) {
  const fs::path data = MakeTempDir("listener_full") / "data";
  ServerProcess server(data, {"--max-associations", "2"});
  ASSERT_TRUE(server.Start()) << server.Log();
  const std::vector<uint8_t> request = AssociateRequest("FILLER", "PACSCORE");
  std::vector<int> open;
  for (int i = 0; i < 2; ++i) {
    const int fd = ConnectFrom("127.0.0." + std::to_string(210 + i), "127.0.0.1", server.port());
    ASSERT_GE(fd, 0);
    open.push_back(fd);
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    ASSERT_EQ(ReadPduType(fd, std::chrono::seconds(5)), 0x02);
  }
  const int third = ConnectFrom("127.0.0.212", "127.0.0.1", server.port());
  ASSERT_GE(third, 0);
  open.push_back(third);
  send(third, request.data(), request.size(), MSG_NOSIGNAL);
  std::array<uint8_t, 4> reject{};
  ASSERT_EQ(ReadPduType(third, std::chrono::seconds(5), &reject), 0x03);  // A-ASSOCIATE-RJ
  EXPECT_EQ(reject[1], 2);                                                // rejected-transient
  EXPECT_EQ(reject[2], 3);  // DICOM UL service-provider (presentation related function)
  EXPECT_EQ(reject[3], 2);  // local-limit-exceeded
  CloseAll(open);
  EXPECT_EQ(server.Stop(), 0);
  EXPECT_NE(server.Log().find("refused the association from FILLER@127.0.0.212: all 2 association threads are busy"),
            std::string::npos)
      << server.Log();
}

TEST(ListenerTest, BindAddressRefusesOtherAddressesAndStopsPromptly) {
  const fs::path data = MakeTempDir("listener_bind") / "data";
  ServerProcess server(data, {"--bind", "127.0.0.1"});
  ASSERT_TRUE(server.Start()) << server.Log();
  EXPECT_EQ(ConnectFrom("127.0.0.2", "127.0.0.2", server.port()), -1);  // nothing listens on 127.0.0.2
  EXPECT_NE(TimedEcho(server.port(), "127.0.0.2").exit_code, 0);
  EXPECT_EQ(TimedEcho(server.port()).exit_code, 0);

  // SIGTERM while silent sockets wait for their request and an association idles.
  std::vector<int> open;
  for (int i = 2; i <= 51; ++i) open.push_back(ConnectFrom("127.0.0." + std::to_string(i), "127.0.0.1", server.port()));
  const int idle = ConnectFrom("127.0.0.52", "127.0.0.1", server.port());
  ASSERT_GE(idle, 0);
  open.push_back(idle);
  const std::vector<uint8_t> request = AssociateRequest("IDLER", "PACSCORE");
  send(idle, request.data(), request.size(), MSG_NOSIGNAL);
  ASSERT_EQ(ReadPduType(idle, std::chrono::seconds(5)), 0x02);
  const auto stop = Clock::now();
  EXPECT_EQ(server.Stop(), 0);
  EXPECT_LT(SecondsSince(stop), 3.0);
  EXPECT_TRUE(ClosedByServer(idle, std::chrono::seconds(1)));
  CloseAll(open);
  EXPECT_NE(server.Log().find("listening on 127.0.0.1:" + std::to_string(server.port())), std::string::npos)
      << server.Log();
}

}  // namespace
}  // namespace pacs::testing
