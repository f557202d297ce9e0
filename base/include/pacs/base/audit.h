// File: audit.h
// The audit trail (`serve --audit-log FILE`): one JSON line per DICOM PS3.15
// A.5 audit event: who (peer AE, host, user) did what (event code, action),
// with what outcome, to which studies and patients. The line format is in
// docs/security.md, "Audit trail". Until a trail is installed, Audit() writes
// nothing (the null sink), so hooks cost a branch when no --audit-log is given.
//
//   audit::Audit({.id = audit::EventId::kQuery, .service = "C-FIND", .peer = {"MODALITY", "10.0.0.7"},
//                 .query = {{"PatientID", "12345"}}, .counts = {{"matches", 2}}});
//   audit::SecurityAlert(audit::AlertType::kNodeAuthentication, {"EVIL", "10.0.0.9"}, "TLS handshake failed: ...");
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacs/base/mutex.h"
#include "pacs/base/result.h"

namespace pacs::audit {

// PS3.15 A.5 event IDs (DCM codes 1101xx).
enum class EventId {
  kApplicationActivity,   // 110100: start, stop
  kInstancesAccessed,     // 110103: (WADO reads may use it)
  kInstancesTransferred,  // 110104: C-STORE received, C-MOVE/C-GET sent, STOW, WADO
  kStudyDeleted,          // 110105: admin delete, retention eviction
  kExport,                // 110106: instances written out of the archive (admin /export)
  kImport,                // 110107: instances read into the archive from files (admin /import)
  kQuery,                 // 110112: C-FIND, QIDO
  kSecurityAlert,         // 110113: refused association, TLS failure, bad token, restricted function
  kUserAuthentication,    // 110114: login / logout
};

// PS3.15 Event Type Codes (DCM), where the event takes one.
enum class EventType {
  kNone,
  kApplicationStart,         // 110120
  kApplicationStop,          // 110121
  kLogin,                    // 110122
  kLogout,                   // 110123
  kNodeAuthentication,       // 110126: a node refused (association, TLS)
  kNetworkConfiguration,     // 110128
  kSecurityConfiguration,    // 110129
  kUseOfRestrictedFunction,  // 110132: a function used or refused for lack of rights (admin, bad token)
  kAuditRecordingStopped,    // 110133
  kAuditRecordingStarted,    // 110134
};

// PS3.15 EventActionCode.
enum class Action : char { kCreate = 'C', kRead = 'R', kUpdate = 'U', kDelete = 'D', kExecute = 'E' };

// PS3.15 EventOutcomeIndicator.
enum class Outcome : int { kSuccess = 0, kMinorFailure = 4, kSeriousFailure = 8, kMajorFailure = 12 };

// Who is on the other side: a DICOM peer (AE title and address), an HTTP
// client, or a local user of the admin endpoint ("uid 1000 (alice)").
struct Peer {
  std::string ae;
  std::string host;
  std::string user;
};

// A study an event concerns, with how many of its instances.
struct StudyRef {
  std::string study_uid;
  std::string patient_id;
  uint64_t instances = 0;
};

struct Event {
  EventId id = EventId::kSecurityAlert;
  EventType type = EventType::kNone;
  // Unset: the usual one for `id` (C-FIND E, delete D, ...). Instances
  // Transferred is C when we received them, R when we sent them.
  std::optional<Action> action;
  Outcome outcome = Outcome::kSuccess;
  std::string service;  // what was done: "C-STORE", "C-FIND", "admin /delete", "retention", "TLS", ...
  Peer peer;
  std::string our_ae;          // empty: the trail's own AE title
  std::string destination_ae;  // C-MOVE: where the instances went
  std::vector<StudyRef> studies;
  std::vector<std::pair<std::string, std::string>> query;  // C-FIND / QIDO keys: keyword (or tag), value
  std::vector<std::pair<std::string, uint64_t>> counts;    // "completed", "failed", "matches", ...
  std::string detail;  // why it failed or was refused, what was touched ("out": path)
};

// Counts instances per study, for one event that names them all (the
// C-STOREs of one association, one export). Not thread-safe.
class StudyTally {
 public:
  void Add(std::string_view study_uid, std::string_view patient_id, bool succeeded);
  bool empty() const { return succeeded_ + failed_ == 0; }
  uint64_t succeeded() const { return succeeded_; }
  uint64_t failed() const { return failed_; }
  // In the order first seen; `instances` counts the succeeded ones.
  const std::vector<StudyRef>& studies() const { return studies_; }
  // kSuccess when nothing failed, kMinorFailure when some did, kSeriousFailure when all did.
  Outcome outcome() const;

 private:
  std::vector<StudyRef> studies_;
  uint64_t succeeded_ = 0;
  uint64_t failed_ = 0;
};

// The JSON line of an event (without the newline), as the trail writes it.
std::string FormatEvent(const Event& event, std::string_view default_our_ae);

// An append-only file of audit lines. Thread-safe: any thread may Write.
// Each line goes to the kernel in one write(2) on a file opened O_APPEND
// (no user-space buffer: a crash loses nothing written), so lines from
// several threads, or from logrotate's copytruncate, never interleave.
// A failed write is logged once (and once more when writing works again);
// it never stops the caller.
class AuditTrail {
 public:
  // Opens (creating it with mode 0640, or appending to it) the file at `path`.
  static Result<std::unique_ptr<AuditTrail>> Open(const std::string& path, std::string our_ae);
  ~AuditTrail();
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  void Write(const Event& event);
  const std::string& path() const { return path_; }
  // Events that could not be written.
  uint64_t lost_events() const;

 private:
  AuditTrail(std::string path, std::string our_ae, int fd)
      : path_(std::move(path)), our_ae_(std::move(our_ae)), fd_(fd) {}

  const std::string path_;
  const std::string our_ae_;
  mutable Mutex mutex_;
  const int fd_;
  bool failing_ GUARDED_BY(mutex_) = false;  // the last write failed (logged once)
  uint64_t lost_events_ GUARDED_BY(mutex_) = 0;
};

// ---- The process-wide trail every hook writes to ----

// Installs the trail Audit() writes to (nullptr: back to the null sink),
// writing Audit Recording Started / Stopped. Returns the previous one.
std::unique_ptr<AuditTrail> InstallAuditTrail(std::unique_ptr<AuditTrail> trail);
// Writes the event to the installed trail; nothing without one. Thread-safe.
void Audit(const Event& event);
bool AuditEnabled();

// The hooks for refusals, one call each.
// A refused association or TLS connection, a bad token, a request refused
// for lack of permission. `what` says what was refused and why.
void SecurityAlert(EventType type, const Peer& peer, std::string_view service, std::string_view what);
// The local user running this process: "uid 998 (pacscore)".
std::string ProcessUser();

}  // namespace pacs::audit
