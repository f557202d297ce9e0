// WADO-RS /rendered and /thumbnail against the real server: a CT slice
// stored with STOW-RS, rendered to PNG and decoded (libpng), every pixel
// checked against the rescale + linear VOI window computed here from the
// original file's pixels; the dataset's own window; MONOCHROME1 inverted;
// viewport and thumbnail sizes; 404 for what is not stored, 406 for an
// Accept we cannot produce.
#include <gtest/gtest.h>
#include <png.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "stow_http_client.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

struct Decoded {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> grey;
};

Decoded DecodePngGrey(const std::string& bytes) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Decoded out;
  if (png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) == 0) {
    ADD_FAILURE() << "not a PNG: " << image.message;
    return out;
  }
  image.format = PNG_FORMAT_GRAY;
  out.width = image.width;
  out.height = image.height;
  out.grey.resize(PNG_IMAGE_SIZE(image));
  EXPECT_NE(png_image_finish_read(&image, nullptr, out.grey.data(), 0, nullptr), 0) << image.message;
  return out;
}

// The original file's grey pixels, modality values (slope, intercept applied).
struct Original {
  std::string study, series, instance;
  uint32_t rows = 0, columns = 0;
  std::vector<double> values;
};

Original ReadOriginal(const fs::path& path) {
  Original o;
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good()) << path;
  DcmDataset& ds = *file.getDataset();
  OFString s;
  ds.findAndGetOFString(DCM_StudyInstanceUID, s);
  o.study = s.c_str();
  ds.findAndGetOFString(DCM_SeriesInstanceUID, s);
  o.series = s.c_str();
  ds.findAndGetOFString(DCM_SOPInstanceUID, s);
  o.instance = s.c_str();
  Uint16 rows = 0, columns = 0, allocated = 0, stored = 0, representation = 0;
  ds.findAndGetUint16(DCM_Rows, rows);
  ds.findAndGetUint16(DCM_Columns, columns);
  ds.findAndGetUint16(DCM_BitsAllocated, allocated);
  ds.findAndGetUint16(DCM_BitsStored, stored);
  ds.findAndGetUint16(DCM_PixelRepresentation, representation);
  Float64 slope = 1, intercept = 0;
  ds.findAndGetFloat64(DCM_RescaleSlope, slope);
  ds.findAndGetFloat64(DCM_RescaleIntercept, intercept);
  o.rows = rows;
  o.columns = columns;
  const size_t count = static_cast<size_t>(rows) * columns;
  const Uint8* bytes = nullptr;
  unsigned long length = 0;
  EXPECT_TRUE(ds.findAndGetUint8Array(DCM_PixelData, bytes, &length).good());
  EXPECT_GE(length, count * allocated / 8);
  for (size_t i = 0; i < count; ++i) {
    uint32_t raw = allocated == 8 ? bytes[i] : (bytes[2 * i] | (bytes[2 * i + 1] << 8));  // little endian file
    raw &= (1u << stored) - 1;
    int64_t v = raw;
    if (representation == 1 && (raw >> (stored - 1)) != 0) v -= (1 << stored);
    o.values.push_back(v * slope + intercept);
  }
  return o;
}

// PS3.3 C.11.2.1.2.1, linear, to 0..255.
int Window(double x, double c, double w) {
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 255;
  return static_cast<int>(std::lround(((x - (c - 0.5)) / (w - 1) + 0.5) * 255));
}

class RenderedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(MakeTempDir("rendered"));
    web_port_ = FreePort();
    server_ = new ServerProcess(*dir_ / "data", {"--web-port", std::to_string(web_port_)});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    for (int i = 0; i < 100 && Http(web_port_, {.target = "/dicom-web/studies"}).status == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const char* file : {"dcm_qa_ct/philips_ct_140_slices/I10.dcm", "highdicom/dx_image.dcm"}) {
      const HttpReply stored =
          Http(web_port_,
               {.method = "POST",
                .target = "/dicom-web/studies",
                .headers = {{"Content-Type", "multipart/related; type=application/dicom; boundary=r"}},
                .body = MultipartBody("r", {{"Content-Type: application/dicom", ReadFileBytes(CorpusDir() / file)}})});
      ASSERT_EQ(stored.status, 200) << file << ": " << stored.error << stored.body << server_->Log();
    }
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->Stop(), 0) << server_->Log();
    delete server_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static HttpReply Get(const std::string& target, const std::string& accept) {
    return Http(web_port_, {.target = target, .headers = {{"Accept", accept}}});
  }
  static std::string InstanceUrl(const Original& o) {
    return "/dicom-web/studies/" + o.study + "/series/" + o.series + "/instances/" + o.instance;
  }

  static fs::path* dir_;
  static int web_port_;
  static ServerProcess* server_;
};

fs::path* RenderedTest::dir_ = nullptr;
int RenderedTest::web_port_ = 0;
ServerProcess* RenderedTest::server_ = nullptr;

