// Storage Commitment (PS3.4 Annex J) against the real server with
// `pacscore commit-request` as the modality: the report on the same
// association and on a new one to a configured peer, present, missing and
// corrupted instances (a blob whose checksum fails, a frame that decodes but
// re-hashes wrong), and the time to commit the 140-slice CT series.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "corpus.h"
#include "pacs/engine/store.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kCtSeries[] = "1.3.46.670589.33.1.18734725841080964938.23067202722091553970";
constexpr char kRequester[] = "COMMITSCU";

// The corpus files of one series (from MANIFEST.tsv, without parsing every
// corpus file), in path order.
std::vector<SampleFile> SeriesFiles(const std::string& series_uid) {
  std::vector<SampleFile> out;
  std::ifstream manifest(CorpusDir() / "MANIFEST.tsv");
  std::string line;
  std::getline(manifest, line);
  while (std::getline(manifest, line)) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, '\t');) fields.push_back(field);
    if (fields.size() < 19 || fields[14] != series_uid) continue;
    SampleFile f;
    f.path = CorpusDir() / fields[0];
    f.transfer_syntax = fields[12];
    f.series_uid = fields[14];
    f.sop_instance_uid = fields[18];
    f.storescu_flag = StorescuFlagFor(f.transfer_syntax).value_or("");
    out.push_back(f);
  }
  std::sort(out.begin(), out.end(), [](const SampleFile& a, const SampleFile& b) { return a.path < b.path; });
  return out;
}

// A corpus file of another series, never pushed here: "no such object instance".
SampleFile NeverStored() {
  auto files = SeriesFiles("1.2.826.0.1.3680043.9.4245.3115138630835728997848661150714813892");
  EXPECT_FALSE(files.empty());
  return files.empty() ? SampleFile{} : files.front();
}

CommandResult CommitRequest(int port, const std::vector<SampleFile>& files, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {PacscoreBinary(),     "commit-request", "--port",
                                   std::to_string(port), "--calling-aet",  kRequester};
  argv.insert(argv.end(), extra.begin(), extra.end());
  for (const auto& f : files) argv.push_back(f.path.string());
  return RunCommand(argv, {}, std::chrono::seconds(120));
}

// commit-request prints "committed UID FILE" or "failed UID FILE reason XXXX (...)":
// FILE -> "committed" or the reason's four hex digits.
std::map<std::string, std::string> Outcomes(const std::string& output) {
  std::map<std::string, std::string> out;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string verb, uid, file, reason_word, reason;
    words >> verb >> uid >> file >> reason_word >> reason;
    if (verb == "committed") out[file] = "committed";
    if (verb == "failed") out[file] = reason_word == "reason" ? reason : "unreported";
  }
  return out;
}

// The seconds commit-request measured from the N-ACTION to the report.
double ReportSeconds(const std::string& output) {
  const auto at = output.find(" after ");
  return at == std::string::npos ? -1 : std::stod(output.substr(at + 7));
}

// Server log lines are written after the report went out: wait (bounded).
bool WaitForLog(const ServerProcess& server, const std::string& text) {
  for (int i = 0; i < 100; ++i) {
    if (server.Log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The log line that names `uid`, or "".
std::string LogLineFor(const std::string& log, const std::string& uid) {
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find(uid + " not committed") != std::string::npos) return line;
  return {};
}

// One server for the tests that only read: the first slices of the CT series
// pushed once, the requester configured as a peer for reports on a new
// association, and STRANGER as a peer that may commit but has no address to
// send a report to (both in a --config file).
class CommitmentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(MakeTempDir("commitment"));
    ct_ = new std::vector<SampleFile>(SeriesFiles(kCtSeries));
    listen_port_ = FreePort();
    const fs::path config = *dir_ / "serve.json";
    std::ofstream(config) << R"({"peer": ["MODALITY=)" << kRequester << "@127.0.0.1:" << listen_port_
                          << R"(", {"name": "STRANGER", "aet": "STRANGER", "permissions": ["commit"]}]})";
    server_ = new ServerProcess(
        *dir_ / "data", {"--inline-encode", "--commit-release-wait", "250ms", "--config", config.string()}, false);
    if (ct_->size() != 140 || !server_->Start()) return;
    ct_->resize(8);
    std::string log;
    ready_ = PushWithStorescu(*ct_, server_->port(), 1, log) == ct_->size();
    if (!ready_) std::fprintf(stderr, "push failed:\n%s\n", log.c_str());
  }
  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*dir_);
    delete dir_;
    delete ct_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the CT slices could not be pushed: " << server_->Log(); }

  static fs::path* dir_;
  static std::vector<SampleFile>* ct_;
  static ServerProcess* server_;
  static int listen_port_;
  static bool ready_;
};

