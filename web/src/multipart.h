// File: multipart.h
// A streaming parser of multipart bodies (RFC 2046 5.1, as PS3.18 uses
// multipart/related for STOW-RS requests): the body is fed in chunks as it
// arrives, and each part's headers and bytes are handed to a PartSink as
// they are found, so that a part of any size passes through a bounded
// buffer (the sink decides whether it stays in memory or goes to a file:
// PartSpooler below). Every refusal is a Status saying what was wrong and
// where (which part, at which byte of the body).
//
//   auto type = ParseMediaType(request_content_type);          // media_type.h: multipart/related; boundary=...
//   auto boundary = BoundaryOf(*type);
//   MultipartParser parser(*boundary, sink);
//   for (chunk : body) if (auto s = parser.Feed(chunk); !s.ok()) refuse(s);
//   if (auto s = parser.Finish(); !s.ok()) refuse(s);         // truncated, no delimiter...
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/web/media_type.h"

namespace pacs::web {

// The boundary of a multipart media type: InvalidArgument when the type is
// not multipart/*, the parameter is missing or empty, longer than RFC 2046's
// 70 characters, or holds characters a boundary cannot.
Result<std::string> BoundaryOf(const MediaType& type);

// One part's header block.
struct PartHeaders {
  // In the order sent; names lower case, values trimmed.
  std::vector<std::pair<std::string, std::string>> fields;
  // The value of header `name` (lower case), or "".
  std::string Get(std::string_view name) const;
};

// Receives the parts as the parser finds them: BeginPart, any number of
// PartData (possibly empty chunks, never after EndPart), EndPart. A non-ok
// Status from the sink stops the parser, which returns it.
class PartSink {
 public:
  virtual ~PartSink() = default;
  virtual Status BeginPart(size_t index, const PartHeaders& headers) = 0;
  virtual Status PartData(std::string_view bytes) = 0;
  virtual Status EndPart() = 0;
};

struct MultipartLimits {
  uint64_t max_header_bytes = 16 << 10;   // one part's header block
  uint64_t max_preamble_bytes = 1 << 20;  // before the first delimiter
  uint64_t max_parts = 100000;
};

// Not thread-safe: one per request body.
class MultipartParser {
 public:
  MultipartParser(const std::string& boundary, PartSink& sink, MultipartLimits limits = {});

  // The next bytes of the body. After an error every later call returns it again.
  Status Feed(std::string_view chunk);
  // The body has ended: InvalidArgument unless the close delimiter was seen
  // (a truncated part, no delimiter at all).
  Status Finish();

  size_t parts() const { return parts_; }
  uint64_t bytes_fed() const { return fed_; }

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kBody, kEpilogue, kFailed };
  Status Fail(Status status);
  Status Step(bool* progressed);
  Status ParseHeaders(std::string_view block);

  const std::string delimiter_;  // "\r\n--" + boundary
  PartSink& sink_;
  const MultipartLimits limits_;
  State state_ = State::kPreamble;
  std::string pending_;  // bytes not yet consumed, from pending_start_
  size_t pending_start_ = 0;
  uint64_t consumed_ = 0;  // body offset of pending_[pending_start_] (+2 for the CRLF put first)
  uint64_t fed_ = 0;
  uint64_t preamble_bytes_ = 0;
  size_t parts_ = 0;
  Status error_;
};

// One part as a PartSpooler keeps it.
struct SpooledPart {
  PartHeaders headers;
  std::string memory;          // the bytes, when not spilled
  std::filesystem::path file;  // the spill file, when spilled
  uint64_t size = 0;
  bool spilled() const { return !file.empty(); }
};

// A PartSink that keeps each part in memory up to `memory_limit` bytes and
// moves it to a file in `spill_dir` past that (created when needed, removed
// with the part). Totals are checked against `max_total_bytes` (0: none)
// as the bytes arrive. Not thread-safe.
class PartSpooler : public PartSink {
 public:
  using Part = SpooledPart;

  // A part stays in memory while it is at most `memory_limit` bytes and all
  // parts held in memory stay within `memory_budget` (0: 4 x memory_limit).
  PartSpooler(std::filesystem::path spill_dir, uint64_t memory_limit, uint64_t memory_budget = 0);
  ~PartSpooler() override;
  PartSpooler(const PartSpooler&) = delete;
  PartSpooler& operator=(const PartSpooler&) = delete;

  Status BeginPart(size_t index, const PartHeaders& headers) override;
  Status PartData(std::string_view bytes) override;
  Status EndPart() override;

  // The completed parts, in order. Their spill files live until the spooler
  // is destroyed or Release()d.
  std::vector<Part>& parts() { return parts_; }
  // Removes part `i`'s spill file and bytes (after it was ingested).
  void Release(size_t i);

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::filesystem::path spill_dir_;
  const uint64_t memory_limit_;
  const uint64_t memory_budget_;
  uint64_t memory_held_ = 0;  // bytes of parts_ (and current_) held in memory
  std::vector<Part> parts_;
  std::optional<Part> current_;
  std::unique_ptr<std::FILE, FileCloser> file_;
};

}  // namespace pacs::web
