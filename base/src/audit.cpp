#include "pacs/base/audit.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "pacs/base/log.h"
#include "utc_timestamp.h"

namespace pacs::audit {
namespace {

struct Code {
  const char* code;
  const char* name;
};

Code EventCode(EventId id) {
  switch (id) {
    case EventId::kApplicationActivity:
      return {"110100", "Application Activity"};
    case EventId::kInstancesAccessed:
      return {"110103", "DICOM Instances Accessed"};
    case EventId::kInstancesTransferred:
      return {"110104", "DICOM Instances Transferred"};
    case EventId::kStudyDeleted:
      return {"110105", "DICOM Study Deleted"};
    case EventId::kExport:
      return {"110106", "Export"};
    case EventId::kImport:
      return {"110107", "Import"};
    case EventId::kQuery:
      return {"110112", "Query"};
    case EventId::kSecurityAlert:
      return {"110113", "Security Alert"};
    case EventId::kUserAuthentication:
      return {"110114", "User Authentication"};
  }
  return {"110113", "Security Alert"};
}

Code TypeCode(EventType type) {
  switch (type) {
    case EventType::kNone:
      break;
    case EventType::kApplicationStart:
      return {"110120", "Application Start"};
    case EventType::kApplicationStop:
      return {"110121", "Application Stop"};
    case EventType::kLogin:
      return {"110122", "Login"};
    case EventType::kLogout:
      return {"110123", "Logout"};
    case EventType::kNodeAuthentication:
      return {"110126", "Node Authentication"};
    case EventType::kNetworkConfiguration:
      return {"110128", "Network Configuration"};
    case EventType::kSecurityConfiguration:
      return {"110129", "Security Configuration"};
    case EventType::kUseOfRestrictedFunction:
      return {"110132", "Use of Restricted Function"};
    case EventType::kAuditRecordingStopped:
      return {"110133", "Audit Recording Stopped"};
    case EventType::kAuditRecordingStarted:
      return {"110134", "Audit Recording Started"};
  }
  return {nullptr, nullptr};
}

// PS3.15's usual action for each event.
Action DefaultAction(EventId id) {
  switch (id) {
    case EventId::kInstancesAccessed:
    case EventId::kInstancesTransferred:
    case EventId::kExport:
      return Action::kRead;
    case EventId::kStudyDeleted:
      return Action::kDelete;
    case EventId::kImport:
      return Action::kCreate;
    default:
      return Action::kExecute;
  }
}

// The installed trail. Never destroyed: threads may audit during exit.
struct Installed {
  Mutex mutex;
  std::unique_ptr<AuditTrail> trail GUARDED_BY(mutex);
};
Installed& Global() {
  static auto* const installed = new Installed;
  return *installed;
}

}  // namespace

void StudyTally::Add(std::string_view study_uid, std::string_view patient_id, bool succeeded) {
  (succeeded ? succeeded_ : failed_) += 1;
  if (study_uid.empty()) return;  // a dataset that never arrived names no study
  auto it = std::find_if(studies_.begin(), studies_.end(),
                         [&](const StudyRef& s) { return s.study_uid == study_uid && s.patient_id == patient_id; });
  if (it == studies_.end()) {
    studies_.push_back({std::string(study_uid), std::string(patient_id), 0});
    it = studies_.end() - 1;
  }
  if (succeeded) ++it->instances;
}

Outcome StudyTally::outcome() const {
  if (failed_ == 0) return Outcome::kSuccess;
  return succeeded_ > 0 ? Outcome::kMinorFailure : Outcome::kSeriousFailure;
}

std::string FormatEvent(const Event& event, std::string_view default_our_ae) {
  using Json = nlohmann::ordered_json;
  const Code code = EventCode(event.id);
  Json line;
  line["time"] = UtcTimestamp(std::chrono::system_clock::now());  // as the log lines write it
  line["event"] = {{"code", code.code}, {"name", code.name}};
  const Code type = TypeCode(event.type);
  if (type.code != nullptr) line["type"] = {{"code", type.code}, {"name", type.name}};
  line["action"] = std::string(1, static_cast<char>(event.action.value_or(DefaultAction(event.id))));
  line["outcome"] = static_cast<int>(event.outcome);
  line["service"] = event.service;
  line["our_ae"] = event.our_ae.empty() ? std::string(default_our_ae) : event.our_ae;
  line["peer_ae"] = event.peer.ae;
  line["peer_host"] = event.peer.host;
  line["user"] = event.peer.user;
  if (!event.destination_ae.empty()) line["destination_ae"] = event.destination_ae;
  Json studies = Json::array();
  Json patients = Json::array();
  for (const auto& s : event.studies) {
    studies.push_back({{"uid", s.study_uid}, {"patient_id", s.patient_id}, {"instances", s.instances}});
    if (!s.patient_id.empty() && std::find(patients.begin(), patients.end(), s.patient_id) == patients.end())
      patients.push_back(s.patient_id);
  }
  line["studies"] = std::move(studies);
  line["patient_ids"] = std::move(patients);
  if (!event.query.empty()) {
    Json query = Json::object();
    for (const auto& [key, value] : event.query) query[key] = value;
    line["query"] = std::move(query);
  }
  Json counts = Json::object();
  for (const auto& [name, count] : event.counts) counts[name] = count;
  line["counts"] = std::move(counts);
  if (!event.detail.empty()) line["detail"] = event.detail;
  // Bytes that are not UTF-8 (a peer's Latin-1 name) become U+FFFD rather than losing the line.
  return line.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

Result<std::unique_ptr<AuditTrail>> AuditTrail::Open(const std::string& path, std::string our_ae) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return Status::IOError("cannot open the audit log " + path + ": " + std::strerror(errno) +
                           "; no audit events would be recorded, so the server does not start");
  return std::unique_ptr<AuditTrail>(new AuditTrail(path, std::move(our_ae), fd));
}

AuditTrail::~AuditTrail() {
  ::close(fd_);
}

uint64_t AuditTrail::lost_events() const {
  MutexLock lock(mutex_);
  return lost_events_;
}

void AuditTrail::Write(const Event& event) {
  std::string line = FormatEvent(event, our_ae_);
  line.push_back('\n');
  MutexLock lock(mutex_);
  size_t written = 0;
  int error = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    written += static_cast<size_t>(n);
  }
  if (error != 0) {
    ++lost_events_;
    if (!failing_)
      LogError("audit log " + path_ + ": write failed (" + std::strerror(error) +
               "); audit events are lost until writing works again; the service goes on");
    failing_ = true;
  } else if (failing_) {
    failing_ = false;
    LogWarning("audit log " + path_ + ": writing works again; " + std::to_string(lost_events_) +
               " events were lost in all");
  }
}

