// File: serve_web.h
// `serve --web-port`: DICOMweb and the optional viewer on their own HTTP
// port (pacs/web/), started beside the DICOM node on the same store and
// ingestor. Checks the web flags (token file, loopback-only without one,
// HTTPS certificate and key, the viewer folder) and publishes the port in DATA/web.port.
#pragma once

#include <memory>
#include <string>

#include "cli.h"
#include "pacs/base/result.h"
#include "pacs/dicom/ingest.h"
#include "pacs/engine/store.h"
#include "pacs/web/dicomweb.h"
#include "pacs/web/web_server.h"

namespace pacs::tools {

// The running web endpoint; Stop() before the store and ingestor go.
struct WebEndpoint {
  std::unique_ptr<web::DicomWebContext> context;
  std::unique_ptr<web::WebServer> server;
  std::string port_file;  // DATA/web.port, removed by Stop()
  void Stop() const;
};

// Null when flags.web_port < 0 (no web port).
Result<std::unique_ptr<WebEndpoint>> StartWebEndpoint(const ServeFlags& flags, engine::Store& store,
                                                      dicom::Ingestor& ingestor, const std::string& data_dir);

// The file in the data folder where `serve` publishes its web port.
std::string WebPortFile(const std::string& data_dir);

}  // namespace pacs::tools
