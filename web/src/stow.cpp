// STOW-RS (PS3.18 10.5): POST /studies and /studies/{study}. The server
// streams the body to a spill file (RouteOptions::kSpillFile, capped by
// --web-max-body: 413); the body is then parsed from that file in chunks
// by the streaming multipart parser (multipart.h), each part going through
// the C-STORE ingest (stow_transaction.h). Needs the write role.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "pacs/web/dicomweb.h"
#include "stow_transaction.h"

namespace pacs::web {
namespace {

Response ToResponse(HttpAnswer answer) {
  if (answer.content_type.rfind("text/plain", 0) == 0) {
    while (!answer.body.empty() && answer.body.back() == '\n') answer.body.pop_back();
    return Response::Error(static_cast<int>(answer.status), answer.body);
  }
  Response response = Response::Text(static_cast<int>(answer.status), answer.content_type, std::move(answer.body));
  for (auto& warning : answer.warnings) response.With("Warning", std::move(warning));
  return response;
}

Response Stow(const Request& request, DicomWebContext& context, const std::string& study) {
  if (context.ingestor() == nullptr) return Response::Error(503, "this server stores nothing: STOW-RS is off");
  namespace fs = std::filesystem;
  // Parts too large for memory wait beside the body's spill file (DATA/incoming).
  const fs::path spill_dir =
      request.body_file.empty() ? fs::temp_directory_path() : fs::path(request.body_file).parent_path();
  StowOptions options{
      .spill_dir = spill_dir, .max_body_bytes = context.options().max_body, .url_root = context.Uri("")};
  audit::Peer peer{.host = request.peer, .user = request.token ? "token " + request.token->fingerprint : ""};
  StowTransaction stow(*context.ingestor(), options, study, peer);
  if (auto refused = stow.Start(request.Header("content-type"), request.body_size)) return ToResponse(*refused);
  if (!request.body_file.empty()) {
    struct Closer {
      void operator()(std::FILE* f) const { std::fclose(f); }
    };
    std::unique_ptr<std::FILE, Closer> file(std::fopen(request.body_file.c_str(), "rb"));
    if (!file) return Response::Error(500, "cannot read the request body back from " + request.body_file);
    std::string chunk(1 << 20, '\0');
    while (true) {
      const size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get());
      if (n > 0)
        if (auto refused = stow.Feed(std::string_view(chunk.data(), n))) return ToResponse(*refused);
      if (n < chunk.size()) {
        if (std::ferror(file.get()))
          return Response::Error(500, "cannot read the request body back from " + request.body_file);
        break;
      }
    }
  } else if (!request.body.empty()) {
    if (auto refused = stow.Feed(request.body)) return ToResponse(*refused);
  }
  HttpAnswer answer = stow.Finish();
  context.counters().instances_stored += stow.stored();
  return ToResponse(std::move(answer));
}

}  // namespace

void RegisterStowRoutes(Router& router, DicomWebContext& context) {
  const std::string& root = context.options().root;
  const RouteOptions options{.role = TokenRole::kWrite, .body = RouteOptions::BodyMode::kSpillFile};
  router.Add(
      "POST", root + "/studies", [&context](const Request& request) { return Stow(request, context, ""); }, options);
  router.Add(
      "POST", root + "/studies/{study}",
      [&context](const Request& request) { return Stow(request, context, request.Param("study")); }, options);
}

}  // namespace pacs::web
