// File: media_type.h
// Media types as HTTP carries them (RFC 9110 8.3.1, 12.5.1): one
// Content-Type value, or the list of media ranges of an Accept header, with
// parameters. Parameter names are lower-cased, values unquoted (quoted and
// unquoted forms are the same value: `type="application/dicom"` equals
// `type=application/dicom`). Parses untrusted bytes: never throws, bounded.
//
//   auto ranges = ParseAccept("multipart/related; type=\"image/jls\"; transfer-syntax=1.2.840.10008.1.2.4.80,
//   */*;q=0.1"); ranges->at(0).Param("type") == "image/jls"
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacs/base/result.h"

namespace pacs::web {

struct MediaType {
  std::string type;                                         // lower case: "multipart", "application", "*"
  std::string subtype;                                      // lower case: "related", "dicom+json", "*"
  std::vector<std::pair<std::string, std::string>> params;  // names lower case, values unquoted, q excluded
  double q = 1.0;                                           // Accept only

  std::string Essence() const { return type + "/" + subtype; }  // "multipart/related"
  // A parameter's value, or "" (also for a parameter given empty).
  std::string Param(std::string_view name) const;
  bool HasParam(std::string_view name) const;
  // Whether this range (possibly with wildcards) covers "type/subtype".
  bool Covers(std::string_view essence) const;
};

// One media type ("multipart/related; type=...; boundary=..."). InvalidArgument
// saying what is wrong when it is not `token/token *(; name=value)`.
Result<MediaType> ParseMediaType(std::string_view text);
// An Accept header: comma-separated media ranges (commas inside quoted
// values are kept), sorted by q descending (stable). An empty header is
// `*/*`. Ranges with q=0 are dropped. At most 64 ranges.
Result<std::vector<MediaType>> ParseAccept(std::string_view text);

}  // namespace pacs::web
