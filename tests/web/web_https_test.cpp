// HTTPS on the DICOMweb port against the real `pacscore serve --web-port
// --web-tls-cert --web-tls-key`, with curl (OpenSSL) trusting a test CA and
// certificates made by `openssl` here (ECDSA P-256, as tls_test does for
// DICOM TLS). One CT slice is stored and read over plain HTTP first; the same
// data folder then served over HTTPS gives the same QIDO-RS and WADO-RS
// answers. Also: tokens still apply, plain HTTP and silent sockets on the
// HTTPS port are dropped (logged, audited) without holding anyone up, TLS
// 1.1 is refused, client certificates are checked when asked, and bad
// certificate/key flags stop `serve` at start-up with a clear message.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "test_support.h"
#include "web_client.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

// A CT slice (explicit VR little endian) from the corpus, and its UIDs.
const char* kSample = "dcm_qa_ct/ge_hispeed_dual_head/01.dcm";
const std::string kStudy = "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668";
const std::string kSeries = "1.2.826.0.1.3680043.9.4245.3115138630835728997848661150714813892";
const std::string kInstance = "1.2.826.0.1.3680043.9.4245.3796287132707650689462822505588402341";
const std::string kReadToken = "https-read-token-0123456789abcdef";
const std::string kWriteToken = "https-write-token-0123456789abcdef";
// Another study's slice, stored with STOW-RS over HTTPS.
const char* kStowSample = "dcm_qa_ct/philips_ingenuity_head_phantom/S1000_surview_localizer/I10.dcm";
const std::string kStowInstance = "1.3.46.670589.33.1.31533759254227615050.23932405873481467063";
const std::string kFrameAccept = "multipart/related; type=application/octet-stream; transfer-syntax=*";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

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

int LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  return ntohs(addr.sin_port);
}

// Makes ca, server (signed by ca, for 127.0.0.1 and localhost), client
// (signed by ca) and rogue (self-signed) in `dir`: NAME.crt and NAME.key.
bool MakeCertificates(const fs::path& dir) {
  auto run = [](const std::vector<std::string>& argv) {
    auto result = RunCommand(argv, {}, std::chrono::seconds(60));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return result.exit_code == 0;
  };
  auto cert = [&](const std::string& name) { return (dir / (name + ".crt")).string(); };
  auto key = [&](const std::string& name) { return (dir / (name + ".key")).string(); };
  auto self_signed = [&](const std::string& name, const std::string& subject) {
    return run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-sha256", "-days", "2", "-subj", subject, "-keyout", key(name), "-out", cert(name)});
  };
  auto signed_by_ca = [&](const std::string& name) {
    const std::string csr = (dir / (name + ".csr")).string();
    const std::string ext = (dir / (name + ".ext")).string();
    std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    return run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", "/CN=pacscore test " + name, "-keyout", key(name), "-out", csr}) &&
           run({"openssl", "x509", "-req", "-sha256", "-days", "2", "-in", csr, "-CA", cert("ca"), "-CAkey", key("ca"),
                "-CAcreateserial", "-extfile", ext, "-out", cert(name)});
  };
  if (!(self_signed("ca", "/CN=pacscore web test CA") && signed_by_ca("server") && signed_by_ca("client") &&
        self_signed("rogue", "/CN=rogue")))
    return false;
  for (const char* name : {"ca", "server", "client", "rogue"})
    fs::permissions(key(name), fs::perms::owner_read | fs::perms::owner_write);
  return true;
}

struct CurlReply {
  int exit_code = -1;
  int status = 0;       // 0: no HTTP answer
  std::string body;     // as received
  std::string headers;  // the response head, raw
  std::string output;   // curl's messages
  std::string ContentType() const {
    std::istringstream in(headers);
    for (std::string line; std::getline(in, line);) {
      if (line.size() > 13 && strncasecmp(line.c_str(), "content-type:", 13) == 0) {
        std::string value = line.substr(13);
        while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
        while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
        return value;
      }
    }
    return "";
  }
};

