#include "test_frames.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace pacs::codecs::testing {

const char* PatternName(Pattern pattern) {
  switch (pattern) {
    case Pattern::kConstantZero:
      return "ConstantZero";
    case Pattern::kConstantMax:
      return "ConstantMax";
    case Pattern::kNoise:
      return "Noise";
    case Pattern::kSmooth:
      return "Smooth";
    case Pattern::kSignedExtended:
      return "SignedExtended";
    case Pattern::kSignedMasked:
      return "SignedMasked";
    case Pattern::kGarbageAbove:
      return "GarbageAbove";
  }
  return "?";
}

std::vector<uint8_t> MakeFrame(const FrameInfo& info, Pattern pattern, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t bytes_per_sample = info.bits_allocated > 8 ? 2 : 1;
  const size_t count = info.FrameBytes() / bytes_per_sample;
  const uint32_t stored_mask = (1u << info.bits_stored) - 1u;
  const uint32_t word_mask = (1u << info.bits_allocated) - 1u;
  std::vector<uint8_t> frame(info.FrameBytes());
  for (size_t i = 0; i < count; ++i) {
    uint32_t value = 0;
    switch (pattern) {
      case Pattern::kConstantZero:
        value = 0;
        break;
      case Pattern::kConstantMax:
        value = stored_mask;
        break;
      case Pattern::kNoise:
        value = rng() & stored_mask;
        break;
      case Pattern::kSmooth: {
        const size_t pixel = i / info.samples_per_pixel;
        const uint32_t x = static_cast<uint32_t>(pixel % info.columns);
        const uint32_t y = static_cast<uint32_t>(pixel / info.columns);
        value = ((x * 7 + y * 3) + (rng() & 3)) & stored_mask;
        break;
      }
      case Pattern::kSignedExtended:
      case Pattern::kSignedMasked: {
        const int32_t half = 1 << (info.bits_stored - 1);
        const int32_t v = static_cast<int32_t>(rng() % (2u * half)) - half;
        value = static_cast<uint32_t>(v) & (pattern == Pattern::kSignedMasked ? stored_mask : word_mask);
        break;
      }
      case Pattern::kGarbageAbove:
        value = rng() & word_mask;
        break;
    }
    if (bytes_per_sample == 1) {
      frame[i] = static_cast<uint8_t>(value);
    } else {
      frame[2 * i] = static_cast<uint8_t>(value);
      frame[2 * i + 1] = static_cast<uint8_t>(value >> 8);
    }
  }
  return frame;
}

std::string CorpusDir() {
  return PACS_CORPUS_DIR;
}

std::vector<CorpusEntry> ReadManifest() {
  std::vector<CorpusEntry> entries;
  std::ifstream in(CorpusDir() + "/MANIFEST.tsv");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, '\t')) cols.push_back(field);
    if (cols.size() < 17) continue;
    auto number = [](const std::string& text) -> uint32_t {
      return text.empty() ? 0 : static_cast<uint32_t>(std::stoul(text));
    };
    CorpusEntry entry;
    entry.relative_path = cols[0];
    entry.modality = cols[4];
    entry.info.rows = number(cols[5]);
    entry.info.columns = number(cols[6]);
    entry.info.bits_allocated = static_cast<uint16_t>(number(cols[7]));
    entry.info.bits_stored = static_cast<uint16_t>(number(cols[8]));
    entry.info.is_signed = cols[9] == "1";
    entry.info.samples_per_pixel = static_cast<uint16_t>(number(cols[10]));
    entry.frames = cols[11].empty() ? 1 : number(cols[11]);
    entry.transfer_syntax = cols[12];
    entry.photometric = cols[16];
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::optional<std::vector<uint8_t>> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

bool IsNativeLittleEndian(const std::string& transfer_syntax) {
  return transfer_syntax == "1.2.840.10008.1.2" || transfer_syntax == "1.2.840.10008.1.2.1";
}

namespace {
uint32_t Le32(const uint8_t* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint16_t Le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}
constexpr uint8_t kPixelDataTag[4] = {0xE0, 0x7F, 0x10, 0x00};

// Header size and value length of an element at `pos` (the tag), for either
// explicit VR (OB/OW with 4-byte length) or implicit VR.
bool ElementHeader(std::span<const uint8_t> file, size_t pos, size_t* header, uint32_t* length) {
  if (pos + 12 > file.size()) return false;
  const uint8_t* p = file.data() + pos;
  if ((p[4] == 'O' && (p[5] == 'B' || p[5] == 'W')) && p[6] == 0 && p[7] == 0) {
    *header = 12;
    *length = Le32(p + 8);
  } else {
    *header = 8;
    *length = Le32(p + 4);
  }
  return true;
}
}  // namespace

std::optional<std::span<const uint8_t>> FindNativePixelData(std::span<const uint8_t> file, size_t min_bytes) {
  for (size_t pos = 0; pos + 12 <= file.size(); ++pos) {
    if (std::memcmp(file.data() + pos, kPixelDataTag, 4) != 0) continue;
    size_t header = 0;
    uint32_t length = 0;
    if (!ElementHeader(file, pos, &header, &length) || length == 0xFFFFFFFFu) continue;
    if (length >= min_bytes && pos + header + length <= file.size()) return file.subspan(pos + header, min_bytes);
  }
  return std::nullopt;
}

std::vector<std::vector<uint8_t>> FindEncapsulatedFrames(std::span<const uint8_t> file, uint32_t frames) {
  for (size_t pos = 0; pos + 12 <= file.size(); ++pos) {
    if (std::memcmp(file.data() + pos, kPixelDataTag, 4) != 0) continue;
    size_t header = 0;
    uint32_t length = 0;
    if (!ElementHeader(file, pos, &header, &length) || length != 0xFFFFFFFFu) continue;
    std::vector<std::vector<uint8_t>> fragments;
    size_t item = pos + header;
    bool first = true;
    while (item + 8 <= file.size() && Le16(file.data() + item) == 0xFFFE) {
      const uint16_t element = Le16(file.data() + item + 2);
      const uint32_t item_length = Le32(file.data() + item + 4);
      if (element == 0xE0DD) break;  // sequence delimiter
      if (element != 0xE000 || item + 8 + item_length > file.size()) return {};
      if (!first) fragments.emplace_back(file.begin() + item + 8, file.begin() + item + 8 + item_length);
      first = false;  // the first item is the basic offset table
      item += 8 + item_length;
    }
    if (frames == 1 && fragments.size() > 1) {
      std::vector<uint8_t> joined;
      for (const auto& fragment : fragments) joined.insert(joined.end(), fragment.begin(), fragment.end());
      return {joined};
    }
    return fragments;
  }
  return {};
}

bool ReadPlanarConfiguration(std::span<const uint8_t> file) {
  constexpr uint8_t kTag[4] = {0x28, 0x00, 0x06, 0x00};
  for (size_t pos = 0; pos + 10 <= file.size(); ++pos) {
    if (std::memcmp(file.data() + pos, kTag, 4) != 0) continue;
    const uint8_t* p = file.data() + pos;
    if (p[4] == 'U' && p[5] == 'S' && Le16(p + 6) == 2) return Le16(p + 8) == 1;
    if (Le32(p + 4) == 2 && pos + 10 <= file.size()) return Le16(p + 8) == 1;
  }
  return false;
}

}  // namespace pacs::codecs::testing
