#include "web_client_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace pacs::testing {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, '\t')) cells.push_back(cell);
  return cells;
}

}  // namespace

fs::path WebClientWorkDir() {
  return PACS_WEB_CLIENT_WORK_DIR;
}
fs::path BrowserScriptDir() {
  return PACS_BROWSER_SCRIPT_DIR;
}

std::vector<SampleFile> CtSeriesFiles() {
  // Read from MANIFEST.tsv's columns (the files themselves are read by storescu).
  std::vector<SampleFile> files;
  std::ifstream manifest(CorpusDir() / "MANIFEST.tsv");
  std::string line;
  std::getline(manifest, line);
  const std::vector<std::string> header = SplitTabs(line);
  auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    return header.size();
  };
  const size_t path_col = column("relative_path"), ts_col = column("TransferSyntaxUID"),
               study_col = column("StudyInstanceUID"), series_col = column("SeriesInstanceUID"),
               sop_col = column("SOPInstanceUID");
  while (std::getline(manifest, line)) {
    const auto cells = SplitTabs(line);
    if (cells.size() != header.size() || cells[path_col].rfind("dcm_qa_ct/philips_ct_140_slices/", 0) != 0) continue;
    SampleFile f;
    f.path = CorpusDir() / cells[path_col];
    f.transfer_syntax = cells[ts_col];
    f.study_uid = cells[study_col];
    f.series_uid = cells[series_col];
    f.sop_instance_uid = cells[sop_col];
    f.storescu_flag = StorescuFlagFor(f.transfer_syntax).value_or("");
    files.push_back(f);
  }
  return files;
}

WebServer::WebServer(fs::path data_dir, std::vector<std::string> extra_args, std::string auth_header)
    : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)), auth_header_(std::move(auth_header)) {}

std::string WebServer::Start() {
  web_port_ = FreePort();
  std::vector<std::string> args = {"--web-port", std::to_string(web_port_), "--codec", "jpegls"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<ServerProcess>(data_dir_, args);
  if (!process_->Start()) return "pacscore serve did not start; its log:\n" + process_->Log();
  // The DICOMweb port may open a moment after the DICOM one.
  for (int i = 0; i < 100; ++i) {
    std::string body;
    std::vector<std::string> headers = {"Accept: application/dicom+json"};
    if (!auth_header_.empty()) headers.push_back(auth_header_);
    const int status = HttpGet(base_url() + "/dicom-web/studies?limit=1", headers, &body);
    if (status == 200) return "";
    if (status > 0)
      return "GET /dicom-web/studies answered " + std::to_string(status) + ": " + body.substr(0, 300) +
             "\nserver log:\n" + process_->Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "the DICOMweb port " + std::to_string(web_port_) + " did not answer within 10 s; server log:\n" +
         process_->Log();
}

std::string PushAndSettle(const std::vector<SampleFile>& files, ServerProcess& server) {
  std::string log;
  const size_t stored = PushWithStorescu(files, server.port(), 1, log);
  if (stored != files.size())
    return "storescu stored " + std::to_string(stored) + " of " + std::to_string(files.size()) + " files:\n" + log;
  auto idle = RunCommand(
      {"curl", "-s", "--max-time", "150", "--unix-socket", (server.data_dir() / "admin.sock").string(), "-X", "POST",
       "-H", "Content-Type: application/json", "http://localhost/wait-idle", "-d", "{\"timeout_ms\": 120000}"},
      {}, std::chrono::seconds(160));
  if (idle.output.find("\"idle\":true") == std::string::npos)
    return "POST /wait-idle did not report idle within 120 s: " + idle.output;
  return "";
}

CommandResult RunNodeScript(const std::string& script, const std::vector<std::string>& args,
                            std::chrono::seconds timeout) {
  std::vector<std::string> argv = {"node", (BrowserScriptDir() / script).string(), "--node-modules",
                                   (WebClientWorkDir() / "npm" / "node_modules").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {}, timeout);
}

std::optional<tools::Json> LastJsonLine(const std::string& output) {
  std::stringstream in(output);
  std::string line;
  std::optional<tools::Json> last;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() != '{') continue;
    auto json = tools::ParseJson(line);
    if (json.ok() && json->is_object()) last = *json;
  }
  return last;
}

FrameCounts ServerFrameCounts(const fs::path& data_dir) {
  const tools::Json server = StatsJson(data_dir).value("server", tools::Json::object());
  return {tools::JsonInt(server, "frames_retrieved_as_stored", -1),
          tools::JsonInt(server, "frames_decoded_for_retrieval", -1)};
}

int HttpGet(const std::string& url, const std::vector<std::string>& headers, std::string* body) {
  static int counter = 0;
  const fs::path out = fs::temp_directory_path() /
                       ("pacs_web_get_" + std::to_string(getpid()) + "_" + std::to_string(++counter) + ".out");
  std::vector<std::string> argv = {"curl", "-s", "--max-time", "30", "-o", out.string(), "-w", "%{http_code}"};
  for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
  argv.push_back(url);
  auto r = RunCommand(argv, {}, std::chrono::seconds(40));
  if (body) {
    std::ifstream in(out, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    *body = ss.str();
  }
  fs::remove(out);
  if (r.exit_code != 0) return -1;
  try {
    return std::stoi(r.output);
  } catch (...) {
    return -1;
  }
}

}  // namespace pacs::testing
