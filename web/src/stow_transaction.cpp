#include "stow_transaction.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "pacs/base/log.h"
#include "pacs/base/parallel.h"
#include "pacs/dicom/part10_ingest.h"

namespace pacs::web {
namespace {

using Json = nlohmann::ordered_json;

Json Attribute(const char* vr, Json value) {
  return Json{{"vr", vr}, {"Value", Json::array({std::move(value)})}};
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string Hex4(uint16_t value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "0x0000";
  for (int i = 0; i < 4; ++i) out[5 - i] = kHex[(value >> (4 * i)) & 15];
  return out;
}

// A Warning header value (RFC 7234 5.5) carrying `text`.
std::string WarningOf(const std::string& text) {
  std::string quoted;
  for (const char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += (c == '\r' || c == '\n') ? ' ' : c;
  }
  return "299 pacscore \"" + quoted + "\"";
}

}  // namespace

HttpAnswer TextAnswer(unsigned status, std::string message) {
  return {.status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(message) + "\n"};
}

bool IsDicomUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  size_t component_start = 0;
  for (size_t i = 0; i <= uid.size(); ++i) {
    if (i == uid.size() || uid[i] == '.') {
      const size_t length = i - component_start;
      if (length == 0) return false;
      if (length > 1 && uid[component_start] == '0') return false;
      component_start = i + 1;
    } else if (uid[i] < '0' || uid[i] > '9') {
      return false;
    }
  }
  return true;
}

StowTransaction::StowTransaction(dicom::Ingestor& ingestor, StowOptions options, std::string study_uid,
                                 audit::Peer peer)
    : ingestor_(ingestor), options_(std::move(options)), study_uid_(std::move(study_uid)), peer_(std::move(peer)) {}

StowTransaction::~StowTransaction() = default;

HttpAnswer StowTransaction::Refuse(unsigned status, const std::string& what) {
  const std::string message = "STOW-RS from " + peer_.host + " refused: " + what + "; nothing stored";
  LogWarning(message);
  audit::Audit({.id = audit::EventId::kInstancesTransferred,
                .action = audit::Action::kCreate,
                .outcome = audit::Outcome::kSeriousFailure,
                .service = "STOW-RS",
                .peer = peer_,
                .counts = {{"stored", 0}, {"failed", 0}},
                .detail = what});
  parser_.reset();
  spooler_.reset();  // removes the spill files
  return TextAnswer(status, message);
}

std::optional<HttpAnswer> StowTransaction::Start(std::string_view content_type,
                                                 std::optional<uint64_t> content_length) {
  if (!study_uid_.empty() && !IsDicomUid(study_uid_))
    return Refuse(400, "the study UID in the URL (\"" + study_uid_.substr(0, 80) + "\") is not a DICOM UID");
  auto type = ParseMediaType(content_type);
  if (!type.ok()) return Refuse(415, "Content-Type: " + type.status().message());
  if (type->Essence() != "multipart/related")
    return Refuse(415, "Content-Type " + type->Essence() +
                           " is not supported: STOW-RS takes multipart/related; type=\"application/dicom\"");
  if (type->HasParam("type")) {
    const std::string root = type->Param("type");
    if (Lower(root) != "application/dicom")
      return Refuse(415, "multipart/related of type " + root +
                             " is not supported: only type=\"application/dicom\" (Part 10 files)");
  }
  auto boundary = BoundaryOf(*type);
  if (!boundary.ok()) return Refuse(400, "Content-Type: " + boundary.status().message());
  if (content_length && options_.max_body_bytes > 0 && *content_length > options_.max_body_bytes)
    return Refuse(413, "the body (Content-Length " + std::to_string(*content_length) +
                           ") is larger than --web-max-body " + std::to_string(options_.max_body_bytes));
  spooler_ = std::make_unique<PartSpooler>(options_.spill_dir, options_.part_memory_limit);
  parser_ = std::make_unique<MultipartParser>(*boundary, *spooler_);
  return std::nullopt;
}

std::optional<HttpAnswer> StowTransaction::Feed(std::string_view chunk) {
  if (!parser_) return TextAnswer(500, "STOW-RS: body fed before Start or after a refusal");
  body_bytes_ += chunk.size();
  if (options_.max_body_bytes > 0 && body_bytes_ > options_.max_body_bytes)
    return Refuse(413, "the body is larger than --web-max-body " + std::to_string(options_.max_body_bytes));
  if (Status s = parser_->Feed(chunk); !s.ok())
    return Refuse(s.code() == StatusCode::kIOError ? 500 : 400, "malformed multipart body: " + s.message());
  return std::nullopt;
}

Result<dicom::IngestReport> StowTransaction::IngestOne(const SpooledPart& part, dicom::Part10Identity& who) const {
  const std::string part_type = part.headers.Get("content-type");
  auto media = ParseMediaType(part_type.empty() ? default_part_type_ : part_type);
  if (!media.ok())
    return Status::InvalidArgument("its Content-Type is unreadable: " + media.status().message() + "; nothing stored");
  if (media->Essence() != "application/dicom")
    return Status::InvalidArgument("its Content-Type is " + media->Essence() +
                                   ", not application/dicom; nothing stored");
  const auto source = part.spilled() ? dicom::Part10Source::File(part.file) : dicom::Part10Source::Memory(part.memory);
  return dicom::IngestPart10(ingestor_, source, {.study_instance_uid = study_uid_}, &who);
}

// The parts are independent instances, so they are ingested side by side,
// one per core (the ingest is thread-safe: C-STORE associations share it),
// each durable before the response as for C-STORE. One after the other, a
// STOW request of 10 CT slices used one core of two and stored slower than
// one C-STORE association.
std::vector<StowTransaction::PartOutcome> StowTransaction::IngestParts(const std::vector<SpooledPart>& parts) const {
  std::vector<PartOutcome> outcomes(parts.size());
  ParallelFor(parts.size(), kMaxIngestThreads,
              [&](size_t i) { outcomes[i].report = IngestOne(parts[i], outcomes[i].who); });
  return outcomes;
}

HttpAnswer StowTransaction::Finish() {
  if (!parser_) return TextAnswer(500, "STOW-RS: Finish before Start or after a refusal");
  if (Status s = parser_->Finish(); !s.ok()) return Refuse(400, "malformed multipart body: " + s.message());
  auto& parts = spooler_->parts();
  if (parts.empty()) return Refuse(400, "the multipart body has no parts");

  const auto start = std::chrono::steady_clock::now();
  Json referenced = Json::array();
  Json failed = Json::array();
  std::vector<std::string> warnings;
  audit::StudyTally tally;
  std::string single_study;
  bool one_study = true;
  uint64_t stored_bytes = 0;
  std::vector<PartOutcome> outcomes = IngestParts(parts);
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string which = "part " + std::to_string(i + 1);
    const dicom::Part10Identity& who = outcomes[i].who;
    const Result<dicom::IngestReport>& report = outcomes[i].report;
    const uint64_t part_bytes = parts[i].size;
    spooler_->Release(i);
    if (report.ok()) {
      stored_bytes += part_bytes;
      tally.Add(report->study_instance_uid, report->patient_id, true);
      if (single_study.empty()) single_study = report->study_instance_uid;
      one_study = one_study && single_study == report->study_instance_uid;
      Json item = Json::object();
      item["00081150"] = Attribute("UI", who.sop_class_uid);
      item["00081155"] = Attribute("UI", report->sop_instance_uid);
      item["00081190"] = Attribute("UR", options_.url_root + "/studies/" + report->study_instance_uid + "/series/" +
                                             who.series_instance_uid + "/instances/" + report->sop_instance_uid);
      if (report->commit.outcome == engine::CommitOutcome::kKeptExisting)
        LogWarning("STOW-RS from " + peer_.host + ": SOP Instance " + report->sop_instance_uid +
                   " already stored with different content (stored header " + report->commit.existing_header_hash +
                   ", received " + report->commit.new_header_hash + "); kept the stored one");
      referenced.push_back(std::move(item));
      continue;
    }
    const auto reason = dicom::Part10FailureOf(report.status());
    const std::string message = which +
                                (who.sop_instance_uid.empty() ? "" : " (SOP Instance " + who.sop_instance_uid + ")") +
                                " refused: " + report.status().message();
    LogWarning("STOW-RS from " + peer_.host + ": " + message);
    warnings.push_back(WarningOf(message));
    tally.Add(who.study_instance_uid, "", false);
    Json item = Json::object();
    if (!who.sop_class_uid.empty()) item["00081150"] = Attribute("UI", who.sop_class_uid);
    if (!who.sop_instance_uid.empty()) item["00081155"] = Attribute("UI", who.sop_instance_uid);
    item["00081197"] = Attribute("US", static_cast<uint16_t>(reason));
    failed.push_back(std::move(item));
    Log(LogLevel::kDebug, "STOW-RS failure reason " + Hex4(static_cast<uint16_t>(reason)));
  }

