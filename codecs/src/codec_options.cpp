#include "pacs/codecs/codec_options.h"

namespace pacs::codecs {

bool UsesColourTransform(std::span<const uint8_t> j2k_codestream) {
  const auto& b = j2k_codestream;
  if (b.size() < 4 || b[0] != 0xFF || b[1] != 0x4F) return false;  // SOC
  // Main header: marker segments (FFxx + 16-bit length) up to the first SOT.
  size_t pos = 2;
  while (pos + 4 <= b.size() && b[pos] == 0xFF) {
    const uint8_t marker = b[pos + 1];
    const size_t length = static_cast<size_t>(b[pos + 2]) << 8 | b[pos + 3];
    if (marker == 0x90 || length < 2) return false;  // SOT: no COD seen
    if (marker == 0x52) {                            // COD: Scod, SGcod = order, layers(2), MCT
      const size_t mct = pos + 2 + 2 + 1 + 1 + 2;
      return mct < b.size() && b[mct] != 0;
    }
    pos += 2 + length;
  }
  return false;
}

}  // namespace pacs::codecs
