// WADO-RS rendered resources (PS3.18 9.5, 9.6): /rendered and /thumbnail of
// an instance or of one frame, as image/jpeg (default) or image/png by
// Accept, through render.h (modality LUT, VOI window, MONOCHROME1,
// viewport). Thumbnails fit in kThumbnailSize unless a viewport is given.
#include <charconv>

#include "pacs/web/dicomweb.h"
#include "render.h"

namespace pacs::web {
namespace {

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnsupported:
      return 406;  // nothing acceptable can be produced from these pixels
    default:
      return 500;
  }
}

Response Render(const Request& request, DicomWebContext& context, bool thumbnail, bool frame_given) {
  RenderParams params;
  const auto format = PictureFormatFor(request.Header("accept"));
  if (!format)
    return Response::Error(
        406, "Accept \"" + request.Header("accept") + "\": rendered images are image/jpeg or image/png only");
  params.format = *format;
  for (const auto& [name, value] : request.query)
    if (Status s = ParseRenderQuery(name, value, params); !s.ok()) return Response::Error(400, s.message());
  if (thumbnail && params.viewport_width == 0 && params.viewport_height == 0)
    params.viewport_width = params.viewport_height = kThumbnailSize;
  RenderTarget target{.study_uid = request.Param("study"),
                      .series_uid = request.Param("series"),
                      .sop_instance_uid = request.Param("instance")};
  if (frame_given) {
    const std::string& frames = request.Param("frames");
    uint32_t frame = 0;
    auto [ptr, ec] = std::from_chars(frames.data(), frames.data() + frames.size(), frame);
    if (ec != std::errc() || ptr != frames.data() + frames.size() || frame == 0)
      return Response::Error(400,
                             "frame list \"" + frames + "\": rendered frames are one frame number (1-based) at a time");
    target.frame = frame;
  }
  auto picture = RenderStoredFrame(context.store(), target, params);
  if (!picture.ok()) return Response::Error(HttpStatusOf(picture.status()), picture.status().message());
  return Response::Text(200, picture->media_type, std::move(picture->bytes));
}

}  // namespace

void RegisterRenderedRoutes(Router& router, DicomWebContext& context) {
  const std::string instance = context.options().root + "/studies/{study}/series/{series}/instances/{instance}";
  for (const bool thumbnail : {false, true}) {
    const std::string leaf = thumbnail ? "/thumbnail" : "/rendered";
    router.Add("GET", instance + leaf,
               [&context, thumbnail](const Request& request) { return Render(request, context, thumbnail, false); });
    const std::string frame_path = instance + "/frames/{frames}";
    router.Add("GET", frame_path + leaf,
               [&context, thumbnail](const Request& request) { return Render(request, context, thumbnail, true); });
  }
}

}  // namespace pacs::web
