#include "pacs/dicom/retention.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include "index_records.h"
#include "pacs/base/audit.h"
#include "pacs/base/log.h"

namespace pacs::dicom {
namespace {

constexpr uint32_t kStudyDateTag = index::Tag(0x0008, 0x0020);

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "365d", "12h", "30m", "90s" (a number with a unit; days when none).
std::optional<int64_t> ParseAgeMs(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t scale = int64_t{86400} * 1000;
  switch (text.back()) {
    case 'd':
      text.remove_suffix(1);
      break;
    case 'h':
      scale = int64_t{3600} * 1000;
      text.remove_suffix(1);
      break;
    case 'm':
      scale = int64_t{60} * 1000;
      text.remove_suffix(1);
      break;
    case 's':
      scale = 1000;
      text.remove_suffix(1);
      break;
    default:
      break;
  }
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::strtoll(std::string(text).c_str(), nullptr, 10) * scale;
}

// A DA value (YYYYMMDD) as midnight UTC in ms since the epoch.
std::optional<int64_t> StudyDateMs(std::string_view da) {
  if (da.size() != 8 || !std::all_of(da.begin(), da.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const auto number = [&](size_t pos, size_t len) { return std::atoi(std::string(da.substr(pos, len)).c_str()); };
  const std::chrono::year_month_day date{std::chrono::year(number(0, 4)),
                                         std::chrono::month(static_cast<unsigned>(number(4, 2))),
                                         std::chrono::day(static_cast<unsigned>(number(6, 2)))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::sys_days(date).time_since_epoch()).count();
}

std::string Joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ",") + v;
  return out;
}

// What the query index knows of a study: StudyDate and ModalitiesInStudy.
Result<std::pair<std::string, std::vector<std::string>>> StudyAttributes(const engine::Store& store,
                                                                         const std::string& study_uid) {
  auto value = store.GetCatalog(index::StudyRecordKey(study_uid));
  if (!value.ok()) return value.status();
  std::pair<std::string, std::vector<std::string>> out;
  if (!value->has_value()) return out;  // a folder written without the index
  auto record = index::Record::Decode(**value);
  if (!record.ok()) return record.status().WithContext("study record of " + study_uid);
  if (const std::string* date = record->attributes.Find(kStudyDateTag)) out.first = *date;
  for (const auto& [modality, series] : record->modalities)
    if (series > 0) out.second.push_back(modality);
  return out;
}

bool RuleMatches(const RetentionRule& rule, const RetentionCandidate& study, int64_t now_ms) {
  if (!rule.modalities.empty() &&
      std::none_of(rule.modalities.begin(), rule.modalities.end(), [&](const std::string& m) {
        return std::find(study.modalities.begin(), study.modalities.end(), m) != study.modalities.end();
      }))
    return false;
  const int64_t cutoff = now_ms - rule.older_than.count();
  if (rule.basis == RetentionRule::Basis::kReceived) return study.last_received_unix_ms < cutoff;
  const auto date = StudyDateMs(study.study_date);
  return date.has_value() && *date < cutoff;
}

std::string AuditLine(const RetentionCandidate& study, const std::string& requested_by) {
  return "retention audit: deleted study " + study.study_instance_uid + " (patient ID '" + study.patient_id + "', " +
         std::to_string(study.instances) + " instances, StudyDate '" + study.study_date + "', modalities '" +
         Joined(study.modalities) + "', " + std::to_string(study.freed_bytes) +
         " stored bytes freed once collected) by " +
         (study.reason == "quota" ? std::string("quota eviction") : "rule '" + study.reason + "'") + ", requested by " +
         requested_by;
}

}  // namespace

Result<RetentionRule> ParseRetentionRule(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("--retention-rule '" + std::string(text) + "': " + why +
                                   " (expected study-date>AGE[:MOD,...] or received>AGE[:MOD,...], "
                                   "AGE like 365d, 12h, 30m, 90s)");
  };
  RetentionRule rule;
  rule.text = std::string(text);
  const size_t gt = text.find('>');
  if (gt == std::string_view::npos) return bad("no '>'");
  const std::string_view basis = text.substr(0, gt);
  if (basis == "study-date")
    rule.basis = RetentionRule::Basis::kStudyDate;
  else if (basis == "received")
    rule.basis = RetentionRule::Basis::kReceived;
  else
    return bad("it starts with '" + std::string(basis) + "', not study-date or received");
  std::string_view rest = text.substr(gt + 1);
  std::string_view modalities;
  if (const size_t colon = rest.find(':'); colon != std::string_view::npos) {
    modalities = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (modalities.empty()) return bad("no modality after ':'");
  }
  const auto age = ParseAgeMs(rest);
  if (!age) return bad("'" + std::string(rest) + "' is not an age");
  rule.older_than = std::chrono::milliseconds(*age);
  while (!modalities.empty()) {
    const size_t comma = modalities.find(',');
    const std::string_view one = modalities.substr(0, comma);
    if (one.empty() || one.size() > 16) return bad("a modality must be 1-16 characters");
    rule.modalities.emplace_back(one);
    modalities = comma == std::string_view::npos ? std::string_view() : modalities.substr(comma + 1);
  }
  return rule;
}

