// kill -9 of a real `pacscore serve` node (A) with its frames in a RADOS
// pool, during a 4-association ingest of the CT series (four storescu
// processes at once), at seeded points: at the Nth pass of the engine's sync
// points (RocksStore::PlaceChunks:AfterPut, between the pool reference and
// the local commit; RocksStore::CommitInstance:BeforeWrite;
// Ingestor::IngestDataset:AfterSplit; RadosChunkStore::Put:AfterCreate,
// between creating an object and referencing it) through serve's test hook
// PACS_TEST_KILL_AT, and at seeded moments (SIGKILL from the test after the
// Kth acknowledgement plus a seeded delay). A second node (B) on the same
// pool holds half the series throughout. After each kill A is restarted on
// the same folder: on both nodes every acknowledged instance exports equal to
// its corpus file and `verify --deep` is clean; the pool's live references
// are exactly each node's chunks; objects without any reference go with
// `compact --orphan-grace 0`. At the end both delete everything and compact:
// no chunk object is left without an owner. The seed is printed;
// PACS_KILL_TEST_SEED overrides it. docs/scale-out.md describes the test.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "ceph_test_support.h"
#include "corpus.h"
#include "pacs/base/mutex.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr unsigned kDefaultSeed = 15;  // the issue's number; PACS_KILL_TEST_SEED overrides it
constexpr int kAssociations = 4;

std::vector<SampleFile> CtSeries() {
  std::vector<SampleFile> files;
  for (const auto& f : LoadCorpus().files)
    if (f.path.parent_path() == CorpusDir() / "dcm_qa_ct/philips_ct_140_slices") files.push_back(f);
  return files;
}

// The end of a node's log (one file across its restarts).
std::string LogTail(const ServerProcess& node) {
  const std::string log = node.Log();
  return log.size() > 4000 ? "..." + log.substr(log.size() - 4000) : log;
}

std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Pushes `files` over kAssociations storescu processes at once and reads
// their output as it comes: which files got a C-STORE response with a
// Success or Warning status (stored: acknowledged), and how many so far.
class TrackedPush {
 public:
  TrackedPush(const std::vector<SampleFile>& files, int port) {
    std::vector<std::vector<const SampleFile*>> plan(kAssociations);
    for (size_t i = 0; i < files.size(); ++i) plan[i % kAssociations].push_back(&files[i]);
    for (auto& part : plan) {
      if (part.empty()) continue;
      std::string command = "timeout 120 storescu -nh -R -v -aec PACSCORE 127.0.0.1 " + std::to_string(port);
      for (const SampleFile* f : part) command += " " + ShellQuote(f->path.string());
      workers_.emplace_back([this, command, part] { Run(command, part); });
    }
  }
  ~TrackedPush() { Wait(); }

  void Wait() {
    for (auto& w : workers_)
      if (w.joinable()) w.join();
  }
  size_t acknowledged_count() const { return count_.load(); }
  bool done() const { return finished_.load() == workers_.size(); }
  std::set<std::string> acknowledged() {
    MutexLock lock(mutex_);
    return acknowledged_;
  }

 private:
  void Run(const std::string& command, const std::vector<const SampleFile*>& part) {
    std::map<std::string, const SampleFile*> by_path;
    for (const SampleFile* f : part) by_path[f->path.string()] = f;
    FILE* out = ::popen((command + " 2>&1").c_str(), "r");
    if (out != nullptr) {
      const SampleFile* current = nullptr;
      char line[8192];
      while (std::fgets(line, sizeof line, out) != nullptr) {
        const std::string text(line);
        if (auto at = text.find("Sending file: "); at != std::string::npos) {
          std::string path = text.substr(at + 14);
          while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
          auto it = by_path.find(path);
          current = it == by_path.end() ? nullptr : it->second;
        } else if (text.find("Received Store Response (Success") != std::string::npos ||
                   text.find("Received Store Response (Warning") != std::string::npos) {
          if (current != nullptr) {
            MutexLock lock(mutex_);
            acknowledged_.insert(current->sop_instance_uid);
            count_ = acknowledged_.size();
          }
          current = nullptr;
        }
      }
      ::pclose(out);
    }
    ++finished_;
  }

  std::vector<std::thread> workers_;
  Mutex mutex_;
  std::set<std::string> acknowledged_ GUARDED_BY(mutex_);
  std::atomic<size_t> count_{0};
  std::atomic<size_t> finished_{0};
};

