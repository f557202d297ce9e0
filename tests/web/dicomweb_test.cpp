// DICOMweb against the real `pacscore serve --web-port`: the 140-slice CT
// and one file of each compressed transfer syntax of the corpus are pushed
// with storescu, then searched (QIDO-RS) and retrieved (WADO-RS) over real
// HTTP. Frames and instances are compared with independent sources: the
// corpus files (parsed by DCMTK) and the stored codestreams `export
// --transfer-syntax stored` writes.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "admin_http.h"
#include "corpus.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "gtest/gtest.h"
#include "pacs/web/http_common.h"
#include "test_support.h"
#include "web_client.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kCtSeries = "1.3.46.670589.33.1.18734725841080964938.23067202722091553970";
constexpr char kAnyStored[] = "multipart/related; type=application/octet-stream; transfer-syntax=*";

// The native pixel data of a corpus file (DCMTK; decompressing when needed).
std::string PixelDataOf(const fs::path& path) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return "";
  DcmDataset* ds = file.getDataset();
  const Uint8* bytes = nullptr;
  unsigned long length = 0;
  if (ds->findAndGetUint8Array(DCM_PixelData, bytes, &length).bad() || bytes == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(bytes), length);
}

// The first frame's codestream of an encapsulated file (one fragment per frame).
std::string FirstFragmentOf(const fs::path& path) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return "";
  DcmElement* element = nullptr;
  if (file.getDataset()->findAndGetElement(DCM_PixelData, element).bad()) return "";
  auto* pixels = static_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  E_TransferSyntax xfer = file.getDataset()->getOriginalXfer();
  if (pixels->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || sequence == nullptr) return "";
  DcmPixelItem* item = nullptr;
  if (sequence->getItem(item, 1).bad() || item == nullptr) return "";
  Uint8* bytes = nullptr;
  item->getUint8Array(bytes);
  std::string out(reinterpret_cast<const char*>(bytes), item->getLength());
  // DICOM pads odd fragments to even length; the codestream may end one byte earlier.
  return out;
}

// Every fragment of a single-frame file's pixel sequence, back to back: the
// frame, which an encoder may have split into several fragments (CT1_JLSN's
// are 64 KiB each). Empty for multi-frame files and native pixel data.
std::string SingleFrameFragmentsOf(const fs::path& path) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return "";
  long frames = 1;
  if (file.getDataset()->findAndGetLongInt(DCM_NumberOfFrames, frames).good() && frames > 1) return "";
  DcmElement* element = nullptr;
  if (file.getDataset()->findAndGetElement(DCM_PixelData, element).bad()) return "";
  auto* pixels = static_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  E_TransferSyntax xfer = file.getDataset()->getOriginalXfer();
  if (pixels->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || sequence == nullptr) return "";
  std::string out;
  for (unsigned long i = 1; i < sequence->card(); ++i) {
    DcmPixelItem* item = nullptr;
    if (sequence->getItem(item, i).bad() || item == nullptr) return "";
    Uint8* bytes = nullptr;
    item->getUint8Array(bytes);
    if (bytes != nullptr) out.append(reinterpret_cast<const char*>(bytes), item->getLength());
  }
  return out;
}

Json ParseJson(const WebReply& reply) {
  std::string body = reply.body;
  if (reply.Header("content-encoding") == "gzip") {
    auto inflated = web::GzipDecompress(body);
    if (!inflated.ok()) return Json();
    body = *inflated;
  }
  return Json::parse(body, nullptr, false);
}

std::string StringValue(const Json& object, const std::string& tag) {
  if (!object.contains(tag) || !object[tag].contains("Value") || object[tag]["Value"].empty()) return "";
  const Json& value = object[tag]["Value"][0];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("Alphabetic")) return value["Alphabetic"].get<std::string>();
  return value.dump();
}

class DicomWebTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new fs::path(MakeTempDir("dicomweb"));
    std::vector<SampleFile> push;
    std::set<std::string> syntaxes;
    for (const auto& f : LoadCorpus().files) {
      if (f.series_uid == kCtSeries) {
        push.push_back(f);
        ct_files_->push_back(f);
      } else if (f.transfer_syntax.rfind("1.2.840.10008.1.2.4.", 0) == 0 ||
                 f.transfer_syntax == "1.2.840.10008.1.2.5") {
        if (syntaxes.insert(f.transfer_syntax).second) {
          push.push_back(f);
          compressed_->push_back(f);
        }
      }
    }
    std::sort(ct_files_->begin(), ct_files_->end(),
              [](const auto& a, const auto& b) { return a.sop_instance_uid < b.sop_instance_uid; });
    server_ = new ServerProcess(*work_ / "data", {"--web-port", "0"});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    port_ = WebPortOf((*work_ / "data").string());
    ASSERT_GT(port_, 0) << server_->Log();
    std::string log;
    pushed_ = PushWithStorescu(push, server_->port(), 1, log);
    ASSERT_EQ(pushed_, push.size()) << log;
    // Background encoding done: the CT frames are stored in JPEG-LS now.
    auto idle = tools::AdminRequest({.socket_path = (*work_ / "data" / "admin.sock").string()}, "POST", "/wait-idle",
                                    R"({"timeout_ms": 120000})", 150);
    ASSERT_TRUE(idle.ok() && idle->status == 200) << (idle.ok() ? idle->body : idle.status().ToString());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::error_code ec;
    fs::remove_all(*work_, ec);
    delete work_;
  }
  static std::string Root() { return "/dicom-web"; }
  static const std::string& CtStudy() { return ct_files_->front().study_uid; }
  static std::string CtInstanceUri(size_t i) {
    return Root() + "/studies/" + CtStudy() + "/series/" + kCtSeries + "/instances/" + (*ct_files_)[i].sop_instance_uid;
  }

  static fs::path* work_;
  static ServerProcess* server_;
  static int port_;
  static size_t pushed_;
  static std::vector<SampleFile>* ct_files_;
  static std::vector<SampleFile>* compressed_;
};
fs::path* DicomWebTest::work_ = nullptr;
ServerProcess* DicomWebTest::server_ = nullptr;
int DicomWebTest::port_ = 0;
size_t DicomWebTest::pushed_ = 0;
std::vector<SampleFile>* DicomWebTest::ct_files_ = new std::vector<SampleFile>;
std::vector<SampleFile>* DicomWebTest::compressed_ = new std::vector<SampleFile>;

