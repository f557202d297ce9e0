// The C-STORE client behind store_scu.h. `pacscore bench` is a DICOM client,
// and a client built on dcmnet is what the peers it measures see from
// modalities. OFCondition/OFString stay inside this file.
#include "pacs/dicom/store_scu.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scu.h"
#include "pacs/base/mutex.h"
#include "scu_config.h"

namespace pacs::dicom {
namespace fs = std::filesystem;

struct SendableFiles::Impl {
  std::vector<SendableFile> files;
  std::vector<std::string> skipped;
  std::vector<std::unique_ptr<DcmFileFormat>> loaded;  // empty unless preloaded
  uint64_t dataset_bytes = 0;
  uint64_t file_bytes = 0;
};

struct SendableFilesAccess {
  static SendableFiles::Impl& Of(SendableFiles& files) { return *files.impl_; }
};

namespace {

constexpr size_t kMaxContextsPerAssociation = 128;  // odd presentation context IDs 1..255
constexpr size_t kMaxFailuresKept = 10;

std::string Get(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFString(tag, v);
  return v;
}

bool IsStorageSopClass(const std::string& uid) {
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
    if (uid == dcmAllStorageSOPClassUIDs[i]) return true;
  return false;
}

bool HasPreamble(const fs::path& path) {
  char head[132] = {};
  std::ifstream in(path, std::ios::binary);
  return in.read(head, sizeof head) && std::string(head + 128, 4) == "DICM";
}

// Reads a file's identity without pulling large values (pixel data) into memory.
bool Describe(const fs::path& path, SendableFile& out, std::string& reason) {
  DcmFileFormat file;
  OFCondition cond = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096);
  if (cond.bad()) {
    reason = std::string("not DICOM or unreadable (") + cond.text() + ")";
    return false;
  }
  DcmDataset& ds = *file.getDataset();
  out.path = path.string();
  out.sop_class_uid = Get(ds, DCM_SOPClassUID);
  out.sop_instance_uid = Get(ds, DCM_SOPInstanceUID);
  out.patient_id = Get(ds, DCM_PatientID);
  out.patient_name = Get(ds, DCM_PatientName);
  out.accession_number = Get(ds, DCM_AccessionNumber);
  out.study_date = Get(ds, DCM_StudyDate);
  out.study_uid = Get(ds, DCM_StudyInstanceUID);
  out.series_uid = Get(ds, DCM_SeriesInstanceUID);
  const DcmXfer xfer(ds.getOriginalXfer());
  out.transfer_syntax = xfer.getXferID();
  std::error_code ec;
  out.file_bytes = fs::file_size(path, ec);
  uint64_t meta = 0;
  if (HasPreamble(path)) meta = 132 + file.getMetaInfo()->getLength(EXS_LittleEndianExplicit, EET_ExplicitLength);
  out.dataset_bytes = out.file_bytes > meta ? out.file_bytes - meta : out.file_bytes;
  if (out.sop_class_uid.empty())
    reason = "no SOP Class UID";
  else if (out.sop_instance_uid.empty())
    reason = "no SOP Instance UID";
  else if (!IsStorageSopClass(out.sop_class_uid))
    reason = "SOP class " + out.sop_class_uid + " is not a storage SOP class";
  else if (xfer.getXfer() == EXS_Unknown)
    reason = "transfer syntax unknown to DCMTK, cannot be sent";
  return reason.empty();
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// One worker: its files, in batches whose SOP class/transfer syntax pairs fit one association.
std::vector<std::vector<size_t>> PlanAssociations(const std::vector<SendableFile>& files,
                                                  const std::vector<size_t>& mine) {
  std::set<std::pair<std::string, std::string>> keys;
  for (size_t i : mine) keys.emplace(files[i].sop_class_uid, files[i].transfer_syntax);
  if (keys.size() <= kMaxContextsPerAssociation) return {mine};
  std::vector<size_t> sorted = mine;
  std::stable_sort(sorted.begin(), sorted.end(), [&](size_t a, size_t b) {
    return std::tie(files[a].sop_class_uid, files[a].transfer_syntax) <
           std::tie(files[b].sop_class_uid, files[b].transfer_syntax);
  });
  std::vector<std::vector<size_t>> batches(1);
  std::set<std::pair<std::string, std::string>> in_batch;
  for (size_t i : sorted) {
    auto key = std::make_pair(files[i].sop_class_uid, files[i].transfer_syntax);
    if (!in_batch.contains(key) && in_batch.size() == kMaxContextsPerAssociation) {
      batches.emplace_back();
      in_batch.clear();
    }
    in_batch.insert(key);
    batches.back().push_back(i);
  }
  return batches;
}

class Worker {
 public:
  Worker(SendableFiles::Impl& corpus, const ScuPeer& peer, std::atomic<uint64_t>& done_files,
         std::atomic<uint64_t>& done_bytes)
      : corpus_(corpus), peer_(peer), done_files_(done_files), done_bytes_(done_bytes) {}

