#include "tls_layer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dcmtk/dcmdata/dcerror.h"
#include "dcmtk/dcmtls/tlstrans.h"
#include "pacs/base/log.h"

namespace pacs::dicom {
namespace fs = std::filesystem;

Result<TlsVerify> ParseTlsVerify(std::string_view text) {
  if (text == "require") return TlsVerify::kRequire;
  if (text == "optional") return TlsVerify::kOptional;
  if (text == "none") return TlsVerify::kNone;
  return Status::InvalidArgument("--tls-verify must be require, optional or none, not '" + std::string(text) + "'");
}

const char* TlsVerifyName(TlsVerify verify) {
  switch (verify) {
    case TlsVerify::kRequire:
      return "require";
    case TlsVerify::kOptional:
      return "optional";
    case TlsVerify::kNone:
      return "none";
  }
  return "?";
}

namespace {

thread_local bool handshake_failed_here = false;

// "ADDR:PORT" of the socket's peer, or "an unknown peer".
std::string PeerOf(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "an unknown peer";
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "an unknown peer";
}

// OpenSSL's error queue of this thread as one line (and emptied).
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

// Why a handshake step that returned `ret` failed.
std::string HandshakeFailure(SSL* ssl, int ret, int ssl_error, int saved_errno) {
  std::string queued = OpenSslErrors();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK)
    return "certificate verification failed: " + std::string(X509_verify_cert_error_string(verify)) +
           (queued.empty() ? "" : " (" + queued + ")");
  if (!queued.empty()) return queued;
  if (ssl_error == SSL_ERROR_ZERO_RETURN || (ssl_error == SSL_ERROR_SYSCALL && ret == 0))
    return "the peer closed the connection during the handshake";
  if (ssl_error == SSL_ERROR_SYSCALL) return std::string("socket error: ") + std::strerror(saved_errno);
  return "OpenSSL error " + std::to_string(ssl_error);
}

// A DcmTLSConnection whose handshake runs on the socket made non-blocking
// and ends by the layer's deadline, however the peer trickles its bytes.
// DCMTK's own handshake is a blocking SSL_accept() bounded only by the
// socket's 60 s receive timeout per read (dcmSocketReceiveTimeout).
class TimedTlsConnection final : public DcmTLSConnection {
 public:
  TimedTlsConnection(DcmNativeSocketType socket, SSL* ssl, const TlsLayer& layer)
      : DcmTLSConnection(socket, ssl), ssl_(ssl), layer_(layer) {}

  OFCondition serverSideHandshake() override {
    handshake_failed_here = false;
    std::string reason;
    OFCondition cond = Handshake(true, reason);
    if (cond.bad()) {
      handshake_failed_here = true;
      layer_.ReportFailure(PeerOf(getSocket()), reason);
    }
    return cond;
  }
  OFCondition clientSideHandshake() override {
    std::string reason;
    return Handshake(false, reason);
  }

 private:
  OFCondition Handshake(bool server, std::string& reason) {
    const int fd = getSocket();
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      reason = std::string("cannot make the socket non-blocking: ") + std::strerror(errno);
      return makeOFCondition(OFM_dcmtls, 9001, OF_error, reason.c_str());
    }
    const auto timeout = layer_.handshake_timeout();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    ERR_clear_error();
    bool done = false;
    while (!done) {
      const int ret = server ? SSL_accept(ssl_) : SSL_connect(ssl_);
      const int saved_errno = errno;
      if (ret == 1) {
        done = true;
        break;
      }
      const int ssl_error = SSL_get_error(ssl_, ret);
      if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
        reason = HandshakeFailure(ssl_, ret, ssl_error, saved_errno);
        break;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd pfd{fd, static_cast<short>(ssl_error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      const int ready = left.count() > 0 ? poll(&pfd, 1, static_cast<int>(left.count())) : 0;
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) {
        reason = std::string("poll failed: ") + std::strerror(errno);
        break;
      }
      if (ready == 0) {
        reason = "no TLS handshake within " + std::to_string(timeout.count()) + " ms";
        break;
      }
    }
    fcntl(fd, F_SETFL, flags);  // DCMTK reads and writes the connection blocking
    if (done) return EC_Normal;
    const std::string text = "TLS handshake failed: " + reason;
    return makeOFCondition(OFM_dcmtls, 9002, OF_error, text.c_str());
  }

  SSL* const ssl_;  // owned by DcmTLSConnection
  const TlsLayer& layer_;
};

// What is wrong with reading `path` as the file of `flag`, or "".
std::string FileProblem(const std::string& flag, const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return flag + " " + path + ": no such file";
  if (fs::is_directory(path, ec)) return flag + " " + path + ": is a folder, not a file";
  std::ifstream in(path);
  if (!in) return flag + " " + path + ": cannot be read (" + std::strerror(errno) + ")";
  return "";
}

}  // namespace

bool TakeHandshakeFailure() {
  const bool failed = handshake_failed_here;
  handshake_failed_here = false;
  return failed;
}

TlsLayer::TlsLayer(TlsRole role, std::chrono::milliseconds handshake_timeout, TlsFailureHandler on_failure)
    : DcmTLSTransportLayer(role == TlsRole::kAcceptor ? NET_ACCEPTOR : NET_REQUESTOR, nullptr, OFTrue),
      handshake_timeout_(handshake_timeout),
      on_failure_(std::move(on_failure)) {}

