// The command line (CLI11), its JSON (nlohmann-json) and its log lines
// (spdlog): flags, defaults and rejects of every subcommand, --help, --config
// FILE.json, durations, ports, peers, and --log-format json.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "cli.h"
#include "command_line.h"
#include "pacs/base/log.h"
#include "pacs/dicom/retrieve.h"
#include "peer_config.h"

namespace pacs::tools {
namespace {

namespace fs = std::filesystem;

// Parses `args` (after the program name); nullopt when the command would run.
std::optional<int> ParseQuietly(CommandLine& command_line, const std::vector<std::string>& args,
                                std::string* err = nullptr) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  auto exit_status = command_line.Parse(args);
  ::testing::internal::GetCapturedStdout();
  const std::string captured_err = ::testing::internal::GetCapturedStderr();
  if (err) *err = captured_err;
  return exit_status;
}

TEST(CommandLineTest, ServeFlagsValuesRepeatsAndDefaults) {
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"serve", "--data", "d", "--port=11113", "--peer=A=X@h:1", "--peer", "B=Y@h:2", "--verbose",
                       "--inline-encode", "--codec", "jpegls", "--no-verify-encode"}),
            std::nullopt);
  EXPECT_EQ(cli.command(), "serve");
  EXPECT_EQ(cli.serve.data, "d");
  EXPECT_EQ(cli.serve.port, 11113);
  EXPECT_EQ(cli.serve.peers, (std::vector<std::string>{"A=X@h:1", "B=Y@h:2"}));
  EXPECT_TRUE(cli.serve.verbose);
  EXPECT_TRUE(cli.serve.inline_encode);
  EXPECT_TRUE(cli.serve.no_verify_encode);
  EXPECT_EQ(cli.serve.codec, "jpegls");
  // Defaults, as before the libraries.
  EXPECT_EQ(cli.serve.aet, "PACSCORE");
  EXPECT_EQ(cli.serve.admin_port, -1) << "the admin TCP port is off unless given";
  EXPECT_EQ(cli.serve.max_associations, 16);
  EXPECT_EQ(cli.serve.on_duplicate, "keep");
  EXPECT_EQ(cli.log_format, "text");
}

TEST(CommandLineTest, ServeTlsFlagsPortOffAndTlsPeers) {
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"serve", "--data", "d", "--port", "off", "--tls-port", "2762", "--tls-cert", "c.pem",
                       "--tls-key", "k.pem", "--tls-ca", "ca.pem", "--tls-verify", "optional",
                       "--tls-handshake-timeout", "3s", "--peer", "A=X@h:1+tls"}),
            std::nullopt);
  EXPECT_TRUE(cli.serve.port_off);
  EXPECT_EQ(cli.serve.tls_port, 2762);
  EXPECT_EQ(cli.serve.tls_cert, "c.pem");
  EXPECT_EQ(cli.serve.tls_key, "k.pem");
  EXPECT_EQ(cli.serve.tls_ca, "ca.pem");
  EXPECT_EQ(cli.serve.tls_verify, "optional");
  EXPECT_EQ(cli.serve.tls_handshake_timeout_ms, 3000);
  auto peer = dicom::ParsePeer(cli.serve.peers.at(0));
  ASSERT_TRUE(peer.ok()) << peer.status().ToString();
  EXPECT_TRUE(peer->tls);
  EXPECT_EQ(peer->port, 1);
  EXPECT_FALSE(dicom::ParsePeer("A=X@h:1")->tls);

  CommandLine defaults;  // no TLS port, plain port on, verify require
  ASSERT_EQ(defaults.Parse({"serve", "--data", "d"}), std::nullopt);
  EXPECT_FALSE(defaults.serve.port_off);
  EXPECT_EQ(defaults.serve.tls_port, 0);
  EXPECT_EQ(defaults.serve.tls_verify, "require");
  EXPECT_EQ(defaults.serve.tls_handshake_timeout_ms, 10000);

  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--tls-verify", "sometimes"}, {"--peer", "A=X@h:1+ssl"}, {"--peer", "A=X@h:+tls"}, {"--port", "of"}}) {
    CommandLine rejecting;
    std::vector<std::string> args = {"serve", "--data", "d"};
    args.insert(args.end(), bad.begin(), bad.end());
    std::string err;
    EXPECT_EQ(ParseQuietly(rejecting, args, &err), 1) << bad[1];
    EXPECT_NE(err.find(bad[0]), std::string::npos) << err;
  }
}

