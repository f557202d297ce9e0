// libFuzzer target: bytes from a peer, parsed as DICOM and split into what
// the engine stores (header without Pixel Data, plus frames or fragments),
// as `pacscore import` and C-STORE do.
//
// The first input byte picks how the rest is read:
//   0   a Part 10 file (preamble and meta header, or a bare dataset: DCMTK's
//       read-mode autodetection, as Ingestor::IngestFile reads files);
//   1.. a bare dataset in one of the transfer syntaxes our C-STORE SCP
//       accepts (kSyntaxes below), read the way DIMSE hands it to us.
// The second byte picks the codec policy for native frames (auto, none, or
// forced JPEG-LS / JPEG 2000 / HTJ2K, with the production verify-encode on).
//
// Then what ingest does before it commits: the catalog payload, and
// SplitInstance. Findings: a crash, a sanitizer report, a hang, an
// allocation beyond -malloc_limit_mb, and these properties of a split that
// succeeded: the stored header decodes again (DecodeStoredHeader), the
// record encodes and decodes, and the chunk bytes match the record.
//
// PACS_FUZZ_WRITE_SEEDS=DIR: write seeds derived from the real corpus
// (PACS_CORPUS_DIR, shrunk to a few rows of pixels and re-encoded in every
// syntax above) to DIR and exit.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/dicom/dicom_library.h"
#include "pacs/dicom/index.h"
#include "pacs/dicom/instance_split.h"