fs::path* CommitmentTest::dir_ = nullptr;
std::vector<SampleFile>* CommitmentTest::ct_ = nullptr;
ServerProcess* CommitmentTest::server_ = nullptr;
int CommitmentTest::listen_port_ = 0;
bool CommitmentTest::ready_ = false;

// A copy of `file` in `dir` claiming another SOP Class UID (dcmodify).
SampleFile WithSopClass(const SampleFile& file, const fs::path& dir, const std::string& sop_class) {
  SampleFile copy = file;
  copy.path = dir / (sop_class + "_" + file.path.filename().string());
  fs::copy_file(file.path, copy.path, fs::copy_options::overwrite_existing);
  auto r = RunCommand({"dcmodify", "-nb", "-m", "(0008,0016)=" + sop_class, copy.path.string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return copy;
}

TEST_F(CommitmentTest, SameAssociationCommitsStoredAndFailsTheRestWithTheirReasons) {
  const SampleFile missing = NeverStored();
  // Stored as CT Image Storage; asked for as MR Image Storage, and as a
  // SOP class that is no storage class (Verification).
  const SampleFile conflict = WithSopClass((*ct_)[7], *dir_, "1.2.840.10008.5.1.4.1.1.4");
  const SampleFile not_storage = WithSopClass((*ct_)[7], *dir_, "1.2.840.10008.1.1");
  std::vector<SampleFile> files = {(*ct_)[0], (*ct_)[1], missing, (*ct_)[2], conflict, not_storage};
  auto r = CommitRequest(server_->port(), files);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  auto outcomes = Outcomes(r.output);
  EXPECT_EQ(outcomes.size(), 6u) << r.output;
  for (size_t i : {0, 1, 2}) EXPECT_EQ(outcomes[(*ct_)[i].path.string()], "committed") << r.output;
  EXPECT_EQ(outcomes[missing.path.string()], "0112") << r.output;
  EXPECT_EQ(outcomes[conflict.path.string()], "0119") << r.output;
  EXPECT_EQ(outcomes[not_storage.path.string()], "0122") << r.output;
  EXPECT_NE(r.output.find("reason 0119 (class/instance conflict)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 of 6 committed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("event type 2, report on the same association"), std::string::npos) << r.output;
  EXPECT_TRUE(WaitForLog(*server_, "3 committed, 3 failed, reported on the same association")) << server_->Log();
  EXPECT_NE(LogLineFor(server_->Log(), missing.sop_instance_uid).find("COMMITSCU@127.0.0.1"), std::string::npos)
      << server_->Log();
}

TEST_F(CommitmentTest, ReleasedAssociationGetsTheReportOnANewOne) {
  std::vector<SampleFile> files = {(*ct_)[3], (*ct_)[4], (*ct_)[5]};
  auto r = CommitRequest(server_->port(), files, {"--listen-port", std::to_string(listen_port_)});
  EXPECT_EQ(r.exit_code, 0) << r.output << server_->Log();
  auto outcomes = Outcomes(r.output);
  EXPECT_EQ(outcomes.size(), 3u) << r.output;
  for (const auto& f : files) EXPECT_EQ(outcomes[f.path.string()], "committed") << r.output;
  EXPECT_NE(r.output.find("event type 1, report on a new association"), std::string::npos) << r.output;
  EXPECT_TRUE(WaitForLog(*server_, "3 committed, 0 failed, reported on a new association to COMMITSCU@127.0.0.1:" +
                                       std::to_string(listen_port_)))
      << server_->Log();
}

TEST_F(CommitmentTest, RequesterWithNoAddressGetsNoReportAndItIsLogged) {
  const int port = FreePort();
  std::vector<std::string> argv = {PacscoreBinary(),
                                   "commit-request",
                                   "--port",
                                   std::to_string(server_->port()),
                                   "--calling-aet",
                                   "STRANGER",
                                   "--listen-port",
                                   std::to_string(port),
                                   "--timeout",
                                   "3s",
                                   (*ct_)[6].path.string()};
  auto r = RunCommand(argv, {}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no association came with the report"), std::string::npos) << r.output;
  EXPECT_TRUE(WaitForLog(*server_, "no --peer has AE title STRANGER; the N-EVENT-REPORT could not be sent"))
      << server_->Log();
}

// Storage Commitment is for peers with the commit permission only.
TEST_F(CommitmentTest, RequesterThatIsNoPeerIsRefused) {
  auto r = RunCommand({PacscoreBinary(), "commit-request", "--port", std::to_string(server_->port()), "--calling-aet",
                       "NOBODY", "--timeout", "3s", (*ct_)[6].path.string()},
                      {}, std::chrono::seconds(60));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("committed"), std::string::npos) << r.output;
  EXPECT_TRUE(WaitForLog(*server_, "refused NOBODY@127.0.0.1 (called PACSCORE): calling_ae_title")) << server_->Log();
}

// The time a modality waits for its report after sending a whole series:
// every frame is stored JPEG-LS (--inline-encode), so each one is decoded and
// re-hashed. Printed, not asserted (bench/ measures; docs/benchmarks.md).
TEST(CommitmentSeriesTest, CommitsTheWholeCtSeries) {
  const fs::path dir = MakeTempDir("commitment_series");
  const auto ct = SeriesFiles(kCtSeries);
  ASSERT_EQ(ct.size(), 140u);
  ServerProcess server(dir / "data", {"--inline-encode"});
  ASSERT_TRUE(server.Start()) << server.Log();
  std::string log;
  ASSERT_EQ(PushWithStorescu(ct, server.port(), 2, log), ct.size()) << log;
  auto r = CommitRequest(server.port(), ct);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto outcomes = Outcomes(r.output);
  EXPECT_EQ(std::count_if(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.second == "committed"; }), 140)
      << r.output;
  const double seconds = ReportSeconds(r.output);
  EXPECT_GT(seconds, 0) << r.output;
  RecordProperty("commit_140_ct_seconds", std::to_string(seconds));
  std::printf("committed the 140-slice CT series in %.3f s (N-ACTION to N-EVENT-REPORT)\n", seconds);
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

// Column family names and the chunk bytes are read with the engine, then the
// folder is changed with RocksDB directly, the way a disk or a bug would.
struct ChunkOf {
  engine::ContentHash key;
  std::string stored_bytes;
};

ChunkOf FirstChunk(engine::Store& store, const std::string& uid) {
  auto record = store.GetInstance(uid);
  EXPECT_TRUE(record.ok()) << record.status().ToString();
  if (!record.ok() || record->chunks.empty()) return {};
  auto chunk = store.ReadChunk(record->chunks[0].hash);
  EXPECT_TRUE(chunk.ok()) << chunk.status().ToString();
  return {record->chunks[0].hash, chunk.ok() ? chunk->bytes : std::string()};
}

// Replaces the value of `key` in the `frames` column family.
void RewriteFrame(const fs::path& data, const engine::ContentHash& key, const std::string& value) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.reserve(names.size());
  for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), data.string(), descriptors, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  const auto frames = std::find(names.begin(), names.end(), "frames") - names.begin();
  ASSERT_LT(static_cast<size_t>(frames), names.size());
  rocksdb::WriteOptions write;
  write.sync = true;
  const std::string key_bytes(reinterpret_cast<const char*>(key.data()), key.size());
  EXPECT_TRUE(db->Put(write, handles[frames], key_bytes, value).ok());
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  EXPECT_TRUE(db->Close().ok());
}

// Flips one byte in the middle of `bytes` wherever a blob file holds them;
// returns how many records were changed.
int FlipInBlobFiles(const fs::path& data, const std::string& bytes) {
  int flipped = 0;
  for (const auto& entry : fs::directory_iterator(data)) {
    if (entry.path().extension() != ".blob") continue;
    std::string content;
    {
      std::ifstream in(entry.path(), std::ios::binary);
      content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    bool changed = false;
    for (size_t at = content.find(bytes); at != std::string::npos; at = content.find(bytes, at + bytes.size())) {
      content[at + bytes.size() / 2] = static_cast<char>(content[at + bytes.size() / 2] ^ 0x5A);
      changed = true;
      ++flipped;
    }
    if (changed) std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << content;
  }
  return flipped;
}

TEST(CommitmentCorruptionTest, CorruptedFramesFailWithProcessingFailure) {
  const fs::path dir = MakeTempDir("commitment_corrupt");
  const auto ct = SeriesFiles(kCtSeries);
  ASSERT_GE(ct.size(), 3u);
  const std::vector<SampleFile> stored = {ct[0], ct[1], ct[2]};
  const SampleFile& bad_checksum = stored[0];
  const SampleFile& rehashes_wrong = stored[1];
  const SampleFile& intact = stored[2];
  {
    ServerProcess server(dir / "data", {"--inline-encode"});
    ASSERT_TRUE(server.Start()) << server.Log();
    std::string log;
    ASSERT_EQ(PushWithStorescu(stored, server.port(), 1, log), stored.size()) << log;
    ASSERT_EQ(server.Stop(), 0) << server.Log();  // flushed: the frames are in blob files
  }
  const fs::path copy = dir / "copy";
  fs::copy(dir / "data", copy, fs::copy_options::recursive);

  ChunkOf checksum_victim, rehash_victim, other_frame;
  {
    auto store = engine::Store::Open({.path = copy.string(), .read_only = true});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    checksum_victim = FirstChunk(**store, bad_checksum.sop_instance_uid);
    rehash_victim = FirstChunk(**store, rehashes_wrong.sop_instance_uid);
    other_frame = FirstChunk(**store, intact.sop_instance_uid);
  }
  ASSERT_FALSE(checksum_victim.stored_bytes.empty());
  ASSERT_FALSE(other_frame.stored_bytes.empty());
  // A valid frame of another slice, same codec and size: it decodes, to other pixels.
  RewriteFrame(copy, rehash_victim.key, other_frame.stored_bytes);
  ASSERT_EQ(FlipInBlobFiles(copy, checksum_victim.stored_bytes), 1);

  ServerProcess server(copy, {"--inline-encode"});
  ASSERT_TRUE(server.Start()) << server.Log();
  const SampleFile missing = NeverStored();
  auto r = CommitRequest(server.port(), {bad_checksum, rehashes_wrong, intact, missing});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  auto outcomes = Outcomes(r.output);
  EXPECT_EQ(outcomes[bad_checksum.path.string()], "0110") << r.output;
  EXPECT_EQ(outcomes[rehashes_wrong.path.string()], "0110") << r.output;
  EXPECT_EQ(outcomes[intact.path.string()], "committed") << r.output;
  EXPECT_EQ(outcomes[missing.path.string()], "0112") << r.output;
  ASSERT_TRUE(WaitForLog(server, "1 committed, 3 failed")) << server.Log();
  // Each corruption was caught the way it shows.
  const std::string log = server.Log();
  EXPECT_NE(LogLineFor(log, bad_checksum.sop_instance_uid).find("Corruption"), std::string::npos) << log;
  EXPECT_NE(LogLineFor(log, rehashes_wrong.sop_instance_uid).find("do not hash to the frame's key"), std::string::npos)
      << log;
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