TEST(CommandLineTest, AFlagGivenTwiceKeepsItsLastValue) {
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"export", "--data", "a", "--data", "b", "--out", "o"}), std::nullopt);
  EXPECT_EQ(cli.export_flags.data, "b");
  EXPECT_EQ(cli.export_flags.transfer_syntax, "original");
}

TEST(CommandLineTest, ImportTakesPathsAfterItsFlags) {
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"import", "--data", "d", "file1", "folder2", "--on-duplicate", "replace"}), std::nullopt);
  EXPECT_EQ(cli.import.paths, (std::vector<std::string>{"file1", "folder2"}));
  EXPECT_EQ(cli.import.on_duplicate, "replace");
  EXPECT_EQ(cli.import.codec, "auto");
}

TEST(CommandLineTest, DurationsBecomeMilliseconds) {
  for (const auto& [text, ms] : std::vector<std::pair<std::string, int64_t>>{{"0", 0},
                                                                             {"90s", 90000},
                                                                             {"30m", 1800000},
                                                                             {"1h", 3600000},
                                                                             {"250ms", 250},
                                                                             {"2d", 172800000},
                                                                             {"5", 5000}}) {
    CommandLine cli;
    ASSERT_EQ(cli.Parse({"compact", "--data", "d", "--gc-grace", text}), std::nullopt) << text;
    EXPECT_EQ(cli.compact.gc_grace_ms, ms) << text;
  }
  CommandLine defaults;
  ASSERT_EQ(defaults.Parse({"verify", "--data", "d", "--deep"}), std::nullopt);
  EXPECT_EQ(defaults.verify.gc_grace_ms, 3600000);
  EXPECT_TRUE(defaults.verify.deep);
  // compact's sweep of pool objects without a reference: its own grace, 1h by default.
  CommandLine orphans;
  ASSERT_EQ(orphans.Parse({"compact", "--data", "d", "--orphan-grace", "0"}), std::nullopt);
  EXPECT_EQ(orphans.compact.orphan_grace_ms, 0);
  EXPECT_EQ(orphans.compact.gc_grace_ms, 3600000);
  CommandLine orphan_default;
  ASSERT_EQ(orphan_default.Parse({"compact", "--data", "d", "--gc-grace", "0"}), std::nullopt);
  EXPECT_EQ(orphan_default.compact.orphan_grace_ms, 3600000);

  EXPECT_EQ(*ParseDurationMs("90s", "g"), 90000);
  for (const char* bad : {"soon", "-1h", "5 parsecs", ""}) {
    EXPECT_FALSE(ParseDurationMs(bad, "g").ok()) << bad;
    CommandLine cli;
    std::string err;
    EXPECT_EQ(ParseQuietly(cli, {"compact", "--data", "d", "--gc-grace", bad}, &err), 1) << bad;
    EXPECT_NE(err.find("--gc-grace"), std::string::npos) << err;
  }
}

TEST(CommandLineTest, PortsAreCheckedWithTheFlagNamed) {
  EXPECT_EQ(*ParsePort("11112", "port"), 11112);
  EXPECT_FALSE(ParsePort("70000", "port").ok());
  EXPECT_FALSE(ParsePort("12a", "port").ok());
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--port", "70000"}, {"--port", "12a"}, {"--admin-port", "-1"}, {"--max-associations", "0"}}) {
    CommandLine cli;
    std::string err;
    EXPECT_EQ(ParseQuietly(cli, {"serve", "--data", "d", flag, value}, &err), 1) << flag << " " << value;
    EXPECT_NE(err.find("pacscore: " + flag), std::string::npos) << err;
    EXPECT_NE(err.find("pacscore serve --help"), std::string::npos) << err;
  }
  CommandLine any_port;
  ASSERT_EQ(any_port.Parse({"serve", "--data", "d", "--admin-port", "0"}), std::nullopt);
  EXPECT_EQ(any_port.serve.admin_port, 0);
}

