#include "pacs/dicom/transcode.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcstack.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk_codecs.h"
#include "fragments.h"
#include "pacs/base/log.h"
#include "pacs/codecs/codec_choice.h"
#include "pacs/codecs/codec_options.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/pixel_codec_policy.h"
#include "transfer_syntaxes.h"

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

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFStringArray(tag, v);
  return v;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Decoded J2K codestreams with the colour transform are RGB.
void DeclareDecodedPhotometric(DcmItem& ds) {
  const std::string photometric = GetString(ds, DCM_PhotometricInterpretation);
  if (photometric == "YBR_RCT" || photometric == "YBR_ICT") ds.putAndInsertString(DCM_PhotometricInterpretation, "RGB");
}

// Native Pixel Data of every frame, decoding those stored compressed.
// Returns the bytes of pixel data put.
Result<uint64_t> PutNativePixels(DcmDataset& ds, const FrameSource& source, const engine::InstanceRecord& rec) {
  if (rec.pixel_layout == engine::PixelLayout::kNative) {
    // Every chunk, trailing bytes included: the value as received.
    auto px = NewNativePixelData(DcmVR(rec.pixel_vr.c_str()).getEVR(), rec.pixel_length,
                                 [&](std::span<uint8_t> value) { return source.NativePixelDataInto(value); });
    if (!px.ok()) return px.status();
    ds.insert(px->release(), true);
    return rec.pixel_length;
  }
  if (!source.info().ok()) return source.info().status().WithContext("pixel data cannot be transcoded");
  const size_t frame_bytes = source.info()->FrameBytes();
  const size_t length = frame_bytes * source.frame_count();
  auto px = NewNativePixelData(
      source.info()->bits_allocated > 8 ? EVR_OW : EVR_OB, length, [&](std::span<uint8_t> value) -> Status {
        for (size_t f = 0; f < source.frame_count(); ++f) {
          auto frame = source.Read(f);
          if (!frame.ok()) return frame.status();
          PACS_RETURN_IF_ERROR(source.DecodeInto(f, std::move(*frame), value.subspan(f * frame_bytes, frame_bytes)));
        }
        return Status::Ok();
      });
  if (!px.ok()) return px.status();
  ds.insert(px->release(), true);
  DeclareDecodedPhotometric(ds);
  return length;
}

// Encapsulated Pixel Data in our codec `codec`: frames stored in it go out
// byte for byte, the others are decoded (if compressed) and encoded.
Result<BuiltInstance> EncodeWithOurCodec(std::unique_ptr<DcmFileFormat> file, const FrameSource& source, CodecId codec,
                                         const std::string& uid) {
  DcmDataset& ds = *file->getDataset();
  if (!source.info().ok()) return source.info().status().WithContext("pixel data cannot be transcoded");
  const codecs::FrameInfo& info = *source.info();
  std::string photometric = GetString(ds, DCM_PhotometricInterpretation);
  if (photometric == "YBR_RCT" || photometric == "YBR_ICT") photometric = "RGB";  // what its frames decode to
  codecs::CodecOptions options;
  options.rgb_colour_transform =
      info.samples_per_pixel == 3 && photometric == "RGB" && (codec == CodecId::kJ2k || codec == CodecId::kHtj2k);
  auto encoder = codecs::MakeCodec(codec, options);
  auto seq = std::make_unique<DcmPixelSequence>(DCM_PixelSequenceTag);
  auto* bot = new DcmPixelItem(DCM_PixelItemTag);
  seq->insert(bot);
  DcmOffsetList offsets;
  bool rct = false;
  uint64_t as_stored = 0;
  uint64_t pixel_bytes = 0;
  for (size_t f = 0; f < source.frame_count(); ++f) {
    auto frame = source.Read(f);
    if (!frame.ok()) return frame.status();
    std::string codestream;
    if (frame->codec == codec) {
      codestream = std::move(frame->bytes);
      ++as_stored;
    } else {
      if (!encoder->Supports(info))
        return Status::Unsupported(std::string(codecs::CodecName(codec)) + " does not support this pixel format");
      auto native = source.Decode(f, std::move(*frame));
      if (!native.ok()) return native.status();
      auto encoded = encoder->Encode(info, Bytes(*native));
      if (!encoded.ok()) return encoded.status().WithContext("frame " + std::to_string(f));
      codestream.assign(encoded->begin(), encoded->end());
    }
    if (codec != CodecId::kJpegLs && codecs::UsesColourTransform(Bytes(codestream))) rct = true;
    pixel_bytes += codestream.size();
    if (seq->storeCompressedFrame(offsets, reinterpret_cast<Uint8*>(codestream.data()),
                                  static_cast<Uint32>(codestream.size()), 0)
            .bad())
      return Status::Internal("cannot store compressed frame");
  }
  bot->createOffsetTable(offsets);
  auto* px = new DcmPixelData(DCM_PixelData);
  // HTJ2K rides on the JPEG 2000 representation (same encapsulation); WritePart10 labels it.
  const E_TransferSyntax carrier = codec == CodecId::kJpegLs ? EXS_JPEGLSLossless : EXS_JPEG2000LosslessOnly;
  px->putOriginalRepresentation(carrier, nullptr, seq.release());
  ds.insert(px, true);
  ds.putAndInsertString(DCM_PhotometricInterpretation, rct ? "YBR_RCT" : photometric.c_str());
  if (info.samples_per_pixel == 3) ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  CountFramesAsStored(as_stored);
  BuiltInstance built;
  built.file = std::move(file);
  built.transfer_syntax_uid = uid;
  built.dcmtk_xfer = carrier;
  built.held_bytes = pixel_bytes;
  return built;
}

