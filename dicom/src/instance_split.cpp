#include "pacs/dicom/instance_split.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfcache.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk_codecs.h"
#include "fragments.h"
#include "pacs/base/log.h"
#include "pacs/codecs/codec_choice.h"
#include "pacs/codecs/codec_options.h"
#include "pacs/dicom/dicom_library.h"
#include "pacs/dicom/frame_source.h"
#include "transfer_syntaxes.h"

namespace pacs::dicom {
namespace {

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(value.c_str(), value.length());
}

long GetLong(DcmItem& item, const DcmTagKey& tag, long fallback) {
  Uint16 us = 0;
  if (item.findAndGetUint16(tag, us).good()) return us;
  OFString s;
  if (item.findAndGetOFString(tag, s).good() && !s.empty()) {
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (end != s.c_str()) return v;
  }
  return fallback;
}

// The header is kept in the syntax it arrived in: for encapsulated syntaxes
// that matters because nested pixel data (icon images) stays encapsulated.
// Deflated datasets keep their header inflated, in explicit little endian.
E_TransferSyntax HeaderSyntaxFor(E_TransferSyntax xfer) {
  return xfer == EXS_DeflatedLittleEndianExplicit ? EXS_LittleEndianExplicit : xfer;
}

Status DecodeDataset(std::string_view bytes, E_TransferSyntax xfer, DcmDataset& dataset) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  dataset.transferInit();
  OFCondition cond = dataset.read(stream, xfer, EGL_noChange, DCM_MaxReadLength);
  dataset.transferEnd();
  if (cond.bad()) return Status::Corruption(std::string("stored header does not parse: ") + cond.text());
  return Status::Ok();
}