TEST(CommandLineTest, PeersAreCheckedAsTheyAreParsed) {
  CommandLine good;
  ASSERT_EQ(good.Parse({"serve", "--data", "d", "--peer", "VIEWER=VIEWERAE@10.0.0.5:104"}), std::nullopt);
  EXPECT_EQ(good.serve.peers.size(), 1u);
  for (const char* bad : {"nonsense", "A=X@h:99999", "A=@h:1"}) {
    CommandLine cli;
    EXPECT_EQ(ParseQuietly(cli, {"serve", "--data", "d", "--peer", bad}), 1) << bad;
  }
}

TEST(CommandLineTest, MetricsBindIsOffByDefaultAndCheckedAsItIsParsed) {
  CommandLine off;
  ASSERT_EQ(off.Parse({"serve", "--data", "d"}), std::nullopt);
  EXPECT_EQ(off.serve.metrics_bind, "");
  CommandLine on;
  ASSERT_EQ(on.Parse({"serve", "--data", "d", "--metrics-bind", "[::1]:9464"}), std::nullopt);
  EXPECT_EQ(on.serve.metrics_bind, "[::1]:9464");
  for (const char* bad : {"9464", "localhost:9464", "127.0.0.1:99999"}) {
    CommandLine cli;
    std::string err;
    EXPECT_EQ(ParseQuietly(cli, {"serve", "--data", "d", "--metrics-bind", bad}, &err), 1) << bad;
    EXPECT_NE(err.find("pacscore: --metrics-bind"), std::string::npos) << err;
  }
}

TEST(CommandLineTest, RejectsWithOneErrorStyle) {
  const std::vector<std::vector<std::string>> rejects = {
      {"serve", "--data", "d", "--bogus"},                     // unknown flag
      {"serve", "--data"},                                     // missing value
      {"serve"},                                               // missing --data
      {"serve", "--data", "d", "--aet", "ABCDEFGHIJKLMNOPQ"},  // AE title over 16
      {"serve", "--data", "d", "--on-duplicate", "merge"},     // unknown policy
      {"serve", "--data", "d", "--codec", "gif"},              // unknown codec
      {"serve", "--data", "d", "--verify-encode", "--no-verify-encode"},
      {"serve", "--data", "d", "--log-format", "xml"},
      {"import", "--data", "d"},  // no paths
      {"export", "--data", "d"},  // no --out
      {"export", "--data", "d", "--out", "o", "--transfer-syntax", "bogus"},
      {"delete", "--data", "d"},  // no selector
      {"delete", "--data", "d", "--study", "1", "--series", "2"},
      {"stats", "--data", "d", "--deep"},
      {"frobnicate"},
  };
  for (const auto& args : rejects) {
    CommandLine cli;
    std::string err;
    EXPECT_EQ(ParseQuietly(cli, args, &err), 1) << args[0] << " " << (args.size() > 1 ? args.back() : "");
    EXPECT_EQ(err.rfind("pacscore: ", 0), 0u) << err;
    EXPECT_NE(err.find("--help"), std::string::npos) << err;
  }
  CommandLine none;
  EXPECT_EQ(ParseQuietly(none, {}), 1);
}

TEST(CommandLineTest, HelpExitsZeroForEverySubcommand) {
  for (const char* command : {"serve", "import", "export", "stats", "delete", "compact", "verify", "reindex", "rebuild",
                              "retention", "protect"}) {
    CommandLine cli;
    ::testing::internal::CaptureStdout();
    EXPECT_EQ(cli.Parse({command, "--help"}), 0) << command;
    const std::string out = ::testing::internal::GetCapturedStdout();
    EXPECT_NE(out.find("--data"), std::string::npos) << command << ": " << out;
    EXPECT_NE(out.find("--log-format"), std::string::npos) << command << ": " << out;
    EXPECT_NE(out.find("--config"), std::string::npos) << command << ": " << out;
  }
  CommandLine top;
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(top.Parse({"--help"}), 0);
  const std::string usage = ::testing::internal::GetCapturedStdout();
  for (const char* command : {"serve", "import", "export", "stats", "delete", "compact", "verify", "reindex", "rebuild",
                              "commit-request", "bench"})
    EXPECT_NE(usage.find(command), std::string::npos) << command << " missing from " << usage;
}