namespace {

// What our C-STORE SCP accepts and DCMTK can read (dicom/src/scp/negotiation.cpp).
const E_TransferSyntax kSyntaxes[] = {
    EXS_LittleEndianImplicit,
    EXS_LittleEndianExplicit,
    EXS_BigEndianExplicit,
    EXS_DeflatedLittleEndianExplicit,
    EXS_JPEGLSLossless,
    EXS_JPEG2000LosslessOnly,
    EXS_JPEGProcess14SV1,
    EXS_JPEGProcess14,
    EXS_RLELossless,
    EXS_JPEGLSLossy,
    EXS_JPEG2000,
    EXS_JPEGProcess1,
    EXS_JPEGProcess2_4,
    EXS_MPEG2MainProfileAtMainLevel,
};

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

pacs::dicom::PixelCodecPolicy PolicyFrom(uint8_t byte) {
  pacs::dicom::PixelCodecPolicy policy;
  switch (byte % 5) {
    case 0:
      break;  // auto
    case 1:
      policy.forced = pacs::codecs::CodecId::kRaw;
      break;
    case 2:
      policy.forced = pacs::codecs::CodecId::kJpegLs;
      break;
    case 3:
      policy.forced = pacs::codecs::CodecId::kJ2k;
      break;
    default:
      policy.forced = pacs::codecs::CodecId::kHtj2k;
      break;
  }
  return policy;
}

void SplitAndCheck(DcmDataset& dataset, E_TransferSyntax xfer, const pacs::dicom::PixelCodecPolicy& policy) {
  (void)pacs::dicom::BuildCatalogPayload(dataset);
  (void)pacs::dicom::EncodedDatasetSize(dataset, xfer);
  auto split = pacs::dicom::SplitInstance(dataset, xfer, policy);
  if (!split.ok()) return;
  const pacs::engine::InstanceRecord& record = split->record;
  if (split->chunk_bytes.size() != record.chunks.size())
    Finding("split: " + std::to_string(split->chunk_bytes.size()) + " chunk byte strings for " +
            std::to_string(record.chunks.size()) + " chunks");
  DcmDataset header;
  auto decoded = pacs::dicom::DecodeStoredHeader(split->header_bytes, record, header);
  if (!decoded.ok()) Finding("the split's own header does not decode: " + decoded.ToString());
  auto again = pacs::engine::InstanceRecord::Decode(record.Encode());
  if (!again.ok()) Finding("the split's record does not decode: " + again.status().ToString());
}

void FuzzPart10(const uint8_t* data, size_t size, const pacs::dicom::PixelCodecPolicy& policy) {
  DcmInputBufferStream stream;
  stream.setBuffer(data, static_cast<offile_off_t>(size));
  stream.setEos();
  DcmFileFormat file;
  file.setReadMode(ERM_autoDetect);
  file.transferInit();
  OFCondition cond = file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file.transferEnd();
  if (cond.bad()) return;
  DcmDataset& dataset = *file.getDataset();
  const E_TransferSyntax xfer = dataset.getOriginalXfer();
  if (xfer == EXS_Unknown) return;
  SplitAndCheck(dataset, xfer, policy);
}

void FuzzDataset(const uint8_t* data, size_t size, E_TransferSyntax xfer, const pacs::dicom::PixelCodecPolicy& policy) {
  DcmInputBufferStream stream;
  stream.setBuffer(data, static_cast<offile_off_t>(size));
  stream.setEos();
  DcmDataset dataset;
  dataset.transferInit();
  OFCondition cond = dataset.read(stream, xfer, EGL_noChange, DCM_MaxReadLength);
  dataset.transferEnd();
  if (cond.bad()) return;
  SplitAndCheck(dataset, xfer, policy);
}

// ---- Seeds ----

void WriteSeed(const std::filesystem::path& path, uint8_t mode, const std::string& bytes) {
  if (bytes.size() > size_t{48} * 1024) {  // keep seeds small: fuzzing speed, and < 50 KB if committed
    if (std::getenv("PACS_FUZZ_SEEDS_VERBOSE")) std::fprintf(stderr, "too large: %s\n", path.c_str());
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.put(static_cast<char>(mode));
  out.put(0);  // policy: auto
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

long GetLong(DcmItem& item, const DcmTagKey& tag, long fallback) {
  long value = fallback;
  Sint32 v = 0;
  if (item.findAndGetLongInt(tag, value).good()) return value;  // US, SS, UL, SL
  if (item.findAndGetSint32(tag, v).good()) return v;           // IS
  return fallback;
}

// The native pixel bytes, as held in memory (host byte order).
const Uint8* PixelBytes(DcmElement& pixel, long bits_allocated) {
  if (bits_allocated == 16) {
    Uint16* words = nullptr;
    return pixel.getUint16Array(words).good() ? reinterpret_cast<const Uint8*>(words) : nullptr;
  }
  Uint8* bytes = nullptr;
  return pixel.getUint8Array(bytes).good() ? bytes : nullptr;
}

// Keeps the top-left corner (at most 16x16, at most 2 frames) of a native
// image so that the seed stays small and the split fast. False if the
// dataset has no native 8- or 16-bit Pixel Data.
bool ShrinkNative(DcmDataset& ds, pacs::codecs::FrameInfo& info, long& frames) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) return false;
  auto* pixel = dynamic_cast<DcmPixelData*>(element);
  if (pixel == nullptr) return false;  // the caller checked the syntax is native
  const long rows = GetLong(ds, DCM_Rows, 0), columns = GetLong(ds, DCM_Columns, 0);
  const long bits = GetLong(ds, DCM_BitsAllocated, 0), samples = GetLong(ds, DCM_SamplesPerPixel, 1);
  frames = std::max(1L, GetLong(ds, DCM_NumberOfFrames, 1));
  if ((bits != 8 && bits != 16) || rows <= 0 || columns <= 0 || (samples != 1 && samples != 3)) return false;
  const long new_rows = std::min(rows, 16L), new_columns = std::min(columns, 16L), new_frames = std::min(frames, 2L);
  const auto sample_bytes = static_cast<size_t>(bits / 8);
  const size_t pixel_bytes = sample_bytes * static_cast<size_t>(samples);
  const Uint8* raw = PixelBytes(*pixel, bits);
  if (raw == nullptr) return false;
  const size_t old_frame = static_cast<size_t>(rows * columns) * pixel_bytes;
  if (pixel->getLengthField() < old_frame * static_cast<size_t>(new_frames)) return false;
  std::vector<Uint8> kept;
  for (long f = 0; f < new_frames; ++f)
    for (long r = 0; r < new_rows; ++r) {
      const Uint8* row = raw + static_cast<size_t>(f) * old_frame + static_cast<size_t>(r * columns) * pixel_bytes;
      kept.insert(kept.end(), row, row + static_cast<size_t>(new_columns) * pixel_bytes);
    }
  ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(new_rows));
  ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(new_columns));
  if (ds.tagExists(DCM_NumberOfFrames)) ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(new_frames).c_str());
  // Large elements other than pixels (icons, private blobs) go too.
  for (unsigned long i = ds.card(); i-- > 0;) {
    DcmElement* e = ds.getElement(i);
    if (e != nullptr && e->getTag() != DCM_PixelData && e->getLength() > 4096) delete ds.remove(e);
  }
  if (bits == 16)
    ds.putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(kept.data()),
                               static_cast<unsigned long>(kept.size() / 2));
  else
    ds.putAndInsertUint8Array(DCM_PixelData, kept.data(), static_cast<unsigned long>(kept.size()));
  info = {.rows = static_cast<uint32_t>(new_rows),
          .columns = static_cast<uint32_t>(new_columns),
          .bits_allocated = static_cast<uint16_t>(bits),
          .bits_stored = static_cast<uint16_t>(GetLong(ds, DCM_BitsStored, bits)),
          .samples_per_pixel = static_cast<uint16_t>(samples),
          .is_signed = GetLong(ds, DCM_PixelRepresentation, 0) == 1,
          .planar = GetLong(ds, DCM_PlanarConfiguration, 0) == 1};
  frames = new_frames;
  return true;
}

