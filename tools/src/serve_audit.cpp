#include "serve_audit.h"

#include <algorithm>

#include "pacs/base/audit.h"

namespace pacs::tools {
namespace {

std::vector<audit::StudyRef> StudiesFromJson(const Json& list) {
  std::vector<audit::StudyRef> studies;
  if (!list.is_array()) return studies;
  for (const auto& s : list)
    studies.push_back({JsonString(s, "study"), JsonString(s, "patient_id"),
                       static_cast<uint64_t>(std::max<int64_t>(0, JsonInt(s, "instances")))});
  return studies;
}

}  // namespace

Status StartAuditTrail(const ServeFlags& flags) {
  if (flags.audit_log.empty()) return Status::Ok();
  auto trail = audit::AuditTrail::Open(flags.audit_log, flags.aet);
  if (!trail.ok()) return trail.status();
  audit::InstallAuditTrail(std::move(*trail));
  audit::Audit({.id = audit::EventId::kApplicationActivity,
                .type = audit::EventType::kApplicationStart,
                .service = "pacscore serve",
                .peer = {.user = audit::ProcessUser()},
                .detail = "data folder " + flags.data + ", DICOM port " + std::to_string(flags.port)});
  return Status::Ok();
}

void StopAuditTrail(const Status& run) {
  if (!audit::AuditEnabled()) return;
  audit::Audit({.id = audit::EventId::kApplicationActivity,
                .type = audit::EventType::kApplicationStop,
                .outcome = run.ok() ? audit::Outcome::kSuccess : audit::Outcome::kSeriousFailure,
                .service = "pacscore serve",
                .peer = {.user = audit::ProcessUser()},
                .detail = run.ok() ? std::string() : run.ToString()});
  audit::InstallAuditTrail(nullptr);
}

void AuditAdminAction(const std::string& target, const Json& request, const Json& reply, const std::string& user) {
  if (!audit::AuditEnabled()) return;
  audit::Event event{.service = "admin " + target, .peer = {.host = "127.0.0.1", .user = user}};
  const std::string error = JsonString(reply, "error");
  const bool failed = !error.empty() || (reply.contains("ok") && !JsonBool(reply, "ok"));
  event.outcome = failed ? audit::Outcome::kSeriousFailure : audit::Outcome::kSuccess;
  event.detail = error;
  if (target == "/delete") {
    event.id = audit::EventId::kStudyDeleted;
    event.studies = StudiesFromJson(reply.value("studies", Json::array()));
    event.counts = {{"instances", static_cast<uint64_t>(std::max<int64_t>(0, JsonInt(reply, "deleted_instances")))}};
    // What was asked for, even when nothing matched.
    for (const char* key : {"study", "series", "instance"})
      if (!JsonString(request, key).empty()) event.query.emplace_back(key, JsonString(request, key));
  } else if (target == "/export") {
    event.id = audit::EventId::kExport;
    event.studies = StudiesFromJson(reply.value("studies", Json::array()));
    event.counts = {{"exported", static_cast<uint64_t>(std::max<int64_t>(0, JsonInt(reply, "exported")))},
                    {"failed", static_cast<uint64_t>(std::max<int64_t>(0, JsonInt(reply, "failed")))}};
    event.detail = "to " + JsonString(request, "out") + (error.empty() ? "" : ": " + error);
    if (!failed && event.counts[1].second > 0) event.outcome = audit::Outcome::kMinorFailure;
  } else if (target == "/import") {
    event.id = audit::EventId::kImport;
    if (!failed) event.studies.push_back({JsonString(reply, "study_instance_uid"), JsonString(reply, "patient_id"), 1});
    event.counts = {{"imported", failed ? 0U : 1U}};
    event.detail = "from " + JsonString(request, "path") + (error.empty() ? "" : ": " + error);
  } else {
    // compact (which makes deletions final), reindex, protect, retention:
    // administrative functions, recorded as their use.
    event.id = audit::EventId::kSecurityAlert;
    event.type = audit::EventType::kUseOfRestrictedFunction;
    if (!JsonString(request, "study").empty()) event.studies.push_back({JsonString(request, "study"), "", 0});
  }
  audit::Audit(event);
}

}  // namespace pacs::tools
