// Private constructors of the codec adapters; MakeCodec() is the public way in.
#pragma once

#include <memory>

#include "pacs/codecs/frame_codec.h"

namespace pacs::codecs::internal {
std::unique_ptr<FrameCodec> MakeJpegLsCodec();
std::unique_ptr<FrameCodec> MakeJ2kCodec(bool colour_transform);
std::unique_ptr<FrameCodec> MakeHtj2kCodec(bool colour_transform);
}  // namespace pacs::codecs::internal
