#include "corpus.h"

#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "pacs/dicom/dataset_compare.h"
#include "test_support.h"

namespace pacs::testing {
namespace fs = std::filesystem;
namespace {

std::string Get(DcmDataset& ds, const DcmTagKey& tag) {
  OFString v;
  ds.findAndGetOFStringArray(tag, v);
  return v.c_str();
}

bool IsStorageSopClass(const std::string& uid) {
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
    if (uid == dcmAllStorageSOPClassUIDs[i]) return true;
  return false;
}

// Reads the file with DCMTK and decides whether storescu can send it.
bool Describe(const fs::path& path, SampleFile& out, std::string& reason) {
  DcmFileFormat file;
  OFCondition cond = file.loadFile(path.c_str());
  if (cond.bad()) {
    reason = std::string("DCMTK cannot read it: ") + cond.text();
    return false;
  }
  DcmDataset& ds = *file.getDataset();
  out.path = path;
  out.transfer_syntax = DcmXfer(ds.getOriginalXfer()).getXferID();
  out.sop_instance_uid = Get(ds, DCM_SOPInstanceUID);
  out.patient_key = Get(ds, DCM_PatientID) + std::string(1, '\0') + Get(ds, DCM_IssuerOfPatientID);
  out.study_uid = Get(ds, DCM_StudyInstanceUID);
  out.series_uid = Get(ds, DCM_SeriesInstanceUID);
  const std::string sop_class = Get(ds, DCM_SOPClassUID);
  if (out.sop_instance_uid.empty())
    reason = "no SOP Instance UID";
  else if (!IsStorageSopClass(sop_class))
    reason = "SOP class " + sop_class + " is not a storage SOP class";
  else if (auto flag = StorescuFlagFor(out.transfer_syntax))
    out.storescu_flag = *flag;
  else
    reason = "storescu cannot propose transfer syntax " + out.transfer_syntax;
  return reason.empty();
}

}  // namespace

SampleSet LoadCorpus() {
  SampleSet set;
  std::ifstream manifest(CorpusDir() / "MANIFEST.tsv");
  std::string line;
  std::getline(manifest, line);  // header
  while (std::getline(manifest, line)) {
    const std::string rel = line.substr(0, line.find('\t'));
    if (rel.empty() || rel.rfind("malformed/", 0) == 0) continue;
    SampleFile f;
    std::string reason;
    if (Describe(CorpusDir() / rel, f, reason))
      set.files.push_back(f);
    else
      set.skipped.push_back(rel + ": " + reason);
  }
  return set;
}

SampleSet LoadPydicomValid() {
  SampleSet set;
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(PydicomDir()))
    if (e.is_regular_file() && e.path().extension() == ".dcm") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    // dcmdump is the referee of "valid": DCMTK may read truncated files leniently.
    if (RunCommand({"dcmdump", "-q", p.string()}).exit_code != 0) {
      set.skipped.push_back(p.filename().string() + ": dcmdump rejects it");
      continue;
    }
    SampleFile f;
    std::string reason;
    if (Describe(p, f, reason))
      set.files.push_back(f);
    else
      set.skipped.push_back(p.filename().string() + ": " + reason);
  }
  return set;
}

size_t PushWithStorescu(const std::vector<SampleFile>& files, int port, int associations, std::string& log) {
  // One storescu run per (association, proposal flag): storescu proposes one
  // compressed syntax at a time.
  std::vector<std::map<std::string, std::vector<std::string>>> plan(associations);
  for (size_t i = 0; i < files.size(); ++i)
    plan[i % associations][files[i].storescu_flag].push_back(files[i].path.string());
  std::vector<std::future<std::pair<size_t, std::string>>> workers;
  for (int a = 0; a < associations; ++a) {
    workers.push_back(std::async(std::launch::async, [&, a] {
      size_t ok = 0;
      std::string out;
      for (const auto& [flag, paths] : plan[a]) {
        std::vector<std::string> argv = {"storescu", "-nh", "-R", "-v", "-aec", "PACSCORE"};
        if (!flag.empty()) argv.push_back(flag);
        argv.push_back("127.0.0.1");
        argv.push_back(std::to_string(port));
        argv.insert(argv.end(), paths.begin(), paths.end());
        auto r = RunCommand(argv, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(600));
        size_t count = 0;
        for (size_t pos = 0; (pos = r.output.find("Received Store Response (Success)", pos)) != std::string::npos;
             ++pos)
          ++count;
        ok += count;
        if (count != paths.size())
          out += "storescu " + flag + " exit " + std::to_string(r.exit_code) + ":\n" + r.output;
      }
      return std::make_pair(ok, out);
    }));
  }
  size_t ok = 0;
  for (auto& w : workers) {
    auto [count, out] = w.get();
    ok += count;
    log += out;
  }
  return ok;
}

std::string CompareFiles(const fs::path& expected, const fs::path& actual) {
  DcmFileFormat a, b;
  if (a.loadFile(expected.c_str()).bad()) return "cannot read " + expected.string();
  if (b.loadFile(actual.c_str()).bad()) return "cannot read " + actual.string();
  Status s = dicom::CompareDatasets(*a.getDataset(), *b.getDataset());
  return s.ok() ? std::string() : s.message();
}

std::vector<std::string> CheckRoundTrip(const std::vector<SampleFile>& sent, const fs::path& export_dir,
                                        std::vector<SampleFile>& stored) {
  std::vector<std::string> problems;
  std::map<std::string, std::vector<const SampleFile*>> by_uid;
  for (const auto& f : sent) by_uid[f.sop_instance_uid].push_back(&f);
  std::map<std::string, fs::path> exported;
  for (const auto& e : fs::recursive_directory_iterator(export_dir)) {
    if (!e.is_regular_file()) continue;
    DcmFileFormat file;
    if (file.loadFile(e.path().c_str()).bad()) {
      problems.push_back("exported file does not parse: " + e.path().string());
      continue;
    }
    exported[Get(*file.getDataset(), DCM_SOPInstanceUID)] = e.path();
  }
  for (const auto& [uid, candidates] : by_uid) {
    auto it = exported.find(uid);
    if (it == exported.end()) {
      problems.push_back("not exported: " + uid + " (" + candidates[0]->path.string() + ")");
      continue;
    }
    std::string diffs;
    const SampleFile* match = nullptr;
    for (const SampleFile* c : candidates) {
      std::string d = CompareFiles(c->path, it->second);
      if (d.empty()) {
        match = c;
        break;
      }
      diffs += "\n  vs " + c->path.string() + ": " + d;
    }
    if (match)
      stored.push_back(*match);
    else
      problems.push_back("round trip differs for " + uid + diffs);
  }
  if (exported.size() != by_uid.size())
    problems.push_back("exported " + std::to_string(exported.size()) + " instances, sent " +
                       std::to_string(by_uid.size()) + " distinct SOP Instance UIDs");
  return problems;
}

}  // namespace pacs::testing
