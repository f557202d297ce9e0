#include "render.h"

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/instance_split.h"

namespace pacs::web {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool ParseDouble(std::string_view text, double& out) {
  text = Trim(text);
  if (text.empty()) return false;
  const std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && std::isfinite(out);
}

bool ParseUint(std::string_view text, uint32_t& out) {
  text = Trim(text);
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t pos = text.find(separator, start);
    out.push_back(text.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

// PS3.3 C.11.2.1.2.1, linear function, output 0..255.
uint8_t LinearVoi(double x, double center, double width) {
  const double low = center - 0.5 - (width - 1) / 2;
  const double high = center - 0.5 + (width - 1) / 2;
  if (x <= low) return 0;
  if (x > high) return 255;
  const double y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0;
  return static_cast<uint8_t>(std::clamp(std::lround(y), 0L, 255L));
}

// The stored sample `i` of `pixels`, masked to BitsStored and sign-extended.
int32_t SampleAt(const FramePixels& pixels, size_t i, uint16_t bits_stored) {
  uint32_t raw = pixels.bits_allocated == 8
                     ? static_cast<uint8_t>(pixels.bytes[i])
                     : static_cast<uint32_t>(static_cast<uint8_t>(pixels.bytes[2 * i])) |
                           (static_cast<uint32_t>(static_cast<uint8_t>(pixels.bytes[2 * i + 1])) << 8);
  const uint32_t mask = bits_stored >= 32 ? 0xffffffffu : ((1u << bits_stored) - 1);
  raw &= mask;
  if (pixels.is_signed && (raw & (1u << (bits_stored - 1))) != 0) return static_cast<int32_t>(raw | ~mask);
  return static_cast<int32_t>(raw);
}

// Box-filtered (down) or nearest (up) resize of an interleaved 8-bit raster.
Raster Resize(const Raster& in, uint32_t width, uint32_t height) {
  if (width == in.width && height == in.height) return in;
  Raster out{.width = width, .height = height, .channels = in.channels};
  out.samples.resize(static_cast<size_t>(width) * height * in.channels);
  for (uint32_t y = 0; y < height; ++y) {
    const uint64_t y0 = static_cast<uint64_t>(y) * in.height / height;
    const uint64_t y1 = std::max<uint64_t>(y0 + 1, static_cast<uint64_t>(y + 1) * in.height / height);
    for (uint32_t x = 0; x < width; ++x) {
      const uint64_t x0 = static_cast<uint64_t>(x) * in.width / width;
      const uint64_t x1 = std::max<uint64_t>(x0 + 1, static_cast<uint64_t>(x + 1) * in.width / width);
      for (int c = 0; c < in.channels; ++c) {
        uint64_t sum = 0;
        for (uint64_t sy = y0; sy < y1; ++sy)
          for (uint64_t sx = x0; sx < x1; ++sx)
            sum += static_cast<uint8_t>(in.samples[(sy * in.width + sx) * in.channels + c]);
        const uint64_t count = (y1 - y0) * (x1 - x0);
        out.samples[(static_cast<size_t>(y) * width + x) * in.channels + c] =
            static_cast<char>((sum + count / 2) / count);
      }
    }
  }
  return out;
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void JpegErrorExit(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

// The libjpeg part, with no C++ object alive across its setjmp.
bool CompressJpeg(const Raster& raster, int quality, unsigned char** buffer, unsigned long* size, char* message) {
  jpeg_compress_struct cinfo;
  JpegError error;
  cinfo.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = JpegErrorExit;
  if (setjmp(error.jump)) {
    std::memcpy(message, error.message, JMSG_LENGTH_MAX);
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, buffer, size);
  cinfo.image_width = raster.width;
  cinfo.image_height = raster.height;
  cinfo.input_components = raster.channels;
  cinfo.in_color_space = raster.channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(raster.width) * raster.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    auto* row = reinterpret_cast<JSAMPROW>(const_cast<char*>(raster.samples.data()) + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

void PngWrite(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), length);
}
void PngFlush(png_structp /*png*/) {}
void PngError(png_structp png, png_const_charp message) {
  std::strncpy(static_cast<char*>(png_get_error_ptr(png)), message, 255);
  png_longjmp(png, 1);
}
void PngWarning(png_structp /*png*/, png_const_charp /*message*/) {}

bool CompressPng(const Raster& raster, std::string* out, char* message) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, PngError, PngWarning);
  if (png == nullptr) {
    std::strcpy(message, "png_create_write_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, PngWrite, PngFlush);
  png_set_IHDR(png, info, raster.width, raster.height, 8,
               raster.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 3);
  png_write_info(png, info);
  const size_t stride = static_cast<size_t>(raster.width) * raster.channels;
  for (uint32_t y = 0; y < raster.height; ++y)
    png_write_row(png, reinterpret_cast<png_const_bytep>(raster.samples.data() + y * stride));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

std::string StringOf(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFString(tag, value).good()) return std::string(value.c_str(), value.length());
  // Enhanced objects keep these in the functional groups: the first found.
  if (item.findAndGetOFString(tag, value, 0, OFTrue).good()) return std::string(value.c_str(), value.length());
  return "";
}

std::optional<double> DoubleOf(DcmItem& item, const DcmTagKey& tag) {
  const std::string text = StringOf(item, tag);
  double value = 0;
  if (!ParseDouble(text, value)) return std::nullopt;
  return value;
}

}  // namespace

Status ParseRenderQuery(std::string_view name, std::string_view value, RenderParams& params) {
  if (name == "viewport") {
    const auto parts = Split(value, ',');
    uint32_t width = 0, height = 0;
    if (parts.size() != 2 || !ParseUint(parts[0], width) || !ParseUint(parts[1], height) || width > 8192 ||
        height > 8192 || (width == 0 && height == 0))
      return Status::InvalidArgument("viewport=" + std::string(value) +
                                     " is not W,H (pixels, 1 to 8192, one of them may be 0)");
    params.viewport_width = width;
    params.viewport_height = height;
    return Status::Ok();
  }
  if (name == "window") {
    const auto parts = Split(value, ',');
    double center = 0, width = 0;
    if (parts.size() < 2 || parts.size() > 3 || !ParseDouble(parts[0], center) || !ParseDouble(parts[1], width) ||
        width < 1)
      return Status::InvalidArgument("window=" + std::string(value) + " is not center,width[,linear] with width >= 1");
    if (parts.size() == 3 && Lower(Trim(parts[2])) != "linear")
      return Status::InvalidArgument("window function " + std::string(parts[2]) + " is not supported (only linear)");
    params.window = RenderParams::Window{center, width};
    return Status::Ok();
  }
  if (name == "quality") {
    uint32_t quality = 0;
    if (!ParseUint(value, quality) || quality < 1 || quality > 100)
      return Status::InvalidArgument("quality=" + std::string(value) + " is not 1 to 100");
    params.jpeg_quality = static_cast<int>(quality);
    return Status::Ok();
  }
  return Status::Ok();  // other parameters (annotation, charset, ...) are ignored
}

std::optional<PictureFormat> PictureFormatFor(std::string_view accept) {
  if (Trim(accept).empty()) return PictureFormat::kJpeg;
  // The first acceptable entry wins, in the order sent (q-values not weighed).
  for (std::string_view entry : Split(accept, ',')) {
    const std::string type = Lower(Trim(entry.substr(0, entry.find(';'))));
    if (type == "image/jpeg" || type == "image/*" || type == "*/*") return PictureFormat::kJpeg;
    if (type == "image/png") return PictureFormat::kPng;
  }
  return std::nullopt;
}

Result<Raster> RenderRaster(const FramePixels& pixels, const RenderParams& params) {
  if (pixels.rows == 0 || pixels.columns == 0) return Status::InvalidArgument("the frame has no rows or columns");
  if (pixels.bits_allocated != 8 && pixels.bits_allocated != 16)
    return Status::Unsupported("rendering " + std::to_string(pixels.bits_allocated) +
                               "-bit pixels is not supported (8 or 16)");
  if (pixels.samples_per_pixel != 1 && pixels.samples_per_pixel != 3)
    return Status::Unsupported(std::to_string(pixels.samples_per_pixel) + " samples per pixel cannot be rendered");
  const size_t count = static_cast<size_t>(pixels.rows) * pixels.columns;
  const size_t bytes_per_sample = pixels.bits_allocated / 8;
  if (pixels.bytes.size() < count * pixels.samples_per_pixel * bytes_per_sample)
    return Status::Corruption("the frame holds " + std::to_string(pixels.bytes.size()) + " bytes, less than its " +
                              std::to_string(count * pixels.samples_per_pixel * bytes_per_sample));
  const uint16_t bits_stored = pixels.bits_stored == 0 || pixels.bits_stored > pixels.bits_allocated
                                   ? pixels.bits_allocated
                                   : pixels.bits_stored;
  Raster raster{.width = pixels.columns, .height = pixels.rows, .channels = pixels.samples_per_pixel == 3 ? 3 : 1};
  raster.samples.resize(count * raster.channels);
  if (pixels.samples_per_pixel == 1) {
    const bool inverted = pixels.photometric == "MONOCHROME1";
    if (pixels.photometric != "MONOCHROME1" && pixels.photometric != "MONOCHROME2" && !pixels.photometric.empty())
      return Status::Unsupported("photometric interpretation " + pixels.photometric + " cannot be rendered");
    const double slope = pixels.rescale_slope == 0 ? 1 : pixels.rescale_slope;
    const double intercept = pixels.rescale_intercept;
    std::optional<RenderParams::Window> window = params.window ? params.window : pixels.window;
    if (window && window->width < 1) window.reset();
    if (!window) {
      int32_t low = SampleAt(pixels, 0, bits_stored), high = low;
      for (size_t i = 1; i < count; ++i) {
        const int32_t v = SampleAt(pixels, i, bits_stored);
        low = std::min(low, v);
        high = std::max(high, v);
      }
      const double a = low * slope + intercept, b = high * slope + intercept;
      const double width = std::max(a, b) - std::min(a, b) + 1;
      window = RenderParams::Window{std::min(a, b) + width / 2, width};
    }
    // One output value per possible stored value.
    const int32_t min_stored = pixels.is_signed ? -(1 << (bits_stored - 1)) : 0;
    const int32_t max_stored = pixels.is_signed ? (1 << (bits_stored - 1)) - 1 : (1 << bits_stored) - 1;
    std::vector<uint8_t> lut(static_cast<size_t>(max_stored - min_stored + 1));
    for (int32_t v = min_stored; v <= max_stored; ++v) {
      uint8_t y = LinearVoi(v * slope + intercept, window->center, window->width);
      lut[v - min_stored] = inverted ? static_cast<uint8_t>(255 - y) : y;
    }
    for (size_t i = 0; i < count; ++i)
      raster.samples[i] = static_cast<char>(lut[SampleAt(pixels, i, bits_stored) - min_stored]);
  } else {
    const bool ybr = pixels.photometric == "YBR_FULL";
    if (pixels.photometric != "RGB" && !ybr)
      return Status::Unsupported("photometric interpretation " + pixels.photometric + " cannot be rendered");
    const int shift = bits_stored > 8 ? bits_stored - 8 : 0;
    for (size_t i = 0; i < count; ++i) {
      int c[3];
      for (int s = 0; s < 3; ++s) {
        const size_t index = pixels.planar ? s * count + i : i * 3 + s;
        c[s] = std::clamp(SampleAt(pixels, index, bits_stored) >> shift, 0, 255);
      }
      if (ybr) {
        const double y = c[0], cb = c[1] - 128.0, cr = c[2] - 128.0;
        c[0] = static_cast<int>(std::clamp(std::lround(y + 1.402 * cr), 0L, 255L));
        c[1] = static_cast<int>(std::clamp(std::lround(y - 0.344136 * cb - 0.714136 * cr), 0L, 255L));
        c[2] = static_cast<int>(std::clamp(std::lround(y + 1.772 * cb), 0L, 255L));
      }
      for (int s = 0; s < 3; ++s) raster.samples[i * 3 + s] = static_cast<char>(c[s]);
    }
  }
  uint32_t width = raster.width, height = raster.height;
  if (params.viewport_width > 0 || params.viewport_height > 0) {
    const double sx = params.viewport_width > 0 ? static_cast<double>(params.viewport_width) / raster.width : 1e9;
    const double sy = params.viewport_height > 0 ? static_cast<double>(params.viewport_height) / raster.height : 1e9;
    const double scale = std::min(sx, sy);
    width = static_cast<uint32_t>(std::max(1L, std::lround(raster.width * scale)));
    height = static_cast<uint32_t>(std::max(1L, std::lround(raster.height * scale)));
    if (params.viewport_width > 0) width = std::min(width, params.viewport_width);
    if (params.viewport_height > 0) height = std::min(height, params.viewport_height);
  }
  return Resize(raster, width, height);
}

Result<std::string> EncodeJpeg(const Raster& raster, int quality) {
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  char message[JMSG_LENGTH_MAX] = {};
  const bool ok = CompressJpeg(raster, quality, &buffer, &size, message);
  std::string out;
  if (ok) out.assign(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  if (!ok) return Status::Internal(std::string("JPEG encoding failed: ") + message);
  return out;
}

Result<std::string> EncodePng(const Raster& raster) {
  std::string out;
  char message[256] = {};
  if (!CompressPng(raster, &out, message)) return Status::Internal(std::string("PNG encoding failed: ") + message);
  return out;
}

Result<Picture> RenderFrame(const FramePixels& pixels, const RenderParams& params) {
  auto raster = RenderRaster(pixels, params);
  if (!raster.ok()) return raster.status();
  Picture picture{.width = raster->width, .height = raster->height};
  if (params.format == PictureFormat::kPng) {
    auto bytes = EncodePng(*raster);
    if (!bytes.ok()) return bytes.status();
    picture.media_type = "image/png";
    picture.bytes = std::move(*bytes);
  } else {
    auto bytes = EncodeJpeg(*raster, params.jpeg_quality);
    if (!bytes.ok()) return bytes.status();
    picture.media_type = "image/jpeg";
    picture.bytes = std::move(*bytes);
  }
  return picture;
}

Result<Picture> RenderStoredFrame(const engine::Store& store, const RenderTarget& target, const RenderParams& params) {
  auto record = store.GetInstance(target.sop_instance_uid);
  if (!record.ok()) {
    if (record.status().code() == StatusCode::kNotFound)
      return Status::NotFound("no instance " + target.sop_instance_uid + " is stored");
    return record.status();
  }
  if (record->study_instance_uid != target.study_uid ||
      (!target.series_uid.empty() && record->series_instance_uid != target.series_uid))
    return Status::NotFound("instance " + target.sop_instance_uid + " is not in study " + target.study_uid +
                            (target.series_uid.empty() ? "" : ", series " + target.series_uid));
  if (record->pixel_layout == engine::PixelLayout::kNone)
    return Status::NotFound("instance " + target.sop_instance_uid + " has no pixel data to render");
  auto file = dicom::LoadStoredHeader(store, *record);
  if (!file.ok()) return file.status();
  DcmDataset& header = *(*file)->getDataset();
  auto source = dicom::FrameSource::Open(store, *record, header);
  if (!source.ok()) return source.status();
  if (target.frame < 1 || target.frame > source->frame_count())
    return Status::NotFound("frame " + std::to_string(target.frame) + " of instance " + target.sop_instance_uid +
                            " does not exist (it has " + std::to_string(source->frame_count()) + ")");
  if (!source->info().ok()) return source->info().status();
  const codecs::FrameInfo& info = *source->info();
  auto stored = source->Read(target.frame - 1);
  if (!stored.ok()) return stored.status();
  auto native = source->Decode(target.frame - 1, std::move(*stored));
  if (!native.ok()) return native.status();
  FramePixels pixels{.rows = info.rows,
                     .columns = info.columns,
                     .bits_allocated = info.bits_allocated,
                     .bits_stored = info.bits_stored,
                     .samples_per_pixel = info.samples_per_pixel,
                     .is_signed = info.is_signed,
                     .planar = info.planar,
                     .photometric = StringOf(header, DCM_PhotometricInterpretation),
                     .bytes = *native};
  pixels.rescale_slope = DoubleOf(header, DCM_RescaleSlope).value_or(1);
  pixels.rescale_intercept = DoubleOf(header, DCM_RescaleIntercept).value_or(0);
  const auto center = DoubleOf(header, DCM_WindowCenter), width = DoubleOf(header, DCM_WindowWidth);
  if (center && width && *width >= 1) pixels.window = RenderParams::Window{*center, *width};
  auto picture = RenderFrame(pixels, params);
  if (!picture.ok()) return picture.status().WithContext("instance " + target.sop_instance_uid);
  return picture;
}

}  // namespace pacs::web
