// File: tls_layer.h
// DICOM TLS with DCMTK's dcmtls: a DcmTLSTransportLayer built from
// TlsSettings (profile BCP195-ND, our certificate and key, the trusted CAs,
// the peer verification), whose handshakes end by a deadline. Hand it to a
// listening network (DcmSCPConfig::setTransportLayer, ASC_setTransportLayer)
// or to an association we open (DcmSCU::useSecureConnection).
//
//   auto layer = TlsLayer::Create(settings, TlsRole::kAcceptor, on_failure);
//   if (!layer.ok()) return layer.status();  // names the file and what is wrong
//   pool.getConfig().setTransportLayer(layer->get());
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmtls/tlslayer.h"
#include "pacs/base/result.h"
#include "pacs/dicom/tls_settings.h"

namespace pacs::dicom {

enum class TlsRole { kAcceptor, kRequestor };

// Told of every failed server-side handshake: the peer as "ADDR:PORT" and
// the reason (OpenSSL's, the certificate check's, or the timeout).
using TlsFailureHandler = std::function<void(const std::string& peer, const std::string& reason)>;

// Thread-safe once built: DCMTK creates connections from it on any thread
// (each one SSL_new() on the configured, then read-only, SSL_CTX). Must
// outlive every network and association it was given to.
class TlsLayer final : public DcmTLSTransportLayer {
 public:
  // Fails, naming the flag, the file and what is wrong with it: a missing or
  // unreadable file, not PEM, an encrypted key (we never prompt), a key that
  // is not the certificate's, no CA while the peer is to be verified.
  static Result<std::unique_ptr<TlsLayer>> Create(const TlsSettings& settings, TlsRole role,
                                                  TlsFailureHandler on_failure = {});

  // DCMTK calls this for each accepted or connected socket; the connection
  // it returns runs its handshake with the deadline.
  DcmTransportConnection* createConnection(DcmNativeSocketType socket, OFBool use_secure_layer) override;

  std::chrono::milliseconds handshake_timeout() const { return handshake_timeout_; }
  void ReportFailure(const std::string& peer, const std::string& reason) const {
    if (on_failure_) on_failure_(peer, reason);
  }

 private:
  TlsLayer(TlsRole role, std::chrono::milliseconds handshake_timeout, TlsFailureHandler on_failure);

  const std::chrono::milliseconds handshake_timeout_;
  const TlsFailureHandler on_failure_;
};

// Whether the last server-side TLS handshake on this thread failed (and was
// reported through the layer's TlsFailureHandler); clears the flag. DCMTK's
// listening loop hands the failed association to
// AssociationPool::dropAndDestroyAssociation on the same thread, which asks
// this so as not to count the refusal twice.
bool TakeHandshakeFailure();

}  // namespace pacs::dicom
