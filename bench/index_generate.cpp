// index_generate: fills a data folder with the synthetic archive of
// index_synthetic.h (headers only, no pixel data) through the real ingest
// path: Ingestor -> SplitInstance -> Store::CommitInstance with the query
// index observer, exactly as C-STORE does. Writes are not synced (a bulk
// load; the C-STORE path syncs every commit).
//
//   index_generate --data DIR [--studies 200000] [--patients 20000] [--threads 2]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "index_synthetic.h"
#include "pacs/dicom/dicom_library.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/ingest.h"

namespace {

using pacs::bench::SyntheticArchive;

std::string Flag(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

// The attributes of instance `k` of series `e` in study `s`.
std::vector<std::pair<std::string, std::string>> InstanceAttributes(const pacs::bench::SyntheticStudy& s,
                                                                    const pacs::bench::SyntheticSeries& e, int k) {
  return {
      {"SOPClassUID", pacs::bench::SopClassFor(e.modality)},
      {"SOPInstanceUID", SyntheticArchive::InstanceUid(e, k)},
      {"StudyDate", s.date},
      {"StudyTime", s.time},
      {"AccessionNumber", s.accession},
      {"Modality", e.modality},
      {"ReferringPhysicianName", "REFERRER^A"},
      {"StudyDescription", s.description},
      {"SeriesDescription", e.modality + " SERIES " + std::to_string(e.number)},
      {"PatientName", s.patient_name},
      {"PatientID", s.patient_id},
      {"IssuerOfPatientID", "HOSPITAL"},
      {"PatientBirthDate", s.birth_date},
      {"PatientSex", s.sex},
      {"StudyInstanceUID", s.study_uid},
      {"SeriesInstanceUID", e.uid},
      {"StudyID", std::to_string(s.index + 1)},
      {"SeriesNumber", std::to_string(e.number)},
      {"InstanceNumber", std::to_string(k + 1)},
  };
}

}  // namespace

int main(int argc, char** argv) {
  const std::string data = Flag(argc, argv, "--data", "");
  if (data.empty()) {
    std::fprintf(stderr, "usage: index_generate --data DIR [--studies N] [--patients N] [--threads N]\n");
    return 1;
  }
  const uint64_t studies = std::stoull(Flag(argc, argv, "--studies", "200000"));
  const uint64_t patients = std::stoull(Flag(argc, argv, "--patients", "20000"));
  const int threads = std::stoi(Flag(argc, argv, "--threads", "2"));
  pacs::dicom::InitDicomLibrary();
  auto store = pacs::engine::Store::Open(
      {.path = data, .sync_writes = false, .catalog_observer = &pacs::dicom::IndexObserver()});
  if (!store.ok()) {
    std::fprintf(stderr, "index_generate: %s\n", store.status().ToString().c_str());
    return 1;
  }
  pacs::dicom::Ingestor ingestor(**store);
  const SyntheticArchive archive(patients, studies);

  std::atomic<uint64_t> next{0}, instances{0}, failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (uint64_t i; (i = next++) < studies;) {
        const auto s = archive.Study(i);
        for (const auto& e : s.series)
          for (int k = 0; k < e.instances; ++k) {
            auto r = ingestor.IngestAttributes(InstanceAttributes(s, e, k));
            if (!r.ok() && failures++ < 5) std::fprintf(stderr, "index_generate: %s\n", r.status().ToString().c_str());
            const uint64_t n = ++instances;
            if (n % 100000 == 0) {
              const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
              std::fprintf(stderr, "%llu instances, %.0f/s\n", static_cast<unsigned long long>(n), n / sec);
            }
          }
      }
    });
  }
  for (auto& w : workers) w.join();
  if (auto s = (*store)->Flush(); !s.ok()) std::fprintf(stderr, "index_generate: %s\n", s.ToString().c_str());
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto stats = (*store)->Stats(true);
  std::printf("generated %llu instances (%llu failed) in %llu studies of %llu patients in %.1f s (%.0f instances/s)\n",
              static_cast<unsigned long long>(instances.load()), static_cast<unsigned long long>(failures.load()),
              static_cast<unsigned long long>(studies), static_cast<unsigned long long>(patients), sec,
              instances.load() / sec);
  if (stats.ok())
    std::printf("store: %llu patients, %llu studies, %llu series, %llu instances, %.1f MB on disk\n",
                static_cast<unsigned long long>(stats->patients), static_cast<unsigned long long>(stats->studies),
                static_cast<unsigned long long>(stats->series), static_cast<unsigned long long>(stats->instances),
                stats->stored_bytes / 1e6);
  return failures == 0 ? 0 : 2;
}