// The live reference tags ("<node>.<epoch>.<n>") of a chunk object, from the
// refcount class's xattr as Ceph 16.2 encodes it (obj_refcount:
// ENCODE_START = u8 version, u8 compat, le32 length; then map<string, bool>
// refs = le32 count, each le32 length + bytes + u8; then the retired tags).
// nullopt when it does not parse.
std::optional<std::vector<std::string>> LiveTags(librados::bufferlist& xattr) {
  const std::string bytes(xattr.c_str(), xattr.length());
  size_t at = 0;
  auto u32 = [&](uint32_t& v) {
    if (at + 4 > bytes.size()) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
    at += 4;
    return true;
  };
  uint32_t length = 0, count = 0;
  at = 2;
  if (bytes.size() < 2 || !u32(length) || !u32(count)) return std::nullopt;
  std::vector<std::string> tags;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t size = 0;
    if (!u32(size) || at + size + 1 > bytes.size()) return std::nullopt;
    tags.push_back(bytes.substr(at, size));
    at += size + 1;
  }
  return tags;
}

// Who holds the pool's chunk objects: per node id (a tag's first part), the
// objects it holds a live reference on; the objects without any reference;
// and problems (an object a node holds twice, an xattr that does not parse).
struct Census {
  std::map<std::string, long long> held_by_node;
  size_t unreferenced = 0;
  std::vector<std::string> problems;
};

Census TakeCensus(CephPool& pool) {
  Census census;
  for (const auto& oid : pool.Objects("chunk.")) {
    librados::bufferlist xattr;
    if (pool.io().getxattr(oid, "refcount", xattr) <= 0) {
      ++census.unreferenced;
      continue;
    }
    auto tags = LiveTags(xattr);
    if (!tags) {
      census.problems.push_back(oid + ": refcount xattr does not parse");
      continue;
    }
    if (tags->empty()) ++census.unreferenced;
    std::set<std::string> nodes;
    for (const auto& tag : *tags) {
      const std::string node = tag.substr(0, tag.find('.'));
      if (!nodes.insert(node).second) census.problems.push_back(oid + ": node " + node + " holds two live tags");
      ++census.held_by_node[node];
    }
  }
  return census;
}

// How one round ends: the node kills itself at the Nth pass of a sync point,
// or the test kills it after K acknowledgements and a delay.
struct KillPoint {
  std::string sync_point;  // empty: a timed kill by the test
  int pass = 0;
  size_t after_acks = 0;
  int delay_ms = 0;
  std::string Describe() const {
    if (!sync_point.empty()) return sync_point + " pass " + std::to_string(pass);
    return "SIGKILL from the test " + std::to_string(delay_ms) + " ms after " + std::to_string(after_acks) +
           " acknowledgements";
  }
};

// One of the two nodes: its folder, the files it is fed, what it acknowledged,
// its node id (the first part of its reference tags).
struct Node {
  fs::path data;
  std::vector<SampleFile> files;
  std::set<std::string> acknowledged;
  std::string id;
};

class ServeKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* seed = std::getenv("PACS_KILL_TEST_SEED");
    seed_ = seed != nullptr && *seed != 0 ? static_cast<unsigned>(std::strtoul(seed, nullptr, 10)) : kDefaultSeed;
    std::printf("kill test seed %u (set PACS_KILL_TEST_SEED to repeat another)\n", seed_);
    RecordProperty("seed", std::to_string(seed_));
  }

  std::vector<std::string> FramesArgs(const CephPool& pool) const {
    // Background re-encoding on, as in production: raw objects are replaced in the pool.
    return {"--frames", "rados:" + pool.name(), "--ceph-conf", CephConf()};
  }

  // Exports the node's folder (through the running node) and checks every
  // acknowledged instance against its corpus file; instances stored but not
  // acknowledged (killed before the response) must equal theirs too. Then
  // `verify --deep`. Returns how many chunks the node counts.
  long long CheckNode(const fs::path& data, const fs::path& out, const std::vector<SampleFile>& files,
                      const std::set<std::string>& acknowledged, const std::string& when) {
    fs::remove_all(out);
    auto exported = RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", out.string()});
    EXPECT_EQ(exported.exit_code, 0) << when << ": " << exported.output;
    std::vector<SampleFile> stored;
    std::set<std::string> matched;
    for (const auto& problem : CheckRoundTrip(files, out, stored)) {
      // Not yet stored (never acknowledged) and the count line: expected.
      if (problem.starts_with("exported ")) continue;
      if (problem.starts_with("not exported: ")) {
        const std::string uid = problem.substr(14, problem.find(' ', 14) - 14);
        if (!acknowledged.contains(uid)) continue;
      }
      ADD_FAILURE() << when << ": " << problem;
    }
    for (const auto& f : stored) matched.insert(f.sop_instance_uid);
    for (const auto& uid : acknowledged)
      EXPECT_TRUE(matched.contains(uid)) << when << ": acknowledged instance " << uid << " does not export exactly";
    auto verify = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--deep"});
    EXPECT_EQ(verify.exit_code, 0) << when << ": " << verify.output;
    const auto stats = StatsJson(data);
    const long long chunks =
        tools::JsonInt(stats, "pixel_chunks") + tools::JsonInt(stats, "frames_awaiting_collection");
    std::printf("%s: %zu acknowledged, %zu stored and exact, %lld chunks, verify --deep %s\n", when.c_str(),
                acknowledged.size(), matched.size(), chunks, verify.exit_code == 0 ? "clean" : "NOT CLEAN");
    fs::remove_all(out);
    return chunks;
  }

  // Both nodes exact and clean (CheckNode); the pool's live references are
  // exactly the chunks each node counts (none left by a dead commit's tag),
  // no third node holds any; returns the objects without any reference.
  size_t CheckBoth(CephPool& pool, const Node& a, const Node& b, const std::string& when) {
    const long long a_chunks =
        CheckNode(a.data, a.data.parent_path() / "out_a", a.files, a.acknowledged, when + ", node A");
    const long long b_chunks =
        CheckNode(b.data, b.data.parent_path() / "out_b", b.files, b.acknowledged, when + ", node B");
    const Census census = TakeCensus(pool);
    for (const auto& problem : census.problems) ADD_FAILURE() << when << ": " << problem;
    for (const auto& [node, held] : census.held_by_node)
      EXPECT_TRUE(node == a.id || node == b.id) << when << ": a third node id " << node << " holds references";
    auto held_by = [&](const std::string& id) {
      return census.held_by_node.contains(id) ? census.held_by_node.at(id) : 0;
    };
    EXPECT_EQ(held_by(a.id), a_chunks) << when << ": objects node A holds a live reference on vs the chunks it counts";
    EXPECT_EQ(held_by(b.id), b_chunks) << when << ": objects node B holds a live reference on vs the chunks it counts";
    std::printf("%s: pool: %zu chunk objects, A holds %lld, B holds %lld, %zu without any reference\n", when.c_str(),
                pool.Objects("chunk.").size(), held_by(a.id), held_by(b.id), census.unreferenced);
    return census.unreferenced;
  }

  // Ends a round on `node`, fed by `push`: the test's SIGKILL after
  // kill.after_acks acknowledgements and kill.delay_ms, or the node's own at
  // its hook (then checked: killed by SIGKILL, by the hook, at that point).
  // Returns once the node is reaped and the push is over.
  void EndRound(ServerProcess& node, TrackedPush& push, const KillPoint& kill, const std::string& when) {
    if (kill.sync_point.empty()) {
      while (!push.done() && push.acknowledged_count() < kill.after_acks)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(kill.delay_ms));
      EXPECT_FALSE(push.done()) << when << ": the ingest ended before the kill";
      node.Kill();
      push.Wait();
      return;
    }
    push.Wait();  // storescu ends when the node dies
    // The node killed itself at the hook: look without reaping (Kill reaps it below).
    siginfo_t info{};
    const int looked = ::waitid(P_PID, static_cast<id_t>(node.pid()), &info, WEXITED | WNOHANG | WNOWAIT);
    EXPECT_EQ(looked, 0) << when;
    EXPECT_EQ(info.si_pid, node.pid()) << when << ": the node is still running after the ingest\n" << LogTail(node);
    EXPECT_EQ(info.si_code, CLD_KILLED) << when;
    EXPECT_EQ(info.si_status, SIGKILL) << when;
    EXPECT_NE(node.Log().find("test hook PACS_TEST_KILL_AT: SIGKILL at " + kill.Describe()), std::string::npos)
        << when << ": not killed by the hook\n"
        << LogTail(node);
    node.Kill();  // reaps it
  }

  // Starts a node on `data`, armed with `kill`'s hook if it has one.
  static bool StartArmed(ServerProcess& node, const KillPoint& kill) {
    if (!kill.sync_point.empty())
      ::setenv("PACS_TEST_KILL_AT", (kill.sync_point + "@" + std::to_string(kill.pass)).c_str(), 1);
    const bool up = node.Start();
    ::unsetenv("PACS_TEST_KILL_AT");
    return up;
  }

  // The node's files it has not acknowledged, in `order`.
  static std::vector<SampleFile> Remaining(const std::vector<SampleFile>& order, const Node& node) {
    std::vector<SampleFile> left;
    for (const auto& f : order)
      if (!node.acknowledged.contains(f.sop_instance_uid)) left.push_back(f);
    return left;
  }

  // The sweep, through the running node: objects without any reference stay
  // while younger than --orphan-grace, and go with --orphan-grace 0.
  void SweepOrphans(CephPool& pool, const fs::path& data, size_t unreferenced, const std::string& when) {
    auto young = RunCommand({PacscoreBinary(), "compact", "--data", data.string(), "--json"});
    ASSERT_EQ(young.exit_code, 0) << when << ": " << young.output;
    auto reply = tools::ParseJson(young.output);
    ASSERT_TRUE(reply.ok()) << young.output;
    EXPECT_EQ(tools::JsonInt(*reply, "removed_unreferenced_pool_objects"), 0) << when << ": " << young.output;
    EXPECT_EQ(tools::JsonInt(*reply, "kept_young_unreferenced_pool_objects"), static_cast<int64_t>(unreferenced))
        << when << ": " << young.output;
    auto swept = RunCommand({PacscoreBinary(), "compact", "--data", data.string(), "--orphan-grace", "0", "--json"});
    ASSERT_EQ(swept.exit_code, 0) << when << ": " << swept.output;
    reply = tools::ParseJson(swept.output);
    ASSERT_TRUE(reply.ok()) << swept.output;
    EXPECT_EQ(tools::JsonInt(*reply, "removed_unreferenced_pool_objects"), static_cast<int64_t>(unreferenced))
        << when << ": " << swept.output;
    size_t left = 0;
    for (const auto& oid : pool.Objects("chunk.")) {
      librados::bufferlist refs;
      if (pool.io().getxattr(oid, "refcount", refs) <= 0) ++left;
    }
    EXPECT_EQ(left, 0u) << when << ": objects without a reference after compact --orphan-grace 0";
    auto verify = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--deep"});
    EXPECT_EQ(verify.exit_code, 0) << when << ": the node used none of them\n" << verify.output;
    std::printf("%s: compact --orphan-grace 0 removed %zu pool object(s) without any reference\n", when.c_str(),
                unreferenced);
    swept_ += unreferenced;
  }

  // Both nodes delete everything and compact, A first: B's frames stay,
  // exact, then no chunk object and no instance object is left.
  void DeleteBothAndExpectAnEmptyPool(CephPool& pool, Node& a, Node& b, size_t unreferenced) {
    const std::string study = a.files[0].study_uid;
    auto del = RunCommand({PacscoreBinary(), "delete", "--data", a.data.string(), "--study", study});
    ASSERT_EQ(del.exit_code, 0) << del.output;
    auto compact = RunCommand(
        {PacscoreBinary(), "compact", "--data", a.data.string(), "--gc-grace", "0s", "--orphan-grace", "0s", "--json"});
    ASSERT_EQ(compact.exit_code, 0) << compact.output;
    auto reply = tools::ParseJson(compact.output);
    ASSERT_TRUE(reply.ok()) << compact.output;
    EXPECT_EQ(tools::JsonInt(*reply, "removed_unreferenced_pool_objects"), static_cast<int64_t>(unreferenced))
        << compact.output;
    a.acknowledged.clear();
    CheckBoth(pool, a, b, "after node A deleted everything");
    std::set<std::string> b_frames;
    for (const auto& f : b.files) b_frames.insert(f.sop_instance_uid);
    EXPECT_EQ(pool.Objects("chunk.").size(), b_frames.size()) << "node B's frames, and nothing else";
    // Then B: no chunk object is left without an owner.
    del = RunCommand({PacscoreBinary(), "delete", "--data", b.data.string(), "--study", study});
    ASSERT_EQ(del.exit_code, 0) << del.output;
    compact = RunCommand(
        {PacscoreBinary(), "compact", "--data", b.data.string(), "--gc-grace", "0s", "--orphan-grace", "0s", "--json"});
    ASSERT_EQ(compact.exit_code, 0) << compact.output;
    const auto objects = pool.Objects("chunk.");
    EXPECT_EQ(objects.size(), 0u) << "chunk objects left without an owner, e.g. " << objects.front();
    EXPECT_EQ(pool.Objects("inst.").size(), 0u) << "instance objects left";
    for (const fs::path& folder : {a.data, b.data}) {
      auto verify = RunCommand({PacscoreBinary(), "verify", "--data", folder.string(), "--deep"});
      EXPECT_EQ(verify.exit_code, 0) << verify.output;
    }
  }

  // A node killed inside a collection: after the collector released (put)
  // some chunks' reference tags in the pool and before its local batch
  // deleted their rows (RocksStore::CollectGarbage:AfterRelease, at a seeded
  // pass). The CT series is stored, deleted, and compacted through the
  // node, which dies there; then, on the restarted node, the same frames
  // are sent again (their rows, awaiting collection, are revived: each must
  // take a new pool reference before the acknowledgement) or not (the open
  // finishes the interrupted collection). Every acknowledged instance
  // exports exactly, each chunk the node counts holds a live tag of the node
  // in the pool, verify --deep is clean, and delete + compact leaves nothing.
  void KillInsideACollection(bool send_again) {
    CephPool pool(TestPoolName());
    ASSERT_TRUE(pool.error().empty()) << pool.error();
    const auto files = CtSeries();
    ASSERT_EQ(files.size(), 140u);
    const fs::path dir = MakeTempDir(send_again ? "collect_kill_again" : "collect_kill");
    Node a{.data = dir / "a", .files = files};
    std::mt19937 random(seed_ + (send_again ? 3 : 2));
    const KillPoint kill{.sync_point = "RocksStore::CollectGarbage:AfterRelease",
                         .pass = std::uniform_int_distribution<int>(2, 30)(random)};
    const std::string study = files[0].study_uid;
    {
      ServerProcess node(a.data, FramesArgs(pool));
      ASSERT_TRUE(StartArmed(node, kill)) << LogTail(node);
      a.id = tools::JsonString(StatsJson(a.data), "frames_node");
      TrackedPush push(files, node.port());
      push.Wait();
      ASSERT_EQ(push.acknowledged().size(), files.size()) << LogTail(node);
      auto del = RunCommand({PacscoreBinary(), "delete", "--data", a.data.string(), "--study", study});
      ASSERT_EQ(del.exit_code, 0) << del.output;
      auto compact = RunCommand({PacscoreBinary(), "compact", "--data", a.data.string(), "--gc-grace", "0s", "--json"});
      EXPECT_NE(compact.exit_code, 0) << "the node should have died inside the collection: " << compact.output;
      for (int i = 0; i < 500 && node.Log().find("PACS_TEST_KILL_AT: SIGKILL") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ASSERT_NE(node.Log().find("test hook PACS_TEST_KILL_AT: SIGKILL at " + kill.Describe()), std::string::npos)
          << "not killed by the hook\n"
          << LogTail(node);
      node.Kill();  // reaps it
    }
    const std::string when = std::string("after a kill at ") + kill.Describe() +
                             (send_again ? ", the series sent again" : ", nothing sent again");
    ServerProcess node(a.data, FramesArgs(pool));
    ASSERT_TRUE(node.Start()) << LogTail(node);
    if (send_again) {
      TrackedPush push(files, node.port());
      push.Wait();
      a.acknowledged = push.acknowledged();
      ASSERT_EQ(a.acknowledged.size(), files.size()) << LogTail(node);
    }
    const long long chunks = CheckNode(a.data, dir / "out", files, a.acknowledged, when);
    const auto stats = StatsJson(a.data);
    if (send_again) {
      EXPECT_EQ(tools::JsonInt(stats, "pixel_chunks"), 140) << when;
    } else {
      // The open finished the interrupted collection: every chunk it had
      // begun to release (all 140, marked before its first put) is gone.
      EXPECT_EQ(tools::JsonInt(stats, "frames_awaiting_collection"), 0) << when;
      EXPECT_NE(node.Log().find("that an interrupted collection began; collected 140 chunk(s)"), std::string::npos)
          << when << "\n"
          << LogTail(node);
    }
    const Census census = TakeCensus(pool);
    for (const auto& problem : census.problems) ADD_FAILURE() << when << ": " << problem;
    const long long held = census.held_by_node.contains(a.id) ? census.held_by_node.at(a.id) : 0;
    EXPECT_EQ(held, chunks) << when << ": objects the node holds a live reference on vs the chunks it counts";
    EXPECT_EQ(pool.Objects("chunk.").size(), static_cast<size_t>(chunks)) << when;
    EXPECT_EQ(census.unreferenced, 0u) << when;
    std::printf("%s: %lld chunks, the node holds a live tag on %lld pool objects\n", when.c_str(), chunks, held);
    // Then everything goes: nothing is left in the pool.
    if (send_again) {
      auto del = RunCommand({PacscoreBinary(), "delete", "--data", a.data.string(), "--study", study});
      ASSERT_EQ(del.exit_code, 0) << del.output;
    }
    auto compact = RunCommand(
        {PacscoreBinary(), "compact", "--data", a.data.string(), "--gc-grace", "0s", "--orphan-grace", "0s", "--json"});
    ASSERT_EQ(compact.exit_code, 0) << compact.output;
    const auto objects = pool.Objects("chunk.");
    EXPECT_EQ(objects.size(), 0u) << when << ": chunk objects left after delete and compact, e.g. " << objects.front();
    EXPECT_EQ(pool.Objects("inst.").size(), 0u) << when << ": instance objects left";
    auto verify = RunCommand({PacscoreBinary(), "verify", "--data", a.data.string(), "--deep"});
    EXPECT_EQ(verify.exit_code, 0) << when << ": " << verify.output;
    EXPECT_EQ(node.Stop(), 0);
    fs::remove_all(dir);
  }

  size_t swept_ = 0;
  unsigned seed_ = kDefaultSeed;
};

