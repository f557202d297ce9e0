// `pacscore bench`: the flags of each benchmark (CLI11), then its run. The
// load generator is dicom/'s store_scu and query_scu, the systems under test
// peers.cpp, the write-up report.cpp.
#include "pacs/bench/bench.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "options.h"
#include "process.h"

namespace pacs::bench {
namespace {

constexpr std::string_view kBenchmarks[] = {"ingest", "compare",         "query",      "retrieve",
                                            "settle", "distinct-copies", "multiframe", "web"};

constexpr char kFooter[] =
    "--codec is passed to `pacscore serve` (jpegls|j2k|htj2k|auto|none); a list in compare measures one pacscore "
    "per codec; --serve-arg passes any other flag to serve (repeatable).\n"
    "Results: MB = 10^6 bytes of datasets as sent.";

void AddCorpus(CLI::App& app, std::string& corpus) {
  app.add_option("--corpus", corpus, "Folder of DICOM files to send (searched recursively)")
      ->required()
      ->type_name("DIR");
}

void AddAssociations(CLI::App& app, int& associations) {
  app.add_option("--associations", associations, "Parallel associations")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

void AddJson(CLI::App& app, std::optional<std::string>& json) {
  app.add_option("--json", json, "Also write the result as JSON to FILE")->type_name("FILE");
}

void AddServeArgs(CLI::App& app, std::vector<std::string>& serve_args) {
  app.add_option("--serve-arg", serve_args, "Pass --FLAG to `pacscore serve` (repeatable, as --serve-arg=--FLAG)")
      ->allow_extra_args(false)
      ->type_name("--FLAG");
}

void AddWorkDir(CLI::App& app, std::optional<std::string>& work_dir, bool& keep) {
  app.add_option("--work-dir", work_dir, "Where the servers' folders go (default $TMPDIR or /tmp)")->type_name("DIR");
  app.add_flag("--keep", keep, "Keep the servers' folders afterwards");
}

// The node measured by ingest, query and retrieve: one bench starts, or --target.
void AddServer(CLI::App& app, ServerOptions& server) {
  app.add_option("--codec", server.codec, "--codec of the pacscore serve bench starts")->type_name("C");
  AddServeArgs(app, server.serve_args);
  app.add_option("--target", server.target, "Measure a running node instead of starting one")
      ->type_name("AET@HOST:PORT");
  app.add_option("--target-pid", server.target_pid, "Process id of --target, for its CPU time")->type_name("PID");
  AddWorkDir(app, server.work_dir, server.keep);
}

std::string CommandLine(int argc, char** argv) {
  std::string line = "pacscore bench";
  for (int i = 0; i < argc; ++i) line += std::string(" ") + argv[i];
  return line;
}

}  // namespace

int RunBenchCommand(int argc, char** argv) {
  CLI::App app("The storage benchmark: C-STORE ingest, a comparison with other archives, C-FIND and C-GET.",
               "pacscore bench");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  IngestOptions ingest;
  CLI::App* ingest_app = app.add_subcommand("ingest", "Push the corpus into a fresh pacscore (or --target)");
  AddCorpus(*ingest_app, ingest.corpus);
  AddAssociations(*ingest_app, ingest.associations);
  ingest_app->add_option("--repeat", ingest.repeat, "Passes over the corpus (later passes measure dedup)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  AddJson(*ingest_app, ingest.json);
  AddServer(*ingest_app, ingest.server);
  ingest_app
      ->add_option("--target-admin-socket", ingest.target_admin_socket,
                   "Admin socket of --target (its DATA/admin.sock), for its stats")
      ->type_name("PATH");

  CompareOptions compare;
  CLI::App* compare_app =
      app.add_subcommand("compare", "The same push into pacscore, Orthanc, Orthanc JPEG-LS and storescp");
  AddCorpus(*compare_app, compare.corpus);
  AddAssociations(*compare_app, compare.associations);
  compare_app->add_option("--runs", compare.runs, "Interleaved runs; the table shows medians")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  compare_app->add_option("--codec", compare.codecs, "One pacscore per codec, comma-separated")->type_name("C[,C...]");
  AddServeArgs(*compare_app, compare.serve_args);
  compare_app->add_option("--out", compare.out, "Folder for compare.md, compare.json and compare.png")
      ->type_name("DIR")
      ->capture_default_str();
  AddJson(*compare_app, compare.json);
  AddWorkDir(*compare_app, compare.work_dir, compare.keep);

  QueryOptions query;
  CLI::App* query_app = app.add_subcommand("query", "Time C-FIND of each query kind the corpus has keys for");
  AddCorpus(*query_app, query.corpus);
  query_app->add_option("--queries", query.queries, "Queries per kind and mode")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  AddJson(*query_app, query.json);
  AddServer(*query_app, query.server);

  RetrieveOptions retrieve;
  CLI::App* retrieve_app = app.add_subcommand("retrieve", "Time C-GET of every study or series of the corpus");
  AddCorpus(*retrieve_app, retrieve.corpus);
  AddAssociations(*retrieve_app, retrieve.associations);
  retrieve_app->add_option("--repeat", retrieve.repeat, "Passes over the corpus")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  retrieve_app->add_option("--level", retrieve.level, "C-GET each study or each series")
      ->type_name("study|series")
      ->capture_default_str();
  retrieve_app->add_flag("--compare", retrieve.compare,
                         "Against Orthanc and Orthanc with JPEG-LS ingest: C-GET uncompressed and JPEG-LS only, "
                         "C-MOVE to storescp +xa and to a default storescp; --repeat interleaved runs");
  AddJson(*retrieve_app, retrieve.json);
  AddServer(*retrieve_app, retrieve.server);

  SettleOptions settle;
  CLI::App* settle_app = app.add_subcommand(
      "settle", "Push distinct copies of the corpus; time until stored/received reaches --bound, no compact");
  AddCorpus(*settle_app, settle.corpus);
  settle_app->add_option("--copies", settle.copies, "Copies with distinct pixels to push")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  AddAssociations(*settle_app, settle.associations);
  settle_app->add_option("--bound", settle.bound, "stored/received to reach")
      ->check(CLI::Range(0.01, 100.0))
      ->capture_default_str();
  settle_app->add_option("--timeout", settle.timeout_seconds, "Seconds after the last acknowledgement to wait")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  settle_app->add_option("--interval", settle.interval_seconds, "Seconds between two looks at GET /stats")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  AddJson(*settle_app, settle.json);
  AddServer(*settle_app, settle.server);

  DistinctCopiesOptions copies;
  CLI::App* copies_app = app.add_subcommand(
      "distinct-copies", "Write copies of the corpus with new UIDs and distinct pixels (lowest bit of a few samples)");
  AddCorpus(*copies_app, copies.corpus);
  copies_app->add_option("--copies", copies.copies, "How many copies")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  copies_app->add_option("--out", copies.out, "Folder for copy1/, copy2/, ...")->required()->type_name("DIR");

  MultiFrameOptions multiframe;
  CLI::App* multiframe_app = app.add_subcommand(
      "multiframe", "Write one large multi-frame dataset from a CT series' slices (each repetition slightly changed)");
  multiframe_app->add_option("--series", multiframe.series, "Folder of one series' 16-bit slices")
      ->required()
      ->type_name("DIR");
  multiframe_app->add_option("--megabytes", multiframe.megabytes, "Pixel Data size, in MB (10^6 bytes)")
      ->check(CLI::Range(1, 4000))
      ->capture_default_str();
  multiframe_app->add_option("--out", multiframe.out, "The file to write")->required()->type_name("FILE");

  WebOptions web;
  CLI::App* web_app = app.add_subcommand(
      "web", "DICOMweb side by side with Orthanc + DICOMweb: series /metadata, frames, STOW-RS (one series)");
  AddCorpus(*web_app, web.corpus);
  web_app->add_option("--cold-runs", web.cold_runs, "Server starts, each timing its first series /metadata")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  web_app->add_option("--warm-requests", web.warm_requests, "Series /metadata requests on one connection")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  web_app->add_option("--clients", web.clients, "Concurrent frame clients (besides 1)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  web_app->add_option("--passes", web.passes, "Passes over the series' frames per measurement")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  web_app->add_option("--stow-batch", web.stow_batch, "Instances per STOW-RS request")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  web_app->add_option("--codec", web.codec, "--codec of the pacscore serve bench starts")->type_name("C");
  AddServeArgs(*web_app, web.serve_args);
  AddJson(*web_app, web.json);
  AddWorkDir(*web_app, web.work_dir, web.keep);

  if (argc < 1) {
    std::fprintf(stderr, "%s", app.help().c_str());
    return 1;
  }
  const std::string first = argv[0];
  if (first == "help") {
    std::printf("%s", app.help().c_str());
    return 0;
  }
  bool known = first.rfind('-', 0) == 0;
  for (std::string_view name : kBenchmarks) known = known || first == name;
  if (!known) {
    std::fprintf(stderr, "pacscore bench: unknown benchmark '%s'\n%s", first.c_str(), app.help().c_str());
    return 1;
  }
  try {
    // CLI11 wants the program name first and keeps the last argument first.
    std::vector<std::string> args(argv, argv + argc);
    std::reverse(args.begin(), args.end());
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());  // the help of the benchmark named, if any
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "pacscore bench: %s\nRun with --help for more information.\n", e.what());
    return 1;
  }

  // DCMTK reads TCP_NODELAY when it opens a socket: set it before any association.
  setenv("TCP_NODELAY", "1", 1);
  InstallInterruptCleanup();
  const std::string command_line = CommandLine(argc, argv);
  if (ingest_app->parsed()) {
    ingest.command_line = command_line;
    return RunIngest(ingest);
  }
  if (compare_app->parsed()) {
    compare.command_line = command_line;
    return RunCompare(compare);
  }
  if (query_app->parsed()) {
    query.command_line = command_line;
    return RunQuery(query);
  }
  if (settle_app->parsed()) {
    settle.command_line = command_line;
    return RunSettle(settle);
  }
  if (copies_app->parsed()) return RunDistinctCopies(copies);
  if (multiframe_app->parsed()) return RunMultiFrame(multiframe);
  if (web_app->parsed()) {
    web.command_line = command_line;
    return RunWeb(web);
  }
  retrieve.command_line = command_line;
  return RunRetrieve(retrieve);
}

}  // namespace pacs::bench