std::unique_ptr<AuditTrail> InstallAuditTrail(std::unique_ptr<AuditTrail> trail) {
  Installed& global = Global();
  MutexLock lock(global.mutex);
  if (global.trail)
    global.trail->Write({.id = EventId::kSecurityAlert,
                         .type = EventType::kAuditRecordingStopped,
                         .service = "audit log",
                         .peer = {.user = ProcessUser()},
                         .detail = global.trail->path()});
  if (trail)
    trail->Write({.id = EventId::kSecurityAlert,
                  .type = EventType::kAuditRecordingStarted,
                  .service = "audit log",
                  .peer = {.user = ProcessUser()},
                  .detail = trail->path()});
  std::swap(global.trail, trail);
  return trail;
}

void Audit(const Event& event) {
  Installed& global = Global();
  MutexLock lock(global.mutex);
  if (global.trail) global.trail->Write(event);
}

bool AuditEnabled() {
  Installed& global = Global();
  MutexLock lock(global.mutex);
  return global.trail != nullptr;
}

void SecurityAlert(EventType type, const Peer& peer, std::string_view service, std::string_view what) {
  Audit({.id = EventId::kSecurityAlert,
         .type = type,
         .outcome = Outcome::kMinorFailure,
         .service = std::string(service),
         .peer = peer,
         .detail = std::string(what)});
}

std::string ProcessUser() {
  const uid_t uid = ::getuid();
  std::string user = "uid " + std::to_string(uid);
  struct passwd entry {};
  struct passwd* found = nullptr;
  char buffer[1024];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr)
    user += std::string(" (") + found->pw_name + ")";
  return user;
}

}  // namespace pacs::audit
