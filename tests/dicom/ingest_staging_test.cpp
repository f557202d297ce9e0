// Where ingest encodes a frame: staged raw for the background encoder only
// while a core would idle otherwise. The storing associations open count as
// busy, so a push over as many associations as cores stages nothing (its
// data is at rest once acknowledged), and a single sender gets its frames
// encoded behind its C-STORE responses. The associations that ended within
// the last moments still count: the tail of a push is not staged either.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "pacs/dicom/background_encoder.h"
#include "pacs/dicom/ingest.h"
#include "store_fixture.h"

namespace pacs::testing {
namespace {

const char kSliceA[] = "dcm_qa_ct/philips_ct_140_slices/I10.dcm";
const char kSliceB[] = "dcm_qa_ct/philips_ct_140_slices/I100.dcm";
const char kSliceC[] = "dcm_qa_ct/philips_ct_140_slices/I1000.dcm";

class IngestStagingTest : public StoreTest {
 protected:
  uint64_t Staged() {
    auto stats = store_->Stats(false);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    return stats.ok() ? stats->chunks_awaiting_reencoding : 0;
  }
};

TEST_F(IngestStagingTest, AsManySendersAsCoresStageNothingNorDoesTheirTailAndOneSenderStages) {
  // Not started: a staged frame stays queued, so the count below is exact.
  dicom::BackgroundEncoder encoder(*store_, /*verify_encode=*/true);
  dicom::Ingestor ingestor(*store_, {}, &encoder);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  ingestor.SetRecentSendersWindow(std::chrono::hours(1));

  for (unsigned i = 0; i < cores; ++i) ingestor.SenderOpened();
  auto a = ingestor.IngestFile(CorpusFile(kSliceA));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Staged(), 0u) << "encoded inline: every core has a sender";
  // The push's last sender, the others just gone: still encoded inline.
  for (unsigned i = 1; i < cores; ++i) ingestor.SenderClosed();
  auto b = ingestor.IngestFile(CorpusFile(kSliceB));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Staged(), 0u) << "the tail of a push over every core was staged";
  ingestor.SenderClosed();

  if (cores == 1) GTEST_SKIP() << "one core: ingest always encodes inline";
  ingestor.SetRecentSendersWindow(std::chrono::milliseconds(0));  // the push is long over
  ingestor.SenderOpened();
  auto c = ingestor.IngestFile(CorpusFile(kSliceC));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(Staged(), 1u) << "one sender leaves a core to the background encoder";
  ingestor.SenderClosed();
}

}  // namespace
}  // namespace pacs::testing
