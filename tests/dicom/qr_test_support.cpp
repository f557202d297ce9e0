#include "qr_test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdicent.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "test_support.h"

namespace pacs::testing {
namespace fs = std::filesystem;

namespace {

DcmTagKey TagFor(const std::string& keyword) {
  DcmTag tag;
  if (DcmTag::findTagFromName(keyword.c_str(), tag).bad()) return DcmTagKey();
  return tag.getXTag();
}

std::string ValueOf(DcmItem& item, const std::string& keyword) {
  OFString value;
  if (item.findAndGetOFStringArray(TagFor(keyword), value).bad()) return {};
  return value.c_str();
}

}  // namespace

const std::string& FileAttributes::operator[](const std::string& keyword) const {
  static const std::string kEmpty;
  auto it = values.find(keyword);
  return it == values.end() ? kEmpty : it->second;
}

FileAttributes ReadAttributes(const fs::path& path) {
  FileAttributes out;
  out.path = path;
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return out;
  DcmDataset& ds = *file.getDataset();
  ds.convertToUTF8();
  for (const char* keyword :
       {"PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
        "AccessionNumber", "StudyInstanceUID", "StudyDescription", "SeriesInstanceUID", "Modality", "SeriesNumber",
        "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "StudyID"})
    out.values[keyword] = ValueOf(ds, keyword);
  return out;
}

std::multiset<std::string> FindResult::Values(const std::string& keyword) const {
  std::multiset<std::string> out;
  for (const auto& rsp : responses) {
    DcmDataset copy(*rsp->getDataset());
    copy.convertToUTF8();
    out.insert(ValueOf(copy, keyword));
  }
  return out;
}

std::set<std::string> FindResult::DistinctValues(const std::string& keyword) const {
  auto all = Values(keyword);
  return {all.begin(), all.end()};
}

std::vector<std::string> FindResult::SortedLines(const std::vector<std::string>& keys) const {
  std::vector<std::string> lines;
  for (const auto& rsp : responses) {
    std::string line;
    for (const auto& key : keys) {
      const std::string keyword = key.substr(0, key.find('='));
      OFString value;
      rsp->getDataset()->findAndGetOFStringArray(TagFor(keyword), value);
      line.append(keyword).append("=").append(value.c_str(), value.length()).append("|");
    }
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

FindResult RunFindscu(int port, const FindRequest& request, const fs::path& work_dir) {
  static int counter = 0;
  const fs::path dir = work_dir / ("find" + std::to_string(++counter));
  fs::remove_all(dir);
  fs::create_directories(dir);
  DcmFileFormat query;
  DcmDataset& ds = *query.getDataset();
  ds.putAndInsertString(DCM_QueryRetrieveLevel, request.level.c_str());
  if (!request.charset.empty()) ds.putAndInsertString(DCM_SpecificCharacterSet, request.charset.c_str());
  for (const auto& key : request.keys) {
    const size_t eq = key.find('=');
    const std::string keyword = key.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : key.substr(eq + 1);
    ds.putAndInsertString(TagFor(keyword), value.c_str());
  }
  for (const auto& [keyword, bytes] : request.raw_values)
    ds.putAndInsertOFStringArray(TagFor(keyword), OFString(bytes.data(), bytes.size()));
  const fs::path query_file = dir / "query.dcm";
  query.saveFile(query_file.c_str(), EXS_LittleEndianExplicit);

  FindResult result;
  auto run = RunCommand({"findscu", "-v", request.patient_root ? "-P" : "-S", "-aec", "PACSCORE", "-X", "-od",
                         dir.string(), "127.0.0.1", std::to_string(port), query_file.string()},
                        {{"TCP_NODELAY", "1"}}, std::chrono::seconds(60));
  result.exit_code = run.exit_code;
  result.output = run.output;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("rsp", 0) == 0) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto rsp = std::make_unique<DcmFileFormat>();
    if (rsp->loadFile(f.c_str()).good()) result.responses.push_back(std::move(rsp));
  }
  return result;
}

BackgroundProcess::BackgroundProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
                                     fs::path log_path)
    : log_path_(std::move(log_path)) {
  int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it bind its port
}

BackgroundProcess::~BackgroundProcess() {
  Stop();
}

void BackgroundProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {  // up to 5 s, then SIGKILL
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string BackgroundProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

size_t WaitForFiles(const fs::path& dir, size_t count, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t n = 0;
  while ((n = FilesIn(dir).size()) < count && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return n;
}

}  // namespace pacs::testing
