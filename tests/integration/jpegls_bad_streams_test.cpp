// Bad JPEG-LS codestreams, made in the test from a real corpus file
// (dcm_qa_ts/7.dcm: 384x384, 12 of 16 bits, JPEG-LS lossless): truncated,
// with its coded data corrupted, with an oversized frame header (SOF), and
// with a SOF that disagrees with the DICOM attributes (Columns, BitsStored).
// Each is refused over C-STORE (storescu -xt: failure status, a log line
// naming the peer and the reason, nothing stored) and by `pacscore import`;
// the server stays up, answers C-ECHO and still stores the good file.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

struct BadFile {
  std::string name;
  std::string sop_instance_uid;
  std::string reason;         // a part of the refusal's message
  std::string charls_reason;  // the same with PACS_JPEGLS_DECODER=charls
  fs::path path;
};

// The codestream of the single frame of a JPEG-LS file (its fragments).
std::vector<uint8_t> ReadCodestream(DcmDataset& dataset) {
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad()) return {};
  DcmPixelSequence* sequence = nullptr;
  if (static_cast<DcmPixelData*>(element)->getEncapsulatedRepresentation(EXS_JPEGLSLossless, nullptr, sequence).bad())
    return {};
  std::vector<uint8_t> out;
  for (unsigned long i = 1; i < sequence->card(); ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* bytes = nullptr;
    if (sequence->getItem(item, i).bad() || item->getUint8Array(bytes).bad()) return {};
    out.insert(out.end(), bytes, bytes + item->getLength());
  }
  return out;
}

// The SOF55 segment's offset (its FF F7 marker), or 0.
size_t FindSof(const std::vector<uint8_t>& codestream) {
  for (size_t i = 2; i + 9 < codestream.size(); ++i)
    if (codestream[i] == 0xFF && codestream[i + 1] == 0xF7) return i;
  return 0;
}

// Writes `source` with a new SOP Instance UID and `codestream` as its one
// frame; `edit` may change attributes.
bool WriteVariant(const fs::path& source, const fs::path& path, const std::string& uid, std::vector<uint8_t> codestream,
                  const std::function<void(DcmDataset&)>& edit = {}) {
  DcmFileFormat file;
  if (file.loadFile(source.c_str()).bad()) return false;
  DcmDataset& dataset = *file.getDataset();
  dataset.putAndInsertString(DCM_SOPInstanceUID, uid.c_str());
  file.getMetaInfo()->putAndInsertString(DCM_MediaStorageSOPInstanceUID, uid.c_str());
  if (edit) edit(dataset);
  if (codestream.size() % 2 != 0) codestream.push_back(0);
  auto* sequence = new DcmPixelSequence(DCM_PixelSequenceTag);
  sequence->insert(new DcmPixelItem(DCM_PixelItemTag));  // empty Basic Offset Table
  auto* fragment = new DcmPixelItem(DCM_PixelItemTag);
  fragment->putUint8Array(codestream.data(), static_cast<unsigned long>(codestream.size()));
  sequence->insert(fragment);
  auto* pixels = new DcmPixelData(DCM_PixelData);
  pixels->putOriginalRepresentation(EXS_JPEGLSLossless, nullptr, sequence);
  dataset.insert(pixels, /*replaceOld=*/true);
  return file.saveFile(path.c_str(), EXS_JPEGLSLossless).good();
}

class JpegLsBadStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("jpegls_bad_streams");
    source_ = CorpusDir() / "dcm_qa_ts/7.dcm";
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(source_.c_str()).good()) << source_;
    const std::vector<uint8_t> good = ReadCodestream(*file.getDataset());
    ASSERT_GT(good.size(), 1000u);
    const size_t sof = FindSof(good);
    ASSERT_GT(sof, 0u) << "no SOF55 in " << source_;

    int n = 0;
    auto add = [&](const std::string& name, std::vector<uint8_t> codestream, const std::string& reason,
                   const std::string& charls_reason, const std::function<void(DcmDataset&)>& edit = {}) {
      BadFile bad{name, "1.2.826.0.1.3680043.9.7433.1." + std::to_string(++n), reason, charls_reason,
                  dir_ / (name + ".dcm")};
      ASSERT_TRUE(WriteVariant(source_, bad.path, bad.sop_instance_uid, std::move(codestream), edit)) << name;
      bad_.push_back(bad);
    };
    // Cut inside the coded data: no EOI.
    add("truncated", std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(good.size() / 2)),
        "frame not decoded", "does not end with EOI");
    // 32 bytes of coded data with every bit cleared: a Golomb code longer
    // than the limit, which no encoder writes.
    std::vector<uint8_t> flipped = good;
    for (size_t i = 0; i < 32; ++i) flipped[flipped.size() / 2 + i] = 0;
    add("bit_flipped", flipped, "frame not decoded", "failed (CharLS)");
    // SOF of 65535 x 65535 (rows at sof+5, columns at sof+7).
    std::vector<uint8_t> oversized = good;
    for (size_t i = 5; i < 9; ++i) oversized[sof + i] = 0xFF;
    const std::string disagrees = "disagrees with the DICOM attributes";
    add("oversized_sof", oversized, disagrees, disagrees);
    // The good codestream, but the DICOM attributes say otherwise.
    add("columns_disagree", good, disagrees, disagrees,
        [](DcmDataset& ds) { ds.putAndInsertUint16(DCM_Columns, 256); });
    add("precision_disagrees", good, disagrees, disagrees, [](DcmDataset& ds) {
      ds.putAndInsertUint16(DCM_BitsAllocated, 8);
      ds.putAndInsertUint16(DCM_BitsStored, 8);
      ds.putAndInsertUint16(DCM_HighBit, 7);
    });
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  fs::path source_;
  std::vector<BadFile> bad_;
};

