// `pacscore bench web`: DICOMweb side by side with Orthanc + its DICOMweb
// plugin, in one run, on one series (the CT series of the corpus): series
// /metadata latency cold (first request after the server started) and warm,
// frame retrieval in raw-equivalent MB/s with transfer-syntax=* and
// uncompressed for 1 and N concurrent keep-alive clients, and STOW-RS
// ingest MB/s against C-STORE ingest into the same kind of fresh server.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "options.h"
#include "peers.h"
#include "process.h"
#include "report.h"
#include "run_common.h"

namespace pacs::bench {
namespace {
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kAcceptAsStored[] = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";
constexpr char kAcceptUncompressed[] =
    "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1";

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

// One keep-alive HTTP/1.1 connection to 127.0.0.1:port, reopened when the
// server closed it. Used from one thread.
class HttpConnection {
 public:
  explicit HttpConnection(uint16_t port) : port_(port) {}

  Result<HttpReply> Request(http::verb method, const std::string& target,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            const std::string& body = "") {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!stream_) {
          stream_.emplace(io_);
          stream_->connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
          stream_->socket().set_option(tcp::no_delay(true));
        }
        http::request<http::string_body> request{method, target, 11};
        request.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
        request.keep_alive(true);
        for (const auto& [name, value] : headers) request.set(name, value);
        request.body() = body;
        request.prepare_payload();
        stream_->expires_after(std::chrono::seconds(300));
        http::write(*stream_, request);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());
        http::read(*stream_, buffer, parser);
        auto response = parser.release();
        HttpReply reply{static_cast<int>(response.result_int()), std::string(response[http::field::content_type]),
                        std::move(response.body())};
        if (!response.keep_alive()) stream_.reset();
        return reply;
      } catch (const std::exception& e) {
        stream_.reset();
        if (attempt == 1)
          return Status::IOError(std::string(http::to_string(method)) + " " + target +
                                 " on 127.0.0.1:" + std::to_string(port_) + ": " + e.what());
      }
    }
    return Status::IOError("unreachable");
  }

 private:
  uint16_t port_;
  boost::asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
};

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The path part of a DICOMweb root URL ("http://127.0.0.1:P/dicom-web" -> "/dicom-web").
std::string RootPath(const std::string& root) {
  const size_t scheme = root.find("://");
  const size_t slash = root.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? "" : root.substr(slash);
}

struct Instance {
  std::string study, series, sop;
};

struct SystemResult {
  std::string label;
  std::string error;
  std::vector<double> metadata_cold_ms;
  std::vector<double> metadata_warm_ms;
  uint64_t metadata_bytes = 0;
  // (accept kind, clients) -> raw-equivalent MB/s, wire MB/s
  std::map<std::pair<std::string, int>, std::pair<double, double>> frames;
  std::optional<double> stow_mb_s;
  std::string stow_note;
  std::optional<double> cstore_mb_s;
  uint64_t failed_requests = 0;
  std::string first_failure;
};

void NoteFailure(SystemResult& r, const std::string& what) {
  ++r.failed_requests;
  if (r.first_failure.empty()) r.first_failure = what;
}

// One GET of the series metadata; its time in ms, or nullopt (noted) on failure.
std::optional<double> TimeMetadata(HttpConnection& connection, const std::string& target, SystemResult& r) {
  const auto start = Clock::now();
  auto reply = connection.Request(http::verb::get, target,
                                  {{"Accept", "application/dicom+json"}, {"Accept-Encoding", "gzip, deflate"}});
  const double ms = MsSince(start);
  if (!reply.ok() || reply->status != 200) {
    NoteFailure(
        r, "GET " + target + ": " + (reply.ok() ? "HTTP " + std::to_string(reply->status) : reply.status().ToString()));
    return std::nullopt;
  }
  r.metadata_bytes = reply->body.size();
  return ms;
}

