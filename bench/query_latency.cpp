// query_latency: C-FIND latency of the real `pacscore serve` on a folder made
// by index_generate. For each query kind it runs N queries over keys that
// exist, twice: cold (server just started, the folder's pages evicted from
// the OS page cache with posix_fadvise, so RocksDB's block cache and the
// page cache are empty) and warm (the same queries again). Both with one
// association per query (association set-up included in the latency) and
// with one association reused for all queries.
//
//   query_latency --data DIR --pacscore BIN [--queries 1000] [--studies 200000] [--patients 20000]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/scu.h"
#include "dcmtk/oflog/oflog.h"
#include "index_synthetic.h"

namespace {
namespace fs = std::filesystem;
using pacs::bench::SyntheticArchive;

std::string Flag(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

int FreePort() {
  // Ask the kernel for a free port by binding port 0.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  close(s);
  return ntohs(addr.sin_port);
}

// Drops the folder's pages from the OS page cache.
void EvictPageCache(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    int fd = open(it->path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

struct Query {
  bool patient_root = false;
  std::vector<std::pair<DcmTagKey, std::string>> keys;
};

class Client {
 public:
  Client(int port) {
    scu_.setAETitle("QRBENCH");
    scu_.setPeerAETitle("PACSCORE");
    scu_.setPeerHostName("127.0.0.1");
    scu_.setPeerPort(static_cast<Uint16>(port));
    scu_.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
    OFList<OFString> ts;
    ts.push_back(UID_LittleEndianExplicitTransferSyntax);
    scu_.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, ts);
    scu_.addPresentationContext(UID_FINDPatientRootQueryRetrieveInformationModel, ts);
  }
  bool Connect() {
    OFCondition cond = scu_.initNetwork();
    if (cond.good()) cond = scu_.negotiateAssociation();
    if (cond.bad()) last_error = cond.text();
    return cond.good();
  }
  static inline std::string last_error;
  void Release() { scu_.releaseAssociation(); }
  // Returns the number of matches, or -1 on failure.
  long Find(const Query& q) {
    const char* model = q.patient_root ? UID_FINDPatientRootQueryRetrieveInformationModel
                                       : UID_FINDStudyRootQueryRetrieveInformationModel;
    T_ASC_PresentationContextID pres = scu_.findPresentationContextID(model, "");
    DcmDataset ds;
    for (const auto& [tag, value] : q.keys) ds.putAndInsertString(tag, value.c_str());
    OFList<QRResponse*> responses;
    OFCondition cond = scu_.sendFINDRequest(pres, &ds, &responses);
    if (cond.bad()) last_error = cond.text();
    long matches = 0;
    for (auto* r : responses) {
      if (r->m_dataset) ++matches;
      delete r;
    }
    return cond.good() ? matches : -1;
  }

 private:
  DcmSCU scu_;
};

struct Server {
  pid_t pid = -1;
  int port = 0;
  bool Start(const std::string& binary, const fs::path& data) {
    port = FreePort();
    pid = fork();
    if (pid == 0) {
      const std::string log = data.string() + ".serve.log";
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
      execl(binary.c_str(), binary.c_str(), "serve", "--data", data.c_str(), "--port", std::to_string(port).c_str(),
            "--admin-port", "0", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {  // up to 30 s
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      Client c(port);
      if (c.Connect()) {
        c.Release();
        return true;
      }
    }
    return false;
  }
  void Stop() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 600 && waitpid(pid, nullptr, WNOHANG) != pid; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pid = -1;
  }
};

struct Kind {
  std::string name;
  std::function<Query(std::mt19937_64&)> make;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string data = Flag(argc, argv, "--data", "");
  const std::string binary = Flag(argc, argv, "--pacscore", "");
  if (data.empty() || binary.empty()) {
    std::fprintf(stderr, "usage: query_latency --data DIR --pacscore BIN [--queries N] [--studies N] [--patients N]\n");
    return 1;
  }
  const int n = std::stoi(Flag(argc, argv, "--queries", "1000"));
  const std::string only = Flag(argc, argv, "--only", "");  // run the kinds whose name contains this
  const SyntheticArchive archive(std::stoull(Flag(argc, argv, "--patients", "20000")),
                                 std::stoull(Flag(argc, argv, "--studies", "200000")));
  setenv("TCP_NODELAY", "1", 1);
  OFLog::configure(OFLogger::ERROR_LOG_LEVEL);

  auto study = [&](std::mt19937_64& rng) { return archive.Study(rng() % archive.studies()); };
  const std::vector<Kind> kinds = {
      {"study by PatientID",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{false,
                      {{DCM_QueryRetrieveLevel, "STUDY"},
                       {DCM_PatientID, s.patient_id},
                       {DCM_StudyInstanceUID, ""},
                       {DCM_StudyDate, ""},
                       {DCM_PatientName, ""},
                       {DCM_ModalitiesInStudy, ""},
                       {DCM_NumberOfStudyRelatedInstances, ""}}};
       }},
      {"study by AccessionNumber",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{false,
                      {{DCM_QueryRetrieveLevel, "STUDY"},
                       {DCM_AccessionNumber, s.accession},
                       {DCM_StudyInstanceUID, ""},
                       {DCM_PatientName, ""},
                       {DCM_StudyDate, ""}}};
       }},
      {"studies in a 1-week date range",
       [&](std::mt19937_64& rng) {
         const uint64_t day = rng() % (3652 - 7);
         const std::string range = SyntheticArchive::DateFromDay(day) + "-" + SyntheticArchive::DateFromDay(day + 6);
         return Query{false,
                      {{DCM_QueryRetrieveLevel, "STUDY"},
                       {DCM_StudyDate, range},
                       {DCM_StudyInstanceUID, ""},
                       {DCM_PatientName, ""},
                       {DCM_PatientID, ""},
                       {DCM_ModalitiesInStudy, ""}}};
       }},
      {"patients by name SMI*",
       [&](std::mt19937_64&) {
         return Query{true,
                      {{DCM_QueryRetrieveLevel, "PATIENT"},
                       {DCM_PatientName, "SMI*"},
                       {DCM_PatientID, ""},
                       {DCM_PatientBirthDate, ""},
                       {DCM_NumberOfPatientRelatedStudies, ""}}};
       }},
      {"series of a study",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{false,
                      {{DCM_QueryRetrieveLevel, "SERIES"},
                       {DCM_StudyInstanceUID, s.study_uid},
                       {DCM_SeriesInstanceUID, ""},
                       {DCM_Modality, ""},
                       {DCM_SeriesNumber, ""},
                       {DCM_NumberOfSeriesRelatedInstances, ""}}};
       }},
      {"instances of a series",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{false,
                      {{DCM_QueryRetrieveLevel, "IMAGE"},
                       {DCM_StudyInstanceUID, s.study_uid},
                       {DCM_SeriesInstanceUID, s.series[0].uid},
                       {DCM_SOPInstanceUID, ""},
                       {DCM_InstanceNumber, ""}}};
       }},
  };