// Pixel Data nested in sequence items (an Icon Image Sequence) is encoded in
// the syntax the header was stored in. When the instance leaves in another
// syntax DCMTK cannot re-encode it (it has no JPEG 2000 codec: "Pixel
// representation not found"), so it is decoded here and written native,
// which DCMTK does for nested pixel data in any syntax (as it reads icons
// that arrived native inside compressed datasets). Where nothing decodes it,
// the Icon Image Sequence (Type 3, PS3.3 C.7.6.1.1.6) is dropped and the
// log says so; other nested pixel data fails the build.
Status NestedPixelDataToNative(DcmDataset& ds, const engine::InstanceRecord& rec) {
  const std::string header_uid = rec.header_transfer_syntax_uid;
  const DcmXfer header_xfer(header_uid.c_str());
  if (!header_xfer.isEncapsulated()) return Status::Ok();
  std::vector<DcmPixelData*> nested;
  DcmStack stack;
  for (E_SearchMode mode = ESM_fromHere; ds.search(DCM_PixelData, stack, mode, OFTrue).good(); mode = ESM_afterStackTop)
    if (stack.top()->ident() == EVR_PixelData) nested.push_back(static_cast<DcmPixelData*>(stack.top()));
  const auto ours = OurCodecFor(header_uid);
  std::vector<DcmSequenceOfItems*> dropped;
  for (DcmPixelData* px : nested) {
    auto* item = dynamic_cast<DcmItem*>(px->getParent());
    DcmPixelSequence* seq = nullptr;
    if (item == nullptr || px->getEncapsulatedRepresentation(header_xfer.getXfer(), nullptr, seq).bad() || !seq)
      continue;  // already native
    Status decoded = Status::Unsupported("no decoder for nested pixel data in " + header_uid);
    if (ours) {
      auto info = FrameInfoFromDataset(*item);
      std::vector<std::string> fragments;
      std::string bot;
      for (unsigned long i = 0; info.ok() && i < seq->card(); ++i) {
        DcmPixelItem* pixel_item = nullptr;
        Uint8* data = nullptr;
        if (seq->getItem(pixel_item, i).bad()) break;
        if (pixel_item->getLength() > 0 && pixel_item->getUint8Array(data).bad()) break;
        std::string bytes(reinterpret_cast<const char*>(data), pixel_item->getLength());
        (i == 0 ? bot : fragments.emplace_back()) = std::move(bytes);
      }
      if (!info.ok()) {
        decoded = info.status();
      } else if (auto frames = GroupFragments(bot, fragments, 1); !frames.ok()) {
        decoded = frames.status();
      } else if (auto pixels = codecs::MakeCodec(*ours)->Decode(*info, Bytes(frames->front())); !pixels.ok()) {
        decoded = pixels.status();
      } else {
        px->putUint8Array(pixels->data(), static_cast<unsigned long>(pixels->size()));  // drops the encapsulated one
        px->setVR(info->bits_allocated > 8 ? EVR_OW : EVR_OB);
        px->setNonEncapsulationFlag(OFTrue);
        DeclareDecodedPhotometric(*item);
        continue;
      }
    }
    auto* sequence = dynamic_cast<DcmSequenceOfItems*>(item->getParent());
    if (sequence == nullptr || sequence->getTag() != DCM_IconImageSequence)
      return decoded.WithContext("pixel data nested in " +
                                 std::string(sequence ? DcmTag(sequence->getTag()).getTagName() : "an item"));
    LogWarning("instance " + rec.sop_instance_uid + ": its Icon Image Sequence (" + header_uid +
               ") cannot be decoded (" + decoded.message() +
               "); it is left out of the copy sent, the stored one is kept");
    if (std::find(dropped.begin(), dropped.end(), sequence) == dropped.end()) dropped.push_back(sequence);
  }
  for (DcmSequenceOfItems* sequence : dropped)
    if (auto* owner = dynamic_cast<DcmItem*>(sequence->getParent())) delete owner->remove(sequence);
  return Status::Ok();
}

}  // namespace

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
  const TransferSyntaxInfo* received = FindTransferSyntax(record.transfer_syntax_uid);
  return received != nullptr && received->coding != PixelCoding::kNative && DcmtkKnows(received->uid);
}

