// File: json_config.h
// `--config FILE.json` for CLI11, whose own config reader speaks TOML/INI.
// The file holds one JSON object whose keys are the long flag names of the
// subcommand it is given to; lists give a repeatable flag several values:
//
//   {"data": "/srv/pacs", "port": 11112, "peer": ["VIEWER=VIEWERAE@10.0.0.5:104"], "verbose": true}
//
// Flags given on the command line win over the file. Unknown keys are errors.
// The keys allowed to hold objects (serve's "peer": peer_config.h) pass each
// object on to their flag as its JSON text.
#pragma once

#include <CLI/CLI.hpp>
#include <istream>
#include <string>
#include <vector>

namespace pacs::tools {

// Used by one thread while the command line is parsed.
class JsonConfig : public CLI::Config {
 public:
  // The subcommand the file configures: set when that subcommand's --config
  // is parsed, before CLI11 reads the file.
  void set_section(const CLI::App* section) { section_ = section; }
  // Lets `key` hold JSON objects (alone or in a list).
  void allow_objects(const std::string& key) { object_keys_.push_back(key); }

  // The options of `app` that were given (all of them with `default_also`) as
  // a JSON object; a round trip through from_config gives the same flags.
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  // Throws CLI::ConfigError naming the problem: not JSON, not an object, a
  // key that is not a flag of the section, a value that is not a flag value.
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  const CLI::App* section_ = nullptr;
  std::vector<std::string> object_keys_;
};

}  // namespace pacs::tools
