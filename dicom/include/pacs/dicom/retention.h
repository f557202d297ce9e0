// File: retention.h
// Retention rules and storage quotas, both opt-in: which stored studies a
// rule ("study-date>365d:CR,DX", "received>90d") or a quota with eviction
// designates, what deleting them would really free, and running the deletes
// through the store's normal delete path with one audit line per study.
// Protected studies (Store::SetStudyProtected) are never designated.
//
//   auto policy = RetentionPolicy{.rules = {*ParseRetentionRule("received>30d")}};
//   auto run = RunRetention(store, policy, {.dry_run = true, .requested_by = "cli"});
//
// docs/operations.md ("Retention and quotas") is the user's description.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pacs/base/mutex.h"
#include "pacs/base/result.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

// Deletes studies older than `older_than` by StudyDate (the study record's
// date, read as midnight UTC; a study without a valid StudyDate never
// matches) or by receive date (when its latest instance arrived), optionally
// only those whose ModalitiesInStudy include one of `modalities`.
struct RetentionRule {
  enum class Basis { kStudyDate, kReceived };
  Basis basis = Basis::kReceived;
  std::chrono::milliseconds older_than{0};
  std::vector<std::string> modalities;  // empty: any
  std::string text;                     // as written, for listings and audit lines
};
// "study-date>DURATION[:MOD,MOD...]" or "received>DURATION[:MOD,...]", where
// DURATION is a number with d (days), h, m or s, e.g. "study-date>3650d:CR,DX".
Result<RetentionRule> ParseRetentionRule(std::string_view text);

enum class QuotaAction {
  kRefuse,  // new studies get C-STORE status A700 while over the quota
  kEvict,   // the oldest unprotected studies (by receive date) are deleted until under it
};
Result<QuotaAction> ParseQuotaAction(std::string_view text);
const char* QuotaActionName(QuotaAction action);

struct RetentionPolicy {
  std::vector<RetentionRule> rules;
  uint64_t quota_bytes = 0;  // referenced stored bytes (Store::ReferencedChunkBytes); 0: no quota
  QuotaAction on_quota = QuotaAction::kRefuse;
  bool empty() const { return rules.empty() && quota_bytes == 0; }
};

// One study a run designates.
struct RetentionCandidate {
  std::string study_instance_uid;
  std::string patient_id;
  std::string study_date;  // as stored, may be empty
  std::vector<std::string> modalities;
  uint64_t instances = 0;
  int64_t last_received_unix_ms = 0;
  uint64_t freed_bytes = 0;  // what deleting it frees after the candidates before it
  std::string reason;        // the rule's text, or "quota"
  bool deleted = false;      // a real run deleted it
};

struct RetentionReport {
  bool dry_run = true;
  std::vector<RetentionCandidate> studies;  // in deletion order
  uint64_t instances = 0;                   // of those studies
  uint64_t freed_bytes = 0;                 // what deleting them all frees
  uint64_t referenced_bytes_before = 0;
  uint64_t protected_studies = 0;  // stored studies no rule or quota may delete
  uint64_t deleted_studies = 0, deleted_instances = 0;
  uint64_t skipped_protected = 0;  // protected between planning and deleting: kept
  bool over_quota_after = false;   // still over the quota (all that may go went)
};

struct RetentionRunOptions {
  bool dry_run = true;
  std::string requested_by;  // who or what asked, for the audit lines ("periodic", "admin endpoint", ...)
  int64_t now_unix_ms = 0;   // 0: now
};

// Plans with `policy` and, unless dry_run, deletes each designated study
// with Store::DeleteInstances (reference counts kept; its frames are
// collected by `compact` after the grace period), logging one audit line
// per deleted study. The rules' studies go first (oldest received first),
// then, with a quota and eviction, the oldest remaining unprotected studies
// until the referenced bytes would be at or under the quota.
Result<RetentionReport> RunRetention(engine::Store& store, const RetentionPolicy& policy,
                                     const RetentionRunOptions& options);

// Whether a new study may be stored under `quota_bytes` with QuotaAction::kRefuse:
// Busy (C-STORE status A700) once the referenced stored bytes reach the
// quota, unless the study already has instances stored (those are still
// accepted, so that a study is not cut in half). One or two reads.
Status CheckQuotaForNewStudy(const engine::Store& store, uint64_t quota_bytes, const std::string& study_uid);

// Applies a policy in the running server: the rules every `interval` (none
// when zero), and with a quota and eviction a check of the referenced bytes
// every `quota_poll` that evicts as soon as they exceed the quota. Runs are
// serialised with the on-demand ones (RunNow). Thread-safe.
class RetentionService {
 public:
  RetentionService(engine::Store& store, RetentionPolicy policy, std::chrono::milliseconds interval,
                   std::chrono::milliseconds quota_poll = std::chrono::milliseconds(500));
  ~RetentionService();
  RetentionService(const RetentionService&) = delete;
  RetentionService& operator=(const RetentionService&) = delete;

  void Start();
  void Stop();
  const RetentionPolicy& policy() const { return policy_; }
  // A run now with the server's policy, or with `policy` when not empty.
  Result<RetentionReport> RunNow(const RetentionPolicy& policy, const RetentionRunOptions& options)
      EXCLUDES(run_mutex_);

 private:
  void Loop() EXCLUDES(wake_mutex_);

  engine::Store& store_;
  const RetentionPolicy policy_;
  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds quota_poll_;
  Mutex run_mutex_;  // one run at a time: periodic, eviction or on demand
  Mutex wake_mutex_;
  CondVar wake_;  // signalled with stopping_ set
  bool stopping_ GUARDED_BY(wake_mutex_) = false;
  std::thread thread_;
};

}  // namespace pacs::dicom
