// File: command_line.h
// The `pacscore` command line, built with CLI11: one subcommand per task,
// each with --help, its flags checked as they are parsed, --config FILE.json
// (json_config.h) and --log-format text|json. Every parse error is reported
// the same way: "pacscore: <what is wrong>" and a pointer to --help, exit 1.
//
//   CommandLine command_line;
//   if (auto exit_status = command_line.Parse(argc, argv)) return *exit_status;
//   return command_line.Run();
//
// `pacscore bench` keeps its own parser: main() hands it its arguments
// untouched; here it is only listed.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "json_config.h"

namespace pacs::tools {

// Owns the CLI11 app and the flags it fills in. Neither copyable nor movable:
// the app holds pointers into the flags. One thread.
class CommandLine {
 public:
  CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // Parses argv (the program name first). Returns nullopt when the chosen
  // subcommand is to be run, or else the exit status: 0 after --help (usage
  // on stdout), 1 after an error (reported on stderr).
  std::optional<int> Parse(int argc, char** argv);
  // The same for the arguments after the program name (for tests).
  std::optional<int> Parse(const std::vector<std::string>& args);
  // The chosen subcommand ("serve", ...), empty before a successful Parse().
  std::string command() const;
  // Applies --log-format and runs the chosen subcommand; its exit status.
  int Run() const;
  // The usage of the whole program, or of one subcommand.
  std::string Help(const std::string& command = "") const;
  const CLI::App& app() const { return app_; }

  // What Parse() filled in, per subcommand.
  ServeFlags serve;
  ImportFlags import;
  ExportFlags export_flags;
  StatsFlags stats;
  MaintenanceFlags delete_flags, compact, verify, reindex;
  RebuildFlags rebuild;
  CommitRequestFlags commit_request;
  RetentionFlags retention;
  ProtectFlags protect;
  std::string log_format = "text";

 private:
  void AddServe();
  void AddImport();
  void AddExport();
  void AddStats();
  void AddMaintenance();
  void AddCommitRequest();
  void AddRetention();
  // --log-format and --config, which every subcommand takes.
  void AddCommonFlags(CLI::App& command);

  CLI::App app_;
  std::shared_ptr<JsonConfig> config_ = std::make_shared<JsonConfig>();
  CLI::Option* config_file_ = nullptr;  // the app's config option, fed by each subcommand's --config
};

// `pacscore <command> ...` for every command but `bench`: parse, then run.
int RunCommandLine(int argc, char** argv);

}  // namespace pacs::tools
