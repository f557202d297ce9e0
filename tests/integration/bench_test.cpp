// `pacscore bench` end to end: ingest into the pacscore it starts (and into a
// running one with --target), compare against the peers installed here, and
// the result files scripts and operators read.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "test_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The number after "key": in `json` from `from` on (the result files are
// written by pacscore with one key per line); NaN when absent or null.
double Number(const std::string& json, const std::string& key, size_t from = 0) {
  std::smatch m;
  const std::string tail = json.substr(std::min(from, json.size()));
  if (!std::regex_search(tail, m, std::regex("\"" + key + "\": (-?[0-9][0-9.eE+-]*)"))) return std::nan("");
  return std::stod(m[1].str());
}

// A corpus folder of symlinks: the first `count` CT slices of one series plus
// the transfer syntax samples (uncompressed, RLE, JPEG lossless, JPEG-LS,
// JPEG 2000), so associations carry several presentation contexts.
fs::path MakeSubset(const std::string& name, size_t count, bool with_transfer_syntaxes) {
  const fs::path dir = MakeTempDir(name);
  std::vector<fs::path> ct;
  for (const auto& e : fs::directory_iterator(CorpusDir() / "dcm_qa_ct" / "philips_ct_140_slices"))
    if (e.is_regular_file()) ct.push_back(e.path());
  std::sort(ct.begin(), ct.end());
  for (size_t i = 0; i < count && i < ct.size(); ++i)
    fs::create_symlink(ct[i], dir / ("ct_" + ct[i].filename().string()));
  if (with_transfer_syntaxes)
    for (const auto& e : fs::directory_iterator(CorpusDir() / "dcm_qa_ts"))
      if (e.is_regular_file()) fs::create_symlink(e.path(), dir / ("ts_" + e.path().filename().string()));
  return dir;
}

size_t CountFiles(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

bool OrthancInstalled() {
  return RunCommand({"sh", "-c", "command -v Orthanc || test -x /usr/sbin/Orthanc"}, {}, std::chrono::seconds(10))
             .exit_code == 0;
}

TEST(BenchIngest, StartsItsOwnServerAndReportsRatesRatioAndDedup) {
  const fs::path corpus = MakeSubset("bench_ingest_corpus", 12, true);
  const size_t files = CountFiles(corpus);
  const fs::path json_path = MakeTempDir("bench_ingest_out") / "ingest.json";
  auto run = RunCommand({PacscoreBinary(), "bench", "ingest", "--corpus", corpus.string(), "--associations", "2",
                         "--repeat", "2", "--json", json_path.string()},
                        {}, std::chrono::seconds(120));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("stored/received"), std::string::npos) << run.output;

  const std::string json = ReadAll(json_path);
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(Number(json, "files"), static_cast<double>(files)) << json;
  EXPECT_EQ(Number(json, "skipped_files"), 0) << json;
  EXPECT_NE(json.find("\"cpu_model\""), std::string::npos);
  EXPECT_NE(json.find("\"DCMTK\": \"3."), std::string::npos) << json;
  EXPECT_NE(json.find("\"RocksDB\""), std::string::npos);

  const size_t summary = json.find("\"summary\"");
  ASSERT_NE(summary, std::string::npos);
  EXPECT_EQ(Number(json, "instances_stored", summary), 2.0 * static_cast<double>(files)) << json;
  EXPECT_EQ(Number(json, "instances_failed", summary), 0);
  EXPECT_GT(Number(json, "instances_per_second", summary), 0);
  EXPECT_GT(Number(json, "mb_per_second", summary), 0);
  EXPECT_GT(Number(json, "latency_ms_p50", summary), 0);
  EXPECT_GE(Number(json, "latency_ms_p99", summary), Number(json, "latency_ms_p50", summary));
  EXPECT_GE(Number(json, "server_cpu_seconds", summary), 0);
  const double received = Number(json, "received_bytes", summary);
  const double stored = Number(json, "stored_bytes", summary);
  EXPECT_GT(received, 0);
  EXPECT_GT(stored, 0);
  // The client's count of dataset bytes and the server's agree for this corpus.
  EXPECT_EQ(Number(json, "received_bytes_total", summary), Number(json, "sent_bytes", summary));
  const double ratio = Number(json, "stored_per_received", summary);
  EXPECT_NEAR(ratio, stored / received, 1e-3);
  EXPECT_GT(ratio, 0.05);
  EXPECT_LT(ratio, 1.5);
  // The second pass sends the same instances: nearly nothing new is stored.
  EXPECT_GT(Number(json, "dedup_savings_fraction", summary), 0.9) << json;
}

TEST(BenchIngest, TargetsARunningServer) {
  const fs::path corpus = MakeSubset("bench_target_corpus", 6, false);
  ServerProcess server(MakeTempDir("bench_target_data"));
  ASSERT_TRUE(server.Start()) << server.Log();
  const fs::path json_path = MakeTempDir("bench_target_out") / "ingest.json";
  auto run = RunCommand({PacscoreBinary(), "bench", "ingest", "--corpus", corpus.string(), "--target",
                         "PACSCORE@127.0.0.1:" + std::to_string(server.port()), "--target-admin-socket",
                         (server.data_dir() / "admin.sock").string(), "--json", json_path.string()},
                        {}, std::chrono::seconds(120));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string json = ReadAll(json_path);
  const size_t summary = json.find("\"summary\"");
  ASSERT_NE(summary, std::string::npos) << json;
  EXPECT_EQ(Number(json, "instances_stored", summary), 6);
  EXPECT_GT(Number(json, "received_bytes", summary), 0);
  EXPECT_GT(Number(json, "stored_bytes", summary), 0);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(BenchIngest, RefusesAnEmptyCorpusAndAnUnknownBenchmark) {
  const fs::path empty = MakeTempDir("bench_empty_corpus");
  auto run =
      RunCommand({PacscoreBinary(), "bench", "ingest", "--corpus", empty.string()}, {}, std::chrono::seconds(30));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("no sendable DICOM file"), std::string::npos) << run.output;
  run = RunCommand({PacscoreBinary(), "bench", "nonsense"}, {}, std::chrono::seconds(30));
  EXPECT_EQ(run.exit_code, 1);
}