// `photometric` overrides the dataset's, for compressed data whose decoded
// pixels are in another colour space (J2K YBR_RCT decodes to RGB).
std::string PixelDescription(DcmDataset& ds, const std::string& photometric = {}) {
  return "native|" + std::to_string(GetLong(ds, DCM_Rows, 0)) + "|" + std::to_string(GetLong(ds, DCM_Columns, 0)) +
         "|" + std::to_string(GetLong(ds, DCM_BitsAllocated, 0)) + "|" +
         std::to_string(GetLong(ds, DCM_BitsStored, 0)) + "|" + std::to_string(GetLong(ds, DCM_SamplesPerPixel, 1)) +
         "|" + std::to_string(GetLong(ds, DCM_PixelRepresentation, 0)) + "|" +
         (photometric.empty() ? GetString(ds, DCM_PhotometricInterpretation) : photometric) + "|" +
         std::to_string(GetLong(ds, DCM_PlanarConfiguration, 0));
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The key of a frame: its pixels with their description (a chunk that is not
// a whole native frame has no description and is keyed by its bytes alone).
engine::ContentHash ChunkKey(std::string_view bytes, const std::string& description) {
  return description.empty() ? engine::Sha256(AsBytes(bytes)) : engine::Sha256({AsBytes(description), AsBytes(bytes)});
}

// A chunk of `size` pixel bytes whose key is `key` (ChunkKey, computed once
// per frame), stored as `kept`: the raw bytes, or their encoding by `codec`.
void AddChunk(engine::InstanceWrite& w, uint64_t size, const engine::ContentHash& key, bool native_frame,
              codecs::CodecId codec, std::string kept) {
  engine::PixelChunk chunk;
  chunk.size = size;
  chunk.codec = static_cast<uint8_t>(codec);
  // Identity is the pixels (with their description), whatever encoding stores them.
  chunk.hash = key;
  if (native_frame) chunk.pixel_hash = chunk.hash;  // a native frame is its own pixel identity
  w.record.chunks.push_back(chunk);
  w.chunk_bytes.push_back(std::move(kept));
}

// A chunk stored raw, as received.
void AddChunk(engine::InstanceWrite& w, std::string bytes, const std::string& description) {
  const engine::ContentHash key = ChunkKey(bytes, description);
  const uint64_t size = bytes.size();
  AddChunk(w, size, key, !description.empty(), codecs::CodecId::kRaw, std::move(bytes));
}

// Encodes one native frame per the policy. Returns the codec actually used
// and the stored bytes; kRaw (and no bytes) when raw is better or safer.
// The codec and options the policy picks for a frame; kRaw when none applies.
codecs::CodecChoice ChooseFrameCodec(const codecs::FrameInfo& info, const std::string& photometric,
                                     const std::string& modality, const PixelCodecPolicy& policy) {
  codecs::CodecChoice choice = codecs::ChooseCodecAndOptions(info, photometric, modality);
  if (policy.forced) {
    choice.codec = *policy.forced;
    choice.options.rgb_colour_transform =
        info.samples_per_pixel == 3 && photometric == "RGB" &&
        (choice.codec == codecs::CodecId::kJ2k || choice.codec == codecs::CodecId::kHtj2k);
  }
  if (choice.codec != codecs::CodecId::kRaw && !codecs::MakeCodec(choice.codec)->Supports(info))
    choice.codec = codecs::CodecId::kRaw;
  return choice;
}

}  // namespace

std::pair<codecs::CodecId, std::string> EncodeFrameLosslessly(const codecs::FrameInfo& info, std::string_view raw,
                                                              codecs::CodecId codec_id,
                                                              const codecs::CodecOptions& options, bool verify,
                                                              const std::string& where) {
  if (codec_id == codecs::CodecId::kRaw) return {codecs::CodecId::kRaw, {}};
  auto codec = codecs::MakeCodec(codec_id, options);
  const std::string name(codecs::CodecName(codec_id));
  std::span<const uint8_t> raw_bytes(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  auto encoded = codec->Encode(info, raw_bytes);
  if (!encoded.ok()) {
    LogWarning(where + ": " + name + " encoding failed (" + encoded.status().ToString() + "); stored raw");
    return {codecs::CodecId::kRaw, {}};
  }
  if (encoded->size() >= raw.size()) return {codecs::CodecId::kRaw, {}};  // no gain: keep it simple
  if (verify) {
    // Decoded into a buffer this thread keeps (a fresh one per frame cost a
    // zero fill and its page faults each time), up to kKeptCheckBytes: a
    // larger frame gets one of its own, not kept.
    constexpr size_t kKeptCheckBytes = 4u << 20;
    thread_local std::vector<uint8_t> kept;
    std::unique_ptr<uint8_t[]> own;
    uint8_t* buffer = nullptr;
    if (raw.size() <= kKeptCheckBytes) {
      if (kept.size() < raw.size()) kept.resize(raw.size());
      buffer = kept.data();
    } else {
      own = std::make_unique_for_overwrite<uint8_t[]>(raw.size());
      buffer = own.get();
    }
    const std::span<uint8_t> decoded(buffer, raw.size());
    const Status status = codec->DecodeInto(info, *encoded, decoded);
    if (!status.ok() || std::memcmp(decoded.data(), raw.data(), raw.size()) != 0) {
      LogError(where + ": " + name + " ENCODING IS NOT LOSSLESS for this frame (decode check failed" +
               (status.ok() ? std::string() : ": " + status.ToString()) + "); the frame is stored raw, nothing lost");
      return {codecs::CodecId::kRaw, {}};
    }
  }
  return {codec_id, std::string(reinterpret_cast<const char*>(encoded->data()), encoded->size())};
}

namespace {

Status SplitNative(DcmDataset& ds, DcmPixelData& px, E_TransferSyntax xfer, const PixelCodecPolicy& policy,
                   const engine::Store* stored_frames, engine::InstanceWrite& w) {
  Uint8* data = nullptr;
  const Uint32 length = px.getLength();
  // A large dataset received into a spill file (scp/dataset_sink.h) keeps its
  // Pixel Data there: it is read one frame at a time, never whole.
  const bool on_disk = !px.valueLoaded();
  if (length > 0 && !on_disk && (px.getUint8Array(data).bad() || data == nullptr))
    return Status::InvalidArgument("Pixel Data value cannot be read");
  DcmFileCache file_cache;
  Status read_problem;
  const auto read_range = [&](uint64_t offset, uint64_t size) {
    std::string out;
    if (!on_disk) return std::string(reinterpret_cast<const char*>(data) + offset, size);
    out.resize(size);
    if (px.getPartialValue(out.data(), static_cast<Uint32>(offset), static_cast<Uint32>(size), &file_cache).bad())
      // Almost always a dataset that ends inside its Pixel Data (the peer's
      // bytes, not our disk): refused as such.
      read_problem = Status::InvalidArgument("Pixel Data value cannot be read: bytes " + std::to_string(offset) + "+" +
                                             std::to_string(size) + " are not in the received dataset");
    return out;
  };
  w.record.pixel_layout = engine::PixelLayout::kNative;
  w.record.pixel_vr = DcmVR(px.getVR()).getVRName();
  w.record.pixel_length = length;

  const long rows = GetLong(ds, DCM_Rows, 0), cols = GetLong(ds, DCM_Columns, 0);
  const long bits = GetLong(ds, DCM_BitsAllocated, 0), spp = GetLong(ds, DCM_SamplesPerPixel, 1);
  const long frames = std::max(1L, GetLong(ds, DCM_NumberOfFrames, 1));
  const uint64_t frame_bytes =
      (bits % 8 == 0 && rows > 0 && cols > 0 && spp > 0) ? static_cast<uint64_t>(rows) * cols * spp * (bits / 8) : 0;
  const std::string description = PixelDescription(ds);
  if (frame_bytes > 0 && frame_bytes * frames <= length) {
    // Frames are encoded only when their in-memory bytes are the pixels in
    // little-endian sample order: 8-bit data in OW words of a big-endian
    // dataset are byte-swapped pairs, so they stay raw.
    auto info = FrameInfoFromDataset(ds);
    const bool encodable = info.ok() && (policy.forced != codecs::CodecId::kRaw) &&
                           !(bits == 8 && px.getVR() == EVR_OW && xfer == EXS_BigEndianExplicit);
    const std::string photometric = GetString(ds, DCM_PhotometricInterpretation);
    const std::string modality = GetString(ds, DCM_Modality);
    size_t first_unstaged = w.chunk_bytes.size();
    uint64_t unstaged_bytes = 0;
    for (long f = 0; f < frames; ++f) {
      if (policy.stage && unstaged_bytes >= policy.stage_bytes) {
        PACS_RETURN_IF_ERROR(policy.stage(w, first_unstaged));
        first_unstaged = w.chunk_bytes.size();
        unstaged_bytes = 0;
      }
      unstaged_bytes += frame_bytes;
      // The frame's pixels: in the received dataset's buffer, or read from
      // the spill file. They are copied only to be stored raw.
      std::string spilled;
      std::string_view raw;
      if (on_disk) {
        spilled = read_range(f * frame_bytes, frame_bytes);
        PACS_RETURN_IF_ERROR(read_problem);
        raw = spilled;
      } else {
        raw = std::string_view(reinterpret_cast<const char*>(data) + f * frame_bytes, frame_bytes);
      }
      const auto raw_bytes = [&] { return on_disk ? std::move(spilled) : std::string(raw); };
      // Hashed once: the key both finds a stored copy and names the new chunk.
      const engine::ContentHash key = ChunkKey(raw, description);
      if (stored_frames) {
        // A frame already stored (a re-sent or corrected study) is not encoded
        // again: the commit references the stored chunk, or asks for a retry
        // with the bytes if the chunk was collected in between.
        auto stored = stored_frames->HasChunk(key);
        if (!stored.ok())
          return stored.status().WithContext("instance " + w.record.sop_instance_uid + " frame " + std::to_string(f));
        if (auto codec = *stored) {
          engine::PixelChunk chunk;
          chunk.hash = key;
          chunk.pixel_hash = key;
          chunk.size = raw.size();
          chunk.codec = *codec;
          w.record.chunks.push_back(chunk);
          w.chunk_bytes.emplace_back();
          continue;
        }
      }
      const codecs::CodecChoice choice =
          encodable ? ChooseFrameCodec(*info, photometric, modality, policy) : codecs::CodecChoice{};
      if (choice.codec != codecs::CodecId::kRaw && policy.background) {
        // Stored raw now, re-encoded off the C-STORE path (the job is kept
        // in the same commit, so a restart resumes it).
        AddChunk(w, raw.size(), key, true, codecs::CodecId::kRaw, raw_bytes());
        w.deferred_work.emplace_back(key,
                                     EncodeJob{choice.codec, choice.options.rgb_colour_transform, *info}.Serialize());
      } else if (choice.codec != codecs::CodecId::kRaw) {
        auto [codec, stored] =
            EncodeFrameLosslessly(*info, raw, choice.codec, choice.options, policy.verify_encode,
                                  "instance " + w.record.sop_instance_uid + " frame " + std::to_string(f));
        AddChunk(w, raw.size(), key, true, codec, codec == codecs::CodecId::kRaw ? raw_bytes() : std::move(stored));
      } else {
        AddChunk(w, raw.size(), key, true, codecs::CodecId::kRaw, raw_bytes());
      }
    }
    if (uint64_t tail = length - frame_bytes * frames; tail > 0)  // padding byte or trailing data
      AddChunk(w, read_range(frame_bytes * frames, tail), "");
  } else if (length > 0) {
    // 1-bit data, or a length that does not match the pixel module: one chunk, as received.
    AddChunk(w, read_range(0, length), "");
  }
  return read_problem;
}

// Decoded frames of lossless compressed Pixel Data, for the pixel identity
// recorded beside the received codestream; an error saying why when they do
// not decode.
Result<std::vector<std::string>> DecodeReceivedFrames(DcmDataset& ds, E_TransferSyntax xfer,
                                                      const codecs::FrameInfo& info, const std::string& bot,
                                                      const std::vector<std::string>& fragments, size_t frames) {
  const std::optional<codecs::CodecId> ours = OurCodecFor(DcmXfer(xfer).getXferID());
  std::vector<std::string> out;
  if (ours) {
    auto codestreams = GroupFragments(bot, fragments, frames);
    if (!codestreams.ok()) return codestreams.status();
    auto codec = codecs::MakeCodec(*ours);
    for (size_t f = 0; f < codestreams->size(); ++f) {
      auto decoded = codec->Decode(info, AsBytes((*codestreams)[f]));
      if (!decoded.ok()) return decoded.status().WithContext("frame " + std::to_string(f));
      out.emplace_back(decoded->begin(), decoded->end());
    }
    return out;
  }
  const TransferSyntaxInfo* syntax = FindTransferSyntax(DcmXfer(xfer).getXferID());
  if (syntax == nullptr || syntax->coding != PixelCoding::kDcmtkCodec) return Status::Unsupported("no decoder");
  // DCMTK's JPEG lossless and RLE decoders, on a copy: the dataset keeps its
  // received representation untouched.
  RegisterDcmtkCodecs();
  DcmDataset copy(ds);
  if (copy.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad())
    return Status::Corruption("DCMTK's decoder refused it");
  const Uint8* data = nullptr;
  unsigned long count = 0;
  if (copy.findAndGetUint8Array(DCM_PixelData, data, &count).bad() || data == nullptr)
    return Status::Corruption("no decoded pixel data");
  const size_t frame_bytes = info.FrameBytes();
  if (count < frame_bytes * frames)
    return Status::Corruption("decodes to " + std::to_string(count) + " bytes, expected " +
                              std::to_string(frame_bytes * frames));
  for (size_t f = 0; f < frames; ++f)
    out.emplace_back(reinterpret_cast<const char*>(data) + f * frame_bytes, frame_bytes);
  return out;
}

// The identity of each frame's decoded pixels (keyed like a native frame),
// with the index of the fragment that starts the frame. Unsupported when no
// identity applies (lossy syntax, no decoder, frames not delimited);
// Corruption when the pixels do not decode. Ingest and verify --deep share it.
Result<std::vector<std::pair<size_t, engine::ContentHash>>> DecodedFrameIdentities(
    DcmDataset& ds, E_TransferSyntax xfer, const std::string& bot, const std::vector<std::string>& fragments) {
  auto info = FrameInfoFromDataset(ds);
  if (!info.ok()) return info.status();
  if (DcmXfer(xfer).isLossy()) return Status::Unsupported("lossy pixel data has no lossless identity");
  const size_t frames = static_cast<size_t>(std::max(1L, GetLong(ds, DCM_NumberOfFrames, 1)));
  std::vector<size_t> sizes;
  sizes.reserve(fragments.size());
  for (const auto& f : fragments) sizes.push_back(f.size());
  auto starts = FrameStartFragments(bot, sizes, frames);
  if (!starts.ok()) return starts.status();
  const auto decoded = DecodeReceivedFrames(ds, xfer, *info, bot, fragments, frames);
  if (!decoded.ok() || decoded->size() != frames)
    return Status::Corruption(std::string("received ") + DcmXfer(xfer).getXferName() + " pixel data does not decode" +
                              (decoded.ok() ? std::string() : " (" + decoded.status().message() + ")"));
  std::string photometric = GetString(ds, DCM_PhotometricInterpretation);
  if (xfer == EXS_JPEG2000LosslessOnly && (photometric == "YBR_RCT" || photometric == "YBR_ICT")) photometric = "RGB";
  const std::string description = PixelDescription(ds, photometric);
  std::vector<std::pair<size_t, engine::ContentHash>> out;
  for (size_t f = 0; f < frames; ++f)
    out.emplace_back((*starts)[f], engine::Sha256({AsBytes(description), AsBytes((*decoded)[f])}));
  return out;
}

Status SplitEncapsulated(DcmDataset& ds, DcmPixelData& px, E_TransferSyntax xfer, engine::InstanceWrite& w) {
  DcmPixelSequence* seq = nullptr;
  if (px.getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || seq == nullptr)
    return Status::InvalidArgument("Pixel Data is not encapsulated although the transfer syntax is " +
                                   std::string(DcmXfer(xfer).getXferName()));
  w.record.pixel_layout = engine::PixelLayout::kEncapsulated;
  w.record.pixel_vr = "OB";
  const unsigned long items = seq->card();
  if (items == 0) return Status::InvalidArgument("encapsulated Pixel Data has no Basic Offset Table item");
  std::vector<std::string> fragments;
  for (unsigned long i = 0; i < items; ++i) {
    DcmPixelItem* item = nullptr;
    if (seq->getItem(item, i).bad() || item == nullptr)
      return Status::InvalidArgument("encapsulated Pixel Data item " + std::to_string(i) + " is unreadable");
    Uint8* data = nullptr;
    const Uint32 len = item->getLength();
    if (len > 0 && (item->getUint8Array(data).bad() || data == nullptr))
      return Status::InvalidArgument("encapsulated Pixel Data item " + std::to_string(i) + " is unreadable");
    std::string bytes(reinterpret_cast<const char*>(data), len);
    if (i == 0)
      w.record.offset_table = std::move(bytes);
    else
      fragments.push_back(std::move(bytes));
  }
  for (const auto& f : fragments) {
    AddChunk(w, f, "");
    w.record.chunks.back().codec = engine::kChunkAsReceived;
  }

  // The same image may be held in other encodings (a native copy, another
  // codec): record the identity of the decoded pixels beside each frame.
  auto identities = DecodedFrameIdentities(ds, xfer, w.record.offset_table, fragments);
  if (identities.ok()) {
    for (const auto& [start, identity] : *identities) w.record.chunks[start].pixel_hash = identity;
  } else if (identities.status().code() == StatusCode::kCorruption && xfer == EXS_JPEGLSLossless) {
    // A JPEG-LS frame that our decoder refuses (frame header disagreeing
    // with the attributes, truncated or corrupt coded data) could not be
    // served decoded either: refuse it now rather than store it.
    return identities.status();
  } else if (identities.status().code() == StatusCode::kCorruption) {
    LogWarning("instance " + w.record.sop_instance_uid + ": " + identities.status().message() +
               "; stored as received without its pixel identity");
  }
  return Status::Ok();
}

}  // namespace

void InitDicomLibrary() {
  // DCMTK logs every DIMSE message at INFO and every repaired oddity at WARN;
  // our own log names peers and outcomes. Its ERROR lines carry parse details.
  OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
  RouteDcmtkLogging();
  dcmEnableAutomaticInputDataCorrection.set(OFFalse);
  dcmPreferVRFromDataDictionary.set(OFFalse);
}

void LoadDataDictionary() {
  // The global creates and loads its dictionary on the first lock.
  (void)dcmDataDict.rdlock();
  dcmDataDict.rdunlock();
}

uint64_t EncodedDatasetSize(DcmDataset& dataset, E_TransferSyntax xfer) {
  return dataset.calcElementLength(xfer, EET_ExplicitLength);
}

E_TransferSyntax ReceivedTransferSyntax(const engine::InstanceRecord& record) {
  return DcmXfer(record.transfer_syntax_uid.c_str()).getXfer();
}

Result<PixelCodecPolicy> ParseCodecPolicy(std::string_view name) {
  PixelCodecPolicy policy;
  if (name == "auto") return policy;
  if (name == "none")
    policy.forced = codecs::CodecId::kRaw;
  else if (name == "jpegls")
    policy.forced = codecs::CodecId::kJpegLs;
  else if (name == "j2k")
    policy.forced = codecs::CodecId::kJ2k;
  else if (name == "htj2k")
    policy.forced = codecs::CodecId::kHtj2k;
  else
    return Status::InvalidArgument("--codec must be jpegls, j2k, htj2k, auto or none, not '" + std::string(name) + "'");
  return policy;
}

Result<codecs::FrameInfo> FrameInfoFromDataset(DcmItem& ds) {
  codecs::FrameInfo info;
  const long rows = GetLong(ds, DCM_Rows, 0), cols = GetLong(ds, DCM_Columns, 0);
  const long bits = GetLong(ds, DCM_BitsAllocated, 0), stored = GetLong(ds, DCM_BitsStored, 0);
  const long spp = GetLong(ds, DCM_SamplesPerPixel, 1);
  if (rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535) return Status::Unsupported("no usable Rows/Columns");
  if (bits != 8 && bits != 16) return Status::Unsupported("BitsAllocated " + std::to_string(bits));
  if (stored <= 0 || stored > bits) return Status::Unsupported("BitsStored " + std::to_string(stored));
  if (spp != 1 && spp != 3) return Status::Unsupported("SamplesPerPixel " + std::to_string(spp));
  info.rows = static_cast<uint32_t>(rows);
  info.columns = static_cast<uint32_t>(cols);
  info.bits_allocated = static_cast<uint16_t>(bits);
  info.bits_stored = static_cast<uint16_t>(stored);
  info.samples_per_pixel = static_cast<uint16_t>(spp);
  info.is_signed = GetLong(ds, DCM_PixelRepresentation, 0) == 1;
  info.planar = spp == 3 && GetLong(ds, DCM_PlanarConfiguration, 0) == 1;
  return info;
}

Result<engine::InstanceWrite> SplitInstance(DcmDataset& dataset, E_TransferSyntax xfer, const PixelCodecPolicy& policy,
                                            const engine::Store* stored_frames) {
  engine::InstanceWrite w;
  auto& rec = w.record;
  rec.sop_instance_uid = GetString(dataset, DCM_SOPInstanceUID);
  rec.sop_class_uid = GetString(dataset, DCM_SOPClassUID);
  if (rec.sop_instance_uid.empty()) return Status::InvalidArgument("dataset has no SOP Instance UID");
  if (rec.sop_class_uid.empty()) return Status::InvalidArgument("dataset has no SOP Class UID");
  rec.study_instance_uid = GetString(dataset, DCM_StudyInstanceUID);
  rec.series_instance_uid = GetString(dataset, DCM_SeriesInstanceUID);
  rec.patient_id = GetString(dataset, DCM_PatientID);
  rec.issuer_of_patient_id = GetString(dataset, DCM_IssuerOfPatientID);
  DcmXfer xfer_info(xfer);
  if (xfer == EXS_Unknown) return Status::Unsupported("unknown transfer syntax");
  rec.transfer_syntax_uid = xfer_info.getXferID();
  rec.received_bytes = EncodedDatasetSize(dataset, xfer);
  rec.received_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();

  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).good() && element != nullptr) {
    if (element->ident() != EVR_PixelData) return Status::InvalidArgument("Pixel Data element has an unexpected type");
    auto* px = static_cast<DcmPixelData*>(element);
    if (xfer_info.isEncapsulated())
      PACS_RETURN_IF_ERROR(SplitEncapsulated(dataset, *px, xfer, w));
    else
      PACS_RETURN_IF_ERROR(SplitNative(dataset, *px, xfer, policy, stored_frames, w));
  }

  const E_TransferSyntax header_xfer = HeaderSyntaxFor(xfer);
  rec.header_transfer_syntax_uid = DcmXfer(header_xfer).getXferID();
  // The header is the dataset without its Pixel Data; the element goes back
  // afterwards so the caller's dataset is unchanged (a retry splits it again).
  DcmElement* pixel_element = element ? dataset.remove(element) : nullptr;
  auto header = EncodeDatasetBytes(dataset, header_xfer, EGL_noChange);
  if (pixel_element) dataset.insert(pixel_element, true);
  if (!header.ok()) return header.status();
  // What we keep must read back. DCMTK can take in a dataset that it then
  // writes as bytes it cannot read again (an item whose elements outgrow its
  // explicit length; found by fuzzing): refuse it rather than store it unreadable.
  {
    DcmDataset reread;
    if (Status parsed = DecodeDataset(*header, header_xfer, reread); !parsed.ok())
      return Status::InvalidArgument("the dataset's attributes do not survive being written out (" + parsed.message() +
                                     "); nothing stored");
  }
  w.header_bytes = std::move(*header);
  rec.header_size = w.header_bytes.size();
  rec.header_hash = engine::Sha256(AsBytes(w.header_bytes));
  return w;
}

