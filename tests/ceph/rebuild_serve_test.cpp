// `pacscore rebuild` against a real cluster and real `pacscore serve`
// processes: node A receives the CT series and an MR series over C-STORE;
// its C-FIND answers (study, series, image level), a C-GET of the CT study
// and an export are taken; A's data folder is deleted and rebuilt from the
// pool; A started again answers C-FIND and C-GET the same, exports the same
// bytes, `verify --deep` is clean; a delete of everything and a compact then
// leave no object of A's in the pool.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "ceph_test_support.h"
#include "corpus.h"
#include "qr_test_support.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

std::vector<SampleFile> FilesUnder(const std::string& folder) {
  std::vector<SampleFile> files;
  for (const auto& f : LoadCorpus().files)
    if (f.path.parent_path() == CorpusDir() / folder) files.push_back(f);
  return files;
}

// One C-FIND's answer: a line per response with the requested keys' values, sorted.
std::vector<std::string> Ask(int port, const FindRequest& request, const fs::path& work) {
  FindResult r = RunFindscu(port, request, work);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.SortedLines(request.keys);
}

std::vector<FindRequest> Queries(const std::string& ct_study, const std::string& mr_study,
                                 const std::string& mr_series) {
  return {
      {.level = "STUDY",
       .keys = {"StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "NumberOfStudyRelatedSeries",
                "NumberOfStudyRelatedInstances", "ModalitiesInStudy"}},
      {.level = "SERIES",
       .keys = {"StudyInstanceUID=" + ct_study, "SeriesInstanceUID", "Modality", "SeriesNumber",
                "NumberOfSeriesRelatedInstances"}},
      {.level = "SERIES", .keys = {"StudyInstanceUID=" + mr_study, "SeriesInstanceUID", "Modality"}},
      {.level = "IMAGE",
       .keys = {"StudyInstanceUID=" + ct_study, "SeriesInstanceUID", "SOPInstanceUID", "InstanceNumber"}},
      {.level = "IMAGE",
       .keys = {"StudyInstanceUID=" + mr_study, "SeriesInstanceUID=" + mr_series, "SOPInstanceUID", "SOPClassUID"}},
  };
}

// Every regular file under `dir`, by path relative to it, with its bytes.
std::map<std::string, std::string> Contents(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    out[fs::relative(entry.path(), dir).string()] = bytes.str();
  }
  return out;
}

CommandResult Getscu(int port, const std::string& study, const fs::path& out) {
  fs::create_directories(out);
  return RunCommand({"getscu", "-S", "-aec", "PACSCORE", "-od", out.string(), "-k", "QueryRetrieveLevel=STUDY", "-k",
                     "StudyInstanceUID=" + study, "127.0.0.1", std::to_string(port)},
                    {{"TCP_NODELAY", "1"}}, std::chrono::seconds(120));
}