bool Echo(int port) {
  return RunCommand({"echoscu", "-aec", "PACSCORE", "127.0.0.1", std::to_string(port)}, {}, std::chrono::seconds(30))
             .exit_code == 0;
}

TEST_F(JpegLsBadStreamsTest, RefusedOverCStoreServerStaysUp) {
  ServerProcess server(dir_ / "data");
  ASSERT_TRUE(server.Start()) << server.Log();
  EXPECT_NE(server.Log().find("JPEG-LS decoder: pacs::jls"), std::string::npos) << server.Log();
  for (const BadFile& bad : bad_) {
    SCOPED_TRACE(bad.name);
    auto r = RunCommand({"storescu", "-v", "-xt", "-aet", "BADSTREAMS", "-aec", "PACSCORE", "127.0.0.1",
                         std::to_string(server.port()), bad.path.string()},
                        {{"TCP_NODELAY", "1"}}, std::chrono::seconds(60));
    EXPECT_NE(r.output.find("Received Store Response"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("Received Store Response (Success)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Received Store Response (Error: CannotUnderstand)"), std::string::npos) << r.output;
    // The log line names the peer, the instance and the reason.
    const std::string log = server.Log();
    const size_t line = log.find("C-STORE from BADSTREAMS@127.0.0.1 of " + bad.sop_instance_uid + " failed");
    ASSERT_NE(line, std::string::npos) << log;
    const std::string text = log.substr(line, log.find('\n', line) - line);
    std::printf("%s: %s\n", bad.name.c_str(), text.c_str());
    EXPECT_NE(text.find(bad.reason), std::string::npos) << text;
    EXPECT_NE(text.find("rejected, nothing stored"), std::string::npos) << text;
    EXPECT_TRUE(Echo(server.port())) << "no C-ECHO after " << bad.name << "\n" << server.Log();
  }
  EXPECT_EQ(tools::JsonInt(StatsJson(dir_ / "data"), "instances"), 0);

  // The good file still stores.
  auto r = RunCommand(
      {"storescu", "-v", "-xt", "-aec", "PACSCORE", "127.0.0.1", std::to_string(server.port()), source_.string()},
      {{"TCP_NODELAY", "1"}}, std::chrono::seconds(60));
  EXPECT_NE(r.output.find("Received Store Response (Success)"), std::string::npos) << r.output;
  EXPECT_EQ(tools::JsonInt(StatsJson(dir_ / "data"), "instances"), 1);
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

// `import`, with our decoder and with CharLS as the fallback: CharLS gets
// none of these (the truncated one would hang it), or refuses it itself.
TEST_F(JpegLsBadStreamsTest, RefusedByImportWithEitherDecoder) {
  for (const std::string decoder : {"pacs::jls", "charls"}) {
    const std::map<std::string, std::string> env = {{"PACS_JPEGLS_DECODER", decoder}};
    const std::string data = (dir_ / ("data_" + decoder.substr(0, 6))).string();
    for (const BadFile& bad : bad_) {
      SCOPED_TRACE(bad.name + " with " + decoder);
      auto r =
          RunCommand({PacscoreBinary(), "import", "--data", data, bad.path.string()}, env, std::chrono::seconds(60));
      EXPECT_EQ(r.exit_code, 2) << r.output;
      const size_t line = r.output.find(bad.path.string() + ": ");
      ASSERT_NE(line, std::string::npos) << "no line naming the file: " << r.output;
      const std::string text = r.output.substr(line, r.output.find('\n', line) - line);
      EXPECT_NE(text.find(decoder == "charls" ? bad.charls_reason : bad.reason), std::string::npos) << text;
      EXPECT_NE(r.output.find("1 rejected"), std::string::npos) << r.output;
    }
    EXPECT_EQ(tools::JsonInt(StatsJson(data), "instances"), 0);
    auto good = RunCommand({PacscoreBinary(), "import", "--data", data, source_.string()}, env);
    EXPECT_EQ(good.exit_code, 0) << good.output;
    EXPECT_EQ(tools::JsonInt(StatsJson(data), "instances"), 1);
  }
}

}  // namespace
}  // namespace pacs::testing
