// libFuzzer target: the parts of an HTTP request the DICOMweb server
// (pacs/web/) parses itself before any handler runs: the request target
// (percent decoding, traversal refusal, query string), Accept and
// Content-Type media types, Accept-Encoding, and gzip inflation. Each must
// return a Status for bad input, never throw, crash or read out of bounds;
// and a target it accepts must hold no "." or ".." segment.
//
// Input: the first line is the request target, the second an Accept
// header, the third a Content-Type, the rest the body given to inflate.
// Seeds: fuzz/web_request/seeds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pacs/web/http_common.h"
#include "pacs/web/media_type.h"

namespace {

std::string_view NextLine(std::string_view& rest) {
  const size_t end = rest.find('\n');
  const std::string_view line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view target = NextLine(rest);
  const std::string_view accept = NextLine(rest);
  const std::string_view content_type = NextLine(rest);

  auto parsed = pacs::web::ParseTarget(target);
  if (parsed.ok()) {
    for (const auto& segment : parsed->segments)
      if (segment == "." || segment == ".." || segment.find('/') != std::string::npos) std::abort();
  }
  (void)pacs::web::ParseQueryString(target);
  (void)pacs::web::PercentDecode(target, true);
  auto ranges = pacs::web::ParseAccept(accept);
  if (ranges.ok()) {
    for (const auto& range : *ranges) {
      if (range.q <= 0 || range.q > 1) std::abort();
      (void)range.Covers("multipart/related");
      (void)range.Param("transfer-syntax");
    }
  }
  (void)pacs::web::ParseMediaType(content_type);
  (void)pacs::web::AcceptsGzip(accept);
  (void)pacs::web::IsLoopbackHost(content_type);
  (void)pacs::web::IsLoopbackOrigin(accept);
  (void)pacs::web::GzipDecompress(rest, size_t{1} << 20);
  return 0;
}