Result<QuotaAction> ParseQuotaAction(std::string_view text) {
  if (text == "refuse") return QuotaAction::kRefuse;
  if (text == "evict") return QuotaAction::kEvict;
  return Status::InvalidArgument("--on-quota must be refuse or evict, not '" + std::string(text) + "'");
}

const char* QuotaActionName(QuotaAction action) {
  return action == QuotaAction::kEvict ? "evict" : "refuse";
}

Status CheckQuotaForNewStudy(const engine::Store& store, uint64_t quota_bytes, const std::string& study_uid) {
  if (quota_bytes == 0) return Status::Ok();
  auto used = store.ReferencedChunkBytes();
  if (!used.ok()) return used.status();
  if (*used < quota_bytes) return Status::Ok();
  auto stored = store.HasStudy(study_uid);
  if (!stored.ok()) return stored.status();
  if (*stored) return Status::Ok();  // instances of a stored study complete it
  return Status::Busy("storage quota reached (" + std::to_string(*used) + " referenced stored bytes, quota " +
                      std::to_string(quota_bytes) + "): new study " + study_uid +
                      " refused, nothing stored; instances of stored studies are still accepted");
}

Result<RetentionReport> RunRetention(engine::Store& store, const RetentionPolicy& policy,
                                     const RetentionRunOptions& options) {
  const int64_t now_ms = options.now_unix_ms != 0 ? options.now_unix_ms : NowUnixMs();
  RetentionReport report;
  report.dry_run = options.dry_run;
  auto studies = store.ListStudies();
  if (!studies.ok()) return studies.status().WithContext("retention: listing studies");
  auto referenced = store.ReferencedChunkBytes();
  if (!referenced.ok()) return referenced.status();
  report.referenced_bytes_before = *referenced;

  // Every unprotected study, oldest received first (ties by UID).
  std::vector<RetentionCandidate> unprotected;
  for (const auto& study : *studies) {
    if (study.is_protected) {
      ++report.protected_studies;
      continue;
    }
    RetentionCandidate candidate;
    candidate.study_instance_uid = study.study_instance_uid;
    candidate.patient_id = study.patient_id;
    candidate.instances = study.instances;
    candidate.last_received_unix_ms = study.last_received_unix_ms;
    auto attributes = StudyAttributes(store, study.study_instance_uid);
    if (!attributes.ok()) return attributes.status();
    candidate.study_date = attributes->first;
    candidate.modalities = attributes->second;
    unprotected.push_back(std::move(candidate));
  }
  std::stable_sort(unprotected.begin(), unprotected.end(),
                   [](const auto& a, const auto& b) { return a.last_received_unix_ms < b.last_received_unix_ms; });

  // The rules' studies first, then the rest in eviction order.
  std::vector<RetentionCandidate> ordered, rest;
  for (auto& candidate : unprotected) {
    for (const auto& rule : policy.rules)
      if (RuleMatches(rule, candidate, now_ms)) {
        candidate.reason = rule.text;
        break;
      }
    (candidate.reason.empty() ? rest : ordered).push_back(std::move(candidate));
  }
  const size_t by_rules = ordered.size();
  const bool evict = policy.quota_bytes > 0 && policy.on_quota == QuotaAction::kEvict;
  if (evict)
    for (auto& candidate : rest) ordered.push_back(std::move(candidate));
  std::vector<std::string> uids;
  uids.reserve(ordered.size());
  for (const auto& candidate : ordered) uids.push_back(candidate.study_instance_uid);
  auto cumulative = store.CumulativeBytesFreed(uids);
  if (!cumulative.ok()) return cumulative.status().WithContext("retention: measuring what deletes would free");

  size_t take = by_rules;
  const auto remaining_after = [&](size_t count) {
    const uint64_t freed = count == 0 ? 0 : (*cumulative)[count - 1];
    return report.referenced_bytes_before - std::min(report.referenced_bytes_before, freed);
  };
  if (evict)
    while (take < ordered.size() && remaining_after(take) > policy.quota_bytes) ++take;
  for (size_t i = 0; i < take; ++i) {
    ordered[i].freed_bytes = (*cumulative)[i] - (i == 0 ? 0 : (*cumulative)[i - 1]);
    if (i >= by_rules) ordered[i].reason = "quota";
    report.instances += ordered[i].instances;
  }
  report.freed_bytes = take == 0 ? 0 : (*cumulative)[take - 1];
  ordered.resize(take);
  report.studies = std::move(ordered);
  report.over_quota_after = policy.quota_bytes > 0 && remaining_after(take) > policy.quota_bytes;
  if (options.dry_run) return report;

  for (auto& study : report.studies) {
    auto deleted = store.DeleteInstances({.study_instance_uid = study.study_instance_uid, .keep_if_protected = true});
    if (!deleted.ok())
      return deleted.status().WithContext("retention: deleting study " + study.study_instance_uid + " (" +
                                          std::to_string(report.deleted_studies) + " studies deleted before it)");
    if (*deleted == 0) {
      ++report.skipped_protected;
      LogInfo("retention: study " + study.study_instance_uid + " was protected or deleted meanwhile; kept");
      continue;
    }
    study.deleted = true;
    study.instances = *deleted;
    ++report.deleted_studies;
    report.deleted_instances += *deleted;
    LogInfo(AuditLine(study, options.requested_by));
    audit::Audit({.id = audit::EventId::kStudyDeleted,
                  .service = "retention (" + study.reason + ")",
                  .peer = {.user = options.requested_by},
                  .studies = {{study.study_instance_uid, study.patient_id, study.instances}}});
  }
  if (report.deleted_studies > 0 || (report.over_quota_after && evict))
    LogInfo("retention run (" + options.requested_by + "): deleted " + std::to_string(report.deleted_studies) +
            " studies, " + std::to_string(report.deleted_instances) + " instances, " +
            std::to_string(report.freed_bytes) + " referenced stored bytes released" +
            (report.over_quota_after && evict ? "; still over the quota: every other study is protected" : ""));
  return report;
}

