// Test-only helpers for tests/codecs: synthetic frames with the edge cases
// the lossless codecs must keep bit-exact, and a small reader that pulls
// native and encapsulated pixel data out of the shared corpus without DCMTK
// (the codecs module does not link it).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "pacs/codecs/frame_codec.h"

namespace pacs::codecs::testing {

enum class Pattern {
  kConstantZero,
  kConstantMax,     // all bits_stored bits set
  kNoise,           // uniform over bits_stored bits, upper bits zero
  kSmooth,          // gradient plus a little noise: what scanners produce
  kSignedExtended,  // signed values sign-extended into bits_allocated
  kSignedMasked,    // signed values as bits_stored-bit patterns, upper bits zero
  kGarbageAbove,    // random bits above bits_stored (overlays, junk)
};

const char* PatternName(Pattern pattern);

std::vector<uint8_t> MakeFrame(const FrameInfo& info, Pattern pattern, uint32_t seed = 1);

// One row of corpus/MANIFEST.tsv, reduced to what the codec tests need.
struct CorpusEntry {
  std::string relative_path;
  std::string modality;
  std::string transfer_syntax;
  std::string photometric;
  FrameInfo info;
  uint32_t frames = 1;
};

std::string CorpusDir();
std::vector<CorpusEntry> ReadManifest();
std::optional<std::vector<uint8_t>> ReadWholeFile(const std::string& path);

bool IsNativeLittleEndian(const std::string& transfer_syntax);

// The value of the top-level native Pixel Data element (7FE0,0010) of a
// little-endian file: the first element with that tag whose length holds
// `min_bytes` and fits the file (nested icon images are smaller).
std::optional<std::span<const uint8_t>> FindNativePixelData(std::span<const uint8_t> file, size_t min_bytes);

// The codestream of each frame of an encapsulated Pixel Data element; for a
// single-frame file all fragments are concatenated into one.
std::vector<std::vector<uint8_t>> FindEncapsulatedFrames(std::span<const uint8_t> file, uint32_t frames);

// PlanarConfiguration (0028,0006) read from the file bytes; false if absent.
bool ReadPlanarConfiguration(std::span<const uint8_t> file);

}  // namespace pacs::codecs::testing