Status DecodeStoredHeader(std::string_view header_bytes, const engine::InstanceRecord& record, DcmDataset& dataset) {
  return DecodeDataset(header_bytes, DcmXfer(record.header_transfer_syntax_uid.c_str()).getXfer(), dataset);
}

Result<std::unique_ptr<DcmFileFormat>> LoadStoredHeader(const engine::Store& store,
                                                        const engine::InstanceRecord& record) {
  auto header = store.GetHeader(record.header_hash);
  if (!header.ok()) return header.status();
  auto file = std::make_unique<DcmFileFormat>();
  const E_TransferSyntax header_xfer = DcmXfer(record.header_transfer_syntax_uid.c_str()).getXfer();
  PACS_RETURN_IF_ERROR(DecodeDataset(*header, header_xfer, *file->getDataset()));
  return file;
}

Status AttachPixelDataAsReceived(DcmDataset& dataset, const FrameSource& source, const engine::InstanceRecord& record) {
  if (record.pixel_layout == engine::PixelLayout::kNative) {
    auto px = NewNativePixelData(DcmVR(record.pixel_vr.c_str()).getEVR(), record.pixel_length,
                                 [&](std::span<uint8_t> value) { return source.NativePixelDataInto(value); });
    if (!px.ok()) return px.status();
    dataset.insert(px->release(), true);
  } else if (record.pixel_layout == engine::PixelLayout::kEncapsulated) {
    auto* seq = new DcmPixelSequence(DCM_PixelSequenceTag);
    auto* bot = new DcmPixelItem(DCM_PixelItemTag);
    bot->putUint8Array(reinterpret_cast<const Uint8*>(record.offset_table.data()),
                       static_cast<unsigned long>(record.offset_table.size()));
    seq->insert(bot);
    for (const auto& fragment : source.fragments()) {
      auto* item = new DcmPixelItem(DCM_PixelItemTag);
      item->putUint8Array(reinterpret_cast<const Uint8*>(fragment.data()), static_cast<unsigned long>(fragment.size()));
      seq->insert(item);
    }
    auto* px = new DcmPixelData(DCM_PixelData);
    px->putOriginalRepresentation(ReceivedTransferSyntax(record), nullptr, seq);
    dataset.insert(px, true);
    CountFramesAsStored(source.frame_count());
  }
  return Status::Ok();
}

