#include "corpus_frames.h"

#include <charls/charls.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace pacs::jls::testing {
namespace {

constexpr const char* kNativeSyntaxes[] = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"};
constexpr const char* kJpegLsSyntaxes[] = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"};
// Decoded by DCMTK itself (dcmjpeg's IJG codecs, dcmdata's RLE): no CharLS copy.
constexpr const char* kDcmtkDecodedSyntaxes[] = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
                                                 "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
                                                 "1.2.840.10008.1.2.5"};

void RegisterDcmtkDecoders() {
  static const bool registered = [] {
    DJDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    return true;
  }();
  (void)registered;
}

template <size_t N>
bool OneOf(const std::string& value, const char* const (&list)[N]) {
  for (const char* item : list)
    if (value == item) return true;
  return false;
}

uint16_t GetUint16(DcmDataset* dataset, const DcmTagKey& tag, uint16_t fallback = 0) {
  Uint16 value = fallback;
  return dataset->findAndGetUint16(tag, value).good() ? value : fallback;
}

std::vector<CorpusFrame> ReadNative(DcmDataset* dataset, CorpusFrame proto, uint32_t frames, uint32_t limit) {
  std::vector<CorpusFrame> out;
  const size_t pixels = static_cast<size_t>(proto.rows) * proto.columns;
  if (limit != 0 && frames > limit) frames = limit;
  if (proto.bits_allocated == 16) {
    const Uint16* words = nullptr;
    unsigned long count = 0;
    if (dataset->findAndGetUint16Array(DCM_PixelData, words, &count).bad() || words == nullptr) return out;
    for (uint32_t f = 0; f < frames && (f + 1) * pixels <= count; ++f) {
      CorpusFrame frame = proto;
      frame.index = f;
      frame.samples.assign(words + f * pixels, words + (f + 1) * pixels);
      out.push_back(std::move(frame));
    }
  } else {
    const Uint8* bytes = nullptr;
    unsigned long count = 0;
    if (dataset->findAndGetUint8Array(DCM_PixelData, bytes, &count).bad() || bytes == nullptr) return out;
    for (uint32_t f = 0; f < frames && (f + 1) * pixels <= count; ++f) {
      CorpusFrame frame = proto;
      frame.index = f;
      frame.samples.assign(bytes + f * pixels, bytes + (f + 1) * pixels);
      out.push_back(std::move(frame));
    }
  }
  return out;
}

// JPEG-LS frames: the fragments of each item of the pixel sequence, decoded by
// CharLS (single-frame files may split one frame over several fragments).
std::vector<CorpusFrame> ReadJpegLs(DcmDataset* dataset, CorpusFrame proto, uint32_t frames, uint32_t limit) {
  std::vector<CorpusFrame> out;
  DcmElement* element = nullptr;
  if (dataset->findAndGetElement(DCM_PixelData, element).bad()) return out;
  auto* pixel_data = static_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  E_TransferSyntax xfer = dataset->getOriginalXfer();
  if (pixel_data->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || !sequence) return out;
  std::vector<std::vector<uint8_t>> codestreams;
  for (unsigned long i = 1; i < sequence->card(); ++i) {  // item 0 is the offset table
    DcmPixelItem* item = nullptr;
    if (sequence->getItem(item, i).bad()) break;
    Uint8* data = nullptr;
    if (item->getUint8Array(data).bad() || !data) continue;
    std::vector<uint8_t> fragment(data, data + item->getLength());
    if (frames == 1 && !codestreams.empty())
      codestreams.back().insert(codestreams.back().end(), fragment.begin(), fragment.end());
    else
      codestreams.push_back(std::move(fragment));
  }
  for (uint32_t f = 0; f < codestreams.size() && (limit == 0 || f < limit); ++f) {
    try {
      charls::jpegls_decoder decoder;
      decoder.source(codestreams[f]);
      decoder.read_header();
      const auto info = decoder.frame_info();
      if (info.component_count != 1 || info.width != proto.columns || info.height != proto.rows) continue;
      std::vector<uint8_t> decoded(decoder.destination_size());
      decoder.decode(decoded);
      CorpusFrame frame = proto;
      frame.index = f;
      frame.samples.resize(static_cast<size_t>(info.width) * info.height);
      if (info.bits_per_sample <= 8) {
        for (size_t i = 0; i < frame.samples.size(); ++i) frame.samples[i] = decoded[i];
      } else {
        std::memcpy(frame.samples.data(), decoded.data(), frame.samples.size() * 2);
      }
      out.push_back(std::move(frame));
    } catch (const charls::jpegls_error&) {
    }
  }
  return out;
}

}  // namespace

