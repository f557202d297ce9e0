// /rendered's pixel pipeline (web/src/render.h) on frames made here: the
// Modality LUT before the linear VOI window (values worked out by hand from
// PS3.3 C.11.2.1.2.1), MONOCHROME1, min/max, colour, viewport, and the
// encoded pictures decoded back with libpng and libjpeg.
#include "render.h"

#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pacs::web {
namespace {

std::string Samples16(const std::vector<int32_t>& values) {
  std::string bytes;
  for (int32_t v : values) {
    const auto u = static_cast<uint16_t>(v);
    bytes += static_cast<char>(u & 0xff);
    bytes += static_cast<char>(u >> 8);
  }
  return bytes;
}

struct Decoded {
  uint32_t width = 0, height = 0;
  int channels = 0;
  std::vector<uint8_t> samples;
};

Decoded DecodePng(const std::string& bytes) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  EXPECT_NE(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()), 0) << image.message;
  Decoded out{image.width, image.height, (image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1, {}};
  image.format = out.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  out.samples.resize(PNG_IMAGE_SIZE(image));
  EXPECT_NE(png_image_finish_read(&image, nullptr, out.samples.data(), 0, nullptr), 0) << image.message;
  return out;
}

Decoded DecodeJpeg(const std::string& bytes) {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr error;
  cinfo.err = jpeg_std_error(&error);
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  jpeg_start_decompress(&cinfo);
  Decoded out{cinfo.output_width, cinfo.output_height, cinfo.output_components, {}};
  out.samples.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.samples.data() + static_cast<size_t>(cinfo.output_scanline) * out.width * out.channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

// A CT-like frame: 12 bits stored, intercept -1024, so stored = HU + 1024.
FramePixels CtFrame(const std::string& bytes, uint32_t columns, uint32_t rows) {
  return {.rows = rows,
          .columns = columns,
          .bits_allocated = 16,
          .bits_stored = 12,
          .photometric = "MONOCHROME2",
          .rescale_slope = 1,
          .rescale_intercept = -1024,
          .bytes = bytes};
}

TEST(Render, WindowAfterRescaleOnKnownPixels) {
  // HU -1024, -160, -159, 40, 239, 240, 976 with window 40/400: below
  // -160 black, above 239 white, in between ((x - 39.5) / 399 + 0.5) * 255.
  const std::string bytes = Samples16({0, 864, 865, 1064, 1263, 1264, 2000, 1024});
  RenderParams params{.format = PictureFormat::kPng, .window = RenderParams::Window{40, 400}};
  auto picture = RenderFrame(CtFrame(bytes, 8, 1), params);
  ASSERT_TRUE(picture.ok()) << picture.status().ToString();
  EXPECT_EQ(picture->media_type, "image/png");
  const Decoded png = DecodePng(picture->bytes);
  ASSERT_EQ(png.width, 8u);
  ASSERT_EQ(png.height, 1u);
  ASSERT_EQ(png.channels, 1);
  // -159: (-198.5 / 399 + 0.5) * 255 = 0.64 -> 1; 40: 127.82 -> 128; 0 (last): 102.25 -> 102.
  EXPECT_EQ(png.samples, (std::vector<uint8_t>{0, 0, 1, 128, 255, 255, 255, 102}));
}

TEST(Render, DatasetWindowUnlessTheRequestGivesOne) {
  const std::string bytes = Samples16({1024, 1074, 1124});  // HU 0, 50, 100
  FramePixels pixels = CtFrame(bytes, 3, 1);
  pixels.window = RenderParams::Window{50, 101};  // low -0.5, high 99.5
  auto raster = RenderRaster(pixels, {});
  ASSERT_TRUE(raster.ok());
  // HU 0: ((0 - 49.5) / 100 + 0.5) * 255 = 1.275 -> 1; HU 50: 128.775 -> 129; HU 100: above 99.5, 255.
  EXPECT_EQ(raster->samples, std::string({1, static_cast<char>(129), static_cast<char>(255)}));
  auto overridden = RenderRaster(pixels, {.window = RenderParams::Window{1000, 1}});
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ(overridden->samples, std::string(3, '\0'));  // all below 999.5
}

TEST(Render, MinMaxWhenNoWindowAndMonochrome1Inverted) {
  const std::string bytes = Samples16({100, 200, 300});
  FramePixels pixels = CtFrame(bytes, 3, 1);
  auto raster = RenderRaster(pixels, {});
  ASSERT_TRUE(raster.ok());
  EXPECT_EQ(static_cast<uint8_t>(raster->samples[0]), 0);
  EXPECT_EQ(static_cast<uint8_t>(raster->samples[1]), 128);
  EXPECT_EQ(static_cast<uint8_t>(raster->samples[2]), 255);
  pixels.photometric = "MONOCHROME1";
  auto inverted = RenderRaster(pixels, {});
  ASSERT_TRUE(inverted.ok());
  EXPECT_EQ(static_cast<uint8_t>(inverted->samples[0]), 255);
  EXPECT_EQ(static_cast<uint8_t>(inverted->samples[1]), 127);
  EXPECT_EQ(static_cast<uint8_t>(inverted->samples[2]), 0);
}

TEST(Render, SignedSamplesAndNegativeSlope) {
  // 16 bits stored, signed: -1000 and 1000; slope -1 swaps them.
  const std::string bytes = Samples16({-1000, 1000});
  FramePixels pixels{
      .rows = 1, .columns = 2, .bits_stored = 16, .is_signed = true, .rescale_slope = -1, .bytes = bytes};
  auto raster = RenderRaster(pixels, {});
  ASSERT_TRUE(raster.ok());
  EXPECT_EQ(static_cast<uint8_t>(raster->samples[0]), 255);
  EXPECT_EQ(static_cast<uint8_t>(raster->samples[1]), 0);
}

TEST(Render, ViewportKeepsTheAspect) {
  const std::string bytes = Samples16(std::vector<int32_t>(512 * 256, 1024));
  RenderParams params{.format = PictureFormat::kPng, .viewport_width = 128, .viewport_height = 128};
  auto picture = RenderFrame(CtFrame(bytes, 512, 256), params);
  ASSERT_TRUE(picture.ok());
  const Decoded png = DecodePng(picture->bytes);
  EXPECT_EQ(png.width, 128u);
  EXPECT_EQ(png.height, 64u);
  params.viewport_width = 1024;
  params.viewport_height = 1000;
  auto larger = RenderFrame(CtFrame(bytes, 512, 256), params);
  ASSERT_TRUE(larger.ok());
  EXPECT_EQ(larger->width, 1024u);
  EXPECT_EQ(larger->height, 512u);
}

TEST(Render, RgbPassesThroughPlanarOrNot) {
  const std::string interleaved = {10, 20, 30, 40, 50, 60};
  FramePixels pixels{.rows = 1,
                     .columns = 2,
                     .bits_allocated = 8,
                     .bits_stored = 8,
                     .samples_per_pixel = 3,
                     .photometric = "RGB",
                     .bytes = interleaved};
  auto png = RenderFrame(pixels, {.format = PictureFormat::kPng});
  ASSERT_TRUE(png.ok());
  const Decoded decoded = DecodePng(png->bytes);
  EXPECT_EQ(decoded.channels, 3);
  EXPECT_EQ(decoded.samples, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
  const std::string planar = {10, 40, 20, 50, 30, 60};
  pixels.planar = true;
  pixels.bytes = planar;
  auto raster = RenderRaster(pixels, {});
  ASSERT_TRUE(raster.ok());
  EXPECT_EQ(raster->samples, interleaved);
}

TEST(Render, JpegDecodesToTheRightSizeAndNearTheValues) {
  std::vector<int32_t> values(64 * 32);
  for (size_t i = 0; i < values.size(); ++i) values[i] = (i % 64) < 32 ? 864 : 1263;  // black | white
  const std::string bytes = Samples16(values);
  auto picture = RenderFrame(CtFrame(bytes, 64, 32), {.window = RenderParams::Window{40, 400}});
  ASSERT_TRUE(picture.ok());
  EXPECT_EQ(picture->media_type, "image/jpeg");
  const Decoded jpeg = DecodeJpeg(picture->bytes);
  ASSERT_EQ(jpeg.width, 64u);
  ASSERT_EQ(jpeg.height, 32u);
  EXPECT_LE(jpeg.samples[16 * 64 + 8], 4);
  EXPECT_GE(jpeg.samples[16 * 64 + 56], 251);
}

TEST(Render, RefusesWhatItCannotShow) {
  const std::string bytes(16, '\0');
  FramePixels palette{
      .rows = 2, .columns = 2, .bits_allocated = 8, .bits_stored = 8, .photometric = "PALETTE COLOR", .bytes = bytes};
  EXPECT_EQ(RenderRaster(palette, {}).status().code(), StatusCode::kUnsupported);
  FramePixels short_frame{.rows = 100, .columns = 100, .bytes = bytes};
  EXPECT_EQ(RenderRaster(short_frame, {}).status().code(), StatusCode::kCorruption);
  FramePixels one_bit{.rows = 2, .columns = 2, .bits_allocated = 1, .bytes = bytes};
  EXPECT_EQ(RenderRaster(one_bit, {}).status().code(), StatusCode::kUnsupported);
}

TEST(RenderQuery, ParametersAndAccept) {
  RenderParams params;
  EXPECT_TRUE(ParseRenderQuery("viewport", "256,128", params).ok());
  EXPECT_EQ(params.viewport_width, 256u);
  EXPECT_EQ(params.viewport_height, 128u);
  EXPECT_TRUE(ParseRenderQuery("window", "40,400,LINEAR", params).ok());
  ASSERT_TRUE(params.window.has_value());
  EXPECT_EQ(params.window->center, 40);
  EXPECT_EQ(params.window->width, 400);
  EXPECT_FALSE(ParseRenderQuery("viewport", "256", params).ok());
  EXPECT_FALSE(ParseRenderQuery("viewport", "a,b", params).ok());
  EXPECT_FALSE(ParseRenderQuery("window", "40,0", params).ok());
  EXPECT_FALSE(ParseRenderQuery("window", "40,400,SIGMOID", params).ok());
  EXPECT_FALSE(ParseRenderQuery("quality", "101", params).ok());
  EXPECT_EQ(PictureFormatFor(""), PictureFormat::kJpeg);
  EXPECT_EQ(PictureFormatFor("image/png"), PictureFormat::kPng);
  EXPECT_EQ(PictureFormatFor("image/gif, image/png;q=0.5"), PictureFormat::kPng);
  EXPECT_EQ(PictureFormatFor("*/*"), PictureFormat::kJpeg);
  EXPECT_EQ(PictureFormatFor("image/gif"), std::nullopt);
}

}  // namespace
}  // namespace pacs::web