TEST(RebuildServeTest, NodeRebuiltFromThePoolAnswersAsBefore) {
  CephPool pool(TestPoolName());
  ASSERT_TRUE(pool.error().empty()) << pool.error();
  const auto ct = FilesUnder("dcm_qa_ct/philips_ct_140_slices");
  const auto mr = FilesUnder("dcm_qa_decubitus/HFS_3_t1_fl2d_sag");
  ASSERT_EQ(ct.size(), 140u);
  ASSERT_FALSE(mr.empty());
  std::vector<SampleFile> all = ct;
  all.insert(all.end(), mr.begin(), mr.end());
  const fs::path dir = MakeTempDir("rebuild");
  const fs::path data = dir / "a";
  const std::vector<std::string> frames = {"--frames", "rados:" + pool.name(), "--ceph-conf", CephConf()};
  const auto queries = Queries(ct[0].study_uid, mr[0].study_uid, mr[0].series_uid);

  std::vector<std::vector<std::string>> answers_before;
  std::string node;
  {
    ServerProcess a(data, frames);
    ASSERT_TRUE(a.Start()) << a.Log();
    std::string log;
    ASSERT_EQ(PushWithStorescu(all, a.port(), 4, log), all.size()) << log;
    for (const auto& q : queries) answers_before.push_back(Ask(a.port(), q, dir));
    auto got = Getscu(a.port(), ct[0].study_uid, dir / "get_before");
    ASSERT_EQ(got.exit_code, 0) << got.output;
    ASSERT_EQ(a.Stop(), 0) << a.Log();
  }
  ASSERT_EQ(answers_before[0].size(), 2u) << "two studies";
  ASSERT_EQ(answers_before[3].size(), 140u);
  ASSERT_EQ(answers_before[4].size(), mr.size());
  const auto get_before = Contents(dir / "get_before");
  ASSERT_EQ(get_before.size(), 140u);
  auto exported =
      RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", (dir / "export_before").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const auto export_before = Contents(dir / "export_before");
  ASSERT_EQ(export_before.size(), all.size());
  const auto stats_before = StatsJson(data);
  node = tools::JsonString(stats_before, "frames_node");
  ASSERT_EQ(node.size(), 16u) << "stats names the node";
  EXPECT_EQ(pool.Objects("inst." + node + ".").size(), all.size()) << "one instance object per instance";

  // The node is lost.
  fs::remove_all(data);
  auto wrong = RunCommand({PacscoreBinary(), "rebuild", "--data", data.string(), "--frames", "rados:" + pool.name(),
                           "--ceph-conf", CephConf(), "--node", "0123456789abcdef"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.output.find("holds nothing of node 0123456789abcdef"), std::string::npos) << wrong.output;
  EXPECT_NE(wrong.output.find(node), std::string::npos) << "the error lists the nodes the pool knows\n" << wrong.output;
  EXPECT_FALSE(fs::exists(data)) << "nothing created";

  const auto start = std::chrono::steady_clock::now();
  auto rebuilt = RunCommand({PacscoreBinary(), "rebuild", "--data", data.string(), "--frames", "rados:" + pool.name(),
                             "--ceph-conf", CephConf(), "--node", node, "--json"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  std::printf("rebuild of %zu instances took %.2f s:\n%s\n", all.size(), seconds, rebuilt.output.c_str());
  const auto json_start = rebuilt.output.find('{');
  ASSERT_NE(json_start, std::string::npos) << rebuilt.output;
  auto report = tools::ParseJson(rebuilt.output.substr(json_start));
  ASSERT_TRUE(report.ok()) << rebuilt.output;
  EXPECT_EQ(tools::JsonInt(*report, "instances_restored"), static_cast<int64_t>(all.size()));
  EXPECT_EQ(tools::JsonInt(*report, "instances_indexed"), static_cast<int64_t>(all.size()));
  EXPECT_EQ(tools::JsonInt(*report, "frames_adopted"), tools::JsonInt(stats_before, "pixel_chunks"))
      << "every frame reference the lost node held is taken over";
  EXPECT_EQ(tools::JsonInt(*report, "frames_referenced_anew"), 0);
  auto again = RunCommand({PacscoreBinary(), "rebuild", "--data", data.string(), "--frames", "rados:" + pool.name(),
                           "--ceph-conf", CephConf(), "--node", node});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("is not empty: refused, nothing changed"), std::string::npos) << again.output;

  const auto stats_after = StatsJson(data);
  for (const char* key : {"instances", "studies", "series", "patients", "pixel_chunks", "pixel_chunk_bytes",
                          "frame_references", "received_bytes"})
    EXPECT_EQ(tools::JsonInt(stats_after, key), tools::JsonInt(stats_before, key)) << key;
  EXPECT_EQ(tools::JsonString(stats_after, "frames_node"), node);

  {
    ServerProcess a(data);  // the folder records its frames: no --frames needed
    ASSERT_TRUE(a.Start()) << a.Log();
    for (size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(Ask(a.port(), queries[i], dir), answers_before[i]) << i;
    auto got = Getscu(a.port(), ct[0].study_uid, dir / "get_after");
    ASSERT_EQ(got.exit_code, 0) << got.output;
    ASSERT_EQ(a.Stop(), 0) << a.Log();
  }
  EXPECT_TRUE(Contents(dir / "get_after") == get_before) << "C-GET gives the same files, byte for byte";
  exported =
      RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", (dir / "export_after").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_TRUE(Contents(dir / "export_after") == export_before) << "export gives the same files, byte for byte";
  std::vector<SampleFile> stored;
  for (const auto& p : CheckRoundTrip(all, dir / "export_after", stored)) ADD_FAILURE() << p;
  auto verify = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--deep"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  // Nothing of A's is left in the pool once it deletes everything.
  for (const auto& study : {ct[0].study_uid, mr[0].study_uid}) {
    auto del = RunCommand({PacscoreBinary(), "delete", "--data", data.string(), "--study", study});
    ASSERT_EQ(del.exit_code, 0) << del.output;
  }
  auto compact = RunCommand({PacscoreBinary(), "compact", "--data", data.string(), "--gc-grace", "0s"});
  ASSERT_EQ(compact.exit_code, 0) << compact.output;
  EXPECT_EQ(pool.Objects("chunk.").size(), 0u) << "every frame reference of A's was released";
  EXPECT_EQ(pool.Objects("inst.").size(), 0u) << "every instance object of A's was removed";
  fs::remove_all(dir);
}

// Frames still raw (awaiting background re-encoding) when the node is lost
// are re-encoded by its rebuild: node A is killed (serve's test hook) as its
// background encoder is about to complete its 5th job, during a
// one-association ingest (with every core busy with ingest, frames are
// encoded before the commit instead): the frames committed since the 4th
// job stay raw in the pool (the 5th job's at least; the encoder keeps up,
// so it is one or two).
// The rebuild queues their jobs again (they are kept in the pool with the
// chunk objects); the rebuilt node, started, replaces every one of them in
// the pool, and exports the same instances exactly.
TEST(RebuildServeTest, RawFramesOfALostNodeAreReencodedAfterItsRebuild) {
  CephPool pool(TestPoolName());
  ASSERT_TRUE(pool.error().empty()) << pool.error();
  auto ct = FilesUnder("dcm_qa_ct/philips_ct_140_slices");
  ASSERT_GE(ct.size(), 12u);
  ct.resize(12);
  const fs::path dir = MakeTempDir("rebuild_raw");
  const fs::path data = dir / "a";
  const std::vector<std::string> frames = {"--frames", "rados:" + pool.name(), "--ceph-conf", CephConf()};
  // The codec of every chunk object: raw (0) or encoded.
  auto raw_objects = [&] {
    size_t raw = 0;
    for (const auto& oid : pool.Objects("chunk.")) {
      librados::bufferlist codec;
      EXPECT_EQ(pool.io().getxattr(oid, "pacs.codec", codec), 1) << oid;
      if (codec.length() == 1 && codec.c_str()[0] == 0) ++raw;
    }
    return raw;
  };

  std::string node;
  {
    ::setenv("PACS_TEST_KILL_AT", "RocksStore::CompleteDeferredWork:Begin@5", 1);
    ServerProcess a(data, frames);
    const bool up = a.Start();
    ::unsetenv("PACS_TEST_KILL_AT");
    ASSERT_TRUE(up) << a.Log();
    node = tools::JsonString(StatsJson(data), "frames_node");
    std::string log;
    PushWithStorescu(ct, a.port(), 1, log);  // ends when the node dies
    for (int i = 0; i < 600 && a.Log().find("PACS_TEST_KILL_AT: SIGKILL") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_NE(a.Log().find("test hook PACS_TEST_KILL_AT: SIGKILL at RocksStore::CompleteDeferredWork:Begin pass 5"),
              std::string::npos)
        << a.Log();
    a.Kill();  // reaps it
  }
  const size_t objects = pool.Objects("chunk.").size(), raw_before = raw_objects();
  std::printf("node A killed at its 5th re-encoding: %zu chunk objects in the pool, %zu of them raw\n", objects,
              raw_before);

  fs::remove_all(data);  // the node is lost, with its re-encoding jobs
  auto rebuilt = RunCommand({PacscoreBinary(), "rebuild", "--data", data.string(), "--frames", "rados:" + pool.name(),
                             "--ceph-conf", CephConf(), "--node", node, "--json"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  auto report = tools::ParseJson(rebuilt.output.substr(rebuilt.output.find('{')));
  ASSERT_TRUE(report.ok()) << rebuilt.output;
  const auto restored = tools::JsonInt(*report, "instances_restored");
  // The rebuild released the objects of frames no restored instance uses
  // (an instance placed in the pool but not committed when the node died):
  // the raw objects left are the restored instances' own.
  const size_t raw = raw_objects();
  ASSERT_GE(raw, 1u) << "the 5th job's frame at least is raw";
  EXPECT_EQ(tools::JsonInt(*report, "frames_queued_for_reencoding"), static_cast<int64_t>(raw)) << rebuilt.output;
  EXPECT_EQ(tools::JsonInt(StatsJson(data), "frames_awaiting_reencoding"), static_cast<int64_t>(raw));

  {
    ServerProcess a(data);
    ASSERT_TRUE(a.Start()) << a.Log();
    auto compact = RunCommand({PacscoreBinary(), "compact", "--data", data.string()});  // waits for the encoder
    ASSERT_EQ(compact.exit_code, 0) << compact.output;
    EXPECT_EQ(raw_objects(), 0u) << "the rebuilt node's encoder replaced every raw frame in the pool";
    EXPECT_EQ(tools::JsonInt(StatsJson(data), "frames_awaiting_reencoding"), 0);
    ASSERT_EQ(a.Stop(), 0) << a.Log();
  }
  auto exported = RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", (dir / "out").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  std::vector<SampleFile> stored;
  for (const auto& p : CheckRoundTrip(ct, dir / "out", stored))
    if (!p.starts_with("not exported: ") && !p.starts_with("exported ")) ADD_FAILURE() << p;
  EXPECT_EQ(static_cast<int64_t>(stored.size()), restored) << "every restored instance exports exactly";
  auto verify = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--deep"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  std::printf("rebuild restored %lld instances and queued %zu raw frames; after the rebuilt node's encoder: 0 raw\n",
              static_cast<long long>(restored), raw);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