TEST(BenchQuery, TimesEveryQueryKindTheCorpusHasKeysFor) {
  const fs::path corpus = MakeSubset("bench_query_corpus", 5, true);
  const fs::path json_path = MakeTempDir("bench_query_out") / "query.json";
  auto run = RunCommand({PacscoreBinary(), "bench", "query", "--corpus", corpus.string(), "--queries", "20", "--json",
                         json_path.string()},
                        {}, std::chrono::seconds(120));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string json = ReadAll(json_path);
  for (const std::string kind : {"study by PatientID", "series of a study", "instances of a series"}) {
    for (const std::string mode : {"one association", "association per query"}) {
      size_t at = json.find("\"kind\": \"" + kind + "\"");
      while (at != std::string::npos && json.substr(at, 120).find("\"mode\": \"" + mode + "\"") == std::string::npos)
        at = json.find("\"kind\": \"" + kind + "\"", at + 1);
      ASSERT_NE(at, std::string::npos) << kind << " / " << mode << "\n" << json;
      EXPECT_EQ(Number(json, "queries", at), 20);
      EXPECT_EQ(Number(json, "failed", at), 0) << json.substr(at, 600);
      EXPECT_GE(Number(json, "matches_per_query", at), 1);
      EXPECT_GT(Number(json, "latency_ms_p50", at), 0);
    }
  }
}

TEST(BenchRetrieve, GetsBackEveryStoredInstance) {
  const fs::path corpus = MakeSubset("bench_retrieve_corpus", 8, true);
  const size_t files = CountFiles(corpus);
  const fs::path json_path = MakeTempDir("bench_retrieve_out") / "retrieve.json";
  auto run = RunCommand({PacscoreBinary(), "bench", "retrieve", "--corpus", corpus.string(), "--associations", "2",
                         "--repeat", "2", "--level", "series", "--json", json_path.string()},
                        {}, std::chrono::seconds(120));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string json = ReadAll(json_path);
  const size_t passes = json.find("\"passes\"");
  ASSERT_NE(passes, std::string::npos) << json;
  // dcm_qa_ts holds one SOP instance in several syntaxes: the store keeps one per UID.
  EXPECT_GE(Number(json, "instances_received", passes), 9.0) << json;
  EXPECT_LE(Number(json, "instances_received", passes), static_cast<double>(files));
  EXPECT_EQ(Number(json, "failed", passes), 0);
  EXPECT_GT(Number(json, "mb_per_second", passes), 0);
  EXPECT_GT(Number(json, "request_ms_p50", passes), 0);
}

TEST(BenchCompare, WritesTableMarkdownAndPngForEveryInstalledPeer) {
  const fs::path corpus = MakeSubset("bench_compare_corpus", 10, false);
  const fs::path out = MakeTempDir("bench_compare_out");
  auto run = RunCommand({PacscoreBinary(), "bench", "compare", "--corpus", corpus.string(), "--runs", "1",
                         "--associations", "2", "--out", out.string()},
                        {}, std::chrono::seconds(180));
  ASSERT_EQ(run.exit_code, 0) << run.output;

  const std::string png = ReadAll(out / "compare.png");
  ASSERT_GE(png.size(), 8u) << run.output;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(png.size(), 5000u);  // axes, four bars and their labels; an empty plot is smaller

  const std::string md = ReadAll(out / "compare.md");
  EXPECT_NE(md.find("| pacscore"), std::string::npos) << md;
  EXPECT_NE(md.find("| storescp"), std::string::npos) << md;
  EXPECT_NE(md.find("Machine:"), std::string::npos) << md;
  EXPECT_EQ(md.find("| storescp | skipped"), std::string::npos) << md;
  if (OrthancInstalled()) {
    EXPECT_EQ(md.find("| orthanc | skipped"), std::string::npos) << md;
    EXPECT_EQ(md.find("| orthanc-jpegls | skipped"), std::string::npos) << md;
    EXPECT_NE(md.find("Orthanc 1."), std::string::npos) << md;  // its version is recorded
  } else {
    std::cerr << "Orthanc is not installed: its rows are skipped (apt-get install orthanc)\n";
    EXPECT_NE(md.find("| orthanc | skipped"), std::string::npos) << md;
  }

  const std::string json = ReadAll(out / "compare.json");
  const size_t pacscore = json.find("\"system\": \"pacscore\"");
  ASSERT_NE(pacscore, std::string::npos) << json;
  EXPECT_GT(Number(json, "median_mb_per_second", pacscore), 0);
  EXPECT_GT(Number(json, "median_stored_per_sent", pacscore), 0);
  EXPECT_EQ(Number(json, "instances_failed", pacscore), 0);
  EXPECT_NEAR(Number(json, "pacscore_speed_ratio", pacscore), 1.0, 1e-9);
}

}  // namespace
}  // namespace pacs::testing
