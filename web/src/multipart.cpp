#include "multipart.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pacs::web {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c); });
  return out;
}

// RFC 7230 tchar.
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Bytes as a short printable excerpt for error messages.
std::string Excerpt(std::string_view bytes, size_t max = 24) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (bytes.size() > max) out += "...";
  return out;
}

// RFC 2046 bchars.
bool IsBoundaryChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("'()+_,-./:=? ", c) != nullptr && c != '\0';
}

}  // namespace

Result<std::string> BoundaryOf(const MediaType& type) {
  if (type.type != "multipart")
    return Status::InvalidArgument("media type " + type.Essence() + " is not multipart: it has no parts to read");
  if (!type.HasParam("boundary"))
    return Status::InvalidArgument("media type " + type.Essence() + " has no boundary parameter");
  const std::string boundary = type.Param("boundary");
  if (boundary.empty() || boundary.size() > 70)
    return Status::InvalidArgument("multipart boundary \"" + Excerpt(boundary, 80) + "\" must be 1 to 70 characters");
  for (const char c : boundary)
    if (!IsBoundaryChar(static_cast<unsigned char>(c)))
      return Status::InvalidArgument("multipart boundary \"" + Excerpt(boundary, 80) + "\" holds a character ('" +
                                     Excerpt(std::string_view(&c, 1)) + "') RFC 2046 does not allow");
  if (boundary.back() == ' ')
    return Status::InvalidArgument("multipart boundary \"" + boundary + "\" ends with a space");
  return boundary;
}

std::string PartHeaders::Get(std::string_view name) const {
  for (const auto& [key, value] : fields)
    if (key == name) return value;
  return "";
}

MultipartParser::MultipartParser(const std::string& boundary, PartSink& sink, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), sink_(sink), limits_(limits) {
  // The first delimiter may open the body without a CRLF before it
  // (RFC 2046: "the boundary delimiter MUST occur at the beginning of a
  // line"); a CRLF put first makes it one delimiter to look for.
  pending_ = "\r\n";
}

Status MultipartParser::Fail(Status status) {
  state_ = State::kFailed;
  error_ = std::move(status);
  return error_;
}

Status MultipartParser::Feed(std::string_view chunk) {
  if (state_ == State::kFailed) return error_;
  fed_ += chunk.size();
  if (state_ == State::kEpilogue) return Status::Ok();  // the epilogue is ignored
  pending_.append(chunk);
  bool progressed = true;
  while (progressed && state_ != State::kFailed) {
    progressed = false;
    if (Status s = Step(&progressed); !s.ok()) return Fail(std::move(s));
  }
  // Keep only the unconsumed tail (at most a delimiter's length, or a header block).
  pending_.erase(0, pending_start_);
  pending_start_ = 0;
  return Status::Ok();
}