TEST_F(RenderedTest, CtSliceWindowArithmeticOnEveryPixel) {
  const Original ct = ReadOriginal(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices/I10.dcm");
  // The request's window.
  const HttpReply reply = Get(InstanceUrl(ct) + "/rendered?window=40,400", "image/png");
  ASSERT_EQ(reply.status, 200) << reply.error << reply.body;
  EXPECT_EQ(reply.Header("content-type"), "image/png");
  const Decoded png = DecodePngGrey(reply.body);
  ASSERT_EQ(png.width, ct.columns);
  ASSERT_EQ(png.height, ct.rows);
  size_t wrong = 0, black = 0, white = 0, between = 0;
  for (size_t i = 0; i < ct.values.size(); ++i) {
    const int expected = Window(ct.values[i], 40, 400);
    wrong += png.grey[i] != expected;
    black += expected == 0;
    white += expected == 255;
    between += expected > 0 && expected < 255;
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_GT(black, 0u);  // the slice has air, bone and soft tissue: all three branches are checked
  EXPECT_GT(white, 0u);
  EXPECT_GT(between, 1000u);
  // The dataset's own first window (900/2500) when the request gives none; frame 1 is the same picture.
  const HttpReply own = Get(InstanceUrl(ct) + "/frames/1/rendered", "image/png");
  ASSERT_EQ(own.status, 200) << own.body;
  const Decoded own_png = DecodePngGrey(own.body);
  ASSERT_EQ(own_png.grey.size(), ct.values.size());
  size_t own_wrong = 0;
  for (size_t i = 0; i < ct.values.size(); ++i) own_wrong += own_png.grey[i] != Window(ct.values[i], 900, 2500);
  EXPECT_EQ(own_wrong, 0u);
}

TEST_F(RenderedTest, Monochrome1IsInverted) {
  const Original dx = ReadOriginal(CorpusDir() / "highdicom/dx_image.dcm");
  const HttpReply reply = Get(InstanceUrl(dx) + "/rendered?window=100,120", "image/png");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Decoded png = DecodePngGrey(reply.body);
  ASSERT_EQ(png.grey.size(), dx.values.size());
  size_t wrong = 0;
  for (size_t i = 0; i < dx.values.size(); ++i) wrong += png.grey[i] != 255 - Window(dx.values[i], 100, 120);
  EXPECT_EQ(wrong, 0u);
}

TEST_F(RenderedTest, ViewportThumbnailAndJpeg) {
  const Original ct = ReadOriginal(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices/I10.dcm");
  const HttpReply fitted = Get(InstanceUrl(ct) + "/rendered?viewport=200,100", "image/png");
  ASSERT_EQ(fitted.status, 200) << fitted.body;
  const Decoded png = DecodePngGrey(fitted.body);
  EXPECT_EQ(png.width, 100u);  // 512 x 512 fitted into 200 x 100
  EXPECT_EQ(png.height, 100u);
  const HttpReply thumbnail = Get(InstanceUrl(ct) + "/thumbnail", "image/png");
  ASSERT_EQ(thumbnail.status, 200) << thumbnail.body;
  const Decoded small = DecodePngGrey(thumbnail.body);
  EXPECT_EQ(small.width, 128u);
  EXPECT_EQ(small.height, 128u);
  const Original dx = ReadOriginal(CorpusDir() / "highdicom/dx_image.dcm");  // 211 x 169
  const HttpReply dx_thumbnail = Get(InstanceUrl(dx) + "/frames/1/thumbnail", "image/png");
  ASSERT_EQ(dx_thumbnail.status, 200) << dx_thumbnail.body;
  const Decoded dx_small = DecodePngGrey(dx_thumbnail.body);
  EXPECT_EQ(dx_small.width, 128u);
  EXPECT_EQ(dx_small.height, 103u);  // 169 * 128 / 211 = 102.52, rounded
  const HttpReply jpeg = Get(InstanceUrl(ct) + "/rendered", "");
  ASSERT_EQ(jpeg.status, 200) << jpeg.body;
  EXPECT_EQ(jpeg.Header("content-type"), "image/jpeg");
  ASSERT_GT(jpeg.body.size(), 4u);
  EXPECT_EQ(static_cast<uint8_t>(jpeg.body[0]), 0xFF);
  EXPECT_EQ(static_cast<uint8_t>(jpeg.body[1]), 0xD8);
}

TEST_F(RenderedTest, MissingThingsAndUnacceptableTypes) {
  const Original ct = ReadOriginal(CorpusDir() / "dcm_qa_ct/philips_ct_140_slices/I10.dcm");
  EXPECT_EQ(Get("/dicom-web/studies/1.2.3/series/" + ct.series + "/instances/" + ct.instance + "/rendered", "image/png")
                .status,
            404);
  EXPECT_EQ(Get("/dicom-web/studies/" + ct.study + "/series/" + ct.series + "/instances/1.2.3.4/rendered", "image/png")
                .status,
            404);
  EXPECT_EQ(Get(InstanceUrl(ct) + "/frames/2/rendered", "image/png").status, 404);
  EXPECT_EQ(Get(InstanceUrl(ct) + "/rendered", "image/gif").status, 406);
  EXPECT_EQ(Get(InstanceUrl(ct) + "/rendered?viewport=abc", "image/png").status, 400);
  EXPECT_EQ(Get(InstanceUrl(ct) + "/rendered?window=1,0", "image/png").status, 400);
  // Still answering.
  EXPECT_EQ(Get(InstanceUrl(ct) + "/rendered", "image/png").status, 200);
}

}  // namespace
}  // namespace pacs::testing
