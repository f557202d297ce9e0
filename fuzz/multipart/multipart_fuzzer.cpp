// libFuzzer target: a STOW-RS request's Content-Type and body, read the way
// the STOW-RS handler reads them (web/src/multipart.h): ParseMediaType,
// BoundaryOf, then the streaming MultipartParser into a PartSpooler that
// spills parts over 4 KiB to files. The body is fed twice, whole and in
// chunks of a size the input picks; both runs must agree on the outcome and
// on every part's headers and bytes (`FINDING:` otherwise), and a spilled
// part's file must hold exactly its bytes.
//
// Input: the Content-Type, a '\n', then one byte for the chunk size, then
// the body. Seeds: fuzz/multipart/seeds.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "multipart.h"

namespace {

using pacs::web::MultipartParser;
using pacs::web::PartSpooler;

std::filesystem::path SpillDir() {
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                               : std::filesystem::temp_directory_path();
  return base / ("pacs_multipart_fuzz_" + std::to_string(getpid()));
}

struct Outcome {
  bool ok = false;
  std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>> parts;
};

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

Outcome Run(const std::string& boundary, std::string_view body, size_t chunk) {
  PartSpooler spooler(SpillDir(), 4096);
  MultipartParser parser(boundary, spooler);
  bool ok = true;
  for (size_t i = 0; i < body.size() && ok; i += chunk) ok = parser.Feed(body.substr(i, chunk)).ok();
  if (body.empty()) ok = true;
  ok = ok && parser.Finish().ok();
  Outcome outcome{.ok = ok};
  if (!ok) return outcome;
  if (spooler.parts().size() != parser.parts()) Finding("parser and spooler disagree on the number of parts");
  for (auto& part : spooler.parts()) {
    std::string bytes = part.memory;
    if (part.spilled()) {
      std::ifstream in(part.file, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (bytes.size() != part.size) Finding("a part's bytes do not match its size");
    outcome.parts.emplace_back(part.headers.fields, std::move(bytes));
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos || newline + 1 >= input.size()) return 0;
  auto type = pacs::web::ParseMediaType(input.substr(0, newline));
  if (!type.ok()) return 0;
  auto boundary = pacs::web::BoundaryOf(*type);
  if (!boundary.ok()) return 0;
  const size_t chunk = 1 + static_cast<unsigned char>(input[newline + 1]) % 97;
  const std::string_view body = input.substr(newline + 2);
  const Outcome whole = Run(*boundary, body, body.size() + 1);
  const Outcome chunked = Run(*boundary, body, chunk);
  if (whole.ok != chunked.ok)
    Finding("the body parses " + std::string(whole.ok ? "whole but not" : "in chunks but not whole") +
            " in chunks of " + std::to_string(chunk));
  if (whole.parts != chunked.parts) Finding("parts differ between a whole and a chunked parse");
  return 0;
}
