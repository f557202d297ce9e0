// OHIF 3.13.2 in headless Chromium against the real `pacscore serve
// --web-port P --viewer DIR`: the CT series pushed with storescu and settled
// (stored as JPEG-LS), the study found in the viewer's study list and opened,
// its middle slice drawn. The browser side (ohif_viewer.mjs) reports the
// viewport's pixels and every DICOMweb response; this side checks that every
// frame went out as stored, none decoded on the server. The screenshot stays in
// the build folder (tests/browser/artifacts/ohif_viewer.png).
#include <gtest/gtest.h>

#include <map>

#include "web_client_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

TEST(OhifViewerTest, OpensTheCtStudyFromTheStudyListAndDrawsItFromTheStoredJpegLsFrames) {
  const std::vector<SampleFile> ct = CtSeriesFiles();
  if (ct.size() != 140) GTEST_SKIP() << "the corpus CT series (140 files) is missing under " << CorpusDir();
  const fs::path viewer = WebClientWorkDir() / "ohif-dist";
  ASSERT_TRUE(fs::exists(viewer / "index.html"))
      << viewer << " has no OHIF viewer: the ctest fixture web_client_setup (tests/browser/setup.sh) fetches it";

  const fs::path dir = MakeTempDir("ohif_viewer");
  WebServer server(dir / "data", {"--viewer", viewer.string()});
  const std::string started = server.Start();
  ASSERT_EQ(started, "");
  ASSERT_EQ(PushAndSettle(ct, server.process()), "");
  const FrameCounts before = ServerFrameCounts(server.data_dir());

  const fs::path artifacts = WebClientWorkDir() / "artifacts";
  fs::create_directories(artifacts);
  const fs::path screenshot = artifacts / "ohif_viewer.png";
  fs::remove(screenshot);
  auto run = RunNodeScript("ohif_viewer.mjs",
                           {"--base-url", server.base_url(), "--patient-name", "HEAD", "--screenshot",
                            screenshot.string(), "--timeout-s", "100"},
                           std::chrono::seconds(130));
  auto report = LastJsonLine(run.output);
  ASSERT_TRUE(report.has_value()) << "ohif_viewer.mjs printed no report (exit " << run.exit_code << "):\n"
                                  << run.output;
  EXPECT_EQ(run.exit_code, 0) << run.output.substr(0, 8000) << "\nserver log:\n" << server.process().Log();
  EXPECT_TRUE(tools::JsonBool(*report, "ok")) << tools::JsonString(*report, "message");
  EXPECT_TRUE(fs::exists(screenshot)) << screenshot;
  std::printf("viewer: %s, first image after %lld ms, overlay '%s', viewport %s\n",
              tools::JsonString(*report, "viewer_url").c_str(),
              static_cast<long long>(tools::JsonInt(*report, "first_image_ms")),
              tools::JsonString(*report, "overlay").c_str(),
              report->value("pixels", tools::Json::object()).dump().c_str());

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

  // The same request as the viewer's, by hand: the part's Content-Type names
  // the stored syntax, JPEG-LS lossless (cornerstone would take a part
  // without it as uncompressed).
  const SampleFile& middle = ct[ct.size() / 2];
  std::string body;
  const int status = HttpGet(server.base_url() + "/dicom-web/studies/" + middle.study_uid + "/series/" +
                                 middle.series_uid + "/instances/" + middle.sop_instance_uid + "/frames/1",
                             {"Accept: multipart/related; type=application/octet-stream; transfer-syntax=*"}, &body);
  EXPECT_EQ(status, 200) << body.substr(0, 500);
  const std::string head = body.substr(0, 1000);
  EXPECT_NE(head.find("image/jls"), std::string::npos) << head;
  EXPECT_NE(head.find("transfer-syntax=1.2.840.10008.1.2.4.80"), std::string::npos) << head;

  EXPECT_EQ(server.process().Stop(), 0) << server.process().Log();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pacs::testing