DcmTransportConnection* TlsLayer::createConnection(DcmNativeSocketType socket, OFBool use_secure_layer) {
  if (!use_secure_layer) return DcmTLSTransportLayer::createConnection(socket, use_secure_layer);
  SSL* ssl = SSL_new(getNativeHandle());
  if (ssl == nullptr) return nullptr;  // DCMTK closes the socket and reports a TCP initialization error
  SSL_set_fd(ssl, socket);
  return new TimedTlsConnection(socket, ssl, *this);  // owned by the DCMTK association
}

Result<std::unique_ptr<TlsLayer>> TlsLayer::Create(const TlsSettings& settings, TlsRole role,
                                                   TlsFailureHandler on_failure) {
  const std::string& cert = settings.certificate_file;
  const std::string& key = settings.private_key_file;
  if (cert.empty() != key.empty())
    return Status::InvalidArgument("--tls-cert and --tls-key go together: give both (our certificate and its key)");
  if (role == TlsRole::kAcceptor && cert.empty())
    return Status::InvalidArgument("the TLS port needs our certificate and private key (--tls-cert, --tls-key)");
  if (settings.verify != TlsVerify::kNone && settings.ca.empty())
    return Status::InvalidArgument(std::string("--tls-verify ") + TlsVerifyName(settings.verify) +
                                   " needs the trusted CA certificates (--tls-ca FILE|DIR), or --tls-verify none");
  if (settings.handshake_timeout.count() <= 0)
    return Status::InvalidArgument("the TLS handshake timeout must be positive");
  // OpenSSL (1.1.1 and later) seeds its generator from the kernel itself;
  // DCMTK's random seed file is only for systems without one. Refuse rather
  // than run TLS on a generator that could not be seeded.
  if (RAND_status() != 1)
    return Status::Internal("OpenSSL's random generator could not be seeded from the operating system; no TLS");

  std::unique_ptr<TlsLayer> layer(new TlsLayer(role, settings.handshake_timeout, std::move(on_failure)));
  if (!*layer) return Status::Internal("cannot create an OpenSSL TLS context: " + OpenSslErrors());
  OFCondition cond = layer->setTLSProfile(TSP_Profile_BCP195_ND);
  if (cond.good()) cond = layer->activateCipherSuites();
  if (cond.bad()) return Status::Internal(std::string("cannot select the BCP195-ND TLS profile: ") + cond.text());
  layer->setPrivateKeyPasswd("");  // an encrypted key fails instead of prompting on the console

  if (!cert.empty()) {
    if (std::string problem = FileProblem("--tls-cert", cert); !problem.empty())
      return Status::InvalidArgument(problem);
    if (std::string problem = FileProblem("--tls-key", key); !problem.empty()) return Status::InvalidArgument(problem);
    // The key first: OpenSSL refuses a key that does not match a certificate
    // already loaded with an error that names neither file, while a
    // certificate loaded after a key that does not match drops the key,
    // which checkPrivateKeyMatchesCertificate then reports.
    cond = layer->setPrivateKeyFile(key.c_str(), DCF_Filetype_PEM);
    if (cond.bad())
      return Status::InvalidArgument("--tls-key " + key + ": not an unencrypted PEM private key (" + cond.text() + ")");
    cond = layer->setCertificateFile(cert.c_str(), DCF_Filetype_PEM);
    if (cond.bad())
      return Status::InvalidArgument("--tls-cert " + cert + ": not a usable PEM certificate (" + cond.text() + ")");
    if (!layer->checkPrivateKeyMatchesCertificate())
      return Status::InvalidArgument("--tls-key " + key + " is not the private key of the certificate in --tls-cert " +
                                     cert);
    if (X509* x509 = DcmTLSTransportLayer::loadCertificateFile(cert.c_str(), DCF_Filetype_PEM)) {
      if (X509_cmp_current_time(X509_get0_notAfter(x509)) < 0)
        LogWarning("--tls-cert " + cert + " has expired: peers that check it will refuse our TLS connections");
      else if (X509_cmp_current_time(X509_get0_notBefore(x509)) > 0)
        LogWarning("--tls-cert " + cert + " is not valid yet: peers that check it will refuse our TLS connections");
      X509_free(x509);
    }
  }
  if (!settings.ca.empty()) {
    std::error_code ec;
    if (!fs::exists(settings.ca, ec)) return Status::InvalidArgument("--tls-ca " + settings.ca + ": no such file");
    if (fs::is_directory(settings.ca, ec)) {
      cond = layer->addTrustedCertificateDir(settings.ca.c_str(), DCF_Filetype_PEM);
    } else {
      if (std::string problem = FileProblem("--tls-ca", settings.ca); !problem.empty())
        return Status::InvalidArgument(problem);
      cond = layer->addTrustedCertificateFile(settings.ca.c_str(), DCF_Filetype_PEM);
    }
    if (cond.bad())
      return Status::InvalidArgument("--tls-ca " + settings.ca + ": no PEM CA certificate could be read (" +
                                     cond.text() + ")");
  }
  layer->setCertificateVerification(settings.verify == TlsVerify::kRequire    ? DCV_requireCertificate
                                    : settings.verify == TlsVerify::kOptional ? DCV_checkCertificate
                                                                              : DCV_ignoreCertificate);
  ERR_clear_error();
  return layer;
}

}  // namespace pacs::dicom