// The same (shrunk) image encapsulated with one of our codecs: a fragment per frame.
bool Encapsulate(DcmDataset& ds, const pacs::codecs::FrameInfo& info, long frames, pacs::codecs::CodecId id) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) return false;
  const Uint8* raw = PixelBytes(*element, info.bits_allocated);
  if (raw == nullptr) return false;
  auto codec = pacs::codecs::MakeCodec(id);
  auto* sequence = new DcmPixelSequence(DCM_PixelSequenceTag);
  sequence->insert(new DcmPixelItem(DCM_PixelItemTag));  // empty Basic Offset Table
  for (long f = 0; f < frames; ++f) {
    auto encoded = codec->Encode(info, {raw + static_cast<size_t>(f) * info.FrameBytes(), info.FrameBytes()});
    if (!encoded.ok()) {
      delete sequence;
      return false;
    }
    if (encoded->size() % 2) encoded->push_back(0);
    auto* item = new DcmPixelItem(DCM_PixelItemTag);
    item->putUint8Array(encoded->data(), static_cast<unsigned long>(encoded->size()));
    sequence->insert(item);
  }
  auto* pixel = new DcmPixelData(DCM_PixelData);
  pixel->putOriginalRepresentation(id == pacs::codecs::CodecId::kJpegLs ? EXS_JPEGLSLossless : EXS_JPEG2000LosslessOnly,
                                   nullptr, sequence);
  ds.insert(pixel, true);
  return true;
}

uint8_t ModeOf(E_TransferSyntax xfer) {
  for (size_t i = 0; i < std::size(kSyntaxes); ++i)
    if (kSyntaxes[i] == xfer) return static_cast<uint8_t>(i + 1);
  return 0;
}

void WriteSeeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  DcmRLEEncoderRegistration::registerCodecs();
  DJEncoderRegistration::registerCodecs();
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(PACS_CORPUS_DIR, ec))
    if (entry.is_regular_file() && entry.file_size() < uintmax_t{8} * 1024 * 1024 &&
        entry.path().extension() != ".tsv" && entry.path().extension() != ".md" && entry.path().extension() != ".txt")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::set<std::string> kinds;  // one seed set per kind of image
  int written = 0;
  for (const auto& path : files) {
    DcmFileFormat file;
    if (file.loadFile(path.c_str()).bad()) continue;
    DcmDataset& ds = *file.getDataset();
    const E_TransferSyntax original = ds.getOriginalXfer();
    OFString modality, sop_class;
    ds.findAndGetOFString(DCM_Modality, modality);
    ds.findAndGetOFString(DCM_SOPClassUID, sop_class);
    const std::string kind = std::string(DcmXfer(original).getXferID()) + "|" + sop_class + "|" +
                             std::to_string(GetLong(ds, DCM_BitsAllocated, 0)) + "|" +
                             std::to_string(GetLong(ds, DCM_SamplesPerPixel, 1));
    if (!kinds.insert(kind).second) continue;
    const std::string stem = std::to_string(written) + "_" + path.stem().string();
    std::string name_safe;
    for (char c : stem) name_safe.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    // Compressed as received: kept whole when small.
    if (!DcmXfer(original).isNotEncapsulated()) {
      auto bytes = pacs::dicom::EncodeDatasetBytes(ds, original, EGL_noChange);
      if (bytes.ok() && ModeOf(original) != 0) WriteSeed(dir / (name_safe + "_as_received"), ModeOf(original), *bytes);
      ++written;
      continue;
    }
    pacs::codecs::FrameInfo info;
    long frames = 1;
    if (!ShrinkNative(ds, info, frames) && ds.tagExists(DCM_PixelData)) {
      if (std::getenv("PACS_FUZZ_SEEDS_VERBOSE")) std::fprintf(stderr, "not shrunk: %s\n", path.c_str());
      continue;
    }
    // The Part 10 file, as `pacscore import` reads it.
    std::string part10;
    {
      const std::string tmp = (dir / ".part10.tmp").string();
      if (file.saveFile(tmp.c_str(), EXS_LittleEndianExplicit).good()) {
        std::ifstream in(tmp, std::ios::binary);
        part10.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      std::filesystem::remove(tmp, ec);
    }
    if (!part10.empty()) WriteSeed(dir / (name_safe + "_part10"), 0, part10);
    for (E_TransferSyntax xfer : {EXS_LittleEndianImplicit, EXS_LittleEndianExplicit, EXS_BigEndianExplicit,
                                  EXS_DeflatedLittleEndianExplicit}) {
      auto bytes = pacs::dicom::EncodeDatasetBytes(ds, xfer);
      if (bytes.ok()) WriteSeed(dir / (name_safe + "_" + std::to_string(ModeOf(xfer))), ModeOf(xfer), *bytes);
    }
    if (ds.tagExists(DCM_PixelData)) {
      for (auto id : {pacs::codecs::CodecId::kJpegLs, pacs::codecs::CodecId::kJ2k}) {
        DcmDataset copy(ds);
        if (!Encapsulate(copy, info, frames, id)) continue;
        const E_TransferSyntax xfer =
            id == pacs::codecs::CodecId::kJpegLs ? EXS_JPEGLSLossless : EXS_JPEG2000LosslessOnly;
        auto bytes = pacs::dicom::EncodeDatasetBytes(copy, xfer);
        if (bytes.ok()) WriteSeed(dir / (name_safe + "_" + std::to_string(ModeOf(xfer))), ModeOf(xfer), *bytes);
      }
      // RLE and JPEG lossless, by DCMTK's encoders (registered for seeds only).
      for (E_TransferSyntax xfer : {EXS_RLELossless, EXS_JPEGProcess14SV1}) {
        DcmDataset copy(ds);
        if (copy.chooseRepresentation(xfer, nullptr).bad() || !copy.canWriteXfer(xfer)) continue;
        auto bytes = pacs::dicom::EncodeDatasetBytes(copy, xfer);
        if (bytes.ok()) WriteSeed(dir / (name_safe + "_" + std::to_string(ModeOf(xfer))), ModeOf(xfer), *bytes);
      }
    }
    if (++written >= 40) break;
  }
  std::fprintf(stderr, "dicom_split_fuzzer: seeds from %d corpus files written to %s\n", written, dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  pacs::dicom::InitDicomLibrary();
  if (const char* dir = std::getenv("PACS_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  const pacs::dicom::PixelCodecPolicy policy = PolicyFrom(data[1]);
  data += 2;
  size -= 2;
  if (mode == 0)
    FuzzPart10(data, size, policy);
  else
    FuzzDataset(data, size, kSyntaxes[(mode - 1) % std::size(kSyntaxes)], policy);
  return 0;
}
