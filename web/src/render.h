// File: render.h
// WADO-RS /rendered and /thumbnail (PS3.18 9.5, 9.6): one frame of a stored
// instance as a JPEG or PNG picture for a screen. Grey images go through the
// Modality LUT (rescale slope and intercept) and then the linear VOI window
// of PS3.3 C.11.2.1.2 (the request's `window=`, else the dataset's first
// Window Center/Width, else the frame's min/max), MONOCHROME1 is inverted;
// colour images (RGB, YBR_FULL) are shown as RGB, 16-bit ones scaled to 8.
// `viewport=W,H` scales the picture to fit inside W x H, aspect kept.
//
//   auto picture = RenderStoredFrame(store, {.study_uid = S, .sop_instance_uid = I, .frame = 1}, params);
//   // picture->bytes, picture->media_type ("image/jpeg" or "image/png")
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pacs/base/result.h"
#include "pacs/engine/store.h"

namespace pacs::web {

enum class PictureFormat { kJpeg, kPng };

struct RenderParams {
  PictureFormat format = PictureFormat::kJpeg;
  struct Window {
    double center = 0;
    double width = 1;
  };
  std::optional<Window> window;  // `window=center,width[,function]`
  uint32_t viewport_width = 0;   // 0: the image's own size (or a thumbnail's)
  uint32_t viewport_height = 0;
  int jpeg_quality = 90;
};

// The default size of a /thumbnail (fitted inside, aspect kept).
inline constexpr uint32_t kThumbnailSize = 128;

// Parses the query parameters of /rendered: `viewport=W,H`, `window=C,W[,LINEAR]`
// and `quality=1..100`. InvalidArgument naming the bad one.
Status ParseRenderQuery(std::string_view name, std::string_view value, RenderParams& params);

// The picture format of an Accept header: image/jpeg (also the default for
// none, */* and image/*) or image/png; nullopt when neither is acceptable
// (answer 406).
std::optional<PictureFormat> PictureFormatFor(std::string_view accept);

// Native pixels of one frame with what the render needs of the dataset.
struct FramePixels {
  uint32_t rows = 0;
  uint32_t columns = 0;
  uint16_t bits_allocated = 16;  // 8 or 16
  uint16_t bits_stored = 16;
  uint16_t samples_per_pixel = 1;  // 1 or 3
  bool is_signed = false;
  bool planar = false;
  std::string photometric = "MONOCHROME2";
  double rescale_slope = 1;
  double rescale_intercept = 0;
  std::optional<RenderParams::Window> window;  // from the dataset
  std::string_view bytes;                      // little-endian samples
};

struct Picture {
  std::string media_type;
  std::string bytes;
  uint32_t width = 0;
  uint32_t height = 0;
};

// The 8-bit picture of `pixels` (1 or 3 samples per pixel, rows x columns
// after the viewport), before encoding. Exposed for tests.
struct Raster {
  uint32_t width = 0;
  uint32_t height = 0;
  int channels = 1;
  std::string samples;
};
Result<Raster> RenderRaster(const FramePixels& pixels, const RenderParams& params);

// Encodes a raster (libjpeg-turbo, libpng).
Result<std::string> EncodeJpeg(const Raster& raster, int quality);
Result<std::string> EncodePng(const Raster& raster);

Result<Picture> RenderFrame(const FramePixels& pixels, const RenderParams& params);

// Which stored frame to render.
struct RenderTarget {
  std::string study_uid;
  std::string series_uid;  // "": not checked
  std::string sop_instance_uid;
  uint32_t frame = 1;  // 1-based, as in /frames/{n}
};

// Reads the instance (NotFound when it is not stored under that study and
// series, or the frame does not exist), decodes the frame through the frame
// source, and renders it. Unsupported for pixels it cannot show (1 or 32
// bits, palette colour, a syntax nobody here decodes).
Result<Picture> RenderStoredFrame(const engine::Store& store, const RenderTarget& target, const RenderParams& params);

}  // namespace pacs::web
