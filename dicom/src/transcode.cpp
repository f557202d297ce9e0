#include "pacs/dicom/transcode.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk_codecs.h"
#include "fragments.h"
#include "pacs/codecs/codec_choice.h"
#include "pacs/codecs/codec_options.h"
#include "pacs/dicom/instance_split.h"

namespace pacs::dicom {
namespace {

using codecs::CodecId;

}  // namespace

void RegisterDcmtkCodecs() {
  // A function-local static is initialised once, other callers waiting (C++11).
  static const bool registered = [] {
    DJDecoderRegistration::registerCodecs();
    DJEncoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();
    return true;
  }();
  (void)registered;
}

namespace {

std::optional<CodecId> OurCodecFor(std::string_view uid) {
  if (uid == UID_JPEGLSLosslessTransferSyntax) return CodecId::kJpegLs;
  if (uid == UID_JPEG2000LosslessOnlyTransferSyntax) return CodecId::kJ2k;
  if (uid == kHtj2kLosslessUid) return CodecId::kHtj2k;
  return std::nullopt;
}

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFStringArray(tag, v);
  return v;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The frames of an encapsulated pixel sequence (see fragments.h).
Result<std::vector<std::string>> FramesOfSequence(DcmPixelSequence& seq, size_t frames) {
  std::vector<std::string> fragments;
  std::string bot;
  for (unsigned long i = 0; i < seq.card(); ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (seq.getItem(item, i).bad()) return Status::Corruption("pixel item unreadable");
    const Uint32 len = item->getLength();
    if (len > 0 && item->getUint8Array(data).bad()) return Status::Corruption("pixel item unreadable");
    std::string bytes(reinterpret_cast<const char*>(data), len);
    if (i == 0)
      bot = std::move(bytes);
    else
      fragments.push_back(std::move(bytes));
  }
  return GroupFragments(bot, fragments, frames);
}

struct NativeFrames {
  codecs::FrameInfo info;
  std::vector<std::string> frames;                 // native bytes, little endian
  std::vector<std::optional<std::string>> stored;  // our stored codestream per frame, if any
  std::vector<CodecId> stored_codec;
};

// The instance's frames as native pixels. `file` holds the instance as
// received (RebuildInstance); for native records the stored codestreams are
// kept beside each frame so that re-encoding into the same codec is skipped.
// Frames already stored in `keep` are not decoded (their codestream goes out
// as it is); their native bytes stay empty.
Result<NativeFrames> DecodeFrames(const engine::Store& store, const engine::InstanceRecord& rec, DcmFileFormat& file,
                                  std::optional<CodecId> keep = std::nullopt) {
  DcmDataset& ds = *file.getDataset();
  auto info = FrameInfoFromDataset(ds);
  if (!info.ok()) return info.status().WithContext("pixel data cannot be transcoded");
  long frames_long = 1;
  {
    OFString s;
    if (ds.findAndGetOFString(DCM_NumberOfFrames, s).good() && !s.empty())
      frames_long = std::max(1L, std::atol(s.c_str()));
  }
  const auto frames = static_cast<size_t>(frames_long);
  NativeFrames out;
  out.info = *info;
  const size_t frame_bytes = info->FrameBytes();

  if (rec.pixel_layout == engine::PixelLayout::kNative) {
    if (rec.chunks.size() < frames) return Status::Unsupported("pixel data does not split into frames");
    for (size_t f = 0; f < frames; ++f) {
      auto stored = store.ReadChunk(rec.chunks[f].hash);  // its codec may have changed since the commit
      if (!stored.ok()) return stored.status();
      std::string* bytes = &stored->bytes;
      const auto codec = static_cast<CodecId>(stored->codec);
      if (codec == CodecId::kRaw) {
        out.frames.push_back(std::move(*bytes));
        out.stored.emplace_back();
      } else if (keep == codec) {
        out.frames.emplace_back();
        out.stored.emplace_back(std::move(*bytes));
        out.stored_codec.push_back(codec);
        continue;
      } else {
        auto decoded = codecs::MakeCodec(codec)->Decode(out.info, Bytes(*bytes));
        if (!decoded.ok()) return decoded.status().WithContext("frame " + std::to_string(f));
        out.frames.emplace_back(decoded->begin(), decoded->end());
        out.stored.emplace_back(std::move(*bytes));
      }
      out.stored_codec.push_back(codec);
      if (out.frames.back().size() != frame_bytes) return Status::Corruption("frame size mismatch");
    }
    return out;
  }

  const std::string ts = rec.transfer_syntax_uid;
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad()) return Status::NotFound("no pixel data");
  auto* px = static_cast<DcmPixelData*>(element);
  if (auto ours = OurCodecFor(ts)) {
    DcmPixelSequence* seq = nullptr;
    if (px->getEncapsulatedRepresentation(ReceivedTransferSyntax(rec), nullptr, seq).bad() || !seq)
      return Status::Corruption("encapsulated pixel data missing");
    auto codestreams = FramesOfSequence(*seq, frames);
    if (!codestreams.ok()) return codestreams.status();
    // A J2K codestream with the colour transform decodes to RGB.
    for (size_t f = 0; f < frames; ++f) {
      auto decoded = codecs::MakeCodec(*ours)->Decode(out.info, Bytes((*codestreams)[f]));
      if (!decoded.ok())
        return decoded.status().WithContext("received frame " + std::to_string(f) + " does not decode");
      out.frames.emplace_back(decoded->begin(), decoded->end());
      out.stored.emplace_back((*codestreams)[f]);
      out.stored_codec.push_back(*ours);
    }
    if (GetString(ds, DCM_PhotometricInterpretation) == "YBR_RCT" ||
        GetString(ds, DCM_PhotometricInterpretation) == "YBR_ICT")
      ds.putAndInsertString(DCM_PhotometricInterpretation, "RGB");
    return out;
  }
  // JPEG lossless and RLE: DCMTK's decoders.
  RegisterDcmtkCodecs();
  if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() || !ds.canWriteXfer(EXS_LittleEndianExplicit))
    return Status::Unsupported("no decoder for transfer syntax " + ts);
  Uint8* data = nullptr;
  if (px->getUint8Array(data).bad() || px->getLength() < frame_bytes * frames)
    return Status::Corruption("decoded pixel data is shorter than the frames");
  for (size_t f = 0; f < frames; ++f) {
    out.frames.emplace_back(reinterpret_cast<const char*>(data) + f * frame_bytes, frame_bytes);
    out.stored.emplace_back();
    out.stored_codec.push_back(CodecId::kRaw);
  }
  return out;
}