TEST_F(DicomWebTest, StudiesSearchReturnsDefaultsCountsAndRetrieveUrl) {
  WebClient client(port_);
  auto reply = client.Get(Root() + "/studies?StudyInstanceUID=" + CtStudy(), {{"Accept", "application/dicom+json"}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Header("content-type"), "application/dicom+json");
  const Json studies = ParseJson(reply);
  ASSERT_TRUE(studies.is_array());
  ASSERT_EQ(studies.size(), 1u) << reply.body;
  const Json& study = studies[0];
  EXPECT_EQ(StringValue(study, "0020000D"), CtStudy());
  EXPECT_EQ(study["00201206"]["Value"][0].get<int>(), 1);                       // NumberOfStudyRelatedSeries
  EXPECT_EQ(study["00201208"]["Value"][0].get<int>(), 140);                     // NumberOfStudyRelatedInstances
  EXPECT_EQ(StringValue(study, "00080061"), "CT");                              // ModalitiesInStudy
  EXPECT_EQ(StringValue(study, "00081190"), Root() + "/studies/" + CtStudy());  // relative RetrieveURL
  EXPECT_EQ(study["00081190"]["vr"], "UR");
  for (const char* tag : {"00080020", "00080050", "00100010", "00100020", "00100030", "00100040", "00200010"})
    EXPECT_TRUE(study.contains(tag)) << tag << " missing from " << study.dump();
  EXPECT_FALSE(study.contains("00080052")) << "QueryRetrieveLevel leaked";
}

TEST_F(DicomWebTest, MatchingByKeywordTagWildcardUidListAndRange) {
  WebClient client(port_);
  const std::string patient_id =
      StringValue(ParseJson(client.Get(Root() + "/studies?StudyInstanceUID=" + CtStudy()))[0], "00100020");
  ASSERT_FALSE(patient_id.empty());
  auto count = [&](const std::string& query) {
    const auto reply = client.Get(Root() + "/studies?" + query);
    EXPECT_EQ(reply.status, 200) << query << ": " << reply.body;
    const Json json = ParseJson(reply);
    return json.is_array() ? static_cast<int>(json.size()) : -1;
  };
  const std::string id = web::PercentEncode(patient_id);
  EXPECT_GE(count("PatientID=" + id), 1);
  EXPECT_EQ(count("PatientID=" + id), count("00100020=" + id));
  EXPECT_EQ(count("PatientID=no-such-patient-xyz"), 0);
  // A UID list: this study and one that does not exist.
  EXPECT_EQ(count("StudyInstanceUID=" + CtStudy() + "%2C1.2.3.4.5.6"), 1);
  EXPECT_EQ(count("StudyInstanceUID=" + CtStudy() + ",1.2.3.4.5.6"), 1);
  // Date ranges: everything since 1900, nothing in 1800.
  const int all = count("");
  EXPECT_GE(all, 2);
  EXPECT_EQ(count("StudyDate=19000101-"), all - count("StudyDate=%22%22"));
  EXPECT_EQ(count("StudyDate=18000101-18001231"), 0);
  // Names: wildcard and case-insensitive (fuzzymatching accepted).
  const std::string name =
      StringValue(ParseJson(client.Get(Root() + "/studies?StudyInstanceUID=" + CtStudy()))[0], "00100010");
  if (!name.empty()) {
    EXPECT_GE(count("PatientName=" + web::PercentEncode(name.substr(0, 1)) + "*&fuzzymatching=true"), 1);
  }
  // No match is 200 with [] (CP-2473).
  const auto none = client.Get(Root() + "/studies?AccessionNumber=nothing-has-this");
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(none.body, "[]");
}

TEST_F(DicomWebTest, IncludefieldLimitAndOffset) {
  WebClient client(port_);
  const Json plain = ParseJson(client.Get(Root() + "/studies?StudyInstanceUID=" + CtStudy()));
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_FALSE(plain[0].contains("00081080"));
  const Json with = ParseJson(client.Get(Root() + "/studies?StudyInstanceUID=" + CtStudy() +
                                         "&includefield=00081080%2CStudyID&includefield=PatientAge"));
  ASSERT_EQ(with.size(), 1u);
  EXPECT_TRUE(with[0].contains("00081080")) << with.dump();
  EXPECT_TRUE(with[0].contains("00101010")) << with.dump();
  const Json all = ParseJson(client.Get(Root() + "/studies?StudyInstanceUID=" + CtStudy() + "&includefield=all"));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_GT(all[0].size(), plain[0].size());
  EXPECT_TRUE(all[0].contains("00100021"));  // IssuerOfPatientID: a patient-level attribute

  const std::string instances = Root() + "/studies/" + CtStudy() + "/series/" + kCtSeries + "/instances";
  const Json every = ParseJson(client.Get(instances));
  ASSERT_EQ(every.size(), 140u);
  const auto page = client.Get(instances + "?limit=10&offset=5");
  const Json paged = ParseJson(page);
  ASSERT_EQ(paged.size(), 10u);
  EXPECT_EQ(paged[0], every[5]);
  EXPECT_EQ(paged[9], every[14]);
  EXPECT_NE(page.Header("warning").find("additional results"), std::string::npos);
  EXPECT_EQ(ParseJson(client.Get(instances + "?offset=139")).size(), 1u);
  EXPECT_EQ(ParseJson(client.Get(instances + "?offset=140")).size(), 0u);
  for (const Json& instance : every) {
    EXPECT_EQ(StringValue(instance, "0020000E"), kCtSeries);
    EXPECT_FALSE(StringValue(instance, "00080018").empty());
    EXPECT_EQ(StringValue(instance, "00280010"), "512");
  }
}

TEST_F(DicomWebTest, SeriesAndInstanceLevels) {
  WebClient client(port_);
  const Json series = ParseJson(client.Get(Root() + "/studies/" + CtStudy() + "/series"));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(StringValue(series[0], "0020000E"), kCtSeries);
  EXPECT_EQ(series[0]["00201209"]["Value"][0].get<int>(), 140);
  EXPECT_EQ(StringValue(series[0], "00080060"), "CT");
  const Json all_series = ParseJson(client.Get(Root() + "/series?Modality=CT"));
  EXPECT_GE(all_series.size(), 1u);
  const Json by_study = ParseJson(client.Get(Root() + "/studies/" + CtStudy() + "/instances"));
  EXPECT_EQ(by_study.size(), 140u);
  const Json top = ParseJson(client.Get(Root() + "/instances?SeriesInstanceUID=" + kCtSeries + "&limit=3"));
  EXPECT_EQ(top.size(), 3u);
}

TEST_F(DicomWebTest, BadSearchParametersAre400WithAMessage) {
  WebClient client(port_);
  for (const std::string& query :
       std::vector<std::string>{"NoSuchKeyword=1", "limit=abc", "offset=-1", "fuzzymatching=maybe",
                                "includefield=NotAnAttribute", "00400275.00401001=x", "PatientName=%ZZ"}) {
    const auto reply = client.Get(Root() + "/studies?" + query);
    EXPECT_EQ(reply.status, 400) << query;
    const Json error = Json::parse(reply.body, nullptr, false);
    EXPECT_TRUE(error.contains("error")) << query << ": " << reply.body;
  }
  EXPECT_EQ(client.Get(Root() + "/studies/not-a-uid/series").status, 400);
  EXPECT_EQ(client.Get(Root() + "/studies", {{"Accept", "application/xml"}}).status, 406);
}

TEST_F(DicomWebTest, SeriesMetadataHasEveryInstanceBulkDataUrisAndGzip) {
  WebClient client(port_);
  const std::string uri = Root() + "/studies/" + CtStudy() + "/series/" + kCtSeries + "/metadata";
  const auto plain = client.Get(uri, {{"Accept", "application/dicom+json"}});
  ASSERT_EQ(plain.status, 200);
  EXPECT_TRUE(plain.Header("content-encoding").empty());
  const Json metadata = ParseJson(plain);
  ASSERT_EQ(metadata.size(), 140u);
  std::set<std::string> uids;
  for (const Json& instance : metadata) {
    uids.insert(StringValue(instance, "00080018"));
    ASSERT_TRUE(instance.contains("7FE00010"));
    const std::string bulk = instance["7FE00010"]["BulkDataURI"].get<std::string>();
    EXPECT_EQ(bulk.rfind(Root() + "/studies/" + CtStudy() + "/series/" + kCtSeries + "/instances/", 0), 0u) << bulk;
    EXPECT_FALSE(instance["7FE00010"].contains("InlineBinary"));
    EXPECT_EQ(StringValue(instance, "00280010"), "512");
  }
  EXPECT_EQ(uids.size(), 140u);
  const auto gzip = client.Get(uri, {{"Accept-Encoding", "gzip, deflate"}});
  ASSERT_EQ(gzip.status, 200);
  EXPECT_EQ(gzip.Header("content-encoding"), "gzip");
  EXPECT_LT(gzip.body.size(), plain.body.size() / 3);
  auto inflated = web::GzipDecompress(gzip.body);
  ASSERT_TRUE(inflated.ok());
  EXPECT_EQ(*inflated, plain.body);
  // The study's metadata is the same set; one instance's is one object.
  EXPECT_EQ(ParseJson(client.Get(Root() + "/studies/" + CtStudy() + "/metadata")).size(), 140u);
  const Json one = ParseJson(client.Get(CtInstanceUri(0) + "/metadata"));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(StringValue(one[0], "00080018"), (*ct_files_)[0].sop_instance_uid);
}

TEST_F(DicomWebTest, FramesAsStoredAreTheStoredCodestreamByteForByte) {
  // The stored codestreams, written by export --transfer-syntax stored.
  const fs::path out = *work_ / "stored-export";
  fs::create_directories(out);
  auto exported = tools::AdminRequest(
      {.socket_path = (*work_ / "data" / "admin.sock").string()}, "POST", "/export",
      Json({{"out", out.string()}, {"study", CtStudy()}, {"transfer_syntax", "stored"}}).dump(), 300);
  ASSERT_TRUE(exported.ok() && exported->status == 200)
      << (exported.ok() ? exported->body : exported.status().ToString());
  std::map<std::string, fs::path> exported_files;
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    DcmFileFormat file;
    if (!entry.is_regular_file() || file.loadFile(entry.path().c_str()).bad()) continue;
    OFString uid;
    file.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid);
    exported_files[uid.c_str()] = entry.path();
  }
  ASSERT_EQ(exported_files.size(), 140u);

  WebClient client(port_);
  for (const std::string& accept :
       {std::string(kAnyStored), std::string("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*"),
        std::string("multipart/related; type=\"image/jls\"; transfer-syntax=1.2.840.10008.1.2.4.80")}) {
    for (const size_t i : {size_t{0}, size_t{70}, size_t{139}}) {
      const auto reply = client.Get(CtInstanceUri(i) + "/frames/1", {{"Accept", accept}});
      ASSERT_EQ(reply.status, 200) << accept << ": " << reply.body;
      EXPECT_EQ(reply.Header("content-type").rfind("multipart/related", 0), 0u);
      std::string error;
      const auto parts = SplitMultipart(reply.Header("content-type"), reply.body, &error);
      ASSERT_EQ(parts.size(), 1u) << error;
      EXPECT_EQ(parts[0].headers.at("content-type"), "image/jls; transfer-syntax=1.2.840.10008.1.2.4.80");
      std::string expected = FirstFragmentOf(exported_files.at((*ct_files_)[i].sop_instance_uid));
      ASSERT_FALSE(expected.empty());
      // The fragment is padded to even length; the frame is the codestream itself.
      EXPECT_TRUE(parts[0].body == expected || parts[0].body + '\0' == expected) << "frame of instance " << i;
    }
  }
}