// One curl run: `url` with extra arguments; body and head go to files in `scratch`.
CurlReply Curl(const fs::path& scratch, const std::string& url, const std::vector<std::string>& args) {
  const fs::path body = scratch / "curl.body";
  const fs::path head = scratch / "curl.head";
  fs::remove(body);
  fs::remove(head);
  std::vector<std::string> argv = {"curl",        "-sS", "--max-time",  "20", "-o",
                                   body.string(), "-D",  head.string(), "-w", "\nstatus=%{http_code}\n"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  CurlReply reply;
  const CommandResult result = RunCommand(argv, {}, std::chrono::seconds(30));
  reply.exit_code = result.exit_code;
  reply.output = result.output;
  const size_t at = result.output.rfind("status=");
  if (at != std::string::npos) reply.status = std::atoi(result.output.c_str() + at + 7);
  reply.body = ReadFile(body);
  reply.headers = ReadFile(head);
  return reply;
}

// The part bodies of a multipart reply (the boundary differs from run to run).
std::vector<std::string> PartBodies(const CurlReply& reply) {
  std::string error;
  std::vector<std::string> out;
  for (const auto& part : SplitMultipart(reply.ContentType(), reply.body, &error)) out.push_back(part.body);
  EXPECT_TRUE(error.empty()) << error;
  return out;
}

class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new fs::path(MakeTempDir("web-https"));
    certs_ = new fs::path(*work_ / "certs");
    fs::create_directories(*certs_);
    if (!MakeCertificates(*certs_)) return;
    const fs::path tokens = *work_ / "web.tokens";
    std::ofstream(tokens) << kReadToken << " read\n" << kWriteToken << " write\n";
    fs::permissions(tokens, fs::perms::owner_read | fs::perms::owner_write);
    const fs::path data = *work_ / "data";

    // Plain HTTP first (no token file: loopback only): store the slice, read it.
    {
      ServerProcess plain(data, {"--web-port", "0", "--inline-encode"});
      ASSERT_TRUE(plain.Start()) << plain.Log();
      const int port = WebPortOf(data.string());
      ASSERT_GT(port, 0) << plain.Log();
      auto store = RunCommand(
          {"storescu", "-aec", "PACSCORE", "127.0.0.1", std::to_string(plain.port()), (CorpusDir() / kSample).string()},
          {{"TCP_NODELAY", "1"}}, std::chrono::seconds(60));
      ASSERT_EQ(store.exit_code, 0) << store.output << plain.Log();
      const std::string base = "http://127.0.0.1:" + std::to_string(port);
      auto qido = Curl(*work_, base + QidoPath(), {});
      ASSERT_EQ(qido.status, 200) << qido.output << plain.Log();
      *plain_qido_ = qido.body;
      auto frame = Curl(*work_, base + FramePath(), {"-H", "Accept: " + kFrameAccept});
      ASSERT_EQ(frame.status, 200) << frame.output << plain.Log();
      *plain_frame_parts_ = PartBodies(frame);
      ASSERT_EQ(plain_frame_parts_->size(), 1u);
      ASSERT_EQ(plain.Stop(), 0) << plain.Log();
    }

    // The same data folder over HTTPS, with a token file.
    server_ = new ServerProcess(
        data, {"--web-port", "0", "--web-tls-cert", Cert("server"), "--web-tls-key", Key("server"), "--web-token-file",
               tokens.string(), "--tls-handshake-timeout", "2s", "--audit-log", (*work_ / "audit.log").string()});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    port_ = WebPortOf(data.string());
    ASSERT_GT(port_, 0) << server_->Log();
    ready_ = true;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the suite's set-up failed (see above)"; }
  static void TearDownTestSuite() {
    delete server_;
    std::error_code ec;
    fs::remove_all(*work_, ec);
    delete certs_;
    delete work_;
  }

  static std::string QidoPath() { return "/dicom-web/studies/" + kStudy + "/series/" + kSeries + "/instances"; }
  static std::string FramePath() {
    return "/dicom-web/studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/frames/1";
  }
  static std::string Cert(const std::string& name) { return (*certs_ / (name + ".crt")).string(); }
  static std::string Key(const std::string& name) { return (*certs_ / (name + ".key")).string(); }
  static std::string Url(const std::string& path) { return "https://127.0.0.1:" + std::to_string(port_) + path; }
  // curl over HTTPS trusting the test CA, with the read token unless `token` is false.
  static CurlReply Https(const std::string& path, std::vector<std::string> args = {}, bool token = true) {
    args.insert(args.begin(), {"--cacert", Cert("ca")});
    if (token) args.insert(args.end(), {"-H", "Authorization: Bearer " + kReadToken});
    return Curl(*work_, Url(path), args);
  }

  static inline fs::path* work_ = nullptr;
  static inline fs::path* certs_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline int port_ = 0;
  static inline bool ready_ = false;
  static inline std::string* plain_qido_ = new std::string();
  static inline std::vector<std::string>* plain_frame_parts_ = new std::vector<std::string>();
};