void PutNativePixels(DcmDataset& ds, const NativeFrames& nf) {
  std::string all;
  for (const auto& f : nf.frames) all += f;
  auto* px = new DcmPixelData(DcmTag(DCM_PixelData, nf.info.bits_allocated > 8 ? EVR_OW : EVR_OB));
  px->putUint8Array(reinterpret_cast<const Uint8*>(all.data()), static_cast<unsigned long>(all.size()));
  ds.insert(px, true);
}

Result<BuiltInstance> EncodeWithOurCodec(std::unique_ptr<DcmFileFormat> file, NativeFrames& nf, CodecId codec,
                                         const std::string& uid) {
  DcmDataset& ds = *file->getDataset();
  const std::string photometric = GetString(ds, DCM_PhotometricInterpretation);
  codecs::CodecOptions options;
  options.rgb_colour_transform =
      nf.info.samples_per_pixel == 3 && photometric == "RGB" && (codec == CodecId::kJ2k || codec == CodecId::kHtj2k);
  auto encoder = codecs::MakeCodec(codec, options);
  if (!encoder->Supports(nf.info))
    return Status::Unsupported(std::string(codecs::CodecName(codec)) + " does not support this pixel format");
  auto* seq = new DcmPixelSequence(DCM_PixelSequenceTag);
  auto* bot = new DcmPixelItem(DCM_PixelItemTag);
  seq->insert(bot);
  DcmOffsetList offsets;
  bool rct = false;
  for (size_t f = 0; f < nf.frames.size(); ++f) {
    std::string codestream;
    if (nf.stored[f] && nf.stored_codec[f] == codec) {
      codestream = *nf.stored[f];
    } else {
      auto encoded = encoder->Encode(nf.info, Bytes(nf.frames[f]));
      if (!encoded.ok()) {
        delete seq;
        return encoded.status().WithContext("frame " + std::to_string(f));
      }
      codestream.assign(encoded->begin(), encoded->end());
    }
    if (codec != CodecId::kJpegLs && codecs::UsesColourTransform(Bytes(codestream))) rct = true;
    if (seq->storeCompressedFrame(offsets, reinterpret_cast<Uint8*>(codestream.data()),
                                  static_cast<Uint32>(codestream.size()), 0)
            .bad()) {
      delete seq;
      return Status::Internal("cannot store compressed frame");
    }
  }
  bot->createOffsetTable(offsets);
  auto* px = new DcmPixelData(DCM_PixelData);
  // HTJ2K rides on the JPEG 2000 representation (same encapsulation); WritePart10 labels it.
  const E_TransferSyntax carrier = codec == CodecId::kJpegLs ? EXS_JPEGLSLossless : EXS_JPEG2000LosslessOnly;
  px->putOriginalRepresentation(carrier, nullptr, seq);
  ds.insert(px, true);
  if (rct) ds.putAndInsertString(DCM_PhotometricInterpretation, "YBR_RCT");
  if (nf.info.samples_per_pixel == 3) ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  BuiltInstance built;
  built.file = std::move(file);
  built.transfer_syntax_uid = uid;
  built.dcmtk_xfer = carrier;
  return built;
}