TEST_F(DicomWebTest, UncompressedFramesAreTheOriginalPixels) {
  WebClient client(port_);
  const std::string original = PixelDataOf((*ct_files_)[3].path);
  ASSERT_EQ(original.size(), 512u * 512u * 2u);
  for (const std::string& accept :
       {std::string("multipart/related; type=application/octet-stream"),
        std::string("multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1"),
        std::string("*/*")}) {
    const auto reply = client.Get(CtInstanceUri(3) + "/frames/1", {{"Accept", accept}});
    ASSERT_EQ(reply.status, 200) << accept;
    const auto parts = SplitMultipart(reply.Header("content-type"), reply.body);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].headers.at("content-type"), "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1");
    EXPECT_TRUE(parts[0].body == original) << accept;
  }
  // Several frames in one request: one part each (a single-frame instance has only frame 1).
  EXPECT_EQ(client.Get(CtInstanceUri(3) + "/frames/1,2", {{"Accept", kAnyStored}}).status, 404);
  EXPECT_EQ(client.Get(CtInstanceUri(3) + "/frames/0", {{"Accept", kAnyStored}}).status, 400);
  EXPECT_EQ(client.Get(CtInstanceUri(3) + "/frames/x", {{"Accept", kAnyStored}}).status, 400);
  // Nothing acceptable: a lossy JPEG 2000 of a lossless frame, or a type frames never come in.
  EXPECT_EQ(client
                .Get(CtInstanceUri(3) + "/frames/1",
                     {{"Accept", "multipart/related; type=\"image/jp2\"; transfer-syntax=1.2.840.10008.1.2.4.91"}})
                .status,
            406);
  EXPECT_EQ(client.Get(CtInstanceUri(3) + "/frames/1", {{"Accept", "text/html"}}).status, 406);
}