// QIDO-RS and a WADO-RS frame over HTTPS equal what plain HTTP gave for the
// same data folder; the certificate checks out against the test CA.
TEST_F(HttpsTest, QidoAndWadoOverHttpsEqualPlainHttp) {
  auto qido = Https(QidoPath());
  ASSERT_EQ(qido.status, 200) << qido.output << server_->Log();
  EXPECT_NE(qido.body.find(kInstance), std::string::npos) << qido.body;
  EXPECT_EQ(qido.body, *plain_qido_);
  auto frame = Https(FramePath(), {"-H", "Accept: " + kFrameAccept});
  ASSERT_EQ(frame.status, 200) << frame.output << server_->Log();
  const auto parts = PartBodies(frame);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_GT(parts[0].size(), 1000u);
  EXPECT_TRUE(parts[0] == (*plain_frame_parts_)[0]) << parts[0].size() << " vs " << (*plain_frame_parts_)[0].size();
  // Without the CA, curl refuses our self-made certificate: it really is TLS.
  auto untrusted = Curl(*work_, Url(QidoPath()), {"-H", "Authorization: Bearer " + kReadToken});
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.output;
  EXPECT_EQ(untrusted.status, 0);
}

// The token file still rules over HTTPS.
TEST_F(HttpsTest, BearerTokenStillRequired) {
  auto none = Https("/dicom-web/studies", {}, false);
  EXPECT_EQ(none.status, 401) << none.output;
  EXPECT_NE(none.headers.find("Bearer"), std::string::npos) << none.headers;
  auto wrong = Https("/dicom-web/studies", {"-H", "Authorization: Bearer not-a-token-we-know-of"}, false);
  EXPECT_EQ(wrong.status, 401) << wrong.output;
  auto right = Https("/dicom-web/studies");
  EXPECT_EQ(right.status, 200) << right.output;
  EXPECT_NE(right.body.find(kStudy), std::string::npos) << right.body;
}

// Plain HTTP to the HTTPS port gets no HTTP answer (the connection is
// closed, a security alert logged and audited); HTTPS goes on working.
TEST_F(HttpsTest, PlainHttpToHttpsPortGetsNoHttpAnswer) {
  const std::string reply = RawExchange(
      port_, "GET /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kReadToken + "\r\n\r\n",
      5000);
  EXPECT_EQ(reply.find("HTTP/"), std::string::npos) << reply;
  auto curl_plain = Curl(*work_, "http://127.0.0.1:" + std::to_string(port_) + "/dicom-web/studies",
                         {"-H", "Authorization: Bearer " + kReadToken});
  EXPECT_EQ(curl_plain.status, 0) << curl_plain.output;
  EXPECT_NE(curl_plain.exit_code, 0);
  auto ok = Https("/dicom-web/studies");
  EXPECT_EQ(ok.status, 200) << ok.output << server_->Log();
  const std::string log = server_->Log();
  EXPECT_NE(log.find("plain HTTP sent to the HTTPS port"), std::string::npos) << log;
  const std::string audit = ReadFile(*work_ / "audit.log");
  EXPECT_NE(audit.find("\"service\":\"DICOMweb TLS\""), std::string::npos) << audit;
}

