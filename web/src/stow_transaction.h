// File: stow_transaction.h
// STOW-RS (PS3.18 10.5): POST /studies and /studies/{S} with a
// multipart/related; type="application/dicom" body. The body is parsed as it
// arrives (multipart.h) into parts held in memory or spilled to files under
// the data folder's incoming/; once it has ended and parsed whole, each part
// goes through the C-STORE ingest (part10_ingest.h: codec policy, dedup,
// index, durable commit) before the response is sent. A bad part is refused
// alone; a malformed body stores nothing. Transport-independent: the HTTP
// server hands it the Content-Type, the body chunks and takes the answer.
//
//   StowTransaction stow(ingestor, options, study_from_url, peer);
//   if (auto refused = stow.Start(content_type, content_length)) return *refused;
//   for (chunk : body) if (auto refused = stow.Feed(chunk)) return *refused;
//   return stow.Finish();
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "multipart.h"
#include "pacs/base/audit.h"
#include "pacs/dicom/ingest.h"
#include "pacs/dicom/part10_ingest.h"

namespace pacs::web {

struct StowOptions {
  std::filesystem::path spill_dir;           // where large parts wait for ingest (DATA/incoming)
  uint64_t part_memory_limit = 16ull << 20;  // a part above this is spilled
  uint64_t max_body_bytes = 4ull << 30;      // --web-max-body; 0: no limit
  std::string url_root = "/dicom-web";       // RetrieveURLs start with it (--web-base-url + /dicom-web)
};

// An HTTP answer: status, Content-Type, body, and PS3.18 Warning headers
// (`299 pacscore "..."`), one per refused part.
struct HttpAnswer {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::string> warnings;
};

// A plain-text error answer ("text/plain", the message and a newline).
HttpAnswer TextAnswer(unsigned status, std::string message);

// Whether `uid` is a DICOM UID (digits and dots, no empty or zero-led
// components, at most 64 characters).
bool IsDicomUid(std::string_view uid);

// One STOW-RS request. Not thread-safe: one per request, on one thread at a
// time (ingest blocks: run Finish() where blocking is allowed).
class StowTransaction {
 public:
  // `study_uid`: the {S} of POST /studies/{S}, "" for POST /studies.
  // `peer`: who sent it, for the log and the audit trail.
  StowTransaction(dicom::Ingestor& ingestor, StowOptions options, std::string study_uid, audit::Peer peer);
  ~StowTransaction();

  // Before reading the body: nullopt to go on, else the answer: 415 for a
  // media type other than multipart/related with type application/dicom,
  // 400 for a missing or bad boundary or a bad study UID in the URL, 413 for
  // a Content-Length above max_body_bytes.
  std::optional<HttpAnswer> Start(std::string_view content_type, std::optional<uint64_t> content_length);
  // The next bytes of the body: nullopt to go on, else the answer (400 for
  // a malformed body, 413 past max_body_bytes, 500 when a spill file cannot
  // be written); the rest of the body need not be read.
  std::optional<HttpAnswer> Feed(std::string_view chunk);
  // The body has ended: checks its end, stores each part, and answers (PS3.18
  // 10.5.3): 200 all stored, 202 some refused, 409 all refused, each in
  // application/dicom+json with ReferencedSOPSequence and FailedSOPSequence;
  // 400 for a malformed or empty body (nothing stored).
  HttpAnswer Finish();

  uint64_t body_bytes() const { return body_bytes_; }
  // After Finish(): parts stored and refused.
  uint64_t stored() const { return stored_; }
  uint64_t refused() const { return refused_; }

 private:
  static constexpr size_t kMaxIngestThreads = 8;
  struct PartOutcome {
    Result<dicom::IngestReport> report = Status::Internal("not ingested");
    dicom::Part10Identity who;
  };

  HttpAnswer Refuse(unsigned status, const std::string& what);
  Result<dicom::IngestReport> IngestOne(const SpooledPart& part, dicom::Part10Identity& who) const;
  std::vector<PartOutcome> IngestParts(const std::vector<SpooledPart>& parts) const;

  dicom::Ingestor& ingestor_;
  const StowOptions options_;
  const std::string study_uid_;
  const audit::Peer peer_;
  std::string default_part_type_ = "application/dicom";
  std::unique_ptr<PartSpooler> spooler_;
  std::unique_ptr<MultipartParser> parser_;
  uint64_t body_bytes_ = 0;
  uint64_t stored_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace pacs::web
