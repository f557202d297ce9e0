#include "pacs/web/dicomweb.h"

#include "metadata_cache.h"
#include "pacs/dicom/query.h"
#include "pacs/engine/store.h"

namespace pacs::web {

DicomWebContext::DicomWebContext(engine::Store& store, dicom::Ingestor* ingestor, DicomWebOptions options)
    : store_(store),
      ingestor_(ingestor),
      options_(std::move(options)),
      query_(std::make_unique<dicom::QueryEngine>(store, options_.retrieve_ae_title)),
      metadata_cache_(std::make_unique<MetadataCache>()) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

DicomWebContext::~DicomWebContext() = default;

std::string DicomWebContext::Uri(std::string_view path) const {
  return options_.base_url + options_.root + std::string(path);
}

void RegisterDicomWebRoutes(Router& router, DicomWebContext& context) {
  RegisterQidoRoutes(router, context);
  RegisterWadoRoutes(router, context);
  RegisterStowRoutes(router, context);
  RegisterRenderedRoutes(router, context);
}

}  // namespace pacs::web
