#include "fragments.h"

#include <cstdint>
#include <cstring>

namespace pacs::dicom {

Result<std::vector<size_t>> FrameStartFragments(const std::string& bot, const std::vector<size_t>& fragment_sizes,
                                                size_t frames) {
  std::vector<size_t> starts;
  if (frames == 0 || fragment_sizes.empty()) return Status::Unsupported("no frames or no fragments");
  if (fragment_sizes.size() == frames || frames == 1) {
    for (size_t f = 0; f < frames; ++f) starts.push_back(frames == 1 ? 0 : f);
    return starts;
  }
  if (bot.size() != 4 * frames)
    return Status::Unsupported(std::to_string(fragment_sizes.size()) + " fragments for " + std::to_string(frames) +
                               " frames and no usable offset table");
  // Offsets in the table count from the first fragment's item tag; each item
  // adds an 8-byte tag and length.
  uint64_t offset = 0;
  size_t k = 0;
  for (size_t f = 0; f < frames; ++f) {
    uint32_t begin = 0;
    std::memcpy(&begin, bot.data() + 4 * f, 4);
    while (k < fragment_sizes.size() && offset < begin) offset += 8 + fragment_sizes[k++];
    if (k >= fragment_sizes.size() || offset != begin)
      return Status::Unsupported("Basic Offset Table entry " + std::to_string(f) + " does not start a fragment");
    starts.push_back(k);
  }
  return starts;
}

Result<std::vector<std::string>> GroupFragments(const std::string& bot, const std::vector<std::string>& fragments,
                                                size_t frames) {
  std::vector<size_t> sizes;
  sizes.reserve(fragments.size());
  for (const auto& f : fragments) sizes.push_back(f.size());
  auto starts = FrameStartFragments(bot, sizes, frames);
  if (!starts.ok()) return starts.status();
  std::vector<std::string> out(frames);
  for (size_t f = 0; f < frames; ++f) {
    const size_t end = f + 1 < frames ? (*starts)[f + 1] : fragments.size();
    for (size_t k = (*starts)[f]; k < end; ++k) out[f] += fragments[k];
  }
  return out;
}

}  // namespace pacs::dicom