TEST_F(DicomWebTest, CompressedAsReceivedFramesKeepTheirSyntax) {
  WebClient client(port_);
  for (const SampleFile& file : *compressed_) {
    const std::string uri = Root() + "/studies/" + file.study_uid + "/series/" + file.series_uid + "/instances/" +
                            file.sop_instance_uid + "/frames/1";
    const auto reply = client.Get(uri, {{"Accept", kAnyStored}});
    ASSERT_EQ(reply.status, 200) << file.path << " " << reply.body;
    const auto parts = SplitMultipart(reply.Header("content-type"), reply.body);
    ASSERT_EQ(parts.size(), 1u) << file.path;
    const std::string type = parts[0].headers.at("content-type");
    EXPECT_NE(type.find("transfer-syntax=" + file.transfer_syntax), std::string::npos) << file.path << ": " << type;
    const std::string fragment = SingleFrameFragmentsOf(file.path);
    if (!fragment.empty()) {
      // Fragments are padded to even length: the frame is the fragments, or them without the last byte.
      EXPECT_TRUE(parts[0].body == fragment || parts[0].body + '\0' == fragment || parts[0].body + ' ' == fragment)
          << file.path << ": " << parts[0].body.size() << " vs " << fragment.size() << " bytes";
    }
  }
}

