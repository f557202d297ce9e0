// pacscore: one binary, one subcommand per task. Thin: parses flags and calls
// the modules.
#include <string_view>

#include "command_line.h"
#include "pacs/bench/bench.h"
#include "pacs/dicom/dicom_library.h"

int main(int argc, char** argv) {
  pacs::dicom::InitDicomLibrary();
  // `bench` has a command line of its own: its arguments pass through untouched.
  if (argc >= 2 && std::string_view(argv[1]) == "bench") return pacs::bench::RunBenchCommand(argc - 2, argv + 2);
  return pacs::tools::RunCommandLine(argc, argv);
}
