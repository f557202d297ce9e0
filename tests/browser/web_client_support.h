// File: web_client_support.h
// What the web client tests (OHIF in Chromium, the dicomweb-client package)
// share: the real `pacscore serve` with its DICOMweb port, the CT series
// pushed with storescu and settled, Node.js scripts run with the npm packages
// that the ctest fixture installed, and the server's frame counters.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {

// Where setup.sh put node_modules (npm/) and the OHIF viewer (ohif-dist/),
// and where the tests keep their artefacts (screenshots).
std::filesystem::path WebClientWorkDir();
std::filesystem::path BrowserScriptDir();  // tests/browser in the source tree

// The CT series of the corpus (140 slices, Explicit VR Little Endian).
std::vector<SampleFile> CtSeriesFiles();

// `pacscore serve` with `--web-port` on 127.0.0.1 (and `--codec jpegls`,
// so that frames are stored as JPEG-LS once settled), plus `extra_args`.
class WebServer {
 public:
  // `auth_header` ("Authorization: Bearer ...") is sent with the start-up
  // probe when the server has a token file.
  WebServer(std::filesystem::path data_dir, std::vector<std::string> extra_args = {}, std::string auth_header = "");
  // Starts it and waits (bounded) until the DICOMweb port answers QIDO-RS.
  // Empty on success, else what went wrong.
  std::string Start();
  int web_port() const { return web_port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(web_port_); }
  ServerProcess& process() { return *process_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }

 private:
  std::filesystem::path data_dir_;
  std::vector<std::string> extra_args_;
  std::string auth_header_;
  int web_port_ = 0;
  std::unique_ptr<ServerProcess> process_;
};

// storescu (TCP_NODELAY=1) of `files` into the server's DICOM port, then
// POST /wait-idle on its admin socket until background encoding is done.
// Empty on success, else what went wrong.
std::string PushAndSettle(const std::vector<SampleFile>& files, ServerProcess& server);

// `node SCRIPT ARGS...` with NODE_PATH at the fixture's node_modules, bounded.
CommandResult RunNodeScript(const std::string& script, const std::vector<std::string>& args,
                            std::chrono::seconds timeout);

// The last line of `output` that parses as a JSON object.
std::optional<tools::Json> LastJsonLine(const std::string& output);

// The server's frame counters (pacscore stats --json: server.*).
struct FrameCounts {
  long long as_stored = 0;
  long long decoded = 0;
};
FrameCounts ServerFrameCounts(const std::filesystem::path& data_dir);

// `curl` of `url` (bounded): the status code and body, written to `body_file`
// when given. Returns -1 when curl could not reach the server.
int HttpGet(const std::string& url, const std::vector<std::string>& headers = {}, std::string* body = nullptr);

}  // namespace pacs::testing