TEST_F(DicomWebTest, InstancesRetrievedAsStoredAndUncompressedEqualWhatWasSent) {
  WebClient client(port_);
  const fs::path out = *work_ / "wado-instances";
  fs::create_directories(out);
  for (const std::string& syntax : std::vector<std::string>{"*", "1.2.840.10008.1.2.1"}) {
    const auto reply = client.Get(
        CtInstanceUri(5), {{"Accept", "multipart/related; type=\"application/dicom\"; transfer-syntax=" + syntax}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto parts = SplitMultipart(reply.Header("content-type"), reply.body);
    ASSERT_EQ(parts.size(), 1u);
    const std::string type = parts[0].headers.at("content-type");
    EXPECT_EQ(type, syntax == "*" ? "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.80"
                                  : "application/dicom; transfer-syntax=1.2.840.10008.1.2.1");
    const fs::path file = out / ("instance-" + std::string(syntax == "*" ? "stored" : "explicit") + ".dcm");
    std::ofstream(file, std::ios::binary) << parts[0].body;
    if (syntax != "*") {
      EXPECT_EQ(CompareFiles((*ct_files_)[5].path, file), "");
    } else {
      DcmFileFormat parsed;
      EXPECT_TRUE(parsed.loadFile(file.c_str()).good());
    }
  }
  // A series: one part per instance, streamed.
  const auto series = client.Get(Root() + "/studies/" + CtStudy() + "/series/" + kCtSeries,
                                 {{"Accept", "multipart/related; type=application/dicom; transfer-syntax=*"}});
  ASSERT_EQ(series.status, 200);
  EXPECT_EQ(SplitMultipart(series.Header("content-type"), series.body).size(), 140u);
  EXPECT_EQ(
      client
          .Get(CtInstanceUri(5), {{"Accept", "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.3.4"}})
          .status,
      406);
}

TEST_F(DicomWebTest, BulkDataOfPixelDataIsTheFrames) {
  WebClient client(port_);
  const auto reply = client.Get(CtInstanceUri(7) + "/bulkdata/7FE00010", {{"Accept", kAnyStored}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(SplitMultipart(reply.Header("content-type"), reply.body).size(), 1u);
  EXPECT_EQ(client.Get(CtInstanceUri(7) + "/bulkdata/00100010", {{"Accept", kAnyStored}}).status, 404);
}

TEST_F(DicomWebTest, UnknownResourcesAre404) {
  WebClient client(port_);
  EXPECT_EQ(client.Get(Root() + "/studies/1.2.3.4.5.6.7.8").status, 404);
  EXPECT_EQ(client.Get(Root() + "/studies/1.2.3.4.5.6.7.8/metadata").status, 404);
  EXPECT_EQ(client.Get(Root() + "/studies/" + CtStudy() + "/series/1.2.3/metadata").status, 404);
  EXPECT_EQ(client.Get(Root() + "/no-such-thing").status, 404);
  EXPECT_EQ(client.Request("DELETE", Root() + "/studies").status, 405);
}

TEST_F(DicomWebTest, TraversalAndMalformedRequestsAreRefusedAndTheServerGoesOn) {
  for (const std::string& target :
       std::vector<std::string>{"/dicom-web/../etc/passwd", "/dicom-web/%2e%2e/etc/passwd", "/dicom-web/studies/%2E%2E",
                                "/dicom-web/studies/..%2F..%2Fetc", "/dicom-web/studies/a%00b"}) {
    const std::string reply =
        RawExchange(port_, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << target << ": " << reply.substr(0, 200);
  }
  EXPECT_EQ(RawExchange(port_, "GET /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + std::string(40000, 'a') +
                                   "\r\n\r\n")
                .rfind("HTTP/1.1 431", 0),
            0u);
  RawExchange(port_, "this is not HTTP\r\n\r\n", 2000);
  RawExchange(port_, std::string("\0\1\2\3\xff\xfe", 6), 2000);
  RawExchange(port_,
              "GET /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
              2000);
  // Another site's page in this machine's browser: refused (no token file: loopback names only).
  WebClient client(port_);
  EXPECT_EQ(client.Get(Root() + "/studies", {{"Host", "evil.example.org"}}).status, 403);
  EXPECT_EQ(client.Get(Root() + "/studies", {{"Origin", "http://evil.example.org"}}).status, 403);
  EXPECT_EQ(client.Get(Root() + "/studies", {{"Origin", "http://localhost:3000"}}).status, 200);
  // Still answering, on one keep-alive connection.
  WebClient keep(port_);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(keep.Get(Root() + "/studies?limit=1").status, 200);
  EXPECT_EQ(keep.connections_opened(), 1);
}

TEST_F(DicomWebTest, ManyClientsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      WebClient client(port_);
      for (int i = 0; i < 10; ++i)
        if (client.Get(CtInstanceUri(static_cast<size_t>(t * 10 + i)) + "/frames/1", {{"Accept", kAnyStored}}).status ==
            200)
          ++ok;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 80);
}

// ---- servers with other flags ---------------------------------------------------------------

TEST(DicomWebFlagsTest, TokensCorsAndLoopbackOnly) {
  const fs::path work = MakeTempDir("dicomweb-flags");
  const fs::path tokens = work / "web.tokens";
  {
    std::ofstream(tokens) << "readtoken-0123456789abcdef read\nwritetoken-0123456789abcdef write\n";
    fs::permissions(tokens, fs::perms::owner_read | fs::perms::owner_write);
  }
  // Without a token file, only loopback: refused with a clear message.
  auto refused = RunCommand({PacscoreBinary(), "serve", "--data", (work / "refused").string(), "--port",
                             std::to_string(FreePort()), "--web-port", "0", "--web-bind", "0.0.0.0"},
                            {}, std::chrono::seconds(30));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("--web-token-file"), std::string::npos) << refused.output;

  ServerProcess server(work / "data", {"--web-port", "0", "--web-token-file", tokens.string(), "--web-cors-origin",
                                       "https://viewer.example.org"});
  ASSERT_TRUE(server.Start()) << server.Log();
  const int port = WebPortOf((work / "data").string());
  ASSERT_GT(port, 0);
  WebClient client(port);
  const std::string studies = "/dicom-web/studies";
  EXPECT_EQ(client.Get(studies).status, 401);
  EXPECT_NE(client.Get(studies).Header("www-authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(client.Get(studies, {{"Authorization", "Bearer not-a-known-token-at-all"}}).status, 401);
  EXPECT_EQ(client.Get(studies, {{"Authorization", "Basic cmVhZDpyZWFk"}}).status, 401);
  EXPECT_EQ(client.Get(studies, {{"Authorization", "Bearer writetoken-0123456789abcdef"}}).status, 403);
  const auto ok = client.Get(studies, {{"Authorization", "Bearer readtoken-0123456789abcdef"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "[]");
  // With a token file, any Host is fine (the token is the check).
  EXPECT_EQ(client.Get(studies, {{"Authorization", "Bearer readtoken-0123456789abcdef"}, {"Host", "pacs.example.org"}})
                .status,
            200);

  // CORS: the preflight needs no token and lists Authorization.
  const auto preflight = client.Request("OPTIONS", studies,
                                        {{"Origin", "https://viewer.example.org"},
                                         {"Access-Control-Request-Method", "GET"},
                                         {"Access-Control-Request-Headers", "authorization, accept"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_NE(preflight.Header("access-control-allow-methods").find("GET"), std::string::npos);
  EXPECT_NE(preflight.Header("access-control-allow-headers").find("Authorization"), std::string::npos);
  EXPECT_FALSE(preflight.Header("access-control-max-age").empty());
  const auto cross = client.Get(
      studies, {{"Origin", "https://viewer.example.org"}, {"Authorization", "Bearer readtoken-0123456789abcdef"}});
  EXPECT_EQ(cross.Header("access-control-allow-origin"), "https://viewer.example.org");
  const auto other = client.Get(
      studies, {{"Origin", "https://other.example.org"}, {"Authorization", "Bearer readtoken-0123456789abcdef"}});
  EXPECT_TRUE(other.Header("access-control-allow-origin").empty());
  EXPECT_EQ(server.Stop(), 0);
  std::error_code ec;
  fs::remove_all(work, ec);
}

TEST(DicomWebViewerTest, ServesTheViewerWithTypesFallbackAndConfig) {
  const fs::path work = MakeTempDir("dicomweb-viewer");
  const fs::path viewer = work / "viewer";
  fs::create_directories(viewer / "assets");
  std::ofstream(viewer / "index.html") << "<!doctype html><script src=\"/app-config.js\"></script>";
  std::ofstream(viewer / "app-config.js") << "window.config = { shipped: true };\n";
  std::ofstream(viewer / "app.bundle.js") << "console.log(1)";
  std::ofstream(viewer / "assets" / "decoder.wasm") << std::string("\0asm\1\0\0\0", 8);
  std::ofstream(viewer / "assets" / "style.css") << "body{}";
  ServerProcess server(work / "data", {"--web-port", "0", "--viewer", viewer.string()});
  ASSERT_TRUE(server.Start()) << server.Log();
  const int port = WebPortOf((work / "data").string());
  WebClient client(port);
  const auto index = client.Get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.Header("cross-origin-opener-policy"), "same-origin");
  EXPECT_EQ(index.Header("cross-origin-embedder-policy"), "require-corp");
  EXPECT_EQ(client.Get("/viewer?StudyInstanceUIDs=1.2.3").body, index.body);  // a client-side route
  EXPECT_EQ(client.Get("/studies/list").body, index.body);
  EXPECT_EQ(client.Get("/assets/decoder.wasm").Header("content-type"), "application/wasm");
  EXPECT_EQ(client.Get("/assets/style.css").Header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(client.Get("/app.bundle.js").Header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(client.Get("/missing.js").status, 404);
  EXPECT_EQ(client.Get("/dicom-web/nothing-here").status, 404);
  const auto config = client.Get("/app-config.js");
  EXPECT_EQ(config.status, 200);
  EXPECT_NE(config.body.find("shipped: true"), std::string::npos);
  EXPECT_NE(config.body.find("'/dicom-web'"), std::string::npos);
  EXPECT_NE(config.body.find("dataSourcesModule.dicomweb"), std::string::npos);
  EXPECT_NE(config.body.find("omitQuotationForMultipartRequest: true"), std::string::npos);
  EXPECT_EQ(client.Get("/dicom-web/studies").body, "[]");
  EXPECT_EQ(server.Stop(), 0);
  std::error_code ec;
  fs::remove_all(work, ec);
}

}  // namespace
}  // namespace pacs::testing
