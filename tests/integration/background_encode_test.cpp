// `serve` answers C-STORE as soon as the raw frames are durable and
// re-encodes them behind the responses. The jobs are committed with the
// instances, so a kill -9 with a backlog loses none: after the restart the
// archive still reaches its compressed size, every instance exports exact,
// and verify --deep is clean. Also the figure: the CT series over
// C-STORE with --codec auto stores at most 0.42 of what it received.
#include <gtest/gtest.h>

#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

TEST(BackgroundEncodeTest, KilledWithABacklogStillEndsCompressedAndExact) {
  const fs::path dir = MakeTempDir("background");
  const fs::path data = dir / "data";
  std::vector<SampleFile> files;
  for (const auto& f : LoadCorpus().files)
    if (f.path.parent_path() == CorpusDir() / "dcm_qa_ct/philips_ct_140_slices") files.push_back(f);
  ASSERT_EQ(files.size(), 140u);

  ServerProcess server(data);
  ASSERT_TRUE(server.Start()) << server.Log();
  std::string log;
  ASSERT_EQ(PushWithStorescu(files, server.port(), 4, log), 140u) << log;
  server.Kill();  // whatever is not re-encoded yet stays queued in the store

  auto killed = StatsJson(data);
  std::printf("after the push and kill -9: %lld frames awaiting re-encoding\n",
              static_cast<long long>(tools::JsonInt(killed, "frames_awaiting_reencoding")));
  EXPECT_EQ(tools::JsonInt(killed, "instances"), 140);

  ServerProcess again(data);
  ASSERT_TRUE(again.Start()) << again.Log();
  auto c = RunCommand({PacscoreBinary(), "compact", "--data", data.string()});  // waits for the backlog
  ASSERT_EQ(c.exit_code, 0) << c.output;
  auto st = StatsJson(data);
  EXPECT_EQ(tools::JsonInt(st, "frames_awaiting_reencoding"), 0);
  const tools::Json codecs = st.value("codecs", tools::Json::object());
  ASSERT_TRUE(codecs.contains("jpegls")) << tools::ToJson(st);
  EXPECT_EQ(tools::JsonInt(codecs["jpegls"], "chunks"), 140);
  EXPECT_FALSE(codecs.contains("raw"));
  const double ratio = static_cast<double>(tools::JsonInt(st, "stored_bytes")) /
                       static_cast<double>(tools::JsonInt(st, "received_bytes"));
  std::printf("CT series over C-STORE, --codec auto: stored/received = %.3f\n", ratio);
  EXPECT_LE(ratio, 0.42);

  auto r = RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<SampleFile> stored;
  for (const auto& p : CheckRoundTrip(files, dir / "out", stored)) ADD_FAILURE() << p;
  auto v = RunCommand({PacscoreBinary(), "verify", "--data", data.string(), "--deep"});
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_EQ(again.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
