// pacscore: one binary, one subcommand per task. Thin: parses flags and calls
// the modules.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli.h"
#include "pacs/bench/bench.h"
#include "pacs/dicom/instance_split.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: pacscore <command> [flags]\n"
               "  serve  --data DIR [--port 11112] [--aet PACSCORE] [--admin-port 8043]\n"
               "         [--max-associations N] [--on-duplicate keep|replace|reject]\n"
               "  import --data DIR PATH...\n"
               "  export --data DIR --out DIR [--study UID] [--transfer-syntax original|stored|UID]\n"
               "  stats  --data DIR [--json]\n"
               "  delete --data DIR --study UID | --series UID | --instance UID\n"
               "  compact --data DIR [--gc-grace 1h]\n"
               "  verify --data DIR [--deep] [--gc-grace 1h]\n"
               "  bench  ingest|compare --corpus DIR [...]   (pacscore bench --help)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    Usage();
    return argc < 2 ? 1 : 0;
  }
  pacs::dicom::InitDicomLibrary();
  const std::string command = argv[1];
  if (command == "serve") return pacs::tools::RunServe(argc - 2, argv + 2);
  if (command == "import") return pacs::tools::RunImport(argc - 2, argv + 2);
  if (command == "export") return pacs::tools::RunExport(argc - 2, argv + 2);
  if (command == "stats") return pacs::tools::RunStats(argc - 2, argv + 2);
  if (command == "delete") return pacs::tools::RunDelete(argc - 2, argv + 2);
  if (command == "compact") return pacs::tools::RunCompact(argc - 2, argv + 2);
  if (command == "verify") return pacs::tools::RunVerify(argc - 2, argv + 2);
  if (command == "bench") return pacs::bench::RunBenchCommand(argc - 2, argv + 2);
  std::fprintf(stderr, "pacscore: unknown command '%s'\n", command.c_str());
  Usage();
  return 1;
}
