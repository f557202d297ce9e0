// Test- and bench-only: grayscale frames of the shared DICOM corpus, read with
// DCMTK's dcmdata (native files) or decoded with CharLS (JPEG-LS files), as
// the samples a JPEG-LS encoder takes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pacs::jls::testing {

struct CorpusFrame {
  std::string file;    // relative to the corpus folder
  uint32_t index = 0;  // frame number within the file
  uint32_t rows = 0;
  uint32_t columns = 0;
  int bits_allocated = 0;  // 8 or 16
  int bits_stored = 0;
  std::vector<uint16_t> samples;  // one per pixel, as stored (bits above bits_stored kept)
};

std::string CorpusDir();

// Every frame of every single-sample 8/16-bit file of MANIFEST.tsv whose
// transfer syntax is native (implicit/explicit little, explicit big endian),
// or with native == false, compressed in a way decoded here (JPEG and RLE by
// DCMTK, JPEG-LS by CharLS; JPEG 2000 files are skipped). Unreadable
// (deliberately malformed) files are skipped.
std::vector<CorpusFrame> GrayscaleFrames(bool native);

// The frames of one file (native, JPEG/RLE decoded by DCMTK or JPEG-LS
// decoded by CharLS); `limit` caps the number of frames (0: all).
std::vector<CorpusFrame> FramesOfFile(const std::string& relative_path, uint32_t limit = 0);

// The samples as CharLS takes them at `bits` precision: bytes up to 8 bits,
// 16-bit words above.
std::vector<uint8_t> AsEncoderInput(const CorpusFrame& frame, int bits);

}  // namespace pacs::jls::testing