  void Run(const std::vector<size_t>& mine) {
    for (const auto& batch : PlanAssociations(corpus_.files, mine)) SendBatch(batch);
  }

  PushResult& result() { return result_; }

 private:
  SendableFiles::Impl& corpus_;
  const ScuPeer& peer_;
  std::atomic<uint64_t>& done_files_;
  std::atomic<uint64_t>& done_bytes_;
  PushResult result_;

  void Fail(size_t file, const std::string& reason) {
    ++result_.failed;
    ++done_files_;
    if (result_.failures.size() < kMaxFailuresKept)
      result_.failures.push_back(corpus_.files[file].path + ": " + reason);
  }

  void FailRest(const std::vector<size_t>& batch, size_t from, const std::string& reason) {
    for (size_t k = from; k < batch.size(); ++k) Fail(batch[k], reason);
  }

  void SendBatch(const std::vector<size_t>& batch) {
    result_.attempted += batch.size();
    DcmSCU scu;
    ConfigureScu(scu, peer_);
    std::set<std::pair<std::string, std::string>> proposed;
    for (size_t i : batch) {
      const SendableFile& f = corpus_.files[i];
      if (!proposed.emplace(f.sop_class_uid, f.transfer_syntax).second) continue;
      OFList<OFString> syntaxes;
      syntaxes.emplace_back(f.transfer_syntax.c_str());
      scu.addPresentationContext(f.sop_class_uid, syntaxes);
    }
    OFCondition cond = scu.initNetwork();
    if (cond.good()) cond = scu.negotiateAssociation();
    if (cond.bad()) {
      FailRest(batch, 0,
               std::string("association to ") + peer_.called_aet + "@" + peer_.host + ":" + std::to_string(peer_.port) +
                   " failed: " + cond.text());
      return;
    }
    ++result_.associations;
    for (size_t k = 0; k < batch.size(); ++k) {
      const size_t i = batch[k];
      const SendableFile& f = corpus_.files[i];
      const T_ASC_PresentationContextID pc = scu.findPresentationContextID(f.sop_class_uid, f.transfer_syntax);
      if (pc == 0) {
        Fail(i, "the peer did not accept SOP class " + f.sop_class_uid + " in transfer syntax " + f.transfer_syntax);
        continue;
      }
      std::unique_ptr<DcmFileFormat> own;
      DcmFileFormat* file = corpus_.loaded.empty() ? nullptr : corpus_.loaded[i].get();
      if (file == nullptr) {
        own = std::make_unique<DcmFileFormat>();
        cond = own->loadFile(f.path.c_str());
        if (cond.bad()) {
          Fail(i, std::string("cannot read: ") + cond.text());
          continue;
        }
        file = own.get();
      }
      Uint16 status = 0xFFFF;
      const auto start = std::chrono::steady_clock::now();
      cond = scu.sendSTORERequest(pc, OFFilename(), file->getDataset(), status);
      const double ms = Seconds(std::chrono::steady_clock::now() - start) * 1e3;
      if (cond.bad()) {
        Fail(i, std::string("C-STORE failed, association lost: ") + cond.text());
        FailRest(batch, k + 1, "not sent: association lost earlier");
        scu.abortAssociation();
        return;
      }
      // Success (0000) and warnings (0001, Bxxx) mean the instance was stored.
      if (status == 0x0000 || status == 0x0001 || (status & 0xF000) == 0xB000) {
        ++result_.succeeded;
        result_.succeeded_bytes += f.dataset_bytes;
        result_.latencies_ms.push_back(ms);
        ++done_files_;
        done_bytes_ += f.dataset_bytes;
      } else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "%04X", status);
        Fail(i, std::string("C-STORE answered with status ") + hex);
      }
    }
    scu.releaseAssociation();
  }
};

}  // namespace

SendableFiles::SendableFiles() : impl_(std::make_unique<Impl>()) {}
SendableFiles::SendableFiles(SendableFiles&&) noexcept = default;
SendableFiles& SendableFiles::operator=(SendableFiles&&) noexcept = default;
SendableFiles::~SendableFiles() = default;

const std::vector<SendableFile>& SendableFiles::files() const {
  return impl_->files;
}
const std::vector<std::string>& SendableFiles::skipped() const {
  return impl_->skipped;
}
uint64_t SendableFiles::dataset_bytes() const {
  return impl_->dataset_bytes;
}
uint64_t SendableFiles::file_bytes() const {
  return impl_->file_bytes;
}
bool SendableFiles::preloaded() const {
  return !impl_->loaded.empty();
}

Result<SendableFiles> SendableFiles::Scan(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("no corpus folder " + dir);
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) paths.push_back(it->path());
  if (ec) return Status::IOError("cannot list " + dir + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  SendableFiles corpus;
  for (const auto& p : paths) {
    SendableFile f;
    std::string reason;
    if (Describe(p, f, reason)) {
      corpus.impl_->dataset_bytes += f.dataset_bytes;
      corpus.impl_->file_bytes += f.file_bytes;
      corpus.impl_->files.push_back(std::move(f));
    } else {
      corpus.impl_->skipped.push_back(p.string() + ": " + reason);
    }
  }
  return corpus;
}