TEST_F(ServeKillTest, KilledDuringAFourAssociationIngestLosesAndLeaksNothing) {
  const auto started = Clock::now();
  CephPool pool(TestPoolName());
  ASSERT_TRUE(pool.error().empty()) << pool.error();
  const auto files = CtSeries();
  ASSERT_EQ(files.size(), 140u);
  const fs::path dir = MakeTempDir("serve_kill");
  Node a{.data = dir / "a", .files = files}, b{.data = dir / "b"};

  // Node B, on the same pool, holds the first half of the series throughout:
  // nothing node A's kills, restarts and sweeps do may touch its frames.
  b.files.assign(files.begin(), files.begin() + 70);
  ServerProcess node_b(b.data, FramesArgs(pool));
  ASSERT_TRUE(node_b.Start()) << LogTail(node_b);
  {
    TrackedPush push(b.files, node_b.port());
    push.Wait();
    b.acknowledged = push.acknowledged();
  }
  ASSERT_EQ(b.acknowledged.size(), b.files.size());
  b.id = tools::JsonString(StatsJson(b.data), "frames_node");

  std::mt19937 random(seed_);
  auto uniform = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
  std::vector<KillPoint> plan = {
      {.sync_point = "RocksStore::PlaceChunks:AfterPut", .pass = uniform(2, 10)},
      {.sync_point = "RocksStore::CommitInstance:BeforeWrite", .pass = uniform(2, 10)},
      {.sync_point = "Ingestor::IngestDataset:AfterSplit", .pass = uniform(2, 10)},
      {.after_acks = static_cast<size_t>(uniform(3, 10)), .delay_ms = uniform(0, 200)},
      {.sync_point = "RocksStore::PlaceChunks:AfterPut", .pass = uniform(1, 8)},
      // Between creating a chunk object and taking its first reference: an
      // object without any reference, for compact's sweep.
      {.sync_point = "RadosChunkStore::Put:AfterCreate", .pass = uniform(1, 8)},
      {.after_acks = static_cast<size_t>(uniform(3, 10)), .delay_ms = uniform(0, 200)},
  };
  // The first kill is always between the pool reference and the commit; the
  // order of the others is seeded too.
  std::shuffle(plan.begin() + 1, plan.end(), random);

  // Node A sends new frames and frames B holds alternately (70, 0, 71, 1,
  // ...): its kills meet both objects it creates and objects it shares.
  std::vector<SampleFile> a_order;
  for (size_t i = 0; i < 70; ++i) {
    a_order.push_back(files[70 + i]);
    a_order.push_back(files[i]);
  }
  int kills = 0;
  for (size_t round = 0; round < plan.size(); ++round) {
    const KillPoint& kill = plan[round];
    const std::string when = "round " + std::to_string(round + 1) + " (" + kill.Describe() + ")";
    ServerProcess node(a.data, FramesArgs(pool));
    ASSERT_TRUE(StartArmed(node, kill)) << when << ": " << LogTail(node);
    if (a.id.empty()) a.id = tools::JsonString(StatsJson(a.data), "frames_node");
    // What the previous kill left, judged on the restarted node.
    if (round > 0) {
      const std::string checked = "after the kill before " + when;
      if (const size_t unreferenced = CheckBoth(pool, a, b, checked); unreferenced > 0)
        SweepOrphans(pool, a.data, unreferenced, checked);
    }
    if (HasFatalFailure()) return;

    const auto left = Remaining(a_order, a);
    ASSERT_GT(left.size(), 20u) << when << ": too few instances left to interrupt an ingest";
    const auto round_start = Clock::now();
    TrackedPush push(left, node.port());
    EndRound(node, push, kill, when);
    if (HasFatalFailure()) return;
    ++kills;
    const auto round_acks = push.acknowledged();
    EXPECT_LT(round_acks.size(), left.size()) << when << ": the kill did not interrupt the ingest";
    a.acknowledged.insert(round_acks.begin(), round_acks.end());
    std::printf("%s: killed after %.2f s; %zu of %zu sent were acknowledged, %zu in all\n", when.c_str(),
                std::chrono::duration<double>(Clock::now() - round_start).count(), round_acks.size(), left.size(),
                a.acknowledged.size());
  }

  // A last start: both folders are checked once more, the rest of the series
  // goes through, and everything is exact.
  ServerProcess node(a.data, FramesArgs(pool));
  ASSERT_TRUE(node.Start()) << LogTail(node);
  if (const size_t unreferenced = CheckBoth(pool, a, b, "after the last kill"); unreferenced > 0)
    SweepOrphans(pool, a.data, unreferenced, "after the last kill");
  EXPECT_GE(swept_, 1u) << "the kill at RadosChunkStore::Put:AfterCreate leaves an object without any reference";
  const auto left = Remaining(a_order, a);
  {
    TrackedPush push(left, node.port());
    push.Wait();
    const auto round_acks = push.acknowledged();
    EXPECT_EQ(round_acks.size(), left.size()) << "the restarted node stores the rest";
    a.acknowledged.insert(round_acks.begin(), round_acks.end());
  }
  ASSERT_EQ(a.acknowledged.size(), files.size());
  const size_t unreferenced = CheckBoth(pool, a, b, "after the whole series");
  EXPECT_EQ(pool.Objects("chunk.").size(), 140u) << "one object per frame, shared by both nodes";
  DeleteBothAndExpectAnEmptyPool(pool, a, b, unreferenced);
  EXPECT_EQ(node.Stop(), 0);
  EXPECT_EQ(node_b.Stop(), 0);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "seed %u: %d kills of node A, %zu instances acknowledged in all (node B: %zu); compact --orphan-grace 0 removed "
      "%zu objects without any reference after kills; %.1f s\n",
      seed_, kills, files.size(), b.files.size(), swept_, seconds);
  EXPECT_GE(kills, 5);
  fs::remove_all(dir);
}

