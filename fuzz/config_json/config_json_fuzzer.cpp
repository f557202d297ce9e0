// libFuzzer target: `pacscore SUBCOMMAND --config FILE.json`
// (tools/src/json_config.cpp). Byte 0 picks the subcommand, the rest is the
// file. Two passes: JsonConfig::from_config on the subcommand's real CLI11
// section (the only exception it may throw is CLI::ConfigError), then the
// whole command line parse with the file, which applies CLI11's checks to
// every value the file gives (ports in range, known policies, peers...) and
// must end in an exit status, never an exception or a crash.
//
// Seeds: fuzz/config_json/seeds.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "command_line.h"
#include "json_config.h"

namespace {

const char* const kCommands[] = {"serve",  "import",  "export",         "stats",     "delete", "compact",
                                 "verify", "reindex", "commit-request", "retention", "protect"};

std::filesystem::path ConfigFile() {
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                               : std::filesystem::temp_directory_path();
  return base / ("pacs_config_fuzz_" + std::to_string(getpid()) + ".json");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::atexit([] { std::filesystem::remove(ConfigFile()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char* command = kCommands[data[0] % std::size(kCommands)];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  pacs::tools::CommandLine command_line;
  const CLI::App* section = command_line.app().get_subcommand(command);
  pacs::tools::JsonConfig config;
  config.set_section(section);
  std::istringstream input(text);
  try {
    (void)config.from_config(input);
  } catch (const CLI::ConfigError&) {
    // the documented refusal
  }

  const std::filesystem::path file = ConfigFile();
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  (void)command_line.Parse(std::vector<std::string>{command, "--config", file.string()});
  return 0;
}