Result<std::unique_ptr<DcmFileFormat>> RebuildInstance(const engine::Store& store,
                                                       const engine::InstanceRecord& record) {
  auto file = LoadStoredHeader(store, record);
  if (!file.ok()) return file.status();
  DcmDataset& ds = *(*file)->getDataset();
  auto source = FrameSource::Open(store, record, ds);
  if (!source.ok()) return source.status();
  PACS_RETURN_IF_ERROR(AttachPixelDataAsReceived(ds, *source, record));
  return file;
}

Status VerifyInstanceDeep(const engine::Store& store, const engine::InstanceRecord& rec) {
  auto header = store.GetHeader(rec.header_hash);
  if (!header.ok()) return header.status();
  if (engine::Sha256(AsBytes(*header)) != rec.header_hash)
    return Status::Corruption("header bytes do not match their hash");
  DcmDataset ds;
  PACS_RETURN_IF_ERROR(DecodeDataset(*header, DcmXfer(rec.header_transfer_syntax_uid.c_str()).getXfer(), ds));
  std::optional<codecs::FrameInfo> info;
  if (auto described = FrameInfoFromDataset(ds); described.ok()) info = *described;
  std::vector<std::string> fragments;
  for (size_t i = 0; i < rec.chunks.size(); ++i) {
    const auto& chunk = rec.chunks[i];
    auto stored = store.ReadChunk(chunk.hash);
    if (!stored.ok()) return stored.status().WithContext("chunk " + std::to_string(i));
    std::string* bytes = &stored->bytes;
    const std::string where = "chunk " + std::to_string(i) + " (" + engine::ToHex(chunk.hash) + ")";
    const bool native_frame = rec.pixel_layout == engine::PixelLayout::kNative && chunk.pixel_hash == chunk.hash;
    if (native_frame) {
      std::string raw = *bytes;
      if (stored->codec != static_cast<uint8_t>(codecs::CodecId::kRaw)) {
        if (!info) return Status::Corruption(where + ": header no longer describes the frame");
        auto decoded = codecs::MakeCodec(static_cast<codecs::CodecId>(stored->codec))->Decode(*info, AsBytes(*bytes));
        if (!decoded.ok()) return decoded.status().WithContext(where + " does not decode");
        raw.assign(decoded->begin(), decoded->end());
      }
      if (engine::Sha256({AsBytes(PixelDescription(ds)), AsBytes(raw)}) != chunk.hash)
        return Status::Corruption(where + ": pixels do not hash to the frame's key");
    } else if (engine::Sha256(AsBytes(*bytes)) != chunk.hash) {
      return Status::Corruption(where + ": bytes do not hash to their key");
    }
    if (rec.pixel_layout == engine::PixelLayout::kEncapsulated) fragments.push_back(std::move(*bytes));
  }
  // Compressed frames with a recorded pixel identity must decode to it.
  const bool has_identity = std::any_of(rec.chunks.begin(), rec.chunks.end(), [](const engine::PixelChunk& c) {
    return c.pixel_hash != engine::ContentHash{};
  });
  if (rec.pixel_layout == engine::PixelLayout::kEncapsulated && has_identity && info) {
    const E_TransferSyntax xfer = ReceivedTransferSyntax(rec);
    // DCMTK's decoders need the pixel data inside the dataset.
    auto* seq = new DcmPixelSequence(DCM_PixelSequenceTag);
    auto* bot = new DcmPixelItem(DCM_PixelItemTag);
    bot->putUint8Array(reinterpret_cast<const Uint8*>(rec.offset_table.data()),
                       static_cast<unsigned long>(rec.offset_table.size()));
    seq->insert(bot);
    for (const auto& f : fragments) {
      auto* item = new DcmPixelItem(DCM_PixelItemTag);
      item->putUint8Array(reinterpret_cast<const Uint8*>(f.data()), static_cast<unsigned long>(f.size()));
      seq->insert(item);
    }
    auto* px = new DcmPixelData(DCM_PixelData);
    px->putOriginalRepresentation(xfer, nullptr, seq);
    ds.insert(px, true);
    auto identities = DecodedFrameIdentities(ds, xfer, rec.offset_table, fragments);
    if (!identities.ok()) return identities.status().WithContext("compressed frames with a recorded identity");
    for (size_t f = 0; f < identities->size(); ++f)
      if ((*identities)[f].second != rec.chunks[(*identities)[f].first].pixel_hash)
        return Status::Corruption("frame " + std::to_string(f) + " decodes to pixels other than its recorded identity");
  }
  return Status::Ok();
}

Result<std::string> EncodeDatasetBytes(DcmDataset& dataset, E_TransferSyntax xfer, E_GrpLenEncoding group_lengths) {
  std::string out;
  // DCMTK writes through this buffer in rounds. 64 KiB holds most headers
  // in one; it is not zero-filled (a zeroed 1 MiB per call was 2 % of the
  // server's CPU at ingest: the fill and its fresh pages).
  constexpr size_t kBufferBytes = 64 << 10;
  const auto buffer = std::make_unique_for_overwrite<char[]>(kBufferBytes);
  DcmOutputBufferStream stream(buffer.get(), kBufferBytes);
  dataset.transferInit();
  OFCondition cond;
  do {
    cond = dataset.write(stream, xfer, EET_ExplicitLength, nullptr, group_lengths, EPD_noChange);
    void* chunk = nullptr;
    offile_off_t len = 0;
    stream.flushBuffer(chunk, len);
    out.append(static_cast<const char*>(chunk), static_cast<size_t>(len));
  } while (cond == EC_StreamNotifyClient);
  dataset.transferEnd();
  if (cond.bad()) return Status::InvalidArgument(std::string("cannot encode the dataset: ") + cond.text());
  return out;
}

}  // namespace pacs::dicom