// The other way round: node A ingests the whole series over 4 associations
// and is never killed, while node B, storing the same series at the same
// time (from where A's slice of the round starts: both race for the same
// new objects, then B references A's), is killed at seeded points (between its pool reference and its local commit
// first, then between creating an object and referencing it, before its commit's write, and by the test) and restarted.
// After each kill, the same checks as above on both nodes; at the end both hold the series, and both deleting
// everything leaves an empty pool.
TEST_F(ServeKillTest, NodeBKilledWhileNodeAIngestsLosesAndLeaksNothing) {
  const auto started = Clock::now();
  CephPool pool(TestPoolName());
  ASSERT_TRUE(pool.error().empty()) << pool.error();
  const auto files = CtSeries();
  ASSERT_EQ(files.size(), 140u);
  const fs::path dir = MakeTempDir("serve_kill_b");
  Node a{.data = dir / "a", .files = files}, b{.data = dir / "b", .files = files};

  std::mt19937 random(seed_ + 1);
  auto uniform = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
  std::vector<KillPoint> plan = {
      {.sync_point = "RocksStore::PlaceChunks:AfterPut", .pass = uniform(1, 6)},
      {.sync_point = "RocksStore::PlaceChunks:AfterPut", .pass = uniform(2, 10)},
      {.sync_point = "RadosChunkStore::Put:AfterCreate", .pass = uniform(1, 6)},
      {.sync_point = "RocksStore::CommitInstance:BeforeWrite", .pass = uniform(2, 10)},
      {.after_acks = static_cast<size_t>(uniform(3, 10)), .delay_ms = uniform(0, 200)},
  };
  std::shuffle(plan.begin() + 1, plan.end(), random);

  // A gets a slice of the series per round, sent while B ingests and dies.
  ServerProcess node_a(a.data, FramesArgs(pool));
  ASSERT_TRUE(node_a.Start()) << LogTail(node_a);
  a.id = tools::JsonString(StatsJson(a.data), "frames_node");
  const size_t slice = files.size() / (plan.size() + 1);
  int kills = 0, a_still_sending = 0;
  for (size_t round = 0; round < plan.size(); ++round) {
    const KillPoint& kill = plan[round];
    const std::string when = "round " + std::to_string(round + 1) + " (node B: " + kill.Describe() + ")";
    ServerProcess node_b(b.data, FramesArgs(pool));
    ASSERT_TRUE(StartArmed(node_b, kill)) << when << ": " << LogTail(node_b);
    if (b.id.empty()) b.id = tools::JsonString(StatsJson(b.data), "frames_node");
    if (round > 0) {
      const std::string checked = "after the kill before " + when;
      if (const size_t unreferenced = CheckBoth(pool, a, b, checked); unreferenced > 0)
        SweepOrphans(pool, b.data, unreferenced, checked);
    }
    if (HasFatalFailure()) return;

    const auto slice_begin = files.begin() + static_cast<long>(round * slice);
    const std::vector<SampleFile> a_slice(slice_begin, slice_begin + static_cast<long>(slice));
    // B starts where A's slice starts (both create the same new objects at
    // once), then goes on to the rest, much of it stored by A already.
    std::vector<SampleFile> b_order(slice_begin, files.end());
    b_order.insert(b_order.end(), files.begin(), slice_begin);
    const auto b_left = Remaining(b_order, b);
    ASSERT_GT(b_left.size(), 20u) << when << ": too few instances left to interrupt B's ingest";
    const auto round_start = Clock::now();
    TrackedPush push_a(a_slice, node_a.port());
    TrackedPush push_b(b_left, node_b.port());
    EndRound(node_b, push_b, kill, when);
    if (HasFatalFailure()) return;
    const bool a_was_sending = !push_a.done();
    a_still_sending += a_was_sending ? 1 : 0;
    push_a.Wait();
    ++kills;
    const auto a_acks = push_a.acknowledged(), b_acks = push_b.acknowledged();
    EXPECT_EQ(a_acks.size(), a_slice.size()) << when << ": node A stores its slice whatever happens to B";
    EXPECT_LT(b_acks.size(), b_left.size()) << when << ": the kill did not interrupt B's ingest";
    a.acknowledged.insert(a_acks.begin(), a_acks.end());
    b.acknowledged.insert(b_acks.begin(), b_acks.end());
    std::printf("%s: B killed after %.2f s%s; B: %zu of %zu acknowledged (%zu in all), A: %zu of %zu\n", when.c_str(),
                std::chrono::duration<double>(Clock::now() - round_start).count(),
                a_was_sending ? ", A still sending" : ", A done before", b_acks.size(), b_left.size(),
                b.acknowledged.size(), a_acks.size(), a_slice.size());
  }

  ServerProcess node_b(b.data, FramesArgs(pool));
  ASSERT_TRUE(node_b.Start()) << LogTail(node_b);
  if (const size_t unreferenced = CheckBoth(pool, a, b, "after the last kill of B"); unreferenced > 0)
    SweepOrphans(pool, b.data, unreferenced, "after the last kill of B");
  {
    const auto a_left = Remaining(files, a), b_left = Remaining(files, b);
    TrackedPush push_a(a_left, node_a.port());
    TrackedPush push_b(b_left, node_b.port());
    push_a.Wait();
    push_b.Wait();
    EXPECT_EQ(push_a.acknowledged().size(), a_left.size());
    EXPECT_EQ(push_b.acknowledged().size(), b_left.size()) << "the restarted node B stores the rest";
    for (const auto& uid : push_a.acknowledged()) a.acknowledged.insert(uid);
    for (const auto& uid : push_b.acknowledged()) b.acknowledged.insert(uid);
  }
  ASSERT_EQ(a.acknowledged.size(), files.size());
  ASSERT_EQ(b.acknowledged.size(), files.size());
  const size_t unreferenced = CheckBoth(pool, a, b, "after the whole series on both");
  EXPECT_EQ(pool.Objects("chunk.").size(), 140u) << "one object per frame, shared by both nodes";
  DeleteBothAndExpectAnEmptyPool(pool, a, b, unreferenced);
  EXPECT_EQ(node_a.Stop(), 0);
  EXPECT_EQ(node_b.Stop(), 0);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "seed %u: %d kills of node B while A ingested (A still sending at %d of them); compact --orphan-grace 0 "
      "removed %zu objects without any reference after kills; %.1f s\n",
      seed_, kills, a_still_sending, swept_, seconds);
  EXPECT_EQ(kills, static_cast<int>(plan.size()));
  EXPECT_GE(a_still_sending, 1) << "B's kills should meet A's ingest";
  fs::remove_all(dir);
}

// Regression: a revival of a chunk whose tag a killed collection had
// released took no new pool reference (the object was gone: acknowledged
// frames lost).
TEST_F(ServeKillTest, KilledInsideACollectionThenSentAgainLosesNothing) {
  KillInsideACollection(true);
}

TEST_F(ServeKillTest, KilledInsideACollectionIsFinishedAtTheNextOpen) {
  KillInsideACollection(false);
}

}  // namespace
}  // namespace pacs::testing