// Frame 1 of every instance, `passes` times, spread over `clients` threads
// with one keep-alive connection each. Returns the wall seconds and the body
// bytes received.
std::pair<double, uint64_t> FetchFrames(uint16_t port, const std::string& root_path,
                                        const std::vector<Instance>& instances, const std::string& accept, int clients,
                                        int passes, SystemResult& r) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::mutex failure_mutex;
  const size_t total = instances.size() * static_cast<size_t>(passes);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(std::max(clients, 0)));
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      HttpConnection connection(port);
      for (size_t i = next++; i < total; i = next++) {
        const Instance& in = instances[i % instances.size()];
        const std::string target =
            root_path + "/studies/" + in.study + "/series/" + in.series + "/instances/" + in.sop + "/frames/1";
        auto reply = connection.Request(http::verb::get, target, {{"Accept", accept}});
        if (!reply.ok() || reply->status != 200) {
          std::lock_guard lock(failure_mutex);
          std::string failure = "GET ";
          failure += target;
          failure += " (";
          failure += accept;
          failure += "): ";
          NoteFailure(r,
                      failure + (reply.ok() ? "HTTP " + std::to_string(reply->status) + " " + reply->body.substr(0, 200)
                                            : reply.status().ToString()));
          continue;
        }
        bytes += reply->body.size();
      }
    });
  }
  for (auto& t : threads) t.join();
  return {MsSince(start) / 1e3, bytes.load()};
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// STOW-RS of the corpus in requests of `batch` files each, on one connection.
void MeasureStow(const RunningPeer& peer, const dicom::SendableFiles& corpus, int batch, SystemResult& r) {
  HttpConnection connection(peer.web_port());
  const std::string target = RootPath(peer.dicomweb_root()) + "/studies";
  const std::string boundary = "pacscore-bench-stow-boundary-7d41";
  uint64_t sent = 0;
  double seconds = 0;
  const auto& files = corpus.files();
  for (size_t first = 0; first < files.size(); first += static_cast<size_t>(batch)) {
    std::string body;
    uint64_t batch_bytes = 0;
    for (size_t i = first; i < std::min(files.size(), first + static_cast<size_t>(batch)); ++i) {
      const std::string file = ReadFileBytes(files[i].path);
      body += "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n";
      body += file;
      body += "\r\n";
      batch_bytes += files[i].dataset_bytes;
    }
    body += "--" + boundary + "--\r\n";
    const auto start = Clock::now();
    auto reply =
        connection.Request(http::verb::post, target,
                           {{"Content-Type", "multipart/related; type=\"application/dicom\"; boundary=" + boundary},
                            {"Accept", "application/dicom+json"}},
                           body);
    seconds += MsSince(start) / 1e3;
    if (!reply.ok() || reply->status != 200) {
      const std::string what = reply.ok() ? "HTTP " + std::to_string(reply->status) + " " + reply->body.substr(0, 300)
                                          : reply.status().ToString();
      r.stow_note = "POST ";
      r.stow_note += target;
      r.stow_note += ": ";
      r.stow_note += what;
      return;
    }
    sent += batch_bytes;
  }
  if (seconds > 0) r.stow_mb_s = static_cast<double>(sent) / seconds / 1e6;
}

}  // namespace