// Silent TCP connections hold no one up: an HTTPS request beside them
// completes within 2 s; they are closed after --tls-handshake-timeout (2 s),
// each with a line naming the peer and the reason.
TEST_F(HttpsTest, SilentConnectionsDoNotBlockAndAreDropped) {
  std::vector<int> silent;
  for (int i = 0; i < 20; ++i) {
    const int fd = ConnectSilently(port_);
    ASSERT_GE(fd, 0);
    silent.push_back(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  auto ok = Https(QidoPath());
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ok.status, 200) << ok.output << server_->Log();
  EXPECT_LT(took, std::chrono::seconds(2));

  // Closed by the server: read() sees the end (or a reset) well before 10 s.
  timeval ten_seconds{10, 0};
  setsockopt(silent[0], SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
  const int first_port = LocalPort(silent[0]);
  char byte = 0;
  const auto wait_start = std::chrono::steady_clock::now();
  const ssize_t n = read(silent[0], &byte, 1);
  const auto waited = std::chrono::steady_clock::now() - wait_start;
  EXPECT_LE(n, 0);
  EXPECT_LT(waited, std::chrono::seconds(6));
  for (int fd : silent) close(fd);
  const std::string needle =
      "TLS handshake with 127.0.0.1:" + std::to_string(first_port) + " failed: no TLS handshake within 2000 ms";
  std::string log;
  for (int i = 0; i < 50 && log.find(needle) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = server_->Log();
  }
  EXPECT_NE(log.find(needle), std::string::npos) << log;
  const std::string audit = ReadFile(*work_ / "audit.log");
  EXPECT_NE(audit.find("127.0.0.1:" + std::to_string(first_port)), std::string::npos) << audit;
  // Still serving.
  EXPECT_EQ(Https("/dicom-web/studies").status, 200);
}

// TLS 1.2 is served; TLS 1.1 is refused by the server's version check (when
// this machine's OpenSSL lets curl even offer it: SECLEVEL=0 on curl's side
// so that Debian's default level does not stop it first).
TEST_F(HttpsTest, Tls12ServedTls11Refused) {
  auto tls12 = Https("/dicom-web/studies", {"--tlsv1.2", "--tls-max", "1.2"});
  EXPECT_EQ(tls12.status, 200) << tls12.output << server_->Log();
  const size_t log_before = server_->Log().size();
  auto tls11 = Https("/dicom-web/studies", {"--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT:@SECLEVEL=0"});
  EXPECT_NE(tls11.exit_code, 0) << tls11.output;
  EXPECT_EQ(tls11.status, 0) << tls11.output;
  std::string log;
  for (int i = 0; i < 20; ++i) {
    log = server_->Log().substr(log_before);
    if (log.find("security alert") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (log.find("security alert") == std::string::npos)
    GTEST_SKIP() << "curl's OpenSSL did not offer TLS 1.1 to the server (it refused on its own side): " << tls11.output;
  EXPECT_NE(log.find("unsupported protocol"), std::string::npos) << log;
  EXPECT_EQ(Https("/dicom-web/studies").status, 200);
}

// STOW-RS over HTTPS: the body (over 64 KiB: several TLS records and reads)
// goes through the spill file as over HTTP; the instance is then found.
TEST_F(HttpsTest, StowOverHttpsStoresAndCleansUp) {
  const std::string dicom = ReadFile(CorpusDir() / kStowSample);
  ASSERT_GT(dicom.size(), 100000u);
  const fs::path body = *work_ / "stow.body";
  std::ofstream(body, std::ios::binary) << "--b1\r\nContent-Type: application/dicom\r\n\r\n"
                                        << dicom << "\r\n--b1--\r\n";
  auto write_without_role = Https("/dicom-web/studies", {"-X", "POST", "-H",
                                                         "Content-Type: multipart/related; "
                                                         "type=\"application/dicom\"; boundary=b1",
                                                         "--data-binary", "@" + body.string()});
  EXPECT_EQ(write_without_role.status, 403) << write_without_role.output << write_without_role.body;
  auto stored = Https("/dicom-web/studies",
                      {"-X", "POST", "-H", "Content-Type: multipart/related; type=\"application/dicom\"; boundary=b1",
                       "-H", "Authorization: Bearer " + kWriteToken, "--data-binary", "@" + body.string()},
                      false);
  ASSERT_EQ(stored.status, 200) << stored.output << stored.body << server_->Log();
  EXPECT_NE(stored.body.find(kStowInstance), std::string::npos) << stored.body;
  auto found = Https("/dicom-web/instances?SOPInstanceUID=" + kStowInstance);
  EXPECT_EQ(found.status, 200) << found.output;
  EXPECT_NE(found.body.find(kStowInstance), std::string::npos) << found.body;
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(server_->data_dir() / "web-incoming", ec)) << ec.message();
}

// ---- start-up refusals and client certificates (servers of their own) --------------------

class HttpsFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = MakeTempDir("web-https-flags");
    certs_ = work_ / "certs";
    fs::create_directories(certs_);
    ASSERT_TRUE(MakeCertificates(certs_));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(work_, ec);
  }
  std::string Cert(const std::string& name) const { return (certs_ / (name + ".crt")).string(); }
  std::string Key(const std::string& name) const { return (certs_ / (name + ".key")).string(); }
  // `serve` with these web flags; it must stop by itself, refusing them.
  CommandResult Refused(const std::vector<std::string>& web_flags) {
    std::vector<std::string> argv = {
        PacscoreBinary(),           "serve",      "--data", (work_ / "refused").string(), "--port",
        std::to_string(FreePort()), "--web-port", "0"};
    argv.insert(argv.end(), web_flags.begin(), web_flags.end());
    CommandResult result = RunCommand(argv, {}, std::chrono::seconds(30));
    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_NE(result.exit_code, -1) << "serve did not stop by itself: " << result.output;
    return result;
  }

  fs::path work_, certs_;
};

TEST_F(HttpsFlagsTest, BadCertificateOrKeyFlagsRefuseToStart) {
  // A key readable by others.
  const fs::path open_key = work_ / "open.key";
  fs::copy_file(Key("server"), open_key);
  fs::permissions(open_key,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  auto readable = Refused({"--web-tls-cert", Cert("server"), "--web-tls-key", open_key.string()});
  EXPECT_NE(readable.output.find("--web-tls-key " + open_key.string() + ": mode 0644 lets group or others read"),
            std::string::npos)
      << readable.output;
  // A missing key.
  const std::string missing = (work_ / "missing.key").string();
  auto no_key = Refused({"--web-tls-cert", Cert("server"), "--web-tls-key", missing});
  EXPECT_NE(no_key.output.find("--web-tls-key " + missing + ": cannot open: No such file"), std::string::npos)
      << no_key.output;
  // A certificate without a key, and a key without a certificate.
  auto cert_only = Refused({"--web-tls-cert", Cert("server")});
  EXPECT_NE(cert_only.output.find("--web-tls-cert needs --web-tls-key"), std::string::npos) << cert_only.output;
  auto key_only = Refused({"--web-tls-key", Key("server")});
  EXPECT_NE(key_only.output.find("--web-tls-key needs --web-tls-cert"), std::string::npos) << key_only.output;
  // Another certificate's key.
  auto mismatch = Refused({"--web-tls-cert", Cert("server"), "--web-tls-key", Key("client")});
  EXPECT_NE(mismatch.output.find("--web-tls-key " + Key("client")), std::string::npos) << mismatch.output;
  EXPECT_NE(mismatch.output.find("certificate in --web-tls-cert " + Cert("server")), std::string::npos)
      << mismatch.output;
  // TLS does not lift the rule: no token file, loopback only.
  auto open_bind = Refused({"--web-tls-cert", Cert("server"), "--web-tls-key", Key("server"), "--web-bind", "0.0.0.0"});
  EXPECT_NE(open_bind.output.find("--web-token-file"), std::string::npos) << open_bind.output;
  // Client verification without CAs.
  auto no_ca =
      Refused({"--web-tls-cert", Cert("server"), "--web-tls-key", Key("server"), "--web-tls-verify", "require"});
  EXPECT_NE(no_ca.output.find("--web-tls-ca"), std::string::npos) << no_ca.output;
  EXPECT_FALSE(fs::exists(work_ / "refused" / "web.port"));
}

// --web-tls-ca with --web-tls-verify require: only clients with a
// certificate the CA signed get through the handshake.
TEST_F(HttpsFlagsTest, ClientCertificatesCheckedWhenRequired) {
  const fs::path data = work_ / "data";
  ServerProcess server(data, {"--web-port", "0", "--web-tls-cert", Cert("server"), "--web-tls-key", Key("server"),
                              "--web-tls-ca", Cert("ca"), "--web-tls-verify", "require"});
  ASSERT_TRUE(server.Start()) << server.Log();
  const int port = WebPortOf(data.string());
  ASSERT_GT(port, 0) << server.Log();
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/dicom-web/studies";
  auto trusted = Curl(work_, url, {"--cacert", Cert("ca"), "--cert", Cert("client"), "--key", Key("client")});
  EXPECT_EQ(trusted.status, 200) << trusted.output << server.Log();
  EXPECT_EQ(trusted.body, "[]");
  auto anonymous = Curl(work_, url, {"--cacert", Cert("ca")});
  EXPECT_EQ(anonymous.status, 0) << anonymous.output;
  auto rogue = Curl(work_, url, {"--cacert", Cert("ca"), "--cert", Cert("rogue"), "--key", Key("rogue")});
  EXPECT_EQ(rogue.status, 0) << rogue.output;
  std::string log;
  for (int i = 0; i < 20; ++i) {
    log = server.Log();
    if (log.find("certificate verify failed") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(log.find("certificate verify failed"), std::string::npos) << log;
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

}  // namespace
}  // namespace pacs::testing
