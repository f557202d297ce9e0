#include "serve_web.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include "pacs/base/log.h"

namespace pacs::tools {

namespace fs = std::filesystem;

std::string WebPortFile(const std::string& data_dir) {
  return (fs::path(data_dir) / "web.port").string();
}

void WebEndpoint::Stop() const {
  if (server) server->Stop();
  std::error_code ec;
  if (!port_file.empty()) fs::remove(port_file, ec);
}

Result<std::unique_ptr<WebEndpoint>> StartWebEndpoint(const ServeFlags& flags, engine::Store& store,
                                                      dicom::Ingestor& ingestor, const std::string& data_dir) {
  if (flags.web_port < 0) {
    if (!flags.viewer_dir.empty()) return Status::InvalidArgument("--viewer needs --web-port");
    return std::unique_ptr<WebEndpoint>();
  }
  web::WebServerOptions options;
  options.address = flags.web_bind;
  options.port = static_cast<uint16_t>(flags.web_port);
  options.max_body = flags.web_max_body;
  options.max_connections_per_host = flags.web_max_connections_per_host;
  options.cors_origin = flags.web_cors_origin;
  if (!flags.web_token_file.empty()) {
    auto tokens = TokenFile::Load(flags.web_token_file);
    if (!tokens.ok()) return tokens.status().WithContext("--web-token-file");
    options.tokens = std::make_shared<const TokenFile>(std::move(*tokens));
  } else if (!web::IsLoopbackAddress(flags.web_bind)) {
    return Status::InvalidArgument("--web-bind " + flags.web_bind +
                                   " is not a loopback address: without --web-token-file the web port serves this "
                                   "machine only (127.0.0.1 or ::1); give a token file to open it to others");
  }
  const bool https = !flags.web_tls_cert.empty() || !flags.web_tls_key.empty();
  if (https) {
    if (flags.web_tls_cert.empty() || flags.web_tls_key.empty())
      return Status::InvalidArgument(std::string(flags.web_tls_cert.empty() ? "--web-tls-key" : "--web-tls-cert") +
                                     " needs " + (flags.web_tls_cert.empty() ? "--web-tls-cert" : "--web-tls-key") +
                                     ": HTTPS takes both the certificate and its private key");
    web::WebTlsOptions tls{
        .certificate_file = flags.web_tls_cert, .private_key_file = flags.web_tls_key, .ca_file = flags.web_tls_ca};
    const std::string verify =
        flags.web_tls_verify.empty() ? (flags.web_tls_ca.empty() ? "none" : "require") : flags.web_tls_verify;
    tls.verify = verify == "require"    ? web::WebTlsOptions::Verify::kRequire
                 : verify == "optional" ? web::WebTlsOptions::Verify::kOptional
                                        : web::WebTlsOptions::Verify::kNone;
    options.tls = std::move(tls);
    options.tls_handshake_timeout = std::chrono::milliseconds(flags.tls_handshake_timeout_ms);
  } else if (!flags.web_tls_ca.empty() || !flags.web_tls_verify.empty()) {
    return Status::InvalidArgument("--web-tls-ca and --web-tls-verify need HTTPS (--web-tls-cert, --web-tls-key)");
  }
  const fs::path spill = fs::path(data_dir) / "web-incoming";
  std::error_code ec;
  fs::create_directories(spill, ec);
  if (ec) return Status::IOError("cannot create " + spill.string() + " for web request bodies: " + ec.message());
  options.spill_dir = spill.string();

  auto endpoint = std::make_unique<WebEndpoint>();
  endpoint->context = std::make_unique<web::DicomWebContext>(
      store, &ingestor,
      web::DicomWebOptions{
          .base_url = flags.web_base_url, .retrieve_ae_title = flags.aet, .max_body = flags.web_max_body});
  web::Router router;
  web::RegisterDicomWebRoutes(router, *endpoint->context);
  if (!flags.viewer_dir.empty())
    PACS_RETURN_IF_ERROR(web::RegisterViewerRoutes(router, {.directory = flags.viewer_dir}, *endpoint->context));
  auto server = web::WebServer::Start(std::move(options), std::make_shared<const web::Router>(std::move(router)));
  if (!server.ok()) return server.status().WithContext("--web-port");
  endpoint->server = std::move(*server);
  endpoint->port_file = WebPortFile(data_dir);
  const std::string tmp = endpoint->port_file + ".tmp";
  std::ofstream(tmp) << endpoint->server->port() << "\n";
  fs::rename(tmp, endpoint->port_file, ec);
  const bool v6 = flags.web_bind.find(':') != std::string::npos;
  LogInfo(std::string("DICOMweb on ") + (https ? "https://" : "http://") +
          (v6 ? "[" + flags.web_bind + "]" : flags.web_bind) + ":" + std::to_string(endpoint->server->port()) +
          "/dicom-web" +
          (flags.web_token_file.empty() ? std::string(" (no token file: loopback only)")
                                        : " with tokens from " + flags.web_token_file) +
          (flags.web_cors_origin.empty() ? "" : "; CORS origin " + flags.web_cors_origin) +
          (flags.viewer_dir.empty() ? "" : "; viewer at /") +
          (https ? "; TLS certificate " + flags.web_tls_cert +
                       (flags.web_tls_ca.empty() ? std::string()
                                                 : ", client certificates checked against " + flags.web_tls_ca)
                 : std::string()));
  return endpoint;
}

}  // namespace pacs::tools
