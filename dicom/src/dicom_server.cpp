#include "pacs/dicom/dicom_server.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "dcmtk/dcmdata/dcuid.h"
#include "pacs/base/audit.h"
#include "pacs/base/log.h"
#include "pacs/dicom/query.h"
#include "scp/archive_handlers.h"
#include "scp/association_pool.h"
#include "tls_layer.h"

namespace pacs::dicom {

namespace {

// Large C-STORE datasets are received into files here: the data folder's
// file system, which the free-space floor watches.
ServerOptions WithSpillDir(ServerOptions options, const std::string& data_folder) {
  if (options.spill_dir.empty()) options.spill_dir = (std::filesystem::path(data_folder) / "incoming").string();
  return options;
}

// Spill files a killed server left behind.
void RemoveLeftoverSpillFiles(const std::string& spill_dir) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(spill_dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    if (it->path().filename().string().rfind("cstore-", 0) == 0) std::filesystem::remove(it->path(), ec);
}

}  // namespace

// Built once, before any association: the workers reach everything here
// through `context`, which lives as long as the pool.
struct DicomServer::Impl {
  ServerOptions options;
  ServerCounters counters;
  QueryEngine queries;
  scp::ArchiveHandlers handlers;
  scp::AccessControl access;
  scp::ScpContext context;
  // DICOM TLS (tls_layer.h): the layers Run() builds before anything listens:
  // the TLS port's, and the one of the associations opened to peers marked
  // tls. Declared before the pool, which uses the first until it is gone.
  std::unique_ptr<TlsLayer> tls_acceptor;
  std::unique_ptr<TlsLayer> tls_requestor;
  // One set of association threads serves the plain and the TLS port.
  scp::AssociationPool pool;

  Impl(Ingestor& ingestor, ServerOptions o, metrics::Registry& registry)
      : options(WithSpillDir(std::move(o), ingestor.store().path())),
        counters(registry),
        queries(ingestor.store(), options.ae_title),
        handlers(ingestor, queries, options),
        access(options, counters),
        context{handlers, handlers, handlers, handlers, counters, options, access},
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
  Impl& impl = *impl_;
  const ServerOptions& o = impl.options;
  if (!o.plain_port && o.tls_port == 0)
    return Status::InvalidArgument("--port off needs --tls-port: there would be no DICOM port to listen on");
  if (o.plain_port && o.tls_port == o.port)
    return Status::InvalidArgument("--tls-port and --port are both " + std::to_string(o.port));

  DcmSCPConfig& cfg = impl.pool.config();
  cfg.setAETitle(o.ae_title);
  cfg.setRespondWithCalledAETitle(false);
  cfg.setHostLookupEnabled(false);  // the peer's address stays numeric: access control compares it
  cfg.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  cfg.setDIMSETimeout(120);  // within a request; between requests --idle-timeout applies
  RemoveLeftoverSpillFiles(impl_->options.spill_dir);

  // The pool wants a profile; the real negotiation is scp::NegotiatePresentationContexts.
  OFList<OFString> plain;
  plain.emplace_back(UID_LittleEndianExplicitTransferSyntax);
  plain.emplace_back(UID_LittleEndianImplicitTransferSyntax);
  OFCondition cond = cfg.addPresentationContext(UID_VerificationSOPClass, plain);
  if (cond.bad()) return Status::Internal(std::string("cannot configure presentation contexts: ") + cond.text());

  if (o.tls_port != 0) {
    const std::string port = std::to_string(o.tls_port);
    auto layer =
        TlsLayer::Create(o.tls, TlsRole::kAcceptor, [&impl, port](const std::string& peer, const std::string& reason) {
          impl.counters.CountRefusal("tls_handshake_failed");
          audit::SecurityAlert(audit::EventType::kNodeAuthentication, {.host = peer}, "DICOM TLS",
                               "TLS handshake failed: " + reason);
          LogWarning("security alert: TLS handshake on port " + port + " with " + peer + " failed: " + reason +
                     "; connection closed, no association");
        });
    if (!layer.ok()) return layer.status().WithContext("TLS port " + port);
    impl.tls_acceptor = std::move(*layer);
  }
  if (std::any_of(o.peers.begin(), o.peers.end(), [](const PeerAddress& p) { return p.tls; })) {
    auto layer = TlsLayer::Create(o.tls, TlsRole::kRequestor);
    if (!layer.ok()) return layer.status().WithContext("TLS to the peers marked +tls");
    impl.tls_requestor = std::move(*layer);
    impl.context.tls_requestor = impl.tls_requestor.get();
  }

  std::vector<scp::PoolEndpoint> endpoints;
  std::string ports;
  if (o.plain_port) {
    scp::PoolEndpoint dicom_port;
    dicom_port.listen = {.address = o.bind_address, .port = o.port, .tls = false};
    endpoints.push_back(dicom_port);
    ports = o.bind_address + ":" + std::to_string(o.port);
  }
  if (impl.tls_acceptor) {
    scp::PoolEndpoint tls_port;
    tls_port.listen = {.address = o.bind_address, .port = o.tls_port, .tls = true};
    tls_port.transport_layer = impl.tls_acceptor.get();
    endpoints.push_back(tls_port);
    if (!ports.empty()) ports += " and ";
    ports += o.bind_address + ":" + std::to_string(o.tls_port) +
             " (TLS, profile BCP195-ND, client certificates: " + TlsVerifyName(o.tls.verify) + ")";
  }
  return impl.pool.Listen(endpoints, [&] {
    LogInfo("DICOM node " + o.ae_title + " listening on " + ports + " (" + std::to_string(o.max_associations) +
            " association threads, " + std::to_string(o.max_connections_per_host) + " connections per source address)");
  });
}

}  // namespace pacs::dicom