TEST(CommandLineTest, RebuildTakesTheFramesAndNeedsTheNode) {
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"rebuild", "--data", "d", "--frames", "rados:pacs", "--ceph-conf", "c.conf", "--node",
                       "9f63b8135292dda2", "--json"}),
            std::nullopt);
  EXPECT_EQ(cli.command(), "rebuild");
  EXPECT_EQ(cli.rebuild.data, "d");
  EXPECT_EQ(cli.rebuild.node, "9f63b8135292dda2");
  EXPECT_TRUE(cli.rebuild.json);
  EXPECT_EQ(SelectedFrames().frames, "rados:pacs");
  EXPECT_EQ(SelectedFrames().ceph_conf, "c.conf");
  SelectedFrames() = {};
  CommandLine without_node;
  EXPECT_EQ(ParseQuietly(without_node, {"rebuild", "--data", "d", "--frames", "rados:pacs"}), 1);
  SelectedFrames() = {};
}

TEST(CommandLineTest, RetentionFlagsAreCheckedAndSizesBecomeBytes) {
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"serve", "--data", "d", "--retention-rule", "study-date>3650d:CR,DX", "--retention-rule",
                       "received>12h", "--storage-quota", "2GiB", "--on-quota", "evict", "--retention-interval", "6h"}),
            std::nullopt);
  EXPECT_EQ(cli.serve.retention_rules, (std::vector<std::string>{"study-date>3650d:CR,DX", "received>12h"}));
  EXPECT_EQ(cli.serve.storage_quota_bytes, 2ull << 30);
  EXPECT_EQ(cli.serve.on_quota, "evict");
  EXPECT_EQ(cli.serve.retention_interval_ms, 6 * 3600 * 1000);
  CommandLine defaults;
  ASSERT_EQ(defaults.Parse({"serve", "--data", "d"}), std::nullopt);
  EXPECT_TRUE(defaults.serve.retention_rules.empty()) << "retention must be opt-in";
  EXPECT_EQ(defaults.serve.storage_quota_bytes, 0u) << "a quota must be opt-in";
  CommandLine dry;
  ASSERT_EQ(dry.Parse({"retention", "--data", "d", "--dry-run", "--storage-quota", "500MB"}), std::nullopt);
  EXPECT_TRUE(dry.retention.dry_run);
  EXPECT_EQ(dry.retention.storage_quota_bytes, 500'000'000u);
  for (std::vector<std::string> bad : {std::vector<std::string>{"--retention-rule", "studydate>3d"},
                                       {"--retention-rule", "received>soon"},
                                       {"--retention-rule", "received>3d:"},
                                       {"--storage-quota", "lots"},
                                       {"--on-quota", "delete"}}) {
    CommandLine rejected;
    bad.insert(bad.begin(), {"serve", "--data", "d"});
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(rejected.Parse(bad), 1) << bad[3] << " " << bad[4];
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find(bad[3]), std::string::npos) << err;
  }
  CommandLine protect;
  ASSERT_EQ(protect.Parse({"protect", "--data", "d", "--study", "1.2.3", "--unprotect"}), std::nullopt);
  EXPECT_EQ(protect.protect.study, "1.2.3");
  EXPECT_TRUE(protect.protect.unprotect);
  CommandLine neither;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(neither.Parse({"protect", "--data", "d"}), 1);
  ::testing::internal::GetCapturedStderr();
}

TEST(CommandLineTest, CommitRequestTakesItsFlagsAndNeedsPortAndFiles) {
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"commit-request", "--port", "11112", "--listen-port", "11113", "--calling-aet", "MOD",
                       "--timeout", "90s", "a.dcm", "b.dcm"}),
            std::nullopt);
  EXPECT_EQ(cli.command(), "commit-request");
  EXPECT_EQ(cli.commit_request.port, 11112);
  EXPECT_EQ(cli.commit_request.listen_port, 11113);
  EXPECT_EQ(cli.commit_request.calling_aet, "MOD");
  EXPECT_EQ(cli.commit_request.called_aet, "PACSCORE");
  EXPECT_EQ(cli.commit_request.timeout_ms, 90000);
  EXPECT_EQ(cli.commit_request.files, (std::vector<std::string>{"a.dcm", "b.dcm"}));
  CommandLine no_files, no_port, long_aet;
  EXPECT_EQ(ParseQuietly(no_files, {"commit-request", "--port", "11112"}), 1);
  EXPECT_EQ(ParseQuietly(no_port, {"commit-request", "a.dcm"}), 1);
  EXPECT_EQ(ParseQuietly(long_aet, {"commit-request", "--port", "1", "--calling-aet", "SEVENTEEN_LETTERS", "a.dcm"}),
            1);
  CommandLine serve;
  ASSERT_EQ(serve.Parse({"serve", "--data", "d", "--commit-release-wait", "250ms"}), std::nullopt);
  EXPECT_EQ(serve.serve.commit_release_wait_ms, 250);
}

