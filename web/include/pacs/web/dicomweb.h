// File: dicomweb.h
// DICOMweb (PS3.18) on the store: what the routes share (DicomWebContext)
// and the functions that register them on a Router. Each group of routes
// lives in its own file and registers itself here:
//
//   qido.cpp          QIDO-RS search          RegisterQidoRoutes      (GET  .../studies?..., .../series, .../instances)
//   wado.cpp          WADO-RS retrieval       RegisterWadoRoutes      (GET  instances, /metadata, /frames, /bulkdata)
//   stow.cpp          STOW-RS store           RegisterStowRoutes      (POST /studies, /studies/{study})
//   rendered.cpp      rendered / thumbnails   RegisterRenderedRoutes  (GET  .../rendered, .../thumbnail)
//   viewer.cpp        static OHIF viewer      RegisterViewerRoutes    (GET  / and everything not /dicom-web)
//
// RegisterDicomWebRoutes calls the first four in that order. Paths are
// `options.root` ("/dicom-web") followed by the PS3.18 resource path.
//
//   DicomWebContext context(store, &ingestor, {.root = "/dicom-web"});
//   Router router;
//   RegisterDicomWebRoutes(router, context);
//   RegisterViewerRoutes(router, {.directory = "/opt/ohif"}, context);   // optional, last
//
// The context is shared by every worker thread: everything in it is
// thread-safe (the store, the query engine, the metadata cache, the counters).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "pacs/base/result.h"
#include "pacs/web/http.h"

namespace pacs::engine {
class Store;
}
namespace pacs::dicom {
class Ingestor;
class QueryEngine;
}  // namespace pacs::dicom

namespace pacs::web {

struct DicomWebOptions {
  std::string root = "/dicom-web";  // where DICOMweb lives on the web port
  // --web-base-url: when set ("https://pacs.example.org"), URIs in responses
  // (RetrieveURL, BulkDataURI) are absolute on it; else they are relative
  // ("/dicom-web/studies/..."). Never taken from a request's Host header.
  std::string base_url;
  std::string retrieve_ae_title = "PACSCORE";  // RetrieveAETitle in QIDO responses
  uint64_t max_body = uint64_t{4} << 30;       // --web-max-body: STOW bodies
  // Binary values larger than this go out in /metadata as a BulkDataURI.
  uint64_t bulkdata_threshold = 1024;
};

// What DICOMweb has sent, for /stats and tests (the frame counters of
// frame_source.h count as-stored / decoded frames process-wide).
struct DicomWebCounters {
  std::atomic<uint64_t> frames_sent{0};            // /frames parts
  std::atomic<uint64_t> frames_sent_as_stored{0};  // of those, byte for byte as stored
  std::atomic<uint64_t> metadata_cache_hits{0};
  std::atomic<uint64_t> metadata_cache_misses{0};
  std::atomic<uint64_t> instances_sent{0};    // application/dicom parts
  std::atomic<uint64_t> instances_stored{0};  // STOW parts committed
};

class MetadataCache;  // wado.cpp

class DicomWebContext {
 public:
  // `ingestor` may be null (no STOW). The store must outlive the context.
  DicomWebContext(engine::Store& store, dicom::Ingestor* ingestor, DicomWebOptions options);
  ~DicomWebContext();
  DicomWebContext(const DicomWebContext&) = delete;
  DicomWebContext& operator=(const DicomWebContext&) = delete;

  engine::Store& store() const { return store_; }
  dicom::Ingestor* ingestor() const { return ingestor_; }
  const dicom::QueryEngine& query() const { return *query_; }
  const DicomWebOptions& options() const { return options_; }
  DicomWebCounters& counters() const { return counters_; }
  MetadataCache& metadata_cache() const { return *metadata_cache_; }
  // A URI for a DICOMweb path ("/studies/1.2/series"): base_url + root + path, or root + path.
  std::string Uri(std::string_view path) const;

 private:
  engine::Store& store_;
  dicom::Ingestor* ingestor_;
  DicomWebOptions options_;
  std::unique_ptr<dicom::QueryEngine> query_;
  std::unique_ptr<MetadataCache> metadata_cache_;
  mutable DicomWebCounters counters_;
};

void RegisterDicomWebRoutes(Router& router, DicomWebContext& context);
void RegisterQidoRoutes(Router& router, DicomWebContext& context);
void RegisterWadoRoutes(Router& router, DicomWebContext& context);
void RegisterStowRoutes(Router& router, DicomWebContext& context);
void RegisterRenderedRoutes(Router& router, DicomWebContext& context);

struct ViewerOptions {
  std::string directory;  // a built OHIF viewer (its dist/ folder): index.html, app-config.js, ...
};
// Serves `directory` at the root of the web port: files with their MIME
// types, index.html for the viewer's client-side routes, the cross-origin
// isolation headers, and a generated /app-config.js whose DICOMweb data
// source points at context.options().root on the same origin. Checks that
// the directory holds an index.html. Register it last.
Status RegisterViewerRoutes(Router& router, const ViewerOptions& options, DicomWebContext& context);

}  // namespace pacs::web
