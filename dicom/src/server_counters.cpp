// The DICOM node's metrics: their names, help and labels. docs/operations.md
// lists them for operators; keep the two in step.
#include "pacs/dicom/dicom_server.h"

namespace pacs::dicom {
namespace {

constexpr DimseService kServices[] = {DimseService::kEcho, DimseService::kStore, DimseService::kFind,
                                      DimseService::kMove, DimseService::kGet};
constexpr DimseOutcome kOutcomes[] = {DimseOutcome::kSuccess, DimseOutcome::kWarning, DimseOutcome::kFailure,
                                      DimseOutcome::kCancel};
// Every reason a refusal is counted under (association_pool.cpp,
// association_worker.cpp and scp/access_control.cpp), present from the
// start so that a dashboard shows 0 rather than nothing.
constexpr const char* kRefusalReasons[] = {
    "too_many_associations",
    "unreadable_request",
    "no_presentation_contexts",
    "application_context",
    "called_ae_title",
    "calling_ae_title",
    "calling_host",
    "not_permitted",
    "too_many_associations_for_ae",
    "request_not_permitted",
    "no_implementation_class_uid",
    "forced",
    "internal_error",
    // The listener's (listener.cpp, association_pool.cpp): before any association.
    "too_many_connections_from_host",
    "association_request_timeout",
    "too_many_pending_connections",
};
// Why the server closed an association it had accepted (association_pool.cpp).
constexpr const char* kCloseReasons[] = {"idle_timeout", "shutdown"};

}  // namespace

const char* ServiceLabel(DimseService service) {
  switch (service) {
    case DimseService::kEcho:
      return "echo";
    case DimseService::kStore:
      return "store";
    case DimseService::kFind:
      return "find";
    case DimseService::kMove:
      return "move";
    case DimseService::kGet:
      return "get";
  }
  return "unknown";
}

const char* OutcomeLabel(DimseOutcome outcome) {
  switch (outcome) {
    case DimseOutcome::kSuccess:
      return "success";
    case DimseOutcome::kWarning:
      return "warning";
    case DimseOutcome::kFailure:
      return "failure";
    case DimseOutcome::kCancel:
      return "cancel";
  }
  return "unknown";
}

ServerCounters::ServerCounters(metrics::Registry& registry)
    : associations(registry.AddCounter("pacscore_associations_total", "DICOM associations accepted.").Get()),
      associations_open(registry.AddGauge("pacscore_associations_open", "DICOM associations being served now.").Get()),
      associations_refused_(
          registry.AddCounter("pacscore_associations_refused_total",
                              "DICOM association requests refused or dropped, and DIMSE requests refused by "
                              "access control (reason request_not_permitted), by reason.",
                              {"reason"})),
      associations_closed_(registry.AddCounter("pacscore_associations_closed_total",
                                               "Accepted DICOM associations the server aborted, by reason.",
                                               {"reason"})),
      requests_by_outcome_(registry.AddCounter(
          "pacscore_dimse_requests_total",
          "DIMSE requests answered, by service and final status (success, warning, failure, cancel).",
          {"service", "status"})),
      suboperations_(registry.AddCounter("pacscore_dimse_suboperations_total",
                                         "C-STORE sub-operations of C-MOVE and C-GET, by result.",
                                         {"service", "result"})),
      store_seconds(registry
                        .AddHistogram("pacscore_store_duration_seconds",
                                      "C-STORE requests, from the request to the response sent: receiving the "
                                      "dataset, storing it durably, answering.",
                                      metrics::LatencyBucketsSeconds())
                        .Get()),
      store_received_bytes(registry
                               .AddCounter("pacscore_store_received_bytes_total",
                                           "Bytes of the datasets received by C-STORE, as encoded in the "
                                           "negotiated transfer syntax (PDU framing not included).")
                               .Get()),
      receive_failures(registry
                           .AddCounter("pacscore_store_receive_failures_total",
                                       "C-STORE datasets that could not be received; each aborted its association "
                                       "and nothing was stored. Also counted as failed C-STORE requests.")
                           .Get()),
      commitment_requests(
          registry.AddCounter("pacscore_commitment_requests_total", "Storage Commitment requests (N-ACTION) received.")
              .Get()),
      commitment_instances_committed(registry
                                         .AddCounter("pacscore_commitment_instances_committed_total",
                                                     "Instances a Storage Commitment report listed as committed: "
                                                     "present, and every frame re-hashed to its key.")
                                         .Get()),
      commitment_instances_failed(registry
                                      .AddCounter("pacscore_commitment_instances_failed_total",
                                                  "Instances a Storage Commitment report listed as failed (missing "
                                                  "or damaged).")
                                      .Get()),
      commitment_reports_failed(registry
                                    .AddCounter("pacscore_commitment_reports_failed_total",
                                                "Storage Commitment N-EVENT-REPORTs that could not be delivered.")
                                    .Get()) {
  for (const char* reason : kRefusalReasons) associations_refused_.With({reason});
  for (const char* reason : kCloseReasons) associations_closed_.With({reason});
  for (DimseService service : kServices)
    for (DimseOutcome outcome : kOutcomes)
      requests_[static_cast<size_t>(service)][static_cast<size_t>(outcome)] =
          &requests_by_outcome_.With({ServiceLabel(service), OutcomeLabel(outcome)});
  for (DimseService service : {DimseService::kMove, DimseService::kGet})
    for (const char* result : {"completed", "warning", "failed"}) suboperations_.With({ServiceLabel(service), result});
}

uint64_t ServerCounters::requests(DimseService service, DimseOutcome outcome) const {
  return Requests(service, outcome).value();
}

uint64_t ServerCounters::requests(DimseService service) const {
  uint64_t total = 0;
  for (DimseOutcome outcome : kOutcomes) total += requests(service, outcome);
  return total;
}

void ServerCounters::CountSubOperation(DimseService service, const char* result) {
  suboperations_.With({ServiceLabel(service), result}).Increment();
}

}  // namespace pacs::dicom