TEST(CommandLineTest, ServeHelpListsEveryFlag) {
  CommandLine cli;
  const std::string help = cli.Help("serve");
  for (const char* flag : {"--data",
                           "--port",
                           "--aet",
                           "--admin-port",
                           "--max-associations",
                           "--on-duplicate",
                           "--codec",
                           "--peer",
                           "--inline-encode",
                           "--verify-encode",
                           "--no-verify-encode",
                           "--commit-release-wait",
                           "--verbose",
                           "--log-format",
                           "--config",
                           "--metrics-bind",
                           "--echo-from-any-ae",
                           "--store-from-any-ae",
                           "--any-called-aet",
                           "--max-associations-per-ae"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag << " missing from " << help;
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = fs::temp_directory_path() / ("pacs_cli_test_" + std::to_string(getpid()) + ".json"); }
  void TearDown() override { fs::remove(path_); }
  void Write(const std::string& text) { std::ofstream(path_) << text; }
  fs::path path_;
};

TEST_F(ConfigFileTest, KeysAreLongFlagNamesAndTheCommandLineWins) {
  Write(R"({"data": "/srv/pacs", "port": 11113, "aet": "FROMFILE", "peer": ["A=X@h:1", "B=Y@h:2"],
            "verbose": true, "log-format": "json", "on-duplicate": "reject"})");
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"serve", "--config", path_.string(), "--aet", "FROMFLAG"}), std::nullopt);
  EXPECT_EQ(cli.serve.data, "/srv/pacs");
  EXPECT_EQ(cli.serve.port, 11113);
  EXPECT_EQ(cli.serve.aet, "FROMFLAG");
  EXPECT_EQ(cli.serve.peers, (std::vector<std::string>{"A=X@h:1", "B=Y@h:2"}));
  EXPECT_TRUE(cli.serve.verbose);
  EXPECT_FALSE(cli.serve.inline_encode);
  EXPECT_EQ(cli.serve.on_duplicate, "reject");
  EXPECT_EQ(cli.log_format, "json");

  // A repeatable flag on the command line replaces the file's list.
  CommandLine peers;
  ASSERT_EQ(peers.Parse({"serve", "--peer", "C=Z@h:3", "--config", path_.string()}), std::nullopt);
  EXPECT_EQ(peers.serve.peers, (std::vector<std::string>{"C=Z@h:3"}));
}

