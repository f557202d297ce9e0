#include "pacs/dicom/dicom_server.h"

#include "dcmtk/dcmdata/dcuid.h"
#include "pacs/base/log.h"
#include "pacs/dicom/query.h"
#include "scp/archive_handlers.h"
#include "scp/association_pool.h"

namespace pacs::dicom {

// Built once, before any association: the workers reach everything here
// through `context`, which lives as long as the pool.
struct DicomServer::Impl {
  ServerOptions options;
  ServerCounters counters;
  QueryEngine queries;
  scp::ArchiveHandlers handlers;
  scp::ScpContext context;
  scp::AssociationPool pool;

  Impl(Ingestor& ingestor, ServerOptions o, metrics::Registry& registry)
      : options(std::move(o)),
        counters(registry),
        queries(ingestor.store(), options.ae_title),
        handlers(ingestor, queries, options),
        context{handlers, handlers, handlers, handlers, counters, options},
        pool(context, {.max_associations = options.max_associations,
                       .max_connections_per_host = options.max_connections_per_host,
                       .request_timeout = options.association_request_timeout,
                       .idle_timeout = options.idle_timeout}) {}
};

DicomServer::DicomServer(Ingestor& ingestor, ServerOptions options, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(ingestor, std::move(options), registry)) {}
DicomServer::~DicomServer() = default;

const ServerCounters& DicomServer::counters() const {
  return impl_->counters;
}

void DicomServer::Stop() {
  impl_->pool.Stop();
}

Status DicomServer::Run() {
  DcmSCPConfig& cfg = impl_->pool.config();
  cfg.setPort(impl_->options.port);
  cfg.setAETitle(impl_->options.ae_title);
  cfg.setRespondWithCalledAETitle(false);
  cfg.setHostLookupEnabled(false);
  cfg.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  cfg.setDIMSETimeout(120);  // within a request; between requests --idle-timeout applies

  // The pool wants a profile; the real negotiation is scp::NegotiatePresentationContexts.
  OFList<OFString> plain;
  plain.emplace_back(UID_LittleEndianExplicitTransferSyntax);
  plain.emplace_back(UID_LittleEndianImplicitTransferSyntax);
  OFCondition cond = cfg.addPresentationContext(UID_VerificationSOPClass, plain);
  if (cond.bad()) return Status::Internal(std::string("cannot configure presentation contexts: ") + cond.text());

  const ServerOptions& o = impl_->options;
  scp::PoolEndpoint dicom_port;
  dicom_port.listen = {.address = o.bind_address, .port = o.port, .tls = false};
  return impl_->pool.Listen({dicom_port}, [&] {
    LogInfo("DICOM node " + o.ae_title + " listening on " + o.bind_address + ":" + std::to_string(o.port) + " (" +
            std::to_string(o.max_associations) + " association threads, " + std::to_string(o.max_connections_per_host) +
            " connections per source address)");
  });
}

}  // namespace pacs::dicom