std::string CorpusDir() {
  return PACS_CORPUS_DIR;
}

std::vector<CorpusFrame> FramesOfFile(const std::string& relative_path, uint32_t limit) {
  DcmFileFormat file;
  if (file.loadFile((CorpusDir() + "/" + relative_path).c_str()).bad()) return {};
  DcmDataset* dataset = file.getDataset();
  CorpusFrame proto;
  proto.file = relative_path;
  proto.rows = GetUint16(dataset, DCM_Rows);
  proto.columns = GetUint16(dataset, DCM_Columns);
  proto.bits_allocated = GetUint16(dataset, DCM_BitsAllocated);
  proto.bits_stored = GetUint16(dataset, DCM_BitsStored, static_cast<uint16_t>(proto.bits_allocated));
  if (GetUint16(dataset, DCM_SamplesPerPixel, 1) != 1) return {};
  if (proto.bits_allocated != 8 && proto.bits_allocated != 16) return {};
  if (proto.rows == 0 || proto.columns == 0) return {};
  Sint32 frames = 1;
  if (dataset->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  const std::string syntax = DcmXfer(dataset->getOriginalXfer()).getXferID();
  if (OneOf(syntax, kNativeSyntaxes)) return ReadNative(dataset, proto, static_cast<uint32_t>(frames), limit);
  if (OneOf(syntax, kJpegLsSyntaxes)) return ReadJpegLs(dataset, proto, static_cast<uint32_t>(frames), limit);
  if (OneOf(syntax, kDcmtkDecodedSyntaxes)) {
    RegisterDcmtkDecoders();
    if (dataset->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad()) return {};
    return ReadNative(dataset, proto, static_cast<uint32_t>(frames), limit);
  }
  return {};
}

std::vector<CorpusFrame> GrayscaleFrames(bool native) {
  std::vector<CorpusFrame> out;
  std::ifstream manifest(CorpusDir() + "/MANIFEST.tsv");
  std::string line;
  std::getline(manifest, line);  // header
  while (std::getline(manifest, line)) {
    std::vector<std::string> columns;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, '\t')) columns.push_back(field);
    // relative_path ... BitsAllocated(7) BitsStored(8) PixelRepresentation(9)
    // SamplesPerPixel(10) NumberOfFrames(11) TransferSyntaxUID(12)
    if (columns.size() < 13) continue;
    if (columns[10] != "1" || (columns[7] != "8" && columns[7] != "16")) continue;
    if (OneOf(columns[12], kNativeSyntaxes) != native) continue;
    for (CorpusFrame& frame : FramesOfFile(columns[0])) out.push_back(std::move(frame));
  }
  return out;
}

std::vector<uint8_t> AsEncoderInput(const CorpusFrame& frame, int bits) {
  std::vector<uint8_t> bytes;
  if (bits <= 8) {
    bytes.resize(frame.samples.size());
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(frame.samples[i]);
  } else {
    bytes.resize(frame.samples.size() * 2);
    std::memcpy(bytes.data(), frame.samples.data(), bytes.size());
  }
  return bytes;
}

}  // namespace pacs::jls::testing
