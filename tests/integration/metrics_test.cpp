// GET /metrics of the real `pacscore serve --metrics-bind`, scraped over
// HTTP after real DCMTK clients: storescu pushes ten slices of the CT
// series, findscu, getscu and echoscu ask, a worklist C-FIND is refused.
// The counters must say exactly that, and promtool (Debian package
// prometheus, installed in CI) must accept the scrape, lint included.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <fstream>
#include <regex>
#include <thread>

#include "corpus.h"
#include "qr_test_support.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Scrape {
  std::string status_line;
  std::string content_type;
  std::string body;
  std::map<std::string, double> samples;  // "name{labels}" -> value, as written
  double operator[](const std::string& series) const {
    auto it = samples.find(series);
    EXPECT_NE(it, samples.end()) << "no sample " << series;
    return it == samples.end() ? -1 : it->second;
  }
};

// One HTTP GET, read until the server closes (bounded: 10 s).
Scrape Get(int port, const std::string& target) {
  Scrape scrape;
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (ec) {
    ADD_FAILURE() << "cannot connect to the metrics endpoint on port " << port << ": " << ec.message();
    return scrape;
  }
  timeval ten_seconds{10, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
  asio::write(socket, asio::buffer("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), ec);
  std::string reply;
  char chunk[8192];
  for (;;) {
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    reply.append(chunk, n);
  }
  const size_t head_end = reply.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    ADD_FAILURE() << "not an HTTP reply: " << reply;
    return scrape;
  }
  const std::string head = reply.substr(0, head_end);
  scrape.status_line = head.substr(0, head.find("\r\n"));
  std::smatch match;
  if (std::regex_search(head, match, std::regex("Content-Type: ([^\r]*)", std::regex::icase)))
    scrape.content_type = match[1];
  scrape.body = reply.substr(head_end + 4);
  if (scrape.status_line != "HTTP/1.1 200 OK") return scrape;
  std::istringstream lines(scrape.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    char* end = nullptr;
    const double parsed = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') {
      ADD_FAILURE() << "not a sample line: '" << line << "'";
      continue;
    }
    scrape.samples[line.substr(0, space)] = parsed;
  }
  return scrape;
}

// `promtool check metrics` on `text`: "" when it accepts it, else what it said.
std::string PromtoolProblems(const std::string& text, const fs::path& dir) {
  const fs::path file = dir / "scrape.txt";
  std::ofstream(file) << text;
  auto r = RunCommand({"sh", "-c", "promtool check metrics < '" + file.string() + "'"}, {}, std::chrono::seconds(60));
  return r.exit_code == 0 ? std::string() : "promtool exit " + std::to_string(r.exit_code) + ": " + r.output;
}

// Ten slices of the 140-slice Philips CT series (corpus/MANIFEST.tsv).
std::vector<SampleFile> TenCtSlices() {
  std::vector<SampleFile> slices;
  for (const SampleFile& file : LoadCorpus().files)
    if (file.path.string().find("dcm_qa_ct/philips_ct_140_slices/") != std::string::npos && slices.size() < 10)
      slices.push_back(file);
  return slices;
}

TEST(MetricsEndpointTest, CountsWhatRealClientsDidAndPromtoolAcceptsTheScrape) {
  if (RunCommand({"sh", "-c", "command -v promtool"}).exit_code != 0)
    GTEST_SKIP() << "promtool is missing (Debian package prometheus, in deps/debian-test-packages.txt): "
                    "the metrics endpoint was NOT tested";
  const fs::path dir = MakeTempDir("metrics_test");
  const int metrics_port = FreePort();
  ServerProcess server(dir / "data", {"--metrics-bind", "127.0.0.1:" + std::to_string(metrics_port)});
  ASSERT_TRUE(server.Start()) << server.Log();

  // Before any client: the families are there, at zero (the start-up C-ECHO
  // of ServerProcess::Start is the one association so far).
  Scrape before = Get(metrics_port, "/metrics");
  EXPECT_EQ(before.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(before.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(PromtoolProblems(before.body, dir), "");
  EXPECT_EQ(before["pacscore_dimse_requests_total{service=\"store\",status=\"success\"}"], 0);
  EXPECT_EQ(before["pacscore_store_received_bytes_total"], 0);
  EXPECT_EQ(before["pacscore_archive_instances"], 0);
  const double echoes_before = before["pacscore_dimse_requests_total{service=\"echo\",status=\"success\"}"];
  const double associations_before = before["pacscore_associations_total"];

  const std::vector<SampleFile> slices = TenCtSlices();
  ASSERT_EQ(slices.size(), 10u) << "the CT series is missing from " << CorpusDir();
  uint64_t file_bytes = 0;
  for (const auto& slice : slices) file_bytes += fs::file_size(slice.path);
  std::string log;
  ASSERT_EQ(PushWithStorescu(slices, server.port(), 1, log), slices.size()) << log;

  FindRequest studies{.level = "STUDY", .keys = {"StudyInstanceUID", "NumberOfStudyRelatedInstances"}};
  FindResult found = RunFindscu(server.port(), studies, dir);
  ASSERT_EQ(found.exit_code, 0) << found.output;
  ASSERT_EQ(found.responses.size(), 1u) << found.output;
  const std::string study = *found.DistinctValues("StudyInstanceUID").begin();

  fs::create_directories(dir / "got");
  auto got =
      RunCommand({"getscu", "-S", "-aec", "PACSCORE", "-od", (dir / "got").string(), "-k", "QueryRetrieveLevel=STUDY",
                  "-k", "StudyInstanceUID=" + study, "127.0.0.1", std::to_string(server.port())},
                 {{"TCP_NODELAY", "1"}}, std::chrono::seconds(120));
  EXPECT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(RunCommand({"echoscu", "-aec", "PACSCORE", "127.0.0.1", std::to_string(server.port())}).exit_code, 0);
  // A worklist query: no presentation context this server accepts, so the association is refused.
  auto worklist = RunCommand(
      {"findscu", "-W", "-aec", "PACSCORE", "-k", "PatientName", "127.0.0.1", std::to_string(server.port())});
  EXPECT_NE(worklist.exit_code, 0) << worklist.output;

  // Associations end on their threads just after the clients exit: wait (bounded) for none open.
  Scrape after;
  for (int i = 0; i < 50; ++i) {
    after = Get(metrics_port, "/metrics");
    if (after.samples["pacscore_associations_open"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(PromtoolProblems(after.body, dir), "");

  auto requests = [&](const char* service, const char* status) {
    return after[std::string("pacscore_dimse_requests_total{service=\"") + service + "\",status=\"" + status + "\"}"];
  };
  EXPECT_EQ(requests("store", "success"), 10);
  EXPECT_EQ(requests("store", "failure"), 0);
  EXPECT_EQ(requests("find", "success"), 1);
  EXPECT_EQ(requests("get", "success"), 1);
  EXPECT_EQ(requests("echo", "success"), echoes_before + 1);
  EXPECT_EQ(after["pacscore_dimse_suboperations_total{service=\"get\",result=\"completed\"}"], 10);
  EXPECT_EQ(after["pacscore_dimse_suboperations_total{service=\"get\",result=\"failed\"}"], 0);
  // storescu, findscu, getscu, echoscu; the worklist association was refused, not accepted.
  EXPECT_EQ(after["pacscore_associations_total"], associations_before + 4);
  EXPECT_EQ(after["pacscore_associations_open"], 0);
  EXPECT_EQ(after["pacscore_associations_refused_total{reason=\"no_presentation_contexts\"}"], 1);
  EXPECT_EQ(after["pacscore_store_receive_failures_total"], 0);

  // Bytes: the datasets received are the files less their preamble and meta
  // header (a few hundred bytes each), and what the store recorded for them.
  const double received = after["pacscore_store_received_bytes_total"];
  EXPECT_EQ(received, after["pacscore_archive_received_bytes"]);
  EXPECT_LT(received, static_cast<double>(file_bytes));
  EXPECT_GT(received, static_cast<double>(file_bytes) - 10 * 4096.0);
  EXPECT_EQ(after["pacscore_archive_instances"], 10);
  EXPECT_EQ(after["pacscore_archive_series"], 1);
  EXPECT_EQ(after["pacscore_pixel_raw_bytes"], 10 * 512 * 512 * 2);
  EXPECT_GT(after["pacscore_pixel_stored_bytes"], 0);
  EXPECT_EQ(after["pacscore_dedup_ratio"], 1) << "ten distinct slices share no frame";
  EXPECT_GT(after["pacscore_archive_stored_bytes"], 0);

  // The latency histogram saw every C-STORE, and its buckets only grow.
  EXPECT_EQ(after["pacscore_store_duration_seconds_count"], 10);
  EXPECT_EQ(after["pacscore_store_duration_seconds_bucket{le=\"+Inf\"}"], 10);
  EXPECT_GT(after["pacscore_store_duration_seconds_sum"], 0);
  double previous = 0;
  for (const char* le : {"0.001", "0.01", "0.1", "1", "10", "30"}) {
    const double bucket = after[std::string("pacscore_store_duration_seconds_bucket{le=\"") + le + "\"}"];
    EXPECT_GE(bucket, previous) << le;
    previous = bucket;
  }

  // RocksDB holds the data somewhere: memtables until a flush, then files.
  EXPECT_GT(after["pacscore_rocksdb_memtable_bytes"] + after["pacscore_rocksdb_sst_files_bytes"] +
                after["pacscore_rocksdb_blob_files_bytes"],
            0);
  EXPECT_EQ(after["pacscore_rocksdb_write_stopped"], 0);
  EXPECT_GT(after["pacscore_data_filesystem_size_bytes"], 0);
  EXPECT_GT(after["pacscore_data_filesystem_avail_bytes"], 0);
  EXPECT_LE(after["pacscore_data_filesystem_avail_bytes"], after["pacscore_data_filesystem_size_bytes"]);
  EXPECT_EQ(after["pacscore_metrics_source_errors_total{source=\"store\"}"], 0);

  // The background encoder drains its backlog (bounded wait), and the
  // compression ratio shows what JPEG-LS made of the CT (about 2.6:1 here).
  Scrape settled;
  for (int i = 0; i < 600; ++i) {
    settled = Get(metrics_port, "/metrics");
    if (settled.samples["pacscore_background_backlog_frames"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(settled["pacscore_background_backlog_frames"], 0);
  // Frames are encoded at ingest instead while every core is busy (ingest.cpp),
  // so the background encoder did at most all 10; the ratio and the stored
  // bytes below show that every frame ended up compressed.
  EXPECT_LE(settled["pacscore_background_encoded_frames_total"], 10);
  EXPECT_GT(settled["pacscore_compression_ratio"], 1.5);
  EXPECT_LT(settled["pacscore_pixel_stored_bytes"], after["pacscore_pixel_raw_bytes"] / 1.5);

  // Only /metrics is served there.
  EXPECT_EQ(Get(metrics_port, "/stats").status_line, "HTTP/1.1 404 Not Found");
  // The admin endpoint's /stats counts from the same counters.
  auto stats =
      ParseStatsJson(RunCommand({PacscoreBinary(), "stats", "--data", (dir / "data").string(), "--json"}).output);
  EXPECT_EQ(stats["stores_succeeded"], 10);
  EXPECT_EQ(stats["stores_failed"], 0);

  EXPECT_EQ(server.Stop(), 0) << server.Log();
  fs::remove_all(dir);
}

TEST(MetricsEndpointTest, IsOffUnlessAskedForAndABadAddressIsRefusedAtStart) {
  const fs::path dir = MakeTempDir("metrics_off_test");
  auto bad =
      RunCommand({PacscoreBinary(), "serve", "--data", (dir / "data").string(), "--metrics-bind", "localhost:1"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--metrics-bind"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("'localhost' is not an IP address"), std::string::npos) << bad.output;

  ServerProcess server(dir / "data");
  ASSERT_TRUE(server.Start()) << server.Log();
  EXPECT_EQ(server.Log().find("metrics endpoint"), std::string::npos) << server.Log();
  EXPECT_EQ(server.Stop(), 0) << server.Log();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
