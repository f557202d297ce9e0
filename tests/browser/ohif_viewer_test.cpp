// OHIF 3.13.2 in headless Chromium against the real `pacscore serve
// --web-port P --viewer DIR`: the CT series pushed with storescu and settled
// (stored as JPEG-LS), the study found in the viewer's study list and opened,
// its middle slice drawn. The browser side (ohif_viewer.mjs) reports the
// viewport's pixels and every DICOMweb response; this side checks that every
// frame went out as stored, none decoded on the server. The screenshot stays in
// the build folder (tests/browser/artifacts/ohif_viewer.png).
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "web_client_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

// Runs ohif_viewer.mjs against `server` (its viewer already holding the
// settled CT series) and checks what the browser and the server saw: the
// middle slice drawn, every DICOMweb response a success, one frame request per
// slice, all of them sent as stored (JPEG-LS), none decoded on the server.
void ViewAndCheck(WebServer& server, const std::vector<SampleFile>& ct, const std::vector<std::string>& extra_args,
                  const std::string& screenshot_name) {
  const FrameCounts before = ServerFrameCounts(server.data_dir());
  const fs::path artifacts = WebClientWorkDir() / "artifacts";
  fs::create_directories(artifacts);
  const fs::path screenshot = artifacts / screenshot_name;
  fs::remove(screenshot);
  std::vector<std::string> args = {"--base-url",   server.base_url(),   "--patient-name", "HEAD",
                                   "--screenshot", screenshot.string(), "--timeout-s",    "100"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto run = RunNodeScript("ohif_viewer.mjs", args, std::chrono::seconds(130));
  auto report = LastJsonLine(run.output);
  ASSERT_TRUE(report.has_value()) << "ohif_viewer.mjs printed no report (exit " << run.exit_code << "):\n"
                                  << run.output;
  EXPECT_EQ(run.exit_code, 0) << run.output.substr(0, 8000) << "\nserver log:\n" << server.process().Log();
  EXPECT_TRUE(tools::JsonBool(*report, "ok")) << tools::JsonString(*report, "message");
  EXPECT_TRUE(fs::exists(screenshot)) << screenshot;
  std::printf("viewer: %s, first image after %lld ms, overlay '%s', viewport %s, screenshot %s\n",
              tools::JsonString(*report, "viewer_url").c_str(),
              static_cast<long long>(tools::JsonInt(*report, "first_image_ms")),
              tools::JsonString(*report, "overlay").c_str(),
              report->value("pixels", tools::Json::object()).dump().c_str(), screenshot.c_str());

  // Every DICOMweb response the browser saw was a success; the stack's frames
  // were all asked for (one request per instance, frame 1).
  std::map<std::string, int> frame_status_counts;
  size_t frame_requests = 0;
  for (const auto& request : report->value("requests", tools::Json::array())) {
    const std::string url = tools::JsonString(request, "url");
    const int64_t status = tools::JsonInt(request, "status");
    EXPECT_TRUE(status >= 200 && status < 300) << tools::JsonString(request, "method") << " " << url << " answered "
                                               << status << " (" << tools::JsonString(request, "content_type") << ")";
    if (url.find("/frames/") == std::string::npos) continue;
    ++frame_requests;
    ++frame_status_counts[std::to_string(status) + " " + tools::JsonString(request, "content_type")];
  }
  for (const auto& [what, count] : frame_status_counts) std::printf("frames: %d x %s\n", count, what.c_str());
  EXPECT_EQ(frame_requests, ct.size()) << "OHIF should ask for every slice's frame once";

  // The server's side: what it sent for those requests went out exactly as
  // stored (JPEG-LS after the settle), and nothing was decoded to be sent.
  const FrameCounts after = ServerFrameCounts(server.data_dir());
  std::printf("server frames: as stored %lld, decoded %lld\n", after.as_stored - before.as_stored,
              after.decoded - before.decoded);
  EXPECT_GE(after.as_stored - before.as_stored, static_cast<long long>(frame_requests));
  EXPECT_EQ(after.decoded - before.decoded, 0) << "frames were decoded on the server for the viewer";
}

// The viewer's own frame request by hand: the part's Content-Type names the
// stored syntax, JPEG-LS lossless (cornerstone would take a part without it
// as uncompressed).
void CheckFramePartType(WebServer& server, const SampleFile& instance, const std::vector<std::string>& headers) {
  std::string body;
  std::vector<std::string> all = {"Accept: multipart/related; type=application/octet-stream; transfer-syntax=*"};
  all.insert(all.end(), headers.begin(), headers.end());
  const int status = HttpGet(server.base_url() + "/dicom-web/studies/" + instance.study_uid + "/series/" +
                                 instance.series_uid + "/instances/" + instance.sop_instance_uid + "/frames/1",
                             all, &body);
  EXPECT_EQ(status, 200) << body.substr(0, 500);
  const std::string head = body.substr(0, 1000);
  EXPECT_NE(head.find("image/jls"), std::string::npos) << head;
  EXPECT_NE(head.find("transfer-syntax=1.2.840.10008.1.2.4.80"), std::string::npos) << head;
}

TEST(OhifViewerTest, OpensTheCtStudyFromTheStudyListAndDrawsItFromTheStoredJpegLsFrames) {
  const std::vector<SampleFile> ct = CtSeriesFiles();
  if (ct.size() != 140) GTEST_SKIP() << "the corpus CT series (140 files) is missing under " << CorpusDir();
  const fs::path viewer = WebClientWorkDir() / "ohif-dist";
  ASSERT_TRUE(fs::exists(viewer / "index.html"))
      << viewer << " has no OHIF viewer: the ctest fixture web_client_setup (tests/browser/setup.sh) fetches it";

  const fs::path dir = MakeTempDir("ohif_viewer");
  WebServer server(dir / "data", {"--viewer", viewer.string()});
  ASSERT_EQ(server.Start(), "");
  ASSERT_EQ(PushAndSettle(ct, server.process()), "");
  ViewAndCheck(server, ct, {}, "ohif_viewer.png");
  CheckFramePartType(server, ct[ct.size() / 2], {});
  EXPECT_EQ(server.process().Stop(), 0) << server.process().Log();
  fs::remove_all(dir);
}

// With --web-token-file every request needs the token: OHIF 3.13 sends it
// when the viewer's URL carries ?token= (docs/security.md), on every
// DICOMweb request of the page.
TEST(OhifViewerTest, WithATokenFileTheViewerOpenedWithItsTokenGetsEveryRequestAuthorized) {
  const std::vector<SampleFile> ct = CtSeriesFiles();
  if (ct.size() != 140) GTEST_SKIP() << "the corpus CT series (140 files) is missing under " << CorpusDir();
  const fs::path viewer = WebClientWorkDir() / "ohif-dist";
  ASSERT_TRUE(fs::exists(viewer / "index.html")) << viewer << " has no OHIF viewer (fixture web_client_setup)";

  const fs::path dir = MakeTempDir("ohif_viewer_token");
  const std::string token = "7f3a9c2e5b8d4f1a6c0e9b2d5a8f3c1e";
  const fs::path token_file = dir / "web-tokens";
  {
    std::ofstream out(token_file);
    out << token << " read\n";
  }
  fs::permissions(token_file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  WebServer server(dir / "data", {"--viewer", viewer.string(), "--web-token-file", token_file.string()},
                   "Authorization: Bearer " + token);
  ASSERT_EQ(server.Start(), "");
  ASSERT_EQ(PushAndSettle(ct, server.process()), "");
  EXPECT_EQ(HttpGet(server.base_url() + "/dicom-web/studies"), 401) << "no token: refused";
  ViewAndCheck(server, ct, {"--open", "/viewer?StudyInstanceUIDs=" + ct[0].study_uid + "&token=" + token},
               "ohif_viewer_token.png");
  CheckFramePartType(server, ct[ct.size() / 2], {"Authorization: Bearer " + token});
  EXPECT_EQ(server.process().Stop(), 0) << server.process().Log();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