TEST_F(ConfigFileTest, PeersMayBeObjectsWithTheirOwnPermissions) {
  Write(R"({"data": "d", "echo-from-any-ae": false, "store-from-any-ae": "false", "any-called-aet": true,
            "max-associations-per-ae": 3,
            "peer": ["A=X@h:1", {"name": "VIEWER", "aet": "VIEWERAE", "host": "10.0.0.5", "port": 104,
                                 "permissions": ["find", "move"], "tls": true, "max_associations": 2},
                     {"name": "MOD", "aet": "MODALITY", "permissions": ["store", "commit"]}]})");
  CommandLine cli;
  ASSERT_EQ(cli.Parse({"serve", "--config", path_.string()}), std::nullopt);
  EXPECT_FALSE(cli.serve.echo_from_any_ae);
  EXPECT_FALSE(cli.serve.store_from_any_ae);
  EXPECT_TRUE(cli.serve.any_called_aet);
  EXPECT_EQ(cli.serve.max_associations_per_ae, 3);
  ASSERT_EQ(cli.serve.peers.size(), 3u);

  auto shorthand = ParsePeerEntry(cli.serve.peers[0]);
  ASSERT_TRUE(shorthand.ok()) << shorthand.status().ToString();
  EXPECT_EQ(dicom::PermissionsText(shorthand->permissions), "echo,store,find,get,move,commit");
  EXPECT_FALSE(shorthand->tls);
  auto viewer = ParsePeerEntry(cli.serve.peers[1]);
  ASSERT_TRUE(viewer.ok()) << viewer.status().ToString();
  EXPECT_EQ(viewer->name, "VIEWER");
  EXPECT_EQ(viewer->ae_title, "VIEWERAE");
  EXPECT_EQ(viewer->host, "10.0.0.5");
  EXPECT_EQ(viewer->port, 104);
  EXPECT_TRUE(viewer->tls);
  EXPECT_EQ(viewer->max_associations, 2);
  EXPECT_EQ(dicom::PermissionsText(viewer->permissions), "find,move");
  auto modality = ParsePeerEntry(cli.serve.peers[2]);
  ASSERT_TRUE(modality.ok()) << modality.status().ToString();
  EXPECT_EQ(modality->host, "");
  EXPECT_EQ(modality->port, 0);
  EXPECT_EQ(dicom::PermissionsText(modality->permissions), "store,commit");

  // The defaults: echo and store from any AE, the called AE checked, 8 per AE.
  CommandLine defaults;
  ASSERT_EQ(defaults.Parse({"serve", "--data", "d"}), std::nullopt);
  EXPECT_TRUE(defaults.serve.echo_from_any_ae);
  EXPECT_TRUE(defaults.serve.store_from_any_ae);
  EXPECT_FALSE(defaults.serve.any_called_aet);
  EXPECT_EQ(defaults.serve.max_associations_per_ae, 8);
}

TEST_F(ConfigFileTest, BadPeerObjectsAreRefusedNamingTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"name": "V", "aet": "VIEWERAE", "permissions": ["find", "delete"]})", "unknown permission 'delete'"},
      {R"({"name": "V", "permissions": ["find"]})", R"("aet" is required)"},
      {R"({"name": "V", "aet": "SEVENTEEN_LETTERS"})", "1-16 characters"},
      {R"({"name": "V", "aet": "A", "port": 70000})", R"("port" must be an integer 1-65535)"},
      {R"({"name": "V", "aet": "A", "tls": "yes"})", R"("tls" must be true or false)"},
      {R"({"name": "V", "aet": "A", "hots": "h"})", R"(unknown key "hots")"},
  };
  for (const auto& [peer, problem] : cases) {
    Write(R"({"data": "d", "peer": [)" + peer + "]}");
    CommandLine cli;
    std::string err;
    EXPECT_EQ(ParseQuietly(cli, {"serve", "--config", path_.string()}, &err), 1) << peer;
    EXPECT_NE(err.find(problem), std::string::npos) << peer << ": " << err;
  }
  // Objects are for "peer" only.
  Write(R"({"data": "d", "aet": {"name": "V"}})");
  CommandLine cli;
  EXPECT_EQ(ParseQuietly(cli, {"serve", "--config", path_.string()}), 1);
}

TEST_F(ConfigFileTest, ValuesFromTheFileAreCheckedLikeFlags) {
  Write(R"({"data": "d", "port": 70000})");
  CommandLine cli;
  std::string err;
  EXPECT_EQ(ParseQuietly(cli, {"serve", "--config", path_.string()}, &err), 1);
  EXPECT_NE(err.find("--port"), std::string::npos) << err;
}

TEST_F(ConfigFileTest, RejectsUnknownKeysBadJsonAndMissingFiles) {
  for (const char* text :
       {R"({"data": "d", "prot": 1})", R"({"data": "d",})", R"(["data", "d"])", R"({"data": {"nested": 1}})"}) {
    Write(text);
    CommandLine cli;
    std::string err;
    EXPECT_EQ(ParseQuietly(cli, {"serve", "--config", path_.string()}, &err), 1) << text;
    EXPECT_NE(err.find("--config"), std::string::npos) << text << ": " << err;
  }
  CommandLine missing;
  EXPECT_EQ(ParseQuietly(missing, {"serve", "--config", (path_.string() + ".absent")}), 1);
}