Status MultipartParser::Step(bool* progressed) {
  std::string_view view(pending_);
  view.remove_prefix(pending_start_);
  const auto at = [&] { return consumed_ >= 2 ? consumed_ - 2 : 0; };  // body offset, without our CRLF
  const auto consume = [&](size_t n) {
    pending_start_ += n;
    consumed_ += n;
  };
  const auto find = [&](std::string_view needle) -> size_t {
    const void* hit = ::memmem(view.data(), view.size(), needle.data(), needle.size());
    return hit == nullptr ? std::string_view::npos : static_cast<const char*>(hit) - view.data();
  };
  const std::string boundary_line = delimiter_.substr(2);
  switch (state_) {
    case State::kPreamble: {
      const size_t pos = find(delimiter_);
      if (pos == std::string_view::npos) {
        const size_t keep = std::min(view.size(), delimiter_.size() - 1);
        preamble_bytes_ += view.size() - keep;
        consume(view.size() - keep);
        if (preamble_bytes_ > limits_.max_preamble_bytes)
          return Status::InvalidArgument("no delimiter line \"" + boundary_line + "\" in the first " +
                                         std::to_string(preamble_bytes_) +
                                         " bytes of the body: the body does not use the boundary its Content-Type "
                                         "names");
        return Status::Ok();
      }
      consume(pos + delimiter_.size());
      state_ = State::kAfterDelimiter;
      *progressed = true;
      return Status::Ok();
    }
    case State::kAfterDelimiter: {
      if (view.size() < 2) return Status::Ok();
      if (view.substr(0, 2) == "--") {
        consume(view.size());
        state_ = State::kEpilogue;
        *progressed = true;
        return Status::Ok();
      }
      const size_t eol = find("\r\n");
      if (eol == std::string_view::npos) {
        // Transport padding (spaces, tabs) may still be followed by CRLF.
        std::string_view so_far = view;
        if (so_far.back() == '\r') so_far.remove_suffix(1);
        if (view.size() > 256 || !Trim(so_far).empty())
          return Status::InvalidArgument("the delimiter line \"" + boundary_line + "\" at byte " +
                                         std::to_string(at()) + " is followed by \"" + Excerpt(view) +
                                         R"(" instead of a line end or "--")");
        return Status::Ok();
      }
      if (!Trim(view.substr(0, eol)).empty())
        return Status::InvalidArgument("the delimiter line \"" + boundary_line + "\" at byte " + std::to_string(at()) +
                                       " is followed by \"" + Excerpt(view.substr(0, eol)) +
                                       R"(" instead of a line end or "--")");
      consume(eol + 2);
      state_ = State::kHeaders;
      *progressed = true;
      return Status::Ok();
    }
    case State::kHeaders: {
      size_t end = 0;
      if (view.size() >= 2 && view.substr(0, 2) == "\r\n") {
        end = 0;  // no header fields
      } else {
        const size_t pos = find("\r\n\r\n");
        if (pos == std::string_view::npos) {
          if (view.size() > limits_.max_header_bytes)
            return Status::InvalidArgument(
                "the headers of part " + std::to_string(parts_ + 1) + " (byte " + std::to_string(at()) + ") exceed " +
                std::to_string(limits_.max_header_bytes) + " bytes without the empty line that ends them");
          return Status::Ok();
        }
        end = pos + 2;
      }
      if (end > limits_.max_header_bytes)
        return Status::InvalidArgument("the headers of part " + std::to_string(parts_ + 1) + " exceed " +
                                       std::to_string(limits_.max_header_bytes) + " bytes");
      if (Status s = ParseHeaders(view.substr(0, end)); !s.ok()) return s;
      consume(end + 2);
      state_ = State::kBody;
      *progressed = true;
      return Status::Ok();
    }
    case State::kBody: {
      const size_t pos = find(delimiter_);
      if (pos == std::string_view::npos) {
        const size_t safe = view.size() > delimiter_.size() - 1 ? view.size() - (delimiter_.size() - 1) : 0;
        if (safe > 0) {
          if (Status s = sink_.PartData(view.substr(0, safe)); !s.ok()) return s;
          consume(safe);
        }
        return Status::Ok();
      }
      if (pos > 0)
        if (Status s = sink_.PartData(view.substr(0, pos)); !s.ok()) return s;
      if (Status s = sink_.EndPart(); !s.ok()) return s;
      consume(pos + delimiter_.size());
      state_ = State::kAfterDelimiter;
      *progressed = true;
      return Status::Ok();
    }
    case State::kEpilogue:
      consume(view.size());
      return Status::Ok();
    case State::kFailed:
      return error_;
  }
  return Status::Internal("multipart parser in an unknown state");
}

Status MultipartParser::ParseHeaders(std::string_view block) {
  const size_t index = parts_;
  const std::string which = "part " + std::to_string(index + 1);
  if (parts_ >= limits_.max_parts)
    return Status::InvalidArgument("more than " + std::to_string(limits_.max_parts) + " parts in one body");
  PartHeaders headers;
  while (!block.empty()) {
    const size_t eol = block.find("\r\n");
    const std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') {
      // Obsolete line folding (RFC 5322): continues the previous field.
      if (headers.fields.empty())
        return Status::InvalidArgument(which + ": its headers start with a continuation line \"" + Excerpt(line) +
                                       "\"");
      headers.fields.back().second += " " + std::string(Trim(line));
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Status::InvalidArgument(which + ": header line \"" + Excerpt(line, 60) + "\" is not Name: value");
    const std::string_view name = line.substr(0, colon);
    for (const char c : name)
      if (!IsTokenChar(static_cast<unsigned char>(c)))
        return Status::InvalidArgument(which + ": header name \"" + Excerpt(name, 60) + "\" is not a token");
    headers.fields.emplace_back(Lower(name), std::string(Trim(line.substr(colon + 1))));
  }
  ++parts_;
  return sink_.BeginPart(index, headers);
}

