// query_latency: C-FIND latency of the real `pacscore serve` on a folder made
// by index_generate. For each query kind it runs N queries over keys that
// exist, twice: cold (server just started, the folder's pages evicted from
// the OS page cache with posix_fadvise, so RocksDB's block cache and the
// page cache are empty) and warm (the same queries again). Both with one
// association per query (association set-up included in the latency) and
// with one association reused for all queries.
//
// With --interleaved, one warm server instead: the queries alternate between
// a new association each and one association kept open, in the same run
// (what association set-up costs, under the same load).
//
//   query_latency --data DIR --pacscore BIN [--queries 1000] [--studies 200000] [--patients 20000]
//                 [--only KIND] [--interleaved]
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

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

#include "index_synthetic.h"
#include "pacs/dicom/dicom_library.h"
#include "pacs/dicom/query_scu.h"
#include "pacs/dicom/store_scu.h"

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
  socklen_t len = sizeof addr;
  const bool bound = s >= 0 && bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                     getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (s >= 0) close(s);
  return bound ? ntohs(addr.sin_port) : 0;
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

using Query = pacs::dicom::FindQuery;

pacs::dicom::ScuPeer Peer(int port) {
  pacs::dicom::ScuPeer peer;
  peer.host = "127.0.0.1";
  peer.port = static_cast<uint16_t>(port);
  peer.called_aet = "PACSCORE";
  peer.calling_aet = "QRBENCH";
  return peer;
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  bool Start(const std::string& binary, const fs::path& data) {
    port = FreePort();
    if (port == 0) return false;
    pid = fork();
    if (pid == 0) {
      const std::string log = data.string() + ".serve.log";
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
      execl(binary.c_str(), binary.c_str(), "serve", "--data", data.c_str(), "--port", std::to_string(port).c_str(),
            "--peer", "QRBENCH=QRBENCH@127.0.0.1:104", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {  // up to 30 s
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (pacs::dicom::Echo(Peer(port), 5).ok()) return true;
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
  pacs::dicom::InitDicomLibrary();  // DCMTK logs errors only

  auto study = [&](std::mt19937_64& rng) { return archive.Study(rng() % archive.studies()); };
  const std::vector<Kind> kinds = {
      {"study by PatientID",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{"",
                      false,
                      "STUDY",
                      {{"PatientID", s.patient_id},
                       {"StudyInstanceUID", ""},
                       {"StudyDate", ""},
                       {"PatientName", ""},
                       {"ModalitiesInStudy", ""},
                       {"NumberOfStudyRelatedInstances", ""}}};
       }},
      {"study by AccessionNumber",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{
             "",
             false,
             "STUDY",
             {{"AccessionNumber", s.accession}, {"StudyInstanceUID", ""}, {"PatientName", ""}, {"StudyDate", ""}}};
       }},
      {"studies in a 1-week date range",
       [&](std::mt19937_64& rng) {
         const uint64_t day = rng() % (3652 - 7);
         const std::string range = SyntheticArchive::DateFromDay(day) + "-" + SyntheticArchive::DateFromDay(day + 6);
         return Query{"",
                      false,
                      "STUDY",
                      {{"StudyDate", range},
                       {"StudyInstanceUID", ""},
                       {"PatientName", ""},
                       {"PatientID", ""},
                       {"ModalitiesInStudy", ""}}};
       }},
      {"patients by name SMI*",
       [&](std::mt19937_64&) {
         return Query{"",
                      true,
                      "PATIENT",
                      {{"PatientName", "SMI*"},
                       {"PatientID", ""},
                       {"PatientBirthDate", ""},
                       {"NumberOfPatientRelatedStudies", ""}}};
       }},
      {"series of a study",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{"",
                      false,
                      "SERIES",
                      {{"StudyInstanceUID", s.study_uid},
                       {"SeriesInstanceUID", ""},
                       {"Modality", ""},
                       {"SeriesNumber", ""},
                       {"NumberOfSeriesRelatedInstances", ""}}};
       }},
      {"instances of a series",
       [&](std::mt19937_64& rng) {
         auto s = study(rng);
         return Query{"",
                      false,
                      "IMAGE",
                      {{"StudyInstanceUID", s.study_uid},
                       {"SeriesInstanceUID", s.series[0].uid},
                       {"SOPInstanceUID", ""},
                       {"InstanceNumber", ""}}};
       }},
  };

  // The same `n` queries of a kind for every mode (a fixed seed).
  auto make_queries = [n](const auto& kind) {
    std::mt19937_64 rng(42);
    std::vector<Query> queries;
    queries.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) queries.push_back(kind.make(rng));
    for (auto& q : queries) q.kind = kind.name;
    return queries;
  };
  bool interleaved = false;
  for (int i = 1; i < argc; ++i) interleaved = interleaved || std::strcmp(argv[i], "--interleaved") == 0;
  if (interleaved) {
    std::printf("| query | associations | queries | p50 ms | p95 ms | p99 ms | max ms | failed |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (const auto& kind : kinds) {
      if (kind.name.find(only) == std::string::npos) continue;
      const std::vector<Query> queries = make_queries(kind);
      Server server;
      if (!server.Start(binary, data)) {
        std::fprintf(stderr, "query_latency: the server did not start\n");
        return 1;
      }
      // Warm the caches with the same queries first, over one association.
      (void)pacs::dicom::RunFinds(Peer(server.port), queries, /*association_per_query=*/false);
      std::vector<pacs::dicom::RequestTiming> per_query, reused;
      pacs::dicom::RunFindsInterleaved(Peer(server.port), queries, per_query, reused);
      double p99[2] = {0, 0};
      int side = 0;
      for (const auto* timings : {&per_query, &reused}) {
        std::vector<double> ms;
        ms.reserve(timings->size());
        long failures = 0;
        for (const auto& t : *timings) {
          ms.push_back(t.ms);
          failures += t.error.empty() ? 0 : 1;
        }
        p99[side] = Percentile(ms, 0.99);
        std::printf("| %s | %s | %zu | %.2f | %.2f | %.2f | %.2f | %ld |\n", kind.name.c_str(),
                    side == 0 ? "one per query" : "one reused", ms.size(), Percentile(ms, 0.50), Percentile(ms, 0.95),
                    p99[side], ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()), failures);
        ++side;
      }
      std::printf("p99 one per query / one reused: %.2f\n", p99[1] > 0 ? p99[0] / p99[1] : 0.0);
      std::fflush(stdout);
      server.Stop();
    }
    return 0;
  }

  std::printf("| query | associations | cache | queries | p50 ms | p95 ms | p99 ms | max ms | matches/query |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const bool reuse : {false, true}) {
    for (const auto& kind : kinds) {
      if (kind.name.find(only) == std::string::npos) continue;
      const std::vector<Query> queries = make_queries(kind);
      Server server;
      EvictPageCache(data);
      if (!server.Start(binary, data)) {
        std::fprintf(stderr, "query_latency: the server did not start\n");
        return 1;
      }
      for (const char* cache : {"cold", "warm"}) {
        // One association for all queries is opened outside the clock; one
        // per query counts its set-up and release in the latency.
        const std::vector<pacs::dicom::RequestTiming> timings =
            pacs::dicom::RunFinds(Peer(server.port), queries, /*association_per_query=*/!reuse);
        std::vector<double> ms;
        long matches = 0, failures = 0;
        std::string last_error;
        for (const auto& t : timings) {
          ms.push_back(t.ms);
          if (!t.error.empty()) {
            ++failures;
            last_error = t.error;
          } else {
            matches += static_cast<long>(t.matches);
          }
        }
        if (reuse && failures == n && last_error.rfind("association failed", 0) == 0) {
          std::fprintf(stderr, "query_latency: %s\n", last_error.c_str());
          return 1;
        }
        std::printf("| %s | %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.1f |%s\n", kind.name.c_str(),
                    reuse ? "one reused" : "one per query", cache, n, Percentile(ms, 0.50), Percentile(ms, 0.95),
                    Percentile(ms, 0.99), *std::max_element(ms.begin(), ms.end()), static_cast<double>(matches) / n,
                    failures ? (" " + std::to_string(failures) + " failed: " + last_error).c_str() : "");
        std::fflush(stdout);
      }
      server.Stop();
    }
  }
  return 0;
}
