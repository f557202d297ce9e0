// File: serve_audit.h
// The audit events of `pacscore serve` itself (start, stop) and of its admin
// endpoint's actions (pacs/base/audit.h; format in docs/security.md).
#pragma once

#include <string>
#include <utility>

#include "cli.h"
#include "pacs/base/result.h"

namespace pacs::tools {

// Opens --audit-log FILE, installs it as the process's trail and writes
// Application Start. Fails, naming the file, when it cannot be opened.
Status StartAuditTrail(const ServeFlags& flags);
// Application Stop (outcome 8 when the server ended on an error), then back to the null sink.
void StopAuditTrail(const Status& run);
// Writes Application Stop when it goes out of scope: with the run's status
// once set, or as a start that failed (outcome 8) when `serve` ends before.
class ApplicationStopOnExit {
 public:
  ApplicationStopOnExit() = default;
  ApplicationStopOnExit(const ApplicationStopOnExit&) = delete;
  ApplicationStopOnExit& operator=(const ApplicationStopOnExit&) = delete;
  ~ApplicationStopOnExit() { StopAuditTrail(status_); }
  void set(Status status) { status_ = std::move(status); }

 private:
  Status status_ = Status::Internal("pacscore serve ended before its DICOM server ran");
};
// One event for an admin action (`target` is "/delete", "/export", ...),
// from its request and its JSON reply. `user` is who asked, when known.
void AuditAdminAction(const std::string& target, const Json& request, const Json& reply, const std::string& user = "");

}  // namespace pacs::tools