TEST_F(ConfigFileTest, RoundTripsThroughTheReader) {
  CommandLine given;
  ASSERT_EQ(given.Parse({"serve", "--data", "d", "--port", "11119", "--peer", "A=X@h:1", "--verbose"}), std::nullopt);
  JsonConfig writer;
  Write(writer.to_config(given.app().get_subcommand("serve"), false, false, ""));
  CommandLine read;
  ASSERT_EQ(read.Parse({"serve", "--config", path_.string()}), std::nullopt);
  EXPECT_EQ(read.serve.data, "d");
  EXPECT_EQ(read.serve.port, 11119);
  EXPECT_EQ(read.serve.peers, (std::vector<std::string>{"A=X@h:1"}));
  EXPECT_TRUE(read.serve.verbose);
}

TEST(JsonTest, RoundTripsNestedValuesAndEscapes) {
  const Json v = {{"n", -42},
                  {"big", uint64_t{1} << 63},
                  {"s", "line\n\"quoted\"\t\x01"},
                  {"b", true},
                  {"a", Json::array({1, "x", nullptr})},
                  {"o", {{"k", "v"}}}};
  for (bool pretty : {false, true}) {
    auto parsed = ParseJson(ToJson(v, pretty));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, v);
  }
  // Pretty output is what `stats --json` prints and tests read: "key": value.
  EXPECT_NE(ToJson(v, true).find("\n  \"n\": -42"), std::string::npos) << ToJson(v, true);
  EXPECT_EQ(JsonString(*ParseJson(R"({"u":"caf\u00e9"})"), "u"), "caf\xc3\xa9");
  for (const char* bad : {"{", R"({"a":})", "[1,]", R"({"a":1} x)", "\"open"}) EXPECT_FALSE(ParseJson(bad).ok()) << bad;
  // Bytes that are not UTF-8 (a file name, say) are replaced, never thrown.
  EXPECT_NE(ToJson(Json{{"path", "bad\xff"}}).find("bad\xef\xbf\xbd"), std::string::npos);
}

// Counters go out signed, as they always did: tests and scripts parse them
// as signed 64-bit integers, and a counter that wrapped below zero reads -1.
TEST(JsonTest, CountersAreWrittenAsSignedIntegers) {
  EXPECT_EQ(ToJson(Json{{"background_backlog", JsonCount(uint64_t{0} - 1)}}), R"({"background_backlog":-1})");
  EXPECT_EQ(ToJson(Json{{"instances", JsonCount(140)}}), R"({"instances":140})");
}

TEST(JsonTest, FieldsFallBackWhenAbsentOrOfAnotherType) {
  const Json object = {{"s", "text"}, {"i", 7}, {"f", 2.9}, {"b", true}};
  EXPECT_EQ(JsonString(object, "s"), "text");
  EXPECT_EQ(JsonString(object, "i"), "");
  EXPECT_EQ(JsonInt(object, "i"), 7);
  EXPECT_EQ(JsonInt(object, "f"), 2);
  EXPECT_EQ(JsonInt(object, "s", -1), -1);
  EXPECT_EQ(JsonInt(Json(), "i", 5), 5);
  EXPECT_TRUE(JsonBool(object, "b"));
  EXPECT_FALSE(JsonBool(object, "i"));
}