Status SendableFiles::Preload() {
  std::vector<std::unique_ptr<DcmFileFormat>> loaded;
  for (const auto& f : impl_->files) {
    auto file = std::make_unique<DcmFileFormat>();
    OFCondition cond = file->loadFile(f.path.c_str());
    if (cond.good()) cond = file->loadAllDataIntoMemory();
    if (cond.bad()) return Status::IOError("cannot read " + f.path + ": " + cond.text());
    loaded.push_back(std::move(file));
  }
  impl_->loaded = std::move(loaded);
  return Status::Ok();
}

PushResult PushFiles(SendableFiles& files, const ScuPeer& peer, int associations,
                     const std::function<void(uint64_t, uint64_t)>& on_progress) {
  SendableFiles::Impl& impl = SendableFilesAccess::Of(files);
  associations = std::max(1, associations);
  std::vector<std::vector<size_t>> share(static_cast<size_t>(associations));
  for (size_t i = 0; i < impl.files.size(); ++i) share[i % share.size()].push_back(i);

  std::atomic<uint64_t> done_files{0}, done_bytes{0};
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t w = 0; w < share.size(); ++w)
    workers.push_back(std::make_unique<Worker>(impl, peer, done_files, done_bytes));
  // The clock stops when the last association's thread ends, not at the
  // next progress tick: each thread notes its end time and wakes the caller.
  Mutex finish_mutex;
  CondVar finished_cv;
  size_t finished = 0;
  auto last_end = std::chrono::steady_clock::time_point::min();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t w = 0; w < share.size(); ++w)
    threads.emplace_back([&, w] {
      if (!share[w].empty()) workers[w]->Run(share[w]);
      const auto end = std::chrono::steady_clock::now();
      MutexLock lock(finish_mutex);
      last_end = std::max(last_end, end);
      ++finished;
      finished_cv.SignalAll();
    });
  for (bool all_done = false; !all_done;) {
    if (on_progress) on_progress(done_files.load(), done_bytes.load());
    MutexLock lock(finish_mutex);
    if (finished < threads.size()) (void)finished_cv.WaitFor(finish_mutex, std::chrono::milliseconds(100));
    all_done = finished == threads.size();
  }
  for (auto& t : threads) t.join();
  PushResult total;
  total.wall_seconds = Seconds(last_end - start);
  if (on_progress) on_progress(done_files.load(), done_bytes.load());
  for (auto& w : workers) {
    PushResult& r = w->result();
    total.attempted += r.attempted;
    total.succeeded += r.succeeded;
    total.failed += r.failed;
    total.succeeded_bytes += r.succeeded_bytes;
    total.associations += r.associations;
    total.latencies_ms.insert(total.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    for (auto& f : r.failures)
      if (total.failures.size() < kMaxFailuresKept) total.failures.push_back(std::move(f));
  }
  return total;
}

Status Echo(const ScuPeer& peer, int timeout_seconds) {
  DcmSCU scu;
  ConfigureScu(scu, peer);
  scu.setConnectionTimeout(timeout_seconds);
  scu.setACSETimeout(static_cast<Uint32>(timeout_seconds));
  scu.setDIMSETimeout(static_cast<Uint32>(timeout_seconds));
  OFList<OFString> syntaxes;
  syntaxes.emplace_back(UID_LittleEndianExplicitTransferSyntax);
  syntaxes.emplace_back(UID_LittleEndianImplicitTransferSyntax);
  scu.addPresentationContext(UID_VerificationSOPClass, syntaxes);
  OFCondition cond = scu.initNetwork();
  if (cond.good()) cond = scu.negotiateAssociation();
  if (cond.good()) cond = scu.sendECHORequest(0);
  if (scu.isConnected()) scu.releaseAssociation();
  if (cond.bad())
    return Status::IOError("C-ECHO to " + peer.called_aet + "@" + peer.host + ":" + std::to_string(peer.port) +
                           " failed: " + cond.text());
  return Status::Ok();
}

std::string DcmtkVersion() {
  return OFFIS_DCMTK_VERSION_STRING;
}

OFList<OFString> PlainSyntaxes() {
  OFList<OFString> syntaxes;
  syntaxes.emplace_back(UID_LittleEndianExplicitTransferSyntax);
  syntaxes.emplace_back(UID_LittleEndianImplicitTransferSyntax);
  return syntaxes;
}

void ConfigureScu(DcmSCU& scu, const ScuPeer& peer) {
  scu.setAETitle(peer.calling_aet);
  scu.setPeerAETitle(peer.called_aet);
  scu.setPeerHostName(peer.host);
  scu.setPeerPort(peer.port);
  scu.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  scu.setConnectionTimeout(10);
  scu.setACSETimeout(60);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(600);
  scu.setVerbosePCMode(false);
  scu.setProgressNotificationMode(false);
}

}  // namespace pacs::dicom