// The meta header DCMTK would write, for syntaxes it does not know.
std::string EncodeMetaHeader(const std::string& sop_class, const std::string& sop_instance, const std::string& ts) {
  std::string elements;
  auto put = [&](uint16_t element, const char vr[2], std::string value, bool long_form = false) {
    if (value.size() % 2) value.push_back(vr[0] == 'U' && vr[1] == 'I' ? '\0' : ' ');
    elements.push_back(0x02);
    elements.push_back(0x00);
    elements.push_back(static_cast<char>(element & 0xff));
    elements.push_back(static_cast<char>(element >> 8));
    elements.append(vr, 2);
    if (long_form) {
      elements.append(2, '\0');
      const auto len = static_cast<uint32_t>(value.size());
      elements.append(reinterpret_cast<const char*>(&len), 4);
    } else {
      const auto len = static_cast<uint16_t>(value.size());
      elements.append(reinterpret_cast<const char*>(&len), 2);
    }
    elements += value;
  };
  put(0x0001, "OB", std::string("\0\1", 2), true);
  put(0x0002, "UI", sop_class);
  put(0x0003, "UI", sop_instance);
  put(0x0010, "UI", ts);
  put(0x0012, "UI", OFFIS_IMPLEMENTATION_CLASS_UID);
  put(0x0013, "SH", OFFIS_DTK_IMPLEMENTATION_VERSION_NAME);
  std::string out(128, '\0');
  out += "DICM";
  const auto group_length = static_cast<uint32_t>(elements.size());
  out += std::string("\x02\x00\x00\x00UL\x04\x00", 8);
  out.append(reinterpret_cast<const char*>(&group_length), 4);
  return out + elements;
}

}  // namespace

Result<TargetSyntax> ParseTargetSyntax(std::string_view text) {
  TargetSyntax t;
  if (text.empty() || text == "original") return t;
  if (text == "stored") {
    t.kind = TargetSyntax::Kind::kStored;
    return t;
  }
  if (text.find_first_not_of("0123456789.") != std::string_view::npos)
    return Status::InvalidArgument("--transfer-syntax must be original, stored or a UID, not '" + std::string(text) +
                                   "'");
  t.kind = TargetSyntax::Kind::kUid;
  t.uid = std::string(text);
  return t;
}

bool CanTranscode(const engine::InstanceRecord& record) {
  if (record.pixel_layout != engine::PixelLayout::kEncapsulated) return true;
  const DcmXfer x(record.transfer_syntax_uid.c_str());
  return x.getXfer() != EXS_Unknown && !x.isLossy() &&
         (OurCodecFor(record.transfer_syntax_uid) || x.getXfer() == EXS_RLELossless ||
          x.getXfer() == EXS_JPEGProcess14SV1 || x.getXfer() == EXS_JPEGProcess14);
}