// Found by fuzz/admin_json (fuzz/admin_json/regressions/): {"timeout_ms": 1e308}
// was an undefined double-to-int64 cast (INT64_MIN on x86), and an integer
// above INT64_MAX wrapped negative ("quota_bytes" read as no quota).
TEST(JsonTest, IntegersOutOfRangeAreClamped) {
  const auto object =
      *ParseJson(R"({"big": 1e308, "small": -1e308, "huge": 18446744073709551615, "max": 9223372036854775807})");
  EXPECT_EQ(JsonInt(object, "big"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(JsonInt(object, "small"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(JsonInt(object, "huge"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(JsonInt(object, "max"), std::numeric_limits<int64_t>::max());
}

TEST(ParseArgsTest, BenchFlagsValuesBooleansRepeatsAndErrors) {
  const char* argv[] = {"--corpus", "d", "--serve-arg=--x", "--serve-arg", "--y", "--keep", "file1"};
  auto args = ParseArgs(7, const_cast<char**>(argv), {"corpus", "serve-arg"}, {"keep"});
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(args->Get("corpus"), "d");
  EXPECT_EQ(args->flags.at("serve-arg"), (std::vector<std::string>{"--x", "--y"}));
  EXPECT_TRUE(args->Has("keep"));
  EXPECT_EQ(args->positional, (std::vector<std::string>{"file1"}));
  const char* unknown[] = {"--bogus"};
  EXPECT_EQ(ParseArgs(1, const_cast<char**>(unknown), {"corpus"}, {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(LogTest, JsonFormatWritesOneParseableObjectPerLine) {
  SetLogFormat(LogFormat::kJson);
  ::testing::internal::CaptureStderr();
  LogInfo("admin endpoint on 127.0.0.1:8043");
  LogWarning("a \"quoted\"\nmulti-line message\twith \x01 control bytes and \xff");
  LogError("100% {} done");
  const std::string out = ::testing::internal::GetCapturedStderr();
  SetLogFormat(LogFormat::kText);

  std::istringstream lines(out);
  std::vector<Json> objects;
  for (std::string line; std::getline(lines, line);) {
    auto parsed = ParseJson(line);
    ASSERT_TRUE(parsed.ok()) << line;
    objects.push_back(*parsed);
  }
  ASSERT_EQ(objects.size(), 3u) << out;
  EXPECT_EQ(JsonString(objects[0], "level"), "INFO");
  EXPECT_EQ(JsonString(objects[0], "message"), "admin endpoint on 127.0.0.1:8043");
  EXPECT_EQ(JsonString(objects[1], "level"), "WARN");
  // Bytes that are not UTF-8 become U+FFFD; the line is kept.
  EXPECT_EQ(JsonString(objects[1], "message"),
            "a \"quoted\"\nmulti-line message\twith \x01 control bytes and \xef\xbf\xbd");
  EXPECT_EQ(JsonString(objects[2], "message"), "100% {} done");
  const std::string time = JsonString(objects[0], "time");
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-01-02T03:04:05.678Z
  EXPECT_EQ(time.back(), 'Z') << time;
  EXPECT_EQ(out.rfind("{\"time\":", 0), 0u) << "time first, for people reading the raw lines: " << out;
}

TEST(LogTest, TextFormatIsUtcMillisecondsLevelMessage) {
  SetLogFormat(LogFormat::kText);
  ::testing::internal::CaptureStderr();
  LogInfo("stopped cleanly");
  const std::string out = ::testing::internal::GetCapturedStderr();
  // 2026-01-02T03:04:05.678Z INFO  stopped cleanly
  ASSERT_EQ(out.size(), 24u + 1 + 5 + 1 + 15 + 1) << out;
  EXPECT_EQ(out[10], 'T');
  EXPECT_EQ(out[23], 'Z');
  EXPECT_EQ(out.substr(24), " INFO  stopped cleanly\n");
}

TEST(CommandLineTest, DicomListenerFlags) {
  CommandLine defaults;
  ASSERT_EQ(defaults.Parse({"serve", "--data", "d"}), std::nullopt);
  EXPECT_EQ(defaults.serve.bind, "0.0.0.0");
  EXPECT_EQ(defaults.serve.max_connections_per_host, 4);
  EXPECT_EQ(defaults.serve.association_request_timeout_ms, 5000);
  EXPECT_EQ(defaults.serve.idle_timeout_ms, 120000);
  CommandLine set;
  ASSERT_EQ(set.Parse({"serve", "--data", "d", "--bind", "127.0.0.1", "--max-connections-per-host", "8",
                       "--association-request-timeout", "2s", "--idle-timeout", "5m"}),
            std::nullopt);
  EXPECT_EQ(set.serve.bind, "127.0.0.1");
  EXPECT_EQ(set.serve.max_connections_per_host, 8);
  EXPECT_EQ(set.serve.association_request_timeout_ms, 2000);
  EXPECT_EQ(set.serve.idle_timeout_ms, 300000);
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--bind", "localhost"}, {"--bind", "::1"}, {"--max-connections-per-host", "0"}, {"--idle-timeout", "x"}}) {
    CommandLine cli;
    std::string err;
    EXPECT_EQ(ParseQuietly(cli, {"serve", "--data", "d", flag, value}, &err), 1) << flag << " " << value;
    EXPECT_NE(err.find("pacscore: " + flag), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace pacs::tools
