#include "pacs/dicom/dicom_server.h"

#include <filesystem>

#include "dcmtk/dcmdata/dcuid.h"
#include "pacs/base/log.h"
#include "pacs/dicom/query.h"
#include "scp/archive_handlers.h"
#include "scp/association_pool.h"

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
  scp::ScpContext context;
  scp::AssociationPool pool;

  Impl(Ingestor& ingestor, ServerOptions o, metrics::Registry& registry)
      : options(WithSpillDir(std::move(o), ingestor.store().path())),
        counters(registry),
        queries(ingestor.store(), options.ae_title),
        handlers(ingestor, queries, options),
        context{handlers, handlers, handlers, handlers, counters, options},
        pool(context) {}
};

DicomServer::DicomServer(Ingestor& ingestor, ServerOptions options, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(ingestor, std::move(options), registry)) {}
DicomServer::~DicomServer() = default;

const ServerCounters& DicomServer::counters() const {
  return impl_->counters;
}

void DicomServer::Stop() {
  impl_->pool.stopAfterCurrentAssociations();
}

Status DicomServer::Run() {
  DcmSCPConfig& cfg = impl_->pool.getConfig();
  cfg.setPort(impl_->options.port);
  cfg.setAETitle(impl_->options.ae_title);
  cfg.setRespondWithCalledAETitle(false);
  cfg.setHostLookupEnabled(false);
  cfg.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  cfg.setConnectionBlockingMode(DUL_NOBLOCK);  // so that listening notices Stop() within a second
  cfg.setConnectionTimeout(1);
  cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  cfg.setDIMSETimeout(120);
  cfg.setACSETimeout(30);
  impl_->pool.setMaxThreads(impl_->options.max_associations);
  RemoveLeftoverSpillFiles(impl_->options.spill_dir);

  // The pool wants a profile; the real negotiation is scp::NegotiatePresentationContexts.
  OFList<OFString> plain;
  plain.emplace_back(UID_LittleEndianExplicitTransferSyntax);
  plain.emplace_back(UID_LittleEndianImplicitTransferSyntax);
  OFCondition cond = cfg.addPresentationContext(UID_VerificationSOPClass, plain);
  if (cond.bad()) return Status::Internal(std::string("cannot configure presentation contexts: ") + cond.text());

  return impl_->pool.Listen([&] {
    LogInfo("DICOM node " + impl_->options.ae_title + " listening on port " + std::to_string(impl_->options.port));
  });
}

}  // namespace pacs::dicom