  std::printf("| query | associations | cache | queries | p50 ms | p95 ms | p99 ms | max ms | matches/query |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const bool reuse : {false, true}) {
    for (const auto& kind : kinds) {
      if (kind.name.find(only) == std::string::npos) continue;
      std::mt19937_64 rng(42);
      std::vector<Query> queries;
      for (int i = 0; i < n; ++i) queries.push_back(kind.make(rng));
      Server server;
      EvictPageCache(data);
      if (!server.Start(binary, data)) {
        std::fprintf(stderr, "query_latency: the server did not start\n");
        return 1;
      }
      for (const char* cache : {"cold", "warm"}) {
        std::vector<double> ms;
        long matches = 0, failures = 0;
        Client reused(server.port);
        if (reuse && !reused.Connect()) return 1;
        for (const auto& q : queries) {
          const auto t0 = std::chrono::steady_clock::now();
          long m = -1;
          if (reuse) {
            m = reused.Find(q);
          } else {
            Client c(server.port);
            if (c.Connect()) {
              m = c.Find(q);
              c.Release();
            }
          }
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
          if (m < 0)
            ++failures;
          else
            matches += m;
        }
        if (reuse) reused.Release();
        std::printf("| %s | %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.1f |%s\n", kind.name.c_str(),
                    reuse ? "one reused" : "one per query", cache, n, Percentile(ms, 0.50), Percentile(ms, 0.95),
                    Percentile(ms, 0.99), *std::max_element(ms.begin(), ms.end()), static_cast<double>(matches) / n,
                    failures ? (" " + std::to_string(failures) + " failed: " + Client::last_error).c_str() : "");
        std::fflush(stdout);
      }
      server.Stop();
    }
  }
  return 0;
}