int RunWeb(const WebOptions& options) {
  auto corpus = LoadCorpus(options.corpus);
  if (!corpus.ok()) return Fail(corpus.status());
  std::vector<Instance> instances;
  for (const auto& f : corpus->files()) instances.push_back({f.study_uid, f.series_uid, f.sop_instance_uid});
  if (instances.empty()) return Fail(Status::InvalidArgument("no sendable file under " + options.corpus));
  std::map<std::string, int> series_counts;
  for (const auto& in : instances) ++series_counts[in.study + "/" + in.series];
  const std::string series_path = series_counts.begin()->first;  // the first series (the CT series: the only one)
  const auto slash = series_path.find('/');
  const std::string study_uid = series_path.substr(0, slash), series_uid = series_path.substr(slash + 1);

  auto work = MakeWorkFolder(WorkParent(options.work_dir));
  if (!work.ok()) return Fail(work.status());
  Provenance provenance = MakeProvenance(options.command_line, *corpus, options.corpus, 1, *work,
                                         {PeerKind::kPacscore, PeerKind::kOrthanc});

  std::vector<PeerSpec> specs(2);
  specs[0].kind = PeerKind::kPacscore;
  specs[0].web = true;
  specs[0].serve_args = options.serve_args;
  if (options.codec) specs[0].codec = *options.codec;
  specs[1].kind = PeerKind::kOrthanc;
  specs[1].web = true;

  std::vector<SystemResult> results;
  int exit_code = 0;
  for (const PeerSpec& spec : specs) {
    SystemResult r;
    r.label = PeerLabel(spec);
    std::printf("== %s\n", r.label.c_str());
    const fs::path folder = *work / (r.label + "-read");
    auto peer = RunningPeer::Start(spec, folder);
    if (!peer.ok()) {
      r.error = peer.status().ToString();
      std::fprintf(stderr, "%s: %s\n", r.label.c_str(), r.error.c_str());
      results.push_back(r);
      exit_code = 1;
      continue;
    }
    PushMeasurement push = MeasurePush(*corpus, peer->target(), 1, peer->pid(), r.label);
    r.cstore_mb_s = push.mb_per_second();
    if (push.push.failed) {
      r.error = "C-STORE of the corpus failed for " + std::to_string(push.push.failed) + " file(s)";
      exit_code = 2;
    }
    if (spec.kind == PeerKind::kPacscore) Settle(*peer, push);  // frames at rest, as stored (JPEG-LS by default)

    const std::string root_path = RootPath(peer->dicomweb_root());
    std::string metadata_target = root_path;
    metadata_target += "/studies/";
    metadata_target += study_uid;
    metadata_target += "/series/";
    metadata_target += series_uid;
    metadata_target += "/metadata";
    // Cold: the first request after the server started, over restarts.
    for (int run = 0; run < options.cold_runs; ++run) {
      if (run > 0) {
        (void)peer->StopAndMeasureStored();
        peer = RunningPeer::Start(spec, folder);
        if (!peer.ok()) {
          r.error = "restart: " + peer.status().ToString();
          break;
        }
      }
      HttpConnection connection(peer->web_port());
      if (auto ms = TimeMetadata(connection, metadata_target, r)) r.metadata_cold_ms.push_back(*ms);
    }
    if (!peer.ok()) {
      results.push_back(r);
      exit_code = 1;
      continue;
    }
    {
      HttpConnection connection(peer->web_port());
      (void)TimeMetadata(connection, metadata_target, r);
      for (int i = 0; i < options.warm_requests; ++i)
        if (auto ms = TimeMetadata(connection, metadata_target, r)) r.metadata_warm_ms.push_back(*ms);
    }
    // Raw-equivalent bytes per pass: the uncompressed frames' bodies.
    auto [raw_seconds, raw_bytes] = FetchFrames(peer->web_port(), root_path, instances, kAcceptUncompressed, 1, 1, r);
    (void)raw_seconds;
    for (const int clients : {1, options.clients}) {
      for (const auto& [kind, accept] : {std::pair<std::string, std::string>{"transfer-syntax=*", kAcceptAsStored},
                                         {"uncompressed", kAcceptUncompressed}}) {
        auto [seconds, bytes] = FetchFrames(peer->web_port(), root_path, instances, accept, clients, options.passes, r);
        const double raw_equivalent = static_cast<double>(raw_bytes) * options.passes;
        r.frames[{kind, clients}] = {seconds > 0 ? raw_equivalent / seconds / 1e6 : 0,
                                     seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0};
      }
    }
    (void)peer->StopAndMeasureStored();

    // STOW-RS into a fresh server of the same kind.
    auto fresh = RunningPeer::Start(spec, *work / (r.label + "-stow"));
    if (!fresh.ok()) {
      r.stow_note = fresh.status().ToString();
    } else {
      MeasureStow(*fresh, *corpus, options.stow_batch, r);
      (void)fresh->StopAndMeasureStored();
    }
    if (r.failed_requests) {
      exit_code = std::max(exit_code, 2);
      std::fprintf(stderr, "%s: %llu request(s) failed, first: %s\n", r.label.c_str(),
                   static_cast<unsigned long long>(r.failed_requests), r.first_failure.c_str());
    }
    results.push_back(r);
  }
  provenance.load_average_after = LoadAverage();
  if (!options.keep) fs::remove_all(*work);

  auto ratio = [&](auto value_of) -> std::string {
    if (results.size() < 2) return "-";
    const double a = value_of(results[0]), b = value_of(results[1]);
    return (a > 0 && b > 0) ? FormatDouble(a / b, 2) + "x" : "-";
  };
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const std::string& name, auto value_of, int decimals, bool lower_is_better) {
    std::vector<std::string> row = {name};
    for (const auto& r : results) {
      const double v = value_of(r);
      row.push_back(v > 0 ? FormatDouble(v, decimals) : "-");
    }
    row.push_back(lower_is_better ? ratio([&](const SystemResult& r) {
      const double v = value_of(r);
      return v > 0 ? 1.0 / v : 0.0;
    })
                                  : ratio(value_of));
    rows.push_back(row);
  };
  add(
      "series /metadata cold p50 ms", [](const SystemResult& r) { return Percentile(r.metadata_cold_ms, 50); }, 1,
      true);
  add(
      "series /metadata cold p99 ms", [](const SystemResult& r) { return Percentile(r.metadata_cold_ms, 99); }, 1,
      true);
  add(
      "series /metadata warm p50 ms", [](const SystemResult& r) { return Percentile(r.metadata_warm_ms, 50); }, 2,
      true);
  add(
      "series /metadata warm p99 ms", [](const SystemResult& r) { return Percentile(r.metadata_warm_ms, 99); }, 2,
      true);
  for (const int clients : {1, options.clients})
    for (const std::string kind : {"transfer-syntax=*", "uncompressed"}) {
      const std::string name =
          "frames " + kind + ", " + std::to_string(clients) + " client" + (clients > 1 ? "s" : "") + ", raw-eq MB/s";
      add(
          name,
          [&](const SystemResult& r) {
            auto it = r.frames.find({kind, clients});
            return it == r.frames.end() ? 0.0 : it->second.first;
          },
          1, false);
    }
  add(
      "STOW-RS ingest MB/s", [](const SystemResult& r) { return r.stow_mb_s.value_or(0); }, 1, false);
  add(
      "C-STORE ingest MB/s (1 association)", [](const SystemResult& r) { return r.cstore_mb_s.value_or(0); }, 1, false);

  std::vector<std::string> header = {""};
  for (const auto& r : results) header.push_back(r.label);
  header.push_back(results.size() >= 2 ? results[0].label + " vs " + results[1].label : "ratio");
  std::printf(
      "\npacscore bench web: series %s (%zu instances, %.1f MB), cold = first request after a start (%d "
      "starts), warm = %d requests on one connection\n",
      series_uid.c_str(), instances.size(), static_cast<double>(corpus->dataset_bytes()) / 1e6, options.cold_runs,
      options.warm_requests);
  std::printf("%s", PlainTable(header, rows).c_str());
  std::printf(
      "frames: frame 1 of every instance, %d pass(es), raw-equivalent = the uncompressed frames' bytes per "
      "second; ratio > 1 means %s is better\n",
      options.passes, results.empty() ? "the first" : results[0].label.c_str());
  for (const auto& r : results) {
    if (!r.stow_note.empty()) std::printf("%s STOW-RS: %s\n", r.label.c_str(), r.stow_note.c_str());
    if (!r.error.empty()) std::printf("%s: %s\n", r.label.c_str(), r.error.c_str());
    if (r.metadata_bytes)
      std::printf("%s series /metadata body: %llu bytes\n", r.label.c_str(),
                  static_cast<unsigned long long>(r.metadata_bytes));
  }
  std::printf("load average after: %s (the machine is shared: compare the ratios, not the absolutes)\n",
              provenance.load_average_after.c_str());

  if (options.json) {
    ResultJson systems = ResultJson::array();
    for (const auto& r : results) {
      ResultJson frames = ResultJson::array();
      for (const auto& [key, value] : r.frames)
        frames.push_back(ResultJson{{"accept", key.first},
                                    {"clients", key.second},
                                    {"raw_equivalent_mb_per_second", value.first},
                                    {"wire_mb_per_second", value.second}});
      systems.push_back(ResultJson{{"system", r.label},
                                   {"error", r.error},
                                   {"metadata_cold_ms", r.metadata_cold_ms},
                                   {"metadata_warm_ms_p50", Percentile(r.metadata_warm_ms, 50)},
                                   {"metadata_warm_ms_p99", Percentile(r.metadata_warm_ms, 99)},
                                   {"metadata_body_bytes", r.metadata_bytes},
                                   {"frames", frames},
                                   {"stow_mb_per_second", OrNull(r.stow_mb_s)},
                                   {"stow_note", r.stow_note},
                                   {"cstore_mb_per_second", OrNull(r.cstore_mb_s)},
                                   {"failed_requests", r.failed_requests},
                                   {"first_failure", r.first_failure}});
    }
    const ResultJson result = {
        {"benchmark", "web"}, {"provenance", provenance.ToJson()}, {"series_uid", series_uid}, {"systems", systems}};
    if (Status st = WriteText(*options.json, ToText(result) + "\n"); !st.ok()) return Fail(st);
  }
  return exit_code;
}

}  // namespace pacs::bench
