// StowTransaction (web/src/stow_transaction.h) in process on a real data
// folder: parts in memory and spilled to files both go through ingest, the
// spill files are gone afterwards, a bad part is refused alone, and a
// truncated body stores nothing.
#include "stow_transaction.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cli.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "pacs/dicom/ingest.h"

namespace pacs::web {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Body(const std::vector<std::string>& parts) {
  std::string body;
  for (const auto& part : parts) body += "--xyz\r\nContent-Type: application/dicom\r\n\r\n" + part + "\r\n";
  return body + "--xyz--\r\n";
}

class StowTransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stow_transaction_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    auto store = tools::OpenFolder((dir_ / "data").string(), engine::DuplicatePolicy::kKeep);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ingestor_ = std::make_unique<dicom::Ingestor>(*store_);
  }
  void TearDown() override {
    ingestor_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  HttpAnswer Run(const std::string& body, uint64_t memory_limit, size_t chunk, const std::string& study = "") {
    StowTransaction stow(*ingestor_, {.spill_dir = dir_ / "incoming", .part_memory_limit = memory_limit}, study,
                         {.host = "test"});
    if (auto refused = stow.Start("multipart/related; type=\"application/dicom\"; boundary=xyz", body.size()))
      return *refused;
    for (size_t i = 0; i < body.size(); i += chunk)
      if (auto refused = stow.Feed(std::string_view(body).substr(i, chunk))) return *refused;
    return stow.Finish();
  }
  size_t SpillFiles() const {
    if (!fs::exists(dir_ / "incoming")) return 0;
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_ / "incoming"), fs::directory_iterator()));
  }

  fs::path dir_;
  std::unique_ptr<engine::Store> store_;
  std::unique_ptr<dicom::Ingestor> ingestor_;
};

const fs::path kCt1 = fs::path(PACS_CORPUS_DIR) / "dcm_qa_ct/philips_ct_140_slices/I10.dcm";
const fs::path kCt2 = fs::path(PACS_CORPUS_DIR) / "dcm_qa_ct/philips_ct_140_slices/I100.dcm";

TEST_F(StowTransactionTest, SpilledAndInMemoryPartsAreStoredAndSpillFilesRemoved) {
  const std::string ct1 = ReadBytes(kCt1), ct2 = ReadBytes(kCt2);
  // 600 KB of memory: the first part stays in memory, the second spills.
  const HttpAnswer answer = Run(Body({ct1, ct2, "not dicom"}), 600000, 65536);
  EXPECT_EQ(answer.status, 202u) << answer.body;
  const auto json = nlohmann::json::parse(answer.body);
  ASSERT_EQ(json["00081199"]["Value"].size(), 2u) << answer.body;
  ASSERT_EQ(json["00081198"]["Value"].size(), 1u) << answer.body;
  EXPECT_EQ(json["00081198"]["Value"][0]["00081197"]["Value"][0].get<int>(), 0xC000);
  ASSERT_EQ(answer.warnings.size(), 1u);
  EXPECT_NE(answer.warnings[0].find("part 3"), std::string::npos) << answer.warnings[0];
  for (const auto& item : json["00081199"]["Value"]) {
    const std::string uid = item["00081155"]["Value"][0].get<std::string>();
    EXPECT_TRUE(store_->GetInstance(uid).ok()) << uid;
  }
  EXPECT_EQ(SpillFiles(), 0u);
}

TEST_F(StowTransactionTest, EverySpilledPartIsStored) {
  const HttpAnswer answer = Run(Body({ReadBytes(kCt1), ReadBytes(kCt2)}), 1000, 1 << 20);
  EXPECT_EQ(answer.status, 200u) << answer.body;
  EXPECT_EQ(nlohmann::json::parse(answer.body)["00081199"]["Value"].size(), 2u);
  EXPECT_EQ(SpillFiles(), 0u);
}

TEST_F(StowTransactionTest, TruncatedBodyStoresNothingEvenItsCompleteParts) {
  std::string body = Body({ReadBytes(kCt1), ReadBytes(kCt2)});
  body.resize(body.size() - 1000);
  const HttpAnswer answer = Run(body, 1000, 4096);
  EXPECT_EQ(answer.status, 400u);
  EXPECT_NE(answer.body.find("truncated"), std::string::npos) << answer.body;
  EXPECT_NE(answer.body.find("nothing stored"), std::string::npos) << answer.body;
  for (const auto& path : {kCt1, kCt2}) {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(path.c_str()).good());
    OFString uid;
    ASSERT_TRUE(file.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid).good());
    EXPECT_EQ(store_->GetInstance(uid.c_str()).status().code(), StatusCode::kNotFound) << uid;
  }
  EXPECT_EQ(SpillFiles(), 0u);
}

TEST_F(StowTransactionTest, StudyOfTheUrlIsEnforced) {
  const HttpAnswer answer = Run(Body({ReadBytes(kCt1)}), 1 << 20, 1 << 20, "1.2.3.4");
  EXPECT_EQ(answer.status, 409u) << answer.body;
  const auto json = nlohmann::json::parse(answer.body);
  EXPECT_EQ(json["00081198"]["Value"][0]["00081197"]["Value"][0].get<int>(), 0xC409);
  EXPECT_FALSE(json.contains("00081199"));
  ASSERT_EQ(answer.warnings.size(), 1u);
  EXPECT_NE(answer.warnings[0].find("not of study 1.2.3.4"), std::string::npos) << answer.warnings[0];
}

TEST_F(StowTransactionTest, MediaTypesAndLimits) {
  StowTransaction json_stow(*ingestor_, {.spill_dir = dir_ / "incoming"}, "", {.host = "test"});
  auto refused = json_stow.Start("application/json", std::nullopt);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 415u);
  StowTransaction xml(*ingestor_, {.spill_dir = dir_ / "incoming"}, "", {.host = "test"});
  refused = xml.Start("multipart/related; type=\"application/dicom+xml\"; boundary=a", std::nullopt);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 415u);
  StowTransaction big(*ingestor_, {.spill_dir = dir_ / "incoming", .max_body_bytes = 100}, "", {.host = "test"});
  refused = big.Start("multipart/related; type=application/dicom; boundary=a", 101);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413u);
  StowTransaction streamed(*ingestor_, {.spill_dir = dir_ / "incoming", .max_body_bytes = 100}, "", {.host = "test"});
  ASSERT_FALSE(streamed.Start("multipart/related; type=application/dicom; boundary=a", std::nullopt).has_value());
  ASSERT_FALSE(streamed.Feed(std::string(60, 'x')).has_value());
  refused = streamed.Feed(std::string(60, 'x'));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413u);
  StowTransaction bad_uid(*ingestor_, {.spill_dir = dir_ / "incoming"}, "1.2.x", {.host = "test"});
  refused = bad_uid.Start("multipart/related; type=application/dicom; boundary=a", std::nullopt);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 400u);
  EXPECT_TRUE(IsDicomUid("1.2.840.10008.1.2"));
  EXPECT_FALSE(IsDicomUid("1.02.3"));
  EXPECT_FALSE(IsDicomUid("1..2"));
  EXPECT_FALSE(IsDicomUid(std::string(65, '1')));
}

}  // namespace
}  // namespace pacs::web
