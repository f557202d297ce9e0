#include "pacs/dicom/dicom_server.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "dcmtk/dcmdata/dcuid.h"
#include "pacs/base/log.h"
#include "pacs/dicom/query.h"
#include "scp/archive_handlers.h"
#include "scp/association_pool.h"
#include "tls_layer.h"

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
  // DICOM TLS (tls_layer.h): the TLS port's pool (idle without --tls-port),
  // and the layers Run() builds before anything listens: the TLS port's, and
  // the one of the associations opened to peers marked tls.
  std::unique_ptr<TlsLayer> tls_acceptor;
  std::unique_ptr<TlsLayer> tls_requestor;
  scp::AssociationPool tls_pool;
  std::atomic<bool> stop_requested{false};

  Impl(Ingestor& ingestor, ServerOptions o, metrics::Registry& registry)
      : options(std::move(o)),
        counters(registry),
        queries(ingestor.store(), options.ae_title),
        handlers(ingestor, queries, options),
        context{handlers, handlers, handlers, handlers, counters, options},
        pool(context),
        tls_pool(context) {}
};

DicomServer::DicomServer(Ingestor& ingestor, ServerOptions options, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(ingestor, std::move(options), registry)) {}
DicomServer::~DicomServer() = default;

const ServerCounters& DicomServer::counters() const {
  return impl_->counters;
}

void DicomServer::Stop() {
  impl_->stop_requested.store(true);
  impl_->pool.stopAfterCurrentAssociations();
  impl_->tls_pool.stopAfterCurrentAssociations();
}

namespace {

// The listening wiring of one port, kept in one place: `tls` null for plain
// DICOM, else the TLS layer every accepted connection handshakes with
// (within the layer's timeout) before the association request is read. A
// listener of our own takes the same {port, DcmTransportLayer*} pairs.
Status ConfigurePool(scp::AssociationPool& pool, const ServerOptions& options, uint16_t port, DcmTransportLayer* tls) {
  DcmSCPConfig& cfg = pool.getConfig();
  cfg.setPort(port);
  cfg.setAETitle(options.ae_title);
  cfg.setRespondWithCalledAETitle(false);
  cfg.setHostLookupEnabled(false);
  cfg.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  cfg.setConnectionBlockingMode(DUL_NOBLOCK);  // so that listening notices Stop() within a second
  cfg.setConnectionTimeout(1);
  cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  cfg.setDIMSETimeout(120);
  cfg.setACSETimeout(30);
  if (tls != nullptr) cfg.setTransportLayer(tls);
  pool.setMaxThreads(options.max_associations);

  // The pool wants a profile; the real negotiation is scp::NegotiatePresentationContexts.
  OFList<OFString> plain;
  plain.emplace_back(UID_LittleEndianExplicitTransferSyntax);
  plain.emplace_back(UID_LittleEndianImplicitTransferSyntax);
  OFCondition cond = cfg.addPresentationContext(UID_VerificationSOPClass, plain);
  if (cond.bad()) return Status::Internal(std::string("cannot configure presentation contexts: ") + cond.text());
  return Status::Ok();
}

}  // namespace

Status DicomServer::Run() {
  Impl& impl = *impl_;
  const ServerOptions& options = impl.options;
  if (!options.plain_port && options.tls_port == 0)
    return Status::InvalidArgument("--port off needs --tls-port: there would be no DICOM port to listen on");
  if (options.plain_port && options.tls_port == options.port)
    return Status::InvalidArgument("--tls-port and --port are both " + std::to_string(options.port));
  if (options.tls_port != 0) {
    const std::string port = std::to_string(options.tls_port);
    auto layer = TlsLayer::Create(options.tls, TlsRole::kAcceptor,
                                  [&impl, port](const std::string& peer, const std::string& reason) {
                                    impl.counters.CountRefusal("tls_handshake_failed");
                                    LogWarning("security alert: TLS handshake on port " + port + " with " + peer +
                                               " failed: " + reason + "; connection closed, no association");
                                  });
    if (!layer.ok()) return layer.status().WithContext("TLS port " + port);
    impl.tls_acceptor = std::move(*layer);
  }
  if (std::any_of(options.peers.begin(), options.peers.end(), [](const PeerAddress& p) { return p.tls; })) {
    auto layer = TlsLayer::Create(options.tls, TlsRole::kRequestor);
    if (!layer.ok()) return layer.status().WithContext("TLS to the peers marked +tls");
    impl.tls_requestor = std::move(*layer);
    impl.context.tls_requestor = impl.tls_requestor.get();
  }

  struct Port {
    scp::AssociationPool* pool;
    std::string description;
    Status result;
  };
  std::vector<Port> ports;
  if (options.plain_port) {
    Status configured = ConfigurePool(impl.pool, options, options.port, nullptr);
    if (!configured.ok()) return configured;
    ports.push_back({&impl.pool, "port " + std::to_string(options.port), Status::Ok()});
  }
  if (impl.tls_acceptor) {
    Status configured = ConfigurePool(impl.tls_pool, options, options.tls_port, impl.tls_acceptor.get());
    if (!configured.ok()) return configured;
    ports.push_back({&impl.tls_pool,
                     "TLS port " + std::to_string(options.tls_port) +
                         " (profile BCP195-ND, client certificates: " + TlsVerifyName(options.tls.verify) + ")",
                     Status::Ok()});
  }

  // One listening thread per port. When one ends (it cannot bind, or Stop()),
  // the others are told to stop until they have: a pool that had not begun
  // listening when first told would not have heard it.
  std::atomic<size_t> running{ports.size()};
  std::vector<std::thread> threads;
  threads.reserve(ports.size());
  for (Port& port : ports) {
    threads.emplace_back([&] {
      port.result =
          port.pool->Listen([&] { LogInfo("DICOM node " + options.ae_title + " listening on " + port.description); });
      impl.stop_requested.store(true);
      running.fetch_sub(1);
    });
  }
  while (running.load() > 0) {
    if (impl.stop_requested.load())
      for (Port& port : ports) port.pool->stopAfterCurrentAssociations();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& thread : threads) thread.join();
  for (Port& port : ports)
    if (!port.result.ok()) return port.result;
  return Status::Ok();
}

}  // namespace pacs::dicom