Result<BuiltInstance> BuildInstance(const engine::Store& store, const engine::InstanceRecord& rec,
                                    const TargetSyntax& target) {
  std::string uid = target.uid;
  if (target.kind == TargetSyntax::Kind::kOriginal) uid = rec.transfer_syntax_uid;
  if (target.kind == TargetSyntax::Kind::kStored) {
    auto stored = StoredTransferSyntax(store, rec);
    if (!stored.ok()) return stored.status();
    uid = *stored;
  }
  const bool as_received = uid == rec.transfer_syntax_uid;
  const TransferSyntaxInfo* syntax = FindTransferSyntax(uid);
  if (!as_received && rec.pixel_layout != engine::PixelLayout::kNone) {
    if (!CanTranscode(rec))
      return Status::Unsupported("instance " + rec.sop_instance_uid + " arrived in " + rec.transfer_syntax_uid +
                                 ", which is passed through unchanged and not transcoded");
    if (syntax == nullptr) {
      const DcmXfer x(uid.c_str());
      if (x.getXfer() == EXS_Unknown) return Status::Unsupported("unknown transfer syntax " + uid);
      if (x.isLossy()) return Status::Unsupported("lossy transfer syntax " + uid + " would lose data");
      return Status::Unsupported("no lossless encoder for transfer syntax " + uid);
    }
  }
  auto file = LoadStoredHeader(store, rec);
  if (!file.ok()) return file.status();
  DcmDataset& ds = *(*file)->getDataset();
  if (rec.pixel_layout == engine::PixelLayout::kNone) {
    // No pixels: only the dataset's encoding changes.
    if (!as_received && (syntax == nullptr || syntax->coding != PixelCoding::kNative))
      return Status::Unsupported("an instance without pixel data is only written in an uncompressed syntax");
    return BuiltInstance{std::move(*file), uid, DcmXfer(uid.c_str()).getXfer(), rec.header_size};
  }
  auto source = FrameSource::Open(store, rec, ds);
  if (!source.ok()) return source.status();
  if (as_received) {
    PACS_RETURN_IF_ERROR(AttachPixelDataAsReceived(ds, *source, rec).WithContext("instance " + rec.sop_instance_uid));
    return BuiltInstance{std::move(*file), uid, ReceivedTransferSyntax(rec), EstimateBuiltBytes(rec)};
  }
  PACS_RETURN_IF_ERROR(NestedPixelDataToNative(ds, rec).WithContext("instance " + rec.sop_instance_uid));
  if (syntax->coding == PixelCoding::kOurCodec) {
    auto built = EncodeWithOurCodec(std::move(*file), *source, syntax->codec, uid);
    if (!built.ok()) return built.status().WithContext("instance " + rec.sop_instance_uid);
    built->held_bytes += rec.header_size;
    return built;
  }
  const E_TransferSyntax target_xfer = DcmXfer(uid.c_str()).getXfer();
  auto native_bytes = PutNativePixels(ds, *source, rec);
  if (!native_bytes.ok()) return native_bytes.status().WithContext("instance " + rec.sop_instance_uid);
  uint64_t held = rec.header_size + *native_bytes;
  if (syntax->coding == PixelCoding::kDcmtkCodec) {  // JPEG lossless, RLE: DCMTK's encoders
    RegisterDcmtkCodecs();
    if (ds.chooseRepresentation(target_xfer, nullptr).bad() || !ds.canWriteXfer(target_xfer))
      return Status::Unsupported("cannot encode this pixel format in " + uid);
    held += *native_bytes;  // DCMTK keeps the native representation beside the encoded one (at most as large)
  }
  return BuiltInstance{std::move(*file), uid, target_xfer, held};
}

uint64_t EstimateBuiltBytes(const engine::InstanceRecord& record) {
  if (record.pixel_layout == engine::PixelLayout::kNative) return record.header_size + record.pixel_length;
  uint64_t pixels = record.offset_table.size();
  for (const auto& chunk : record.chunks) pixels += chunk.size;
  return record.header_size + pixels;
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
