#include "pacs/codecs/frame_codec.h"

#include <gtest/gtest.h>

namespace pacs::codecs {
namespace {

TEST(RawCodecTest, RoundTripsAndRejectsWrongSize) {
  FrameInfo info{.rows = 2, .columns = 3, .bits_allocated = 16, .bits_stored = 12};
  std::vector<uint8_t> raw(info.FrameBytes());
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7);
  auto codec = MakeCodec(CodecId::kRaw);
  auto encoded = codec->Encode(info, raw);
  ASSERT_TRUE(encoded.ok());
  auto decoded = codec->Decode(info, *encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, raw);
  raw.pop_back();
  EXPECT_FALSE(codec->Encode(info, raw).ok());
}

}  // namespace
}  // namespace pacs::codecs