Status MultipartParser::Finish() {
  switch (state_) {
    case State::kEpilogue:
      return Status::Ok();
    case State::kFailed:
      return error_;
    case State::kPreamble:
      return Fail(Status::InvalidArgument(
          fed_ == 0 ? std::string("the body is empty: no parts")
                    : "no delimiter line \"" + delimiter_.substr(2) + "\" in the " + std::to_string(fed_) +
                          " bytes of the body: the body does not use the boundary its Content-Type names"));
    case State::kAfterDelimiter:
    case State::kHeaders:
      return Fail(Status::InvalidArgument("truncated body: it ends in the headers of part " +
                                          std::to_string(parts_ + 1) + ", after " + std::to_string(fed_) + " bytes"));
    case State::kBody:
      return Fail(Status::InvalidArgument("truncated body: part " + std::to_string(parts_) +
                                          " is not closed by a delimiter line (\"" + delimiter_.substr(2) +
                                          "\") before the body ends, after " + std::to_string(fed_) + " bytes"));
  }
  return Status::Internal("multipart parser in an unknown state");
}

// ---- PartSpooler ----

PartSpooler::PartSpooler(std::filesystem::path spill_dir, uint64_t memory_limit, uint64_t memory_budget)
    : spill_dir_(std::move(spill_dir)),
      memory_limit_(memory_limit),
      memory_budget_(memory_budget > 0 ? memory_budget : 4 * memory_limit) {}

PartSpooler::~PartSpooler() {
  file_.reset();
  std::error_code ignored;
  if (current_ && current_->spilled()) std::filesystem::remove(current_->file, ignored);
  for (const auto& part : parts_)
    if (part.spilled()) std::filesystem::remove(part.file, ignored);
}

Status PartSpooler::BeginPart(size_t index, const PartHeaders& headers) {
  current_.emplace();
  current_->headers = headers;
  return Status::Ok();
}

Status PartSpooler::PartData(std::string_view bytes) {
  if (!current_) return Status::Internal("part data outside a part");
  Part& part = *current_;
  part.size += bytes.size();
  if (!part.spilled() && part.memory.size() + bytes.size() <= memory_limit_ &&
      memory_held_ + bytes.size() <= memory_budget_) {
    part.memory.append(bytes);
    memory_held_ += bytes.size();
    return Status::Ok();
  }
  if (!part.spilled()) {
    std::error_code error;
    std::filesystem::create_directories(spill_dir_, error);
    if (error)
      return Status::IOError("cannot create the spill folder " + spill_dir_.string() + ": " + error.message() +
                             "; the part is not stored");
    std::string pattern = (spill_dir_ / "stow-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0)
      return Status::IOError("cannot create a spill file in " + spill_dir_.string() + ": " + std::strerror(errno) +
                             "; the part is not stored");
    part.file = pattern;
    file_.reset(::fdopen(fd, "wb"));
    if (!file_) {
      ::close(fd);
      return Status::IOError("cannot open spill file " + pattern + ": " + std::strerror(errno));
    }
    if (std::fwrite(part.memory.data(), 1, part.memory.size(), file_.get()) != part.memory.size())
      return Status::IOError("cannot write spill file " + pattern + ": " + std::strerror(errno) +
                             "; the part is not stored");
    memory_held_ -= part.memory.size();
    part.memory.clear();
    part.memory.shrink_to_fit();
  }
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_.get()) != bytes.size())
    return Status::IOError("cannot write spill file " + part.file.string() + ": " + std::strerror(errno) +
                           "; the part is not stored");
  return Status::Ok();
}

Status PartSpooler::EndPart() {
  if (!current_) return Status::Internal("end of a part that did not begin");
  if (file_) {
    const bool flushed = std::fflush(file_.get()) == 0;
    file_.reset();
    if (!flushed)
      return Status::IOError("cannot write spill file " + current_->file.string() + ": " + std::strerror(errno) +
                             "; the part is not stored");
  }
  parts_.push_back(std::move(*current_));
  current_.reset();
  return Status::Ok();
}

void PartSpooler::Release(size_t i) {
  if (i >= parts_.size()) return;
  Part& part = parts_[i];
  if (part.spilled()) {
    std::error_code ignored;
    std::filesystem::remove(part.file, ignored);
    part.file.clear();
  }
  memory_held_ -= part.memory.size();
  part.memory.clear();
  part.memory.shrink_to_fit();
}

}  // namespace pacs::web