RetentionService::RetentionService(engine::Store& store, RetentionPolicy policy, std::chrono::milliseconds interval,
                                   std::chrono::milliseconds quota_poll)
    : store_(store), policy_(std::move(policy)), interval_(interval), quota_poll_(quota_poll) {}

RetentionService::~RetentionService() {
  Stop();
}

void RetentionService::Start() {
  const bool evicts = policy_.quota_bytes > 0 && policy_.on_quota == QuotaAction::kEvict;
  if (thread_.joinable() || (!evicts && (policy_.rules.empty() || interval_.count() == 0))) return;
  thread_ = std::thread([this] { Loop(); });
}

void RetentionService::Stop() {
  {
    MutexLock lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

Result<RetentionReport> RetentionService::RunNow(const RetentionPolicy& policy, const RetentionRunOptions& options) {
  MutexLock lock(run_mutex_);
  return RunRetention(store_, policy.empty() ? policy_ : policy, options);
}

void RetentionService::Loop() {
  const bool evicts = policy_.quota_bytes > 0 && policy_.on_quota == QuotaAction::kEvict;
  const bool periodic = !policy_.rules.empty() && interval_.count() > 0;
  auto next_rules_run = std::chrono::steady_clock::now() + interval_;
  RetentionPolicy quota_only = policy_;
  quota_only.rules.clear();
  // Referenced bytes at which an eviction could not get under the quota
  // (everything left is protected): not retried until they change.
  std::optional<uint64_t> stuck_at;
  for (;;) {
    {
      MutexLock lock(wake_mutex_);
      auto deadline = periodic ? next_rules_run : std::chrono::steady_clock::now() + quota_poll_;
      if (evicts) deadline = std::min(deadline, std::chrono::steady_clock::now() + quota_poll_);
      while (!stopping_ && std::chrono::steady_clock::now() < deadline) wake_.WaitUntil(wake_mutex_, deadline);
      if (stopping_) return;
    }
    const bool rules_due = periodic && std::chrono::steady_clock::now() >= next_rules_run;
    if (rules_due) {
      next_rules_run = std::chrono::steady_clock::now() + interval_;
      auto run = RunNow(policy_, {.dry_run = false, .requested_by = "periodic retention"});
      if (!run.ok()) LogError("periodic retention failed: " + run.status().ToString() + "; retried next interval");
      continue;
    }
    if (!evicts) continue;
    auto used = store_.ReferencedChunkBytes();
    if (!used.ok()) {
      LogError("quota eviction: cannot read the referenced bytes: " + used.status().ToString());
      continue;
    }
    if (*used <= policy_.quota_bytes || stuck_at == *used) continue;
    auto run = RunNow(quota_only, {.dry_run = false, .requested_by = "quota eviction"});
    if (!run.ok()) LogError("quota eviction failed: " + run.status().ToString() + "; retried shortly");
    stuck_at = run.ok() && run->over_quota_after ? std::optional<uint64_t>(*used) : std::nullopt;
  }
}

}  // namespace pacs::dicom