Result<BuiltInstance> BuildInstance(const engine::Store& store, const engine::InstanceRecord& rec,
                                    const TargetSyntax& target) {
  auto file = RebuildInstance(store, rec);
  if (!file.ok()) return file.status();
  auto original = [&]() -> Result<BuiltInstance> {
    BuiltInstance built;
    built.file = std::move(*file);
    built.transfer_syntax_uid = rec.transfer_syntax_uid;
    built.dcmtk_xfer = ReceivedTransferSyntax(rec);
    return built;
  };
  std::string uid = target.uid;
  if (target.kind == TargetSyntax::Kind::kOriginal) return original();
  if (target.kind == TargetSyntax::Kind::kStored) {
    // Our encoding when every frame is stored with one codec; else as received.
    std::optional<CodecId> codec;
    bool uniform = rec.pixel_layout == engine::PixelLayout::kNative && !rec.chunks.empty();
    for (const auto& c : rec.chunks) {
      auto current = store.HasChunk(c.hash);  // current, not as committed
      if (!current.ok()) return current.status();
      const uint8_t stored_codec = current->value_or(c.codec);
      if (c.size == 0 || stored_codec == static_cast<uint8_t>(CodecId::kRaw)) continue;
      if (codec && *codec != static_cast<CodecId>(stored_codec)) uniform = false;
      codec = static_cast<CodecId>(stored_codec);
    }
    if (!uniform || !codec) return original();
    uid = std::string(codecs::TransferSyntaxUid(*codec));
  }
  if (uid == rec.transfer_syntax_uid) return original();
  if (rec.pixel_layout == engine::PixelLayout::kNone) {
    // No pixels: only the dataset's encoding changes.
    const DcmXfer x(uid.c_str());
    if (x.getXfer() == EXS_Unknown || x.isEncapsulated())
      return Status::Unsupported("an instance without pixel data is only written in an uncompressed syntax");
    BuiltInstance built{std::move(*file), uid, x.getXfer()};
    return built;
  }
  if (!CanTranscode(rec))
    return Status::Unsupported("instance " + rec.sop_instance_uid + " arrived in " + rec.transfer_syntax_uid +
                               ", which is passed through unchanged and not transcoded");
  const DcmXfer target_xfer(uid.c_str());
  const auto ours = OurCodecFor(uid);
  if (target_xfer.getXfer() == EXS_Unknown && !ours) return Status::Unsupported("unknown transfer syntax " + uid);
  if (target_xfer.getXfer() != EXS_Unknown && target_xfer.isLossy())
    return Status::Unsupported("lossy transfer syntax " + uid + " would lose data");

  auto frames = DecodeFrames(store, rec, **file, ours);
  if (!frames.ok()) return frames.status().WithContext("instance " + rec.sop_instance_uid);
  DcmDataset& ds = *(*file)->getDataset();
  delete ds.remove(DCM_PixelData);
  if (ours) return EncodeWithOurCodec(std::move(*file), *frames, *ours, uid);
  PutNativePixels(ds, *frames);
  if (target_xfer.isEncapsulated()) {  // JPEG lossless, RLE: DCMTK's encoders
    RegisterDcmtkCodecs();
    if (ds.chooseRepresentation(target_xfer.getXfer(), nullptr).bad() || !ds.canWriteXfer(target_xfer.getXfer()))
      return Status::Unsupported("cannot encode this pixel format in " + uid);
  }
  BuiltInstance built{std::move(*file), uid, target_xfer.getXfer()};
  return built;
}

Status WritePart10(BuiltInstance& built, const std::filesystem::path& path) {
  DcmDataset& ds = *built.file->getDataset();
  if (built.transfer_syntax_uid == DcmXfer(built.dcmtk_xfer).getXferID()) {
    OFCondition cond = built.file->saveFile(path.c_str(), built.dcmtk_xfer, EET_ExplicitLength, EGL_recalcGL,
                                            EPD_noChange, 0, 0, EWM_createNewMeta);
    if (cond.bad()) return Status::IOError("cannot write " + path.string() + ": " + cond.text());
    return Status::Ok();
  }
  // A syntax DCMTK does not know (HTJ2K): our meta header, then the dataset
  // encoded by DCMTK under its carrier representation.
  std::string out =
      EncodeMetaHeader(GetString(ds, DCM_SOPClassUID), GetString(ds, DCM_SOPInstanceUID), built.transfer_syntax_uid);
  auto dataset = EncodeDatasetBytes(ds, built.dcmtk_xfer);
  if (!dataset.ok()) return dataset.status().WithContext(path.string());
  out += *dataset;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!file.good()) return Status::IOError("cannot write " + path.string());
  return Status::Ok();
}

}  // namespace pacs::dicom