  Json response = Json::object();
  const std::string study_for_url = !study_uid_.empty() ? study_uid_ : (one_study ? single_study : "");
  if (!study_for_url.empty() && !referenced.empty())
    response["00081190"] = Attribute("UR", options_.url_root + "/studies/" + study_for_url);
  if (!failed.empty()) response["00081198"] = Json{{"vr", "SQ"}, {"Value", failed}};
  if (!referenced.empty()) response["00081199"] = Json{{"vr", "SQ"}, {"Value", referenced}};
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LogInfo("STOW-RS from " + peer_.host + ": " + std::to_string(referenced.size()) + " of " +
          std::to_string(parts.size()) + " parts stored (" + std::to_string(stored_bytes) + " bytes, ingest " +
          std::to_string(seconds) + " s)");
  audit::Audit({.id = audit::EventId::kInstancesTransferred,
                .action = audit::Action::kCreate,
                .outcome = tally.outcome(),
                .service = "STOW-RS",
                .peer = peer_,
                .studies = tally.studies(),
                .counts = {{"stored", tally.succeeded()}, {"failed", tally.failed()}}});
  stored_ = referenced.size();
  refused_ = failed.size();
  const unsigned status = failed.empty() ? 200 : (referenced.empty() ? 409 : 202);
  return {.status = status,
          .content_type = "application/dicom+json",
          .body = response.dump(),
          .warnings = std::move(warnings)};
}

}  // namespace pacs::web
