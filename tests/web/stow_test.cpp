// STOW-RS against the real `pacscore serve --web-port` on loopback: every
// corpus file stored over HTTP then exported and compared attribute by
// attribute (pixels exact) as for C-STORE; bad bodies answered with a clear
// 4xx and nothing stored, with the server answering throughout; a bad part
// refused alone next to good ones.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <set>
#include <thread>

#include "corpus.h"
#include "stow_http_client.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kDicomParts = "multipart/related; type=\"application/dicom\"; boundary=";

class StowTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& name, std::vector<std::string> extra = {}) {
    dir_ = MakeTempDir(name);
    web_port_ = FreePort();
    std::vector<std::string> args = {"--web-port", std::to_string(web_port_)};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ServerProcess>(dir_ / "data", args);
    ASSERT_TRUE(server_->Start()) << server_->Log();
    // The web listener starts beside the DICOM one: wait (bounded) until it answers.
    for (int i = 0; i < 100; ++i) {
      if (Http(web_port_, {.target = "/dicom-web/studies"}).status != 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "the web port " << web_port_ << " does not answer\n" << server_->Log();
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    }
    server_.reset();
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  HttpReply Stow(const std::string& body, const std::string& content_type,
                 const std::string& target = "/dicom-web/studies", bool chunked = false) {
    return Http(web_port_, {.method = "POST",
                            .target = target,
                            .headers = {{"Content-Type", content_type}, {"Accept", "application/dicom+json"}},
                            .body = body,
                            .chunked = chunked});
  }
  long long Instances() { return StatsJson(dir_ / "data").value("instances", -1LL); }

  fs::path dir_;
  int web_port_ = 0;
  std::unique_ptr<ServerProcess> server_;
};

// The items of sequence `tag` in a STOW-RS response.
Json Items(const Json& response, const char* tag) {
  if (!response.contains(tag)) return Json::array();
  return response[tag].value("Value", Json::array());
}

std::string Str(const Json& item, const char* tag) {
  return item.at(tag).at("Value").at(0).get<std::string>();
}

TEST_F(StowTest, EveryCorpusFileRoundTripsThroughExport) {
  const SampleSet corpus = LoadCorpus();
  ASSERT_GT(corpus.files.size(), 100u);
  StartServer("stow_corpus");
  // Requests of about 8 MB, several instances each.
  std::set<std::string> referenced;
  size_t next = 0;
  int requests = 0;
  while (next < corpus.files.size()) {
    std::vector<std::pair<std::string, std::string>> parts;
    size_t bytes = 0;
    std::vector<std::string> sent;
    while (next < corpus.files.size() && (parts.empty() || bytes < (8u << 20))) {
      parts.emplace_back("Content-Type: application/dicom", ReadFileBytes(corpus.files[next].path));
      bytes += parts.back().second.size();
      sent.push_back(corpus.files[next].sop_instance_uid);
      ++next;
    }
    const std::string boundary = "pacs-test-" + std::to_string(requests++);
    const HttpReply reply = Stow(MultipartBody(boundary, parts), kDicomParts + boundary);
    ASSERT_EQ(reply.status, 200) << reply.error << reply.body << server_->Log();
    EXPECT_EQ(reply.Header("content-type"), "application/dicom+json");
    const Json response = Json::parse(reply.body);
    EXPECT_TRUE(Items(response, "00081198").empty()) << reply.body;
    const Json items = Items(response, "00081199");
    EXPECT_EQ(items.size(), parts.size());
    for (const auto& item : items) {
      referenced.insert(Str(item, "00081155"));
      const std::string url = Str(item, "00081190");
      EXPECT_EQ(url.rfind("/dicom-web/studies/", 0), 0u) << url;
      EXPECT_NE(url.find("/instances/" + Str(item, "00081155")), std::string::npos) << url;
    }
  }
  std::set<std::string> uids;
  for (const auto& f : corpus.files) uids.insert(f.sop_instance_uid);
  EXPECT_EQ(referenced, uids);
  EXPECT_EQ(Instances(), static_cast<long long>(uids.size()));
  ASSERT_EQ(server_->Stop(), 0) << server_->Log();
  server_.reset();
  const fs::path data = dir_ / "data";
  auto settled = RunCommand({PacscoreBinary(), "compact", "--data", data.string()});
  ASSERT_EQ(settled.exit_code, 0) << settled.output;
  auto exported =
      RunCommand({PacscoreBinary(), "export", "--data", data.string(), "--out", (dir_ / "export").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  std::vector<SampleFile> stored;
  for (const auto& problem : CheckRoundTrip(corpus.files, dir_ / "export", stored)) ADD_FAILURE() << problem;
  EXPECT_EQ(stored.size(), uids.size());
}

TEST_F(StowTest, BadBodiesAreRefusedClearlyAndStoreNothing) {
  StartServer("stow_bad", {"--web-max-body", "3000000"});
  const SampleSet corpus = LoadCorpus();
  const std::string ct = ReadFileBytes(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices/I10.dcm");
  const std::string ct2 = ReadFileBytes(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices/I100.dcm");
  ASSERT_GT(ct.size(), 100000u);
  const std::string good = MultipartBody("b1", {{"Content-Type: application/dicom", ct}});
  struct Case {
    std::string what;
    std::string body;
    std::string content_type;
    int status;
    std::string says;  // in the answer's text
    bool chunked = false;
    std::string target = "/dicom-web/studies";
  };
  std::string truncated_second =
      MultipartBody("b1", {{"Content-Type: application/dicom", ct}, {"Content-Type: application/dicom", ct2}});
  truncated_second.resize(ct.size() + ct2.size() / 2);
  const std::vector<Case> cases = {
      {"not multipart", ct, "application/dicom", 415, "not supported"},
      {"another root type", good, "multipart/related; type=\"application/dicom+xml\"; boundary=b1", 415,
       "application/dicom+xml"},
      {"missing boundary", good, "multipart/related; type=\"application/dicom\"", 400, "no boundary"},
      {"wrong boundary", good, std::string(kDicomParts) + "other", 400, "does not use the boundary"},
      {"garbage", "hello, this is not a multipart body", std::string(kDicomParts) + "b1", 400, "malformed"},
      {"truncated part", good.substr(0, good.size() / 2), std::string(kDicomParts) + "b1", 400, "truncated"},
      {"second part truncated", truncated_second, std::string(kDicomParts) + "b1", 400, "truncated"},
      {"empty body", "", std::string(kDicomParts) + "b1", 400, "empty"},
      {"too large (Content-Length)", std::string(3100000, 'x'), std::string(kDicomParts) + "b1", 413, "--web-max-body"},
      {"too large (chunked)", MultipartBody("b1", {{"Content-Type: application/dicom", std::string(3100000, 'y')}}),
       std::string(kDicomParts) + "b1", 413, "--web-max-body", true},
      {"bad study UID", good, std::string(kDicomParts) + "b1", 400, "not a DICOM UID", false,
       "/dicom-web/studies/1.2.abc"},
  };
  for (const auto& c : cases) {
    const HttpReply reply = Stow(c.body, c.content_type, c.target, c.chunked);
    EXPECT_EQ(reply.status, c.status) << c.what << ": " << reply.error << reply.body;
    EXPECT_NE(reply.body.find(c.says), std::string::npos) << c.what << ": " << reply.body;
    EXPECT_NE(reply.body.find("nothing stored"), std::string::npos) << c.what << ": " << reply.body;
    // The server keeps answering.
    EXPECT_NE(Http(web_port_, {.target = "/dicom-web/studies"}).status, 0) << "after " << c.what;
  }
  // A part that is not DICOM, alone: refused (409) with its reason, nothing stored.
  const HttpReply not_dicom = Stow(MultipartBody("b1", {{"Content-Type: application/dicom", std::string(5000, 'z')}}),
                                   kDicomParts + std::string("b1"));
  EXPECT_EQ(not_dicom.status, 409) << not_dicom.body;
  const Json failed = Items(Json::parse(not_dicom.body), "00081198");
  ASSERT_EQ(failed.size(), 1u) << not_dicom.body;
  EXPECT_EQ(failed[0]["00081197"]["Value"][0].get<int>(), 0xC000);
  EXPECT_NE(not_dicom.Header("warning").find("not a readable DICOM Part 10 file"), std::string::npos);
  EXPECT_EQ(Instances(), 0) << server_->Log();
  // And then a good request is stored.
  const HttpReply stored = Stow(good, kDicomParts + std::string("b1"));
  EXPECT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(Instances(), 1);
}

TEST_F(StowTest, ABadPartIsRefusedAloneAndOtherStudiesAreRefusedUnderStudyUrl) {
  StartServer("stow_mixed");
  const fs::path ct_path = CorpusDir() / "dcm_qa_ct/philips_ct_140_slices/I10.dcm";
  const std::string ct = ReadFileBytes(ct_path);
  // A file of another study (the GE CT).
  const std::string other = ReadFileBytes(CorpusDir() / "dcm_qa_ct/ge_hispeed_dual_head/01.dcm");
  // The study of the 140-slice CT, from the RetrieveURL of its first STOW.
  const HttpReply first =
      Stow(MultipartBody("m", {{"Content-Type: application/dicom", ct}}), kDicomParts + std::string("m"));
  ASSERT_EQ(first.status, 200) << first.body;
  const Json first_json = Json::parse(first.body);
  const std::string study_url = Str(first_json, "00081190");
  const std::string study_uid = study_url.substr(study_url.rfind('/') + 1);
  ASSERT_FALSE(study_uid.empty());
  const std::string ct2 = ReadFileBytes(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices/I100.dcm");
  const HttpReply mixed = Stow(MultipartBody("m", {{"Content-Type: application/dicom", ct2},
                                                   {"Content-Type: application/dicom", other},
                                                   {"Content-Type: application/dicom", "not dicom at all"},
                                                   {"Content-Type: text/plain", ct}}),
                               kDicomParts + std::string("m"), "/dicom-web/studies/" + study_uid);
  EXPECT_EQ(mixed.status, 202) << mixed.body;
  const Json response = Json::parse(mixed.body);
  EXPECT_EQ(Str(response, "00081190"), "/dicom-web/studies/" + study_uid);
  ASSERT_EQ(Items(response, "00081199").size(), 1u) << mixed.body;
  const Json failed = Items(response, "00081198");
  ASSERT_EQ(failed.size(), 3u) << mixed.body;
  EXPECT_EQ(failed[0]["00081197"]["Value"][0].get<int>(), 0xC409);  // another study
  EXPECT_FALSE(Str(failed[0], "00081155").empty());
  EXPECT_EQ(failed[1]["00081197"]["Value"][0].get<int>(), 0xC000);  // not DICOM
  EXPECT_EQ(failed[2]["00081197"]["Value"][0].get<int>(), 0xC000);  // not application/dicom
  EXPECT_EQ(mixed.headers.count("warning"), 3u);
  EXPECT_EQ(Instances(), 2);
  // All refused: 409.
  const HttpReply refused = Stow(MultipartBody("m", {{"Content-Type: application/dicom", other}}),
                                 kDicomParts + std::string("m"), "/dicom-web/studies/" + study_uid);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(Instances(), 2);
}

}  // namespace
}  // namespace pacs::testing
