// DICOM TLS against the real `pacscore serve --tls-port`, with DCMTK's own
// clients (`+tls KEY CERT +cf CA`, profile BCP195-ND, their default) and
// certificates made by `openssl` here: a CA, the server's and a trusted
// client's certificate signed by it, and an untrusted self-signed one. A
// trusted client echoes, stores and queries; the others are refused at the
// handshake, logged and counted; C-MOVE reaches a `storescp +tls`
// destination marked +tls; --port off leaves only the TLS port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "corpus.h"
#include "gtest/gtest.h"
#include "qr_test_support.h"
#include "test_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

// A CT slice (explicit VR little endian) from the corpus, and its UIDs.
const char* kSample = "dcm_qa_ct/ge_hispeed_dual_head/01.dcm";
const char* kStudy = "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668";
const char* kSeries = "1.2.826.0.1.3680043.9.4245.3115138630835728997848661150714813892";
const char* kInstance = "1.2.826.0.1.3680043.9.4245.3796287132707650689462822505588402341";

// A TCP connection to 127.0.0.1:port that sends nothing; -1 when it fails.
int ConnectSilently(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// GET /metrics: the value of `series` ("name{labels}"), 0 when absent.
double MetricValue(int port, const std::string& series) {
  const int fd = ConnectSilently(port);
  if (fd < 0) {
    ADD_FAILURE() << "cannot connect to the metrics endpoint on port " << port;
    return -1;
  }
  timeval ten_seconds{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) ADD_FAILURE() << "write";
  std::string reply;
  char chunk[8192];
  for (ssize_t n; (n = read(fd, chunk, sizeof chunk)) > 0;) reply.append(chunk, static_cast<size_t>(n));
  close(fd);
  const size_t at = reply.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::strtod(reply.c_str() + at + 1 + series.size() + 1, nullptr);
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new fs::path(MakeTempDir("tls"));
    certs_ = new fs::path(*work_ / "certs");
    fs::create_directories(*certs_);
    if (!MakeCertificates()) return;
    tls_port_ = FreePort();
    dest_port_ = FreePort();
    metrics_port_ = FreePort();
    // The server's own certificate also identifies it to the TLS C-MOVE destination.
    server_ = new ServerProcess(
        *work_ / "data", {"--tls-port", std::to_string(tls_port_), "--tls-cert", Cert("server"), "--tls-key",
                          Key("server"), "--tls-ca", Cert("ca"), "--tls-verify", "require", "--tls-handshake-timeout",
                          "2s", "--metrics-bind", "127.0.0.1:" + std::to_string(metrics_port_), "--peer",
                          "DEST=DESTSCP@127.0.0.1:" + std::to_string(dest_port_) + "+tls", "--peer",
                          "PLAINDEST=PLAINSCP@127.0.0.1:" + std::to_string(dest_port_)});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    ASSERT_TRUE(WaitForTlsEcho(tls_port_)) << server_->Log();
    ready_ = true;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the suite's set-up failed (see above)"; }
  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*work_);
    delete certs_;
    delete work_;
  }

  static std::string Cert(const std::string& name) { return (*certs_ / (name + ".crt")).string(); }
  static std::string Key(const std::string& name) { return (*certs_ / (name + ".key")).string(); }

  // ca, server and client (signed by ca), rogue (self-signed): ECDSA P-256
  // keys (made in milliseconds, where RSA 2048 takes about a second each);
  // DCMTK's clients and OpenSSL 3 negotiate TLS 1.3, where they serve under
  // BCP195-ND (its TLS 1.2 suites would need RSA, docs/security.md).
  static bool MakeCertificates() {
    auto run = [](const std::vector<std::string>& argv) {
      auto result = RunCommand(argv, {}, std::chrono::seconds(60));
      EXPECT_EQ(result.exit_code, 0) << result.output;
      return result.exit_code == 0;
    };
    auto self_signed = [&](const std::string& name, const std::string& subject) {
      return run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-sha256", "-days", "2", "-subj", subject, "-keyout", Key(name), "-out", Cert(name)});
    };
    auto signed_by_ca = [&](const std::string& name) {
      const std::string csr = (*certs_ / (name + ".csr")).string();
      const std::string ext = (*certs_ / (name + ".ext")).string();
      std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
      return run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-subj", "/CN=pacscore test " + name, "-keyout", Key(name), "-out", csr}) &&
             run({"openssl", "x509", "-req", "-sha256", "-days", "2", "-in", csr, "-CA", Cert("ca"), "-CAkey",
                  Key("ca"), "-CAcreateserial", "-extfile", ext, "-out", Cert(name)});
    };
    return self_signed("ca", "/CN=pacscore test CA") && signed_by_ca("server") && signed_by_ca("client") &&
           self_signed("rogue", "/CN=rogue");
  }

  // `tool` over TLS to `port` as `identity` (a key and certificate pair; ""
  // for none: anonymous TLS), trusting the test CA.
  static CommandResult RunTls(const std::string& tool, const std::string& identity, int port,
                              const std::vector<std::string>& args) {
    std::vector<std::string> argv = {tool, "-aec", "PACSCORE"};
    if (identity.empty()) {
      argv.insert(argv.end(), {"+tla"});
    } else {
      argv.insert(argv.end(), {"+tls", Key(identity), Cert(identity)});
    }
    argv.insert(argv.end(), {"+cf", Cert("ca"), "-to", "10", "-ta", "10", "-td", "10"});
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> tail = {"127.0.0.1", std::to_string(port)};
    // storescu takes its files after the address.
    if (tool == "storescu") {
      argv.insert(argv.end() - static_cast<long>(args.size()), tail.begin(), tail.end());
    } else {
      argv.insert(argv.end(), tail.begin(), tail.end());
    }
    return RunCommand(argv, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(30));
  }

  static bool WaitForTlsEcho(int port) {
    for (int i = 0; i < 100; ++i) {  // up to ~10 s
      if (RunTls("echoscu", "client", port, {}).exit_code == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static double Refused(const std::string& reason) {
    return MetricValue(metrics_port_, "pacscore_associations_refused_total{reason=\"" + reason + "\"}");
  }

  static inline fs::path* work_ = nullptr;
  static inline fs::path* certs_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline int tls_port_ = 0, dest_port_ = 0, metrics_port_ = 0;
  static inline bool ready_ = false;
};

// Store over TLS, find it over TLS, then C-MOVE it to a `storescp +tls`
// destination marked +tls: what arrives equals the file sent.
TEST_F(TlsTest, TrustedClientStoresAndFindsAndMoveDeliversOverTls) {
  const fs::path sample = CorpusDir() / kSample;
  auto store = RunTls("storescu", "client", tls_port_, {sample.string()});
  ASSERT_EQ(store.exit_code, 0) << store.output << server_->Log();

  auto find = RunTls("findscu", "client", tls_port_,
                     {"-S", "-k", "QueryRetrieveLevel=IMAGE", "-k", std::string("StudyInstanceUID=") + kStudy, "-k",
                      std::string("SeriesInstanceUID=") + kSeries, "-k", "SOPInstanceUID", "-v"});
  ASSERT_EQ(find.exit_code, 0) << find.output;
  EXPECT_NE(find.output.find(kInstance), std::string::npos) << find.output;

  const fs::path out = *work_ / "moved";
  fs::create_directories(out);
  BackgroundProcess storescp({"storescp", "+tls", Key("client"), Cert("client"), "+cf", Cert("ca"), "-aet", "DESTSCP",
                              "-od", out.string(), std::to_string(dest_port_)},
                             {{"TCP_NODELAY", "1"}}, *work_ / "storescp.log");
  std::vector<std::string> move = {"movescu",   "-S",
                                   "-aec",      "PACSCORE",
                                   "-aem",      "DESTSCP",
                                   "-k",        "QueryRetrieveLevel=IMAGE",
                                   "-k",        std::string("StudyInstanceUID=") + kStudy,
                                   "-k",        std::string("SeriesInstanceUID=") + kSeries,
                                   "-k",        std::string("SOPInstanceUID=") + kInstance,
                                   "127.0.0.1", std::to_string(server_->port())};
  CommandResult moved;
  for (int i = 0; i < 50; ++i) {  // storescp may still be starting: up to ~5 s
    moved = RunCommand(move, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(30));
    if (moved.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(moved.exit_code, 0) << moved.output << server_->Log() << storescp.Log();
  ASSERT_EQ(WaitForFiles(out, 1, std::chrono::seconds(10)), 1u) << storescp.Log();
  const auto files = FilesIn(out);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(CompareFiles(sample, files[0]), "");

  // The same destination without +tls: the plain association is refused by
  // the TLS-only storescp, and C-MOVE says so.
  move[5] = "PLAINSCP";
  auto plain = RunCommand(move, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(30));
  EXPECT_NE(plain.exit_code, 0) << plain.output;
  EXPECT_NE(server_->Log().find("cannot open an association to PLAINSCP@127.0.0.1"), std::string::npos)
      << server_->Log();
  EXPECT_EQ(FilesIn(out).size(), 1u);
}

// A client whose certificate no trusted CA signed, and one with none at all
// (verify require), fail the handshake: a security alert names the peer and
// the reason, the refusal is counted once, and the port keeps answering.
TEST_F(TlsTest, UntrustedOrAnonymousClientIsRefusedLoggedAndCounted) {
  const double failed_before = Refused("tls_handshake_failed");
  const double unreadable_before = Refused("unreadable_request");
  auto rogue = RunTls("echoscu", "rogue", tls_port_, {});
  EXPECT_NE(rogue.exit_code, 0) << rogue.output;
  auto anonymous = RunTls("echoscu", "", tls_port_, {});
  EXPECT_NE(anonymous.exit_code, 0) << anonymous.output;

  const std::string log = server_->Log();
  EXPECT_TRUE(std::regex_search(log, std::regex("security alert: TLS handshake on port " + std::to_string(tls_port_) +
                                                " with 127\\.0\\.0\\.1:[0-9]+ failed: certificate verification "
                                                "failed: self-signed certificate")))
      << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("with 127\\.0\\.0\\.1:[0-9]+ failed: .*peer did not return a "
                                                "certificate")))
      << log;
  EXPECT_EQ(Refused("tls_handshake_failed") - failed_before, 2);
  EXPECT_EQ(Refused("unreadable_request") - unreadable_before, 0);  // not counted twice
  EXPECT_EQ(RunTls("echoscu", "client", tls_port_, {}).exit_code, 0) << server_->Log();
}

// Plain DICOM on the TLS port: refused at once (not after a timeout), and
// both ports go on answering.
TEST_F(TlsTest, PlainClientOnTlsPortIsRefusedCleanly) {
  const auto start = std::chrono::steady_clock::now();
  auto plain = RunCommand({"echoscu", "-to", "10", "-aec", "PACSCORE", "127.0.0.1", std::to_string(tls_port_)},
                          {{"TCP_NODELAY", "1"}}, std::chrono::seconds(30));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(plain.exit_code, 0) << plain.output;
  EXPECT_LT(seconds, 1.5) << plain.output;
  EXPECT_NE(server_->Log().find("wrong version number"), std::string::npos) << server_->Log();
  EXPECT_EQ(RunTls("echoscu", "client", tls_port_, {}).exit_code, 0) << server_->Log();
  auto echo = RunCommand({"echoscu", "-to", "10", "-aec", "PACSCORE", "127.0.0.1", std::to_string(server_->port())},
                         {{"TCP_NODELAY", "1"}}, std::chrono::seconds(30));
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
}

// A connection that starts its handshake and then goes silent (one byte of a
// TLS record, so the listener hands it on) is closed by the server after
// --tls-handshake-timeout (2 s here), with a security alert. (One that sends
// nothing at all never leaves the listener: see listener_test.)
TEST_F(TlsTest, SilentConnectionIsClosedAfterTheHandshakeTimeout) {
  const int fd = ConnectSilently(tls_port_);
  ASSERT_GE(fd, 0);
  const char record_type = 0x16;  // TLS handshake record
  ASSERT_EQ(write(fd, &record_type, 1), 1);
  timeval limit{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  const auto start = std::chrono::steady_clock::now();
  char byte = 0;
  const ssize_t n = read(fd, &byte, 1);  // 0: the server closed it
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(fd);
  EXPECT_EQ(n, 0);
  EXPECT_GT(seconds, 1.5);
  EXPECT_LT(seconds, 6);
  EXPECT_NE(server_->Log().find("failed: no TLS handshake within 2000 ms"), std::string::npos) << server_->Log();
  EXPECT_EQ(RunTls("echoscu", "client", tls_port_, {}).exit_code, 0) << server_->Log();
}

// --port off: the TLS port alone.
TEST_F(TlsTest, PortOffLeavesOnlyTheTlsPort) {
  const int port = FreePort();
  const fs::path data = *work_ / "tls_only";
  BackgroundProcess serve(
      {PacscoreBinary(), "serve", "--data", data.string(), "--port", "off", "--tls-port", std::to_string(port),
       "--tls-cert", Cert("server"), "--tls-key", Key("server"), "--tls-ca", Cert("ca")},
      {}, *work_ / "tls_only.log");
  ASSERT_TRUE(WaitForTlsEcho(port)) << serve.Log();
  const std::string log = serve.Log();
  // One endpoint in the "listening on" line: the TLS one.
  const size_t at = log.find("listening on ");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string line = log.substr(at, log.find('\n', at) - at);
  EXPECT_NE(line.find(":" + std::to_string(port) + " (TLS"), std::string::npos) << line;
  EXPECT_EQ(line.find(" and "), std::string::npos) << line;
}

// Bad TLS settings stop `serve` at start, naming the file and what is wrong.
TEST_F(TlsTest, BadSettingsNameTheFileAndTheProblem) {
  auto serve = [&](const std::vector<std::string>& tls) {
    std::vector<std::string> argv = {PacscoreBinary(), "serve",
                                     "--data",         (*work_ / "bad").string(),
                                     "--port",         std::to_string(FreePort()),
                                     "--tls-port",     std::to_string(FreePort())};
    argv.insert(argv.end(), tls.begin(), tls.end());
    return RunCommand(argv, {}, std::chrono::seconds(30));
  };
  const std::string missing = (*certs_ / "missing.crt").string();
  auto no_file = serve({"--tls-cert", missing, "--tls-key", Key("server"), "--tls-ca", Cert("ca")});
  EXPECT_EQ(no_file.exit_code, 1);
  EXPECT_NE(no_file.output.find("--tls-cert " + missing + ": no such file"), std::string::npos) << no_file.output;

  auto wrong_key = serve({"--tls-cert", Cert("server"), "--tls-key", Key("client"), "--tls-ca", Cert("ca")});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_NE(wrong_key.output.find("--tls-key " + Key("client") +
                                  " is not the private key of the certificate in "
                                  "--tls-cert " +
                                  Cert("server")),
            std::string::npos)
      << wrong_key.output;

  auto not_pem =
      serve({"--tls-cert", Cert("server"), "--tls-key", Key("server"), "--tls-ca", (*certs_ / "client.ext").string()});
  EXPECT_EQ(not_pem.exit_code, 1);
  EXPECT_NE(not_pem.output.find("--tls-ca " + (*certs_ / "client.ext").string() + ": no PEM CA certificate"),
            std::string::npos)
      << not_pem.output;

  auto no_ca = serve({"--tls-cert", Cert("server"), "--tls-key", Key("server")});
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_NE(no_ca.output.find("--tls-verify require needs the trusted CA certificates"), std::string::npos)
      << no_ca.output;
}

}  // namespace
}  // namespace pacs::testing
