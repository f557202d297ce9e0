// File: tls_settings.h
// What DICOM TLS is set up from (`serve --tls-cert/--tls-key/--tls-ca/
// --tls-verify`): the same settings serve the TLS port and the associations
// pacscore opens to peers marked `tls`. The DCMTK side is dicom/src/tls_layer.h.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "pacs/base/result.h"

namespace pacs::dicom {

// How the other side's certificate is checked against the trusted CAs:
// kRequire refuses a peer without a valid one, kOptional checks one if the
// peer sends one (a client need not), kNone checks nothing.
enum class TlsVerify { kRequire, kOptional, kNone };
Result<TlsVerify> ParseTlsVerify(std::string_view text);  // "require" | "optional" | "none"
const char* TlsVerifyName(TlsVerify verify);

struct TlsSettings {
  std::string certificate_file;  // PEM, our certificate (chain); with private_key_file
  std::string private_key_file;  // PEM, unencrypted
  std::string ca;                // PEM file or hashed directory (c_rehash) of trusted CAs
  TlsVerify verify = TlsVerify::kRequire;
  // A TLS handshake that has not finished by then is abandoned and its
  // connection closed (a peer that connects and sends nothing).
  std::chrono::milliseconds handshake_timeout{10000};

  bool has_identity() const { return !certificate_file.empty() || !private_key_file.empty(); }
};

}  // namespace pacs::dicom
