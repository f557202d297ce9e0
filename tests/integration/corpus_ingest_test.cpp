// The whole corpus (and pydicom's valid files) through the real server with
// the real storescu, then exported and compared attribute by attribute.
#include <gtest/gtest.h>

#include <set>

#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

class CorpusIngestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    corpus_ = new SampleSet(LoadCorpus());
    pydicom_ = new SampleSet(LoadPydicomValid());
  }
  static void TearDownTestSuite() {
    delete corpus_;
    delete pydicom_;
  }

  static std::map<std::string, long long> Stats(const fs::path& data) {
    auto r = RunCommand({PacscoreBinary(), "stats", "--data", data.string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ParseStatsJson(r.output);
  }

  // Pushes `files`, checks every store succeeded, the counts, and the round trip.
  void IngestAndVerify(const std::vector<SampleFile>& files, int associations, const std::string& name) {
    const fs::path dir = MakeTempDir(name);
    ServerProcess server(dir / "data");
    ASSERT_TRUE(server.Start()) << server.Log();
    std::string log;
    const size_t ok = PushWithStorescu(files, server.port(), associations, log);
    EXPECT_EQ(ok, files.size()) << log;

    auto stats = Stats(dir / "data");
    EXPECT_EQ(stats["stores_failed"], 0) << server.Log();
    EXPECT_EQ(stats["stores_succeeded"], static_cast<long long>(files.size()));

    // Wait for the background re-encoding (compact does), so that every
    // frame the codec table applies to comes back through its codec.
    auto settled = RunCommand({PacscoreBinary(), "compact", "--data", (dir / "data").string()});
    ASSERT_EQ(settled.exit_code, 0) << settled.output;
    EXPECT_EQ(Stats(dir / "data")["frames_awaiting_reencoding"], 0);
    auto exported =
        RunCommand({PacscoreBinary(), "export", "--data", (dir / "data").string(), "--out", (dir / "export").string()});
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
    std::vector<SampleFile> stored;
    auto problems = CheckRoundTrip(files, dir / "export", stored);
    for (const auto& p : problems) ADD_FAILURE() << p;

    std::set<std::string> patients, studies, series, instances;
    for (const auto& f : stored) {
      patients.insert(f.patient_key);
      studies.insert(f.study_uid);
      series.insert(f.series_uid);
      instances.insert(f.sop_instance_uid);
    }
    EXPECT_EQ(stats["instances"], static_cast<long long>(instances.size()));
    EXPECT_EQ(stats["patients"], static_cast<long long>(patients.size()));
    EXPECT_EQ(stats["studies"], static_cast<long long>(studies.size()));
    EXPECT_EQ(stats["series"], static_cast<long long>(series.size()));
    EXPECT_GT(stats["received_bytes"], 0);
    EXPECT_GE(stats["received_bytes_total"], stats["received_bytes"]);
    EXPECT_GT(stats["stored_bytes"], 0);
    EXPECT_EQ(server.Stop(), 0) << server.Log();
    fs::remove_all(dir);
  }

  static SampleSet* corpus_;
  static SampleSet* pydicom_;
};

SampleSet* CorpusIngestTest::corpus_ = nullptr;
SampleSet* CorpusIngestTest::pydicom_ = nullptr;

TEST_F(CorpusIngestTest, CorpusFilesAreAllSendable) {
  for (const auto& s : corpus_->skipped) ADD_FAILURE() << "corpus file not sendable: " << s;
  EXPECT_EQ(corpus_->files.size(), 450u);
  // Most of pydicom's files are valid; the rest are skipped by design (printed).
  EXPECT_GE(pydicom_->files.size(), 40u);
  for (const auto& s : pydicom_->skipped) std::printf("pydicom skipped: %s\n", s.c_str());
}

TEST_F(CorpusIngestTest, WholeCorpusOneAssociationRoundTripsExactly) {
  IngestAndVerify(corpus_->files, 1, "corpus1");
}

TEST_F(CorpusIngestTest, WholeCorpusFourAssociationsRoundTripsExactly) {
  IngestAndVerify(corpus_->files, 4, "corpus4");
}

TEST_F(CorpusIngestTest, PydicomValidFilesRoundTripExactly) {
  IngestAndVerify(pydicom_->files, 2, "pydicom");
}

}  // namespace
}  // namespace pacs::testing
