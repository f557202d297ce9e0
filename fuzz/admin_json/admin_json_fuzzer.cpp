// libFuzzer target: request bodies of the admin endpoint (`pacscore serve`,
// tools/src/serve.cpp AdminApi::Handle), read the way its handlers read
// them: ParseJson, the field readers, the transfer syntax of /export, the
// retention policy of /retention, and /protect and /delete against a real
// (empty) data folder, with the replies serialised as the endpoint does.
// Every refusal must be a Status or an "error" reply; an exception that
// escapes (nlohmann's type_error, say) is a finding, as it would end the
// admin server's thread.
//
// Input: the request body as sent. Seeds: fuzz/admin_json/seeds.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "cli.h"
#include "pacs/base/log.h"
#include "pacs/dicom/transcode.h"

namespace {

using pacs::tools::Json;

// In memory when /dev/shm exists: every request that writes syncs.
std::filesystem::path Folder() {
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                               : std::filesystem::temp_directory_path();
  return base / ("pacs_admin_fuzz_" + std::to_string(getpid()));
}

pacs::engine::Store* EmptyStore() {
  static std::unique_ptr<pacs::engine::Store> store = [] {
    const auto dir = Folder();
    std::filesystem::remove_all(dir);
    auto opened = pacs::tools::OpenFolder(dir.string(), pacs::engine::DuplicatePolicy::kKeep);
    if (!opened.ok()) {
      std::fprintf(stderr, "admin_json_fuzzer: cannot open %s: %s\n", dir.c_str(), opened.status().ToString().c_str());
      std::abort();
    }
    std::atexit([] { std::filesystem::remove_all(Folder()); });
    return std::move(*opened);
  }();
  return store.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto request = pacs::tools::ParseJson(body.empty() ? "{}" : body);
  if (!request.ok()) {
    (void)pacs::tools::ToJson(Json{{"error", request.status().ToString()}});
    return 0;
  }
  // Every field a handler reads, with its reader.
  for (const char* key : {"path", "transfer_syntax", "out", "study", "series", "instance", "on_quota"})
    (void)pacs::tools::JsonString(*request, key);
  for (const char* key : {"timeout_ms", "gc_grace_ms", "quota_bytes"}) (void)pacs::tools::JsonInt(*request, key, 7);
  for (const char* key : {"dry_run", "protect", "list", "deep"}) (void)pacs::tools::JsonBool(*request, key);
  auto syntax = pacs::dicom::ParseTargetSyntax(pacs::tools::JsonString(*request, "transfer_syntax"));
  (void)syntax;
  auto policy = pacs::tools::RetentionPolicyFromJson(*request);
  if (policy.ok()) (void)policy->empty();
  pacs::engine::Store& store = *EmptyStore();
  // The folder stays empty: protecting a study it does not hold is refused,
  // and so is deleting one.
  Json reply = pacs::tools::HandleProtect(store, *request);
  (void)pacs::tools::ToJson(reply);
  reply = pacs::tools::HandleMaintenance(store, "delete", *request);
  (void)pacs::tools::ToJson(reply, /*pretty=*/true);
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  pacs::SetLogLevel(pacs::LogLevel::kError);
  return 0;
}
