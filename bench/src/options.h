// File: options.h
// The flags of each `pacscore bench` benchmark, as parsed by bench_command.cpp,
// and the run of each benchmark (one source file per benchmark).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pacs::bench {

// The server a benchmark measures: a fresh `pacscore serve` it starts, or a
// running node given with --target.
struct ServerOptions {
  std::optional<std::string> codec;     // --codec, passed to the serve it starts
  std::vector<std::string> serve_args;  // --serve-arg=--FLAG, repeatable
  std::optional<std::string> target;    // AET@HOST:PORT of a running node
  std::optional<pid_t> target_pid;      // its process, for its CPU time
  std::optional<std::string> work_dir;  // parent of the folder it starts servers in
  bool keep = false;                    // keep that folder afterwards
};

struct IngestOptions {
  std::string command_line;
  std::string corpus;
  int associations = 1;
  int repeat = 1;
  std::optional<std::string> json;
  std::optional<std::string> target_admin_socket;  // the admin socket (DATA/admin.sock) of --target
  ServerOptions server;
};

struct CompareOptions {
  std::string command_line;
  std::string corpus;
  int associations = 1;
  int runs = 3;
  std::string codecs;  // comma-separated: one pacscore per codec
  std::vector<std::string> serve_args;
  std::string out = "bench-compare";
  std::optional<std::string> json;
  std::optional<std::string> work_dir;
  bool keep = false;
};

struct QueryOptions {
  std::string command_line;
  std::string corpus;
  int queries = 200;  // per query kind
  std::optional<std::string> json;
  ServerOptions server;
};

struct RetrieveOptions {
  std::string command_line;
  std::string corpus;
  int associations = 1;
  int repeat = 3;
  std::string level = "study";  // study or series
  bool compare = false;         // --compare: pacscore, Orthanc and Orthanc with JPEG-LS, C-GET and C-MOVE
  std::optional<std::string> json;
  ServerOptions server;
};

struct DistinctCopiesOptions {
  std::string corpus;
  std::string out;
  uint32_t copies = 2;
};

// `bench settle`: distinct copies of the corpus pushed into a fresh pacscore,
// then its stored/received ratio over time, with no manual compact.
struct SettleOptions {
  std::string command_line;
  std::string corpus;
  uint32_t copies = 2;
  int associations = 2;
  double bound = 0.45;           // stored/received to reach
  double timeout_seconds = 600;  // after the last acknowledgement
  double interval_seconds = 5;   // between two looks at the stats
  std::optional<std::string> json;
  ServerOptions server;
};

// `bench web`: DICOMweb against Orthanc + its DICOMweb plugin, one series.
struct WebOptions {
  std::string command_line;
  std::string corpus;      // one series (the CT series of the corpus)
  int cold_runs = 5;       // server starts, each timing its first series /metadata
  int warm_requests = 50;  // series /metadata requests on one connection
  int clients = 8;         // the concurrent frame clients besides 1
  int passes = 3;          // passes over the series' frames per measurement
  int stow_batch = 10;     // instances per STOW-RS request
  std::optional<std::string> codec;
  std::vector<std::string> serve_args;
  std::optional<std::string> json;
  std::optional<std::string> work_dir;
  bool keep = false;
};

// Each returns the process exit code: 0 when everything was measured, 1 on
// an error that stopped the benchmark, 2 when some requests failed.
int RunIngest(const IngestOptions& options);                  // ingest_run.cpp
int RunCompare(const CompareOptions& options);                // compare_run.cpp
int RunQuery(const QueryOptions& options);                    // query_run.cpp
int RunRetrieve(const RetrieveOptions& options);              // retrieve_run.cpp
int RunDistinctCopies(const DistinctCopiesOptions& options);  // settle_run.cpp
int RunWeb(const WebOptions& options);                        // web_run.cpp

// `bench multiframe`: one large multi-frame dataset from a CT series' slices
// (dicom/multiframe_generator.h), for bench/long/multiframe_rss.sh.
struct MultiFrameOptions {
  std::string series;
  std::string out;
  uint64_t megabytes = 600;
};
int RunMultiFrame(const MultiFrameOptions& options);  // settle_run.cpp
// 0 when stored/received reached the bound in time, 3 when it did not.
int RunSettle(const SettleOptions& options);  // settle_run.cpp

}  // namespace pacs::bench
