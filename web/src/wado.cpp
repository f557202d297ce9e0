// WADO-RS (PS3.18 10.4): instances as multipart/related application/dicom,
// metadata as DICOM JSON with BulkDataURIs, frames and bulk data. Pixel
// frames leave through the frame source (pacs/dicom/frame_source.h), as
// stored whenever the client takes the stored syntax (transfer-syntax=*),
// decoded (and re-encoded) only when it asks for another one; both are
// counted in the process-wide frame counters.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>
#include <set>
#include <span>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcstack.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dicomweb_common.h"
#include "metadata_cache.h"
#include "pacs/base/log.h"
#include "pacs/base/parallel.h"
#include "pacs/codecs/codec_choice.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/query.h"
#include "pacs/dicom/retrieve.h"
#include "pacs/dicom/transcode.h"
#include "pacs/engine/store.h"
#include "pacs/web/dicomweb.h"
#include "pacs/web/media_type.h"

namespace pacs::web {

namespace {

constexpr char kExplicitLittleEndian[] = "1.2.840.10008.1.2.1";
constexpr char kImplicitLittleEndian[] = "1.2.840.10008.1.2";

// ---- multipart/related -------------------------------------------------------

std::string NewBoundary() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string boundary = "pacscore-";
  for (int i = 0; i < 24; ++i) boundary.push_back(kHex[random() & 15]);
  return boundary;
}

std::string PartHeader(const std::string& boundary, const std::string& content_type, const std::string& location = "") {
  std::string header = "--" + boundary + "\r\nContent-Type: " + content_type + "\r\n";
  if (!location.empty()) header += "Content-Location: " + location + "\r\n";
  return header + "\r\n";
}

std::string MultipartType(const std::string& part_type, const std::string& boundary) {
  return "multipart/related; type=\"" + part_type + "\"; boundary=" + boundary;
}

// ---- which instances a path names ----------------------------------------------

struct Target {
  std::string study, series, instance;
  std::string Uri() const {
    std::string uri = "/studies/" + study;
    if (!series.empty()) uri += "/series/" + series;
    if (!instance.empty()) uri += "/instances/" + instance;
    return uri;
  }
};

Result<Target> TargetOf(const Request& request) {
  Target target{request.Param("study"), request.Param("series"), request.Param("instance")};
  for (const auto& [uid, what] :
       {std::pair{&target.study, "Study"}, std::pair{&target.series, "Series"}, std::pair{&target.instance, "SOP"}}) {
    if (!uid->empty() && !IsValidUid(*uid))
      return Status::InvalidArgument("'" + uid->substr(0, 80) + "' is not a valid " + what + " Instance UID");
  }
  return target;
}

// The stored instances under `target`, in study, series, instance order;
// NotFound when there are none.
Result<std::vector<engine::InstanceRecord>> InstancesOf(const DicomWebContext& context, const Target& target) {
  std::vector<engine::InstanceRecord> records;
  if (!target.instance.empty()) {
    auto record = context.store().GetInstance(target.instance);
    if (!record.ok() || record->study_instance_uid != target.study || record->series_instance_uid != target.series)
      return Status::NotFound("no instance " + target.instance + " in series " + target.series + " of study " +
                              target.study);
    records.push_back(std::move(*record));
    return records;
  }
  dicom::Query query;
  query.level = dicom::QueryLevel::kImage;
  query.keys.push_back({.tag = 0x0020000D, .vr = "UI", .value = target.study});
  if (!target.series.empty()) query.keys.push_back({.tag = 0x0020000E, .vr = "UI", .value = target.series});
  auto refs = context.query().Resolve(query);
  if (!refs.ok()) return refs.status();
  for (const auto& ref : *refs) {
    auto record = context.store().GetInstance(ref.sop_instance_uid);
    if (record.ok()) records.push_back(std::move(*record));  // deleted since the index was read: left out
  }
  if (records.empty())
    return Status::NotFound(target.series.empty() ? "no study " + target.study
                                                  : "no series " + target.series + " in study " + target.study);
  return records;
}

Response ErrorFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      return Response::Error(404, status.message());
    case StatusCode::kInvalidArgument:
      return Response::Error(400, status.message());
    case StatusCode::kUnsupported:
      return Response::Error(406, status.message());
    default:
      return Response::Error(500, status.ToString());
  }
}

std::string InstanceUri(const engine::InstanceRecord& record) {
  return "/studies/" + record.study_instance_uid + "/series/" + record.series_instance_uid + "/instances/" +
         record.sop_instance_uid;
}

// ---- Part 10 in memory -----------------------------------------------------------

// The instance as a Part 10 file in `syntax` ("*": as stored).
Result<std::pair<std::string, std::string>> Part10(const engine::Store& store, const engine::InstanceRecord& record,
                                                   const std::string& syntax) {
  dicom::TargetSyntax target;
  if (syntax == "*") {
    target.kind = dicom::TargetSyntax::Kind::kStored;
  } else {
    target.kind = dicom::TargetSyntax::Kind::kUid;
    target.uid = syntax;
  }
  auto built = dicom::BuildInstance(store, record, target);
  if (!built.ok()) return built.status().WithContext("instance " + record.sop_instance_uid);
  auto dataset = dicom::EncodeDatasetBytes(*built->file->getDataset(), built->dcmtk_xfer);
  if (!dataset.ok()) return dataset.status().WithContext("instance " + record.sop_instance_uid);
  return std::pair{
      dicom::EncodeMetaHeader(record.sop_class_uid, record.sop_instance_uid, built->transfer_syntax_uid) + *dataset,
      built->transfer_syntax_uid};
}

// Whether `record` can leave in `syntax` (a UID or "*").
bool CanSend(const engine::InstanceRecord& record, const std::string& syntax) {
  if (syntax == "*") return true;
  if (syntax == dicom::StoredTransferSyntaxOf(record)) return true;
  if (dicom::CanProduce(record, syntax)) return true;
  return syntax == dicom::kHtj2kLosslessUid && record.pixel_layout != engine::PixelLayout::kNone &&
         dicom::CanTranscode(record);
}

// The transfer syntax the Accept header asks application/dicom parts in, or
// an error: InvalidArgument for a malformed header, Unsupported (406) when
// nothing it accepts can be produced for every instance.
Result<std::string> NegotiateDicom(const Request& request, const std::vector<engine::InstanceRecord>& records) {
  auto ranges = ParseAccept(request.Header("accept"));
  if (!ranges.ok()) return ranges.status();
  std::string offered;
  for (const MediaType& range : *ranges) {
    std::string type;
    if (range.Covers("multipart/related")) {
      type = range.HasParam("type") ? ToLower(range.Param("type")) : "application/dicom";
    } else if (range.Essence() == "application/dicom") {
      type = "application/dicom";
    } else {
      continue;
    }
    if (type != "application/dicom") continue;
    std::string syntax = range.Param("transfer-syntax");
    if (syntax.empty()) syntax = kExplicitLittleEndian;  // PS3.18 8.7.3.5.2: the default
    if (std::all_of(records.begin(), records.end(), [&](const auto& record) { return CanSend(record, syntax); }))
      return syntax;
    offered += (offered.empty() ? "" : ", ") + syntax;
  }
  return Status::Unsupported(
      "cannot send these instances as application/dicom in any transfer syntax the Accept "
      "header allows" +
      (offered.empty() ? std::string(" (it asks for no application/dicom)") : " (" + offered + ")"));
}

Response RetrieveInstances(const Request& request, const DicomWebContext& context) {
  auto target = TargetOf(request);
  if (!target.ok()) return ErrorFor(target.status());
  auto records = InstancesOf(context, *target);
  if (!records.ok()) return ErrorFor(records.status());
  auto syntax = NegotiateDicom(request, *records);
  if (!syntax.ok()) return ErrorFor(syntax.status());

  struct State {
    std::vector<engine::InstanceRecord> records;
    std::string syntax;
    std::string boundary = NewBoundary();
    size_t next = 0;
    bool closed = false;
  };
  auto state = std::make_shared<State>();
  state->records = std::move(*records);
  state->syntax = *syntax;
  Response response;
  response.content_type = MultipartType("application/dicom", state->boundary);
  const engine::Store* store = &context.store();
  DicomWebCounters* counters = &context.counters();
  response.stream = [state, store, counters]() -> Result<std::string> {
    if (state->next < state->records.size()) {
      const engine::InstanceRecord& record = state->records[state->next++];
      auto part = Part10(*store, record, state->syntax);
      if (!part.ok()) return part.status();
      ++counters->instances_sent;
      return PartHeader(state->boundary, "application/dicom; transfer-syntax=" + part->second) + part->first + "\r\n";
    }
    if (state->closed) return std::string();
    state->closed = true;
    return "--" + state->boundary + "--\r\n";
  };
  return response;
}

// ---- metadata ---------------------------------------------------------------------

bool IsBinaryVr(DcmEVR vr) {
  switch (vr) {
    case EVR_OB:
    case EVR_OW:
    case EVR_OF:
    case EVR_OD:
    case EVR_OL:
    case EVR_OV:
    case EVR_UN:
    case EVR_ox:
    case EVR_px:
      return true;
    default:
      return false;
  }
}

std::string TagHex(uint32_t tag) {
  char text[9];
  std::snprintf(text, sizeof text, "%08X", tag);
  return text;
}

constexpr size_t kMaxMetadataThreads = 8;

// One instance's metadata object: its stored header with the large binary
// values and the Pixel Data as BulkDataURIs.
Result<std::string> InstanceMetadata(const DicomWebContext& context, const engine::InstanceRecord& record) {
  auto file = dicom::LoadStoredHeader(context.store(), record);
  if (!file.ok()) return file.status().WithContext("instance " + record.sop_instance_uid);
  DcmDataset& dataset = *(*file)->getDataset();
  const std::string instance_uri = context.Uri(InstanceUri(record));
  std::map<uint32_t, std::string> bulk;
  for (unsigned long i = 0; i < dataset.card(); ++i) {
    DcmElement* element = dataset.getElement(i);
    if (!IsBinaryVr(element->getTag().getEVR()) || element->getLength() <= context.options().bulkdata_threshold)
      continue;
    const uint32_t tag = (uint32_t{element->getTag().getGroup()} << 16) | element->getTag().getElement();
    bulk[tag] = instance_uri + "/bulkdata/" + TagHex(tag);
  }
  // DCMTK asks for a BulkDataURI by tag alone, nested elements included, and
  // the bulkdata endpoint serves top-level values only: a tag that also
  // occurs inside a sequence stays inline everywhere rather than name the
  // top-level value where the nested one is.
  for (unsigned long i = 0; i < dataset.card() && !bulk.empty(); ++i) {
    DcmElement* element = dataset.getElement(i);
    if (element->ident() != EVR_SQ) continue;
    auto* sequence = static_cast<DcmSequenceOfItems*>(element);
    for (unsigned long k = 0; k < sequence->card(); ++k) {
      DcmStack stack;
      while (sequence->getItem(k)->nextObject(stack, OFTrue).good()) {
        const DcmTagKey key = stack.top()->getTag();
        bulk.erase((uint32_t{key.getGroup()} << 16) | key.getElement());
      }
    }
  }
  auto json = DatasetToJson(dataset, bulk);
  if (!json.ok()) return json.status().WithContext("instance " + record.sop_instance_uid);
  if (record.pixel_layout != engine::PixelLayout::kNone && json->size() >= 2 && json->back() == '}') {
    const std::string vr = record.pixel_layout == engine::PixelLayout::kEncapsulated || record.pixel_vr.empty()
                               ? std::string(record.pixel_layout == engine::PixelLayout::kEncapsulated ? "OB" : "OW")
                               : record.pixel_vr;
    json->pop_back();
    *json += std::string(json->size() > 1 ? "," : "") + R"("7FE00010":{"vr":")" + vr + R"(","BulkDataURI":")" +
             instance_uri + R"(/bulkdata/7FE00010"}})";
  }
  return std::move(*json);
}

// The series' metadata, from the cache when its instances did not change.
Result<std::shared_ptr<const SeriesMetadata>> SeriesMetadataOf(const DicomWebContext& context,
                                                               const std::string& series,
                                                               const std::vector<engine::InstanceRecord>& records) {
  std::vector<InstanceVersion> versions;
  versions.reserve(records.size());
  for (const auto& record : records) versions.push_back({record.sop_instance_uid, engine::ToHex(record.header_hash)});
  MetadataCache& cache = context.metadata_cache();
  if (auto hit = cache.Find(series, versions)) {
    ++context.counters().metadata_cache_hits;
    return hit;
  }
  ++context.counters().metadata_cache_misses;
  auto previous = cache.FindAny(series);
  std::map<std::string_view, const std::shared_ptr<const std::string>*> reusable;  // unchanged instances' JSON
  if (previous) {
    std::set<InstanceVersion> unchanged(previous->instances.begin(), previous->instances.end());
    for (const auto& version : versions)
      if (unchanged.contains(version))
        if (const auto it = previous->instance_json.find(version.sop_instance_uid); it != previous->instance_json.end())
          reusable[version.sop_instance_uid] = &it->second;
  }
  // Each missing instance's JSON means parsing its stored header: the
  // instances are independent, so they are built side by side, one per core
  // (a cold series of 140 CT slices took ~100 ms on one core of two).
  std::vector<Result<std::shared_ptr<const std::string>>> objects(records.size(), Status::Internal("not built"));
  ParallelFor(records.size(), kMaxMetadataThreads, [&](size_t i) {
    if (const auto it = reusable.find(versions[i].sop_instance_uid); it != reusable.end()) {
      objects[i] = *it->second;
      return;
    }
    auto json = InstanceMetadata(context, records[i]);
    if (json.ok())
      objects[i] = std::make_shared<const std::string>(std::move(*json));
    else
      objects[i] = json.status();
  });
  auto built = std::make_shared<SeriesMetadata>();
  built->json = "[";
  for (size_t i = 0; i < records.size(); ++i) {
    if (!objects[i].ok()) return objects[i].status();
    built->json += (i == 0 ? "" : ",") + **objects[i];
    built->instance_json[versions[i].sop_instance_uid] = std::move(*objects[i]);
  }
  built->json += "]";
  auto gzip = GzipCompress(built->json, 1);
  if (gzip.ok()) built->gzip = std::move(*gzip);
  built->instances = std::move(versions);
  cache.Put(series, built);
  return std::shared_ptr<const SeriesMetadata>(std::move(built));
}

Response MetadataJson(const Request& request, std::string json, const std::string* gzip = nullptr) {
  if (gzip != nullptr && !gzip->empty() && AcceptsGzip(request.Header("accept-encoding"))) {
    Response response = Response::Text(200, kDicomJson, *gzip);
    response.With("Content-Encoding", "gzip").With("Vary", "Accept-Encoding");
    return response;
  }
  return DicomJsonResponse(request, std::move(json));
}

Response RetrieveMetadata(const Request& request, const DicomWebContext& context) {
  std::string bad_accept;
  if (!AcceptsDicomJson(request, bad_accept))
    return bad_accept.empty() ? Response::Error(406, "metadata is application/dicom+json only")
                              : Response::Error(400, bad_accept);
  auto target = TargetOf(request);
  if (!target.ok()) return ErrorFor(target.status());
  auto records = InstancesOf(context, *target);
  if (!records.ok()) return ErrorFor(records.status());
  if (!target->instance.empty()) {
    auto json = InstanceMetadata(context, records->front());
    if (!json.ok()) return ErrorFor(json.status());
    return MetadataJson(request, "[" + *json + "]");
  }
  // Series by series (a study's records come grouped by series), each cached.
  std::vector<std::shared_ptr<const SeriesMetadata>> parts;
  size_t begin = 0;
  while (begin < records->size()) {
    size_t end = begin;
    while (end < records->size() && (*records)[end].series_instance_uid == (*records)[begin].series_instance_uid) ++end;
    std::vector<engine::InstanceRecord> series(records->begin() + static_cast<ptrdiff_t>(begin),
                                               records->begin() + static_cast<ptrdiff_t>(end));
    auto metadata = SeriesMetadataOf(context, (*records)[begin].series_instance_uid, series);
    if (!metadata.ok()) return ErrorFor(metadata.status());
    parts.push_back(std::move(*metadata));
    begin = end;
  }
  if (parts.size() == 1) return MetadataJson(request, parts.front()->json, &parts.front()->gzip);
  std::string json = "[";
  for (const auto& part : parts) {
    const std::string_view inner = std::string_view(part->json).substr(1, part->json.size() - 2);
    if (inner.empty()) continue;
    json += (json.size() > 1 ? "," : "") + std::string(inner);
  }
  json += "]";
  return MetadataJson(request, std::move(json));
}

// ---- frames -------------------------------------------------------------------------

// The media type a frame in `syntax` goes out as (PS3.18 Table 8.7.3-2 and -5).
std::string FrameMediaType(const std::string& syntax) {
  if (syntax == kExplicitLittleEndian || syntax == kImplicitLittleEndian || syntax == "1.2.840.10008.1.2.2")
    return "application/octet-stream";
  if (syntax == "1.2.840.10008.1.2.4.80" || syntax == "1.2.840.10008.1.2.4.81") return "image/jls";
  if (syntax == "1.2.840.10008.1.2.4.90" || syntax == "1.2.840.10008.1.2.4.91" || syntax == "1.2.840.10008.1.2.4.92" ||
      syntax == "1.2.840.10008.1.2.4.93")
    return "image/jp2";
  if (syntax == "1.2.840.10008.1.2.4.201" || syntax == "1.2.840.10008.1.2.4.202" || syntax == "1.2.840.10008.1.2.4.203")
    return "image/jphc";
  if (syntax == "1.2.840.10008.1.2.4.50" || syntax == "1.2.840.10008.1.2.4.51" || syntax == "1.2.840.10008.1.2.4.57" ||
      syntax == "1.2.840.10008.1.2.4.70")
    return "image/jpeg";
  if (syntax == "1.2.840.10008.1.2.5") return "image/x-dicom-rle";
  if (syntax == "1.2.840.10008.1.2.4.100" || syntax == "1.2.840.10008.1.2.4.101") return "video/mpeg";
  if (syntax.rfind("1.2.840.10008.1.2.4.10", 0) == 0) return "video/mp4";
  return "application/octet-stream";
}

// The default transfer syntax of a frame media type without transfer-syntax=.
std::string DefaultFrameSyntax(const std::string& type) {
  if (type == "application/octet-stream") return kExplicitLittleEndian;
  if (type == "image/jls") return "1.2.840.10008.1.2.4.80";
  if (type == "image/jp2") return "1.2.840.10008.1.2.4.90";
  if (type == "image/jphc") return "1.2.840.10008.1.2.4.201";
  if (type == "image/jpeg") return "1.2.840.10008.1.2.4.70";
  if (type == "image/x-dicom-rle" || type == "image/dicom-rle") return "1.2.840.10008.1.2.5";
  return "";
}

struct FrameWish {
  std::string type;    // the part media type asked for ("*/*" for any)
  std::string syntax;  // a UID, or "*"
};

Result<std::vector<FrameWish>> FrameWishes(const Request& request) {
  auto ranges = ParseAccept(request.Header("accept"));
  if (!ranges.ok()) return ranges.status();
  std::vector<FrameWish> wishes;
  for (const MediaType& range : *ranges) {
    FrameWish wish;
    if (range.Covers("multipart/related")) {
      // Without a type, the default media type of frames (PS3.18 8.7.3.5):
      // uncompressed, application/octet-stream, also for a bare */*.
      wish.type = range.HasParam("type") ? ToLower(range.Param("type")) : "application/octet-stream";
    } else {
      wish.type = range.Essence();  // a single-part type: answered as one part of multipart/related
    }
    wish.syntax = range.Param("transfer-syntax");
    if (wish.syntax.empty()) wish.syntax = wish.type == "*/*" ? "*" : DefaultFrameSyntax(wish.type);
    if (wish.syntax.empty()) continue;  // a type frames never come in
    wishes.push_back(std::move(wish));
  }
  return wishes;
}

struct FramePart {
  std::string content_type;
  std::string bytes;
};

// Frame `f` for the first wish it can satisfy; Unsupported when none.
Result<FramePart> ProduceFrame(const dicom::FrameSource& source, const engine::InstanceRecord& record, size_t f,
                               const std::vector<FrameWish>& wishes, DicomWebCounters& counters) {
  auto stored = source.Read(f);
  if (!stored.ok()) return stored.status().WithContext("frame " + std::to_string(f + 1));
  const std::string stored_syntax =
      stored->codec ? std::string(codecs::TransferSyntaxUid(*stored->codec)) : record.transfer_syntax_uid;
  const std::string stored_type = FrameMediaType(stored_syntax);
  for (const FrameWish& wish : wishes) {
    const bool any_type = wish.type == "*/*";
    if (wish.syntax == "*" || wish.syntax == stored_syntax) {
      if (wish.syntax == stored_syntax && !any_type && wish.type != stored_type) continue;
      ++counters.frames_sent;
      ++counters.frames_sent_as_stored;
      dicom::CountFramesAsStored(1);
      std::string content_type = stored_type;
      content_type += "; transfer-syntax=";
      content_type += stored_syntax;
      return FramePart{std::move(content_type), std::move(stored->bytes)};
    }
    const bool uncompressed = wish.syntax == kExplicitLittleEndian;
    if (!any_type && wish.type != FrameMediaType(wish.syntax)) continue;
    const auto our_codec = [&]() -> std::optional<codecs::CodecId> {
      for (const auto id : {codecs::CodecId::kJpegLs, codecs::CodecId::kJ2k, codecs::CodecId::kHtj2k})
        if (codecs::TransferSyntaxUid(id) == wish.syntax) return id;
      return std::nullopt;
    }();
    if (!uncompressed && !our_codec) continue;
    if (!source.info().ok()) continue;
    // Lossy codestreams are never turned into something that claims to be them.
    if (!stored->codec && !dicom::CanTranscode(record)) continue;
    auto pixels = source.Decode(f, std::move(*stored));
    if (!pixels.ok()) return pixels.status().WithContext("frame " + std::to_string(f + 1));
    ++counters.frames_sent;
    if (uncompressed)
      return FramePart{std::string("application/octet-stream; transfer-syntax=") + kExplicitLittleEndian,
                       std::move(*pixels)};
    const auto codec = codecs::MakeCodec(*our_codec);
    if (!codec->Supports(*source.info()))
      return Status::Unsupported("the frame's pixel format cannot be encoded in " + wish.syntax);
    auto encoded =
        codec->Encode(*source.info(), std::span(reinterpret_cast<const uint8_t*>(pixels->data()), pixels->size()));
    if (!encoded.ok()) return encoded.status().WithContext("frame " + std::to_string(f + 1));
    return FramePart{FrameMediaType(wish.syntax) + "; transfer-syntax=" + wish.syntax,
                     std::string(encoded->begin(), encoded->end())};
  }
  return Status::Unsupported("frame " + std::to_string(f + 1) + " (stored as " + stored_syntax +
                             ") cannot be sent in any media type and transfer syntax the Accept header allows");
}

Result<std::vector<size_t>> ParseFrameList(const std::string& text) {
  std::vector<size_t> frames;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    start = end + 1;
    size_t number = 0;
    const auto [stop, error] = std::from_chars(item.data(), item.data() + item.size(), number);
    if (item.empty() || error != std::errc() || stop != item.data() + item.size() || number == 0)
      return Status::InvalidArgument("frame list '" + text.substr(0, 80) + "': '" + item.substr(0, 20) +
                                     "' is not a frame number (1, 2, ...)");
    if (frames.size() >= 100000) return Status::InvalidArgument("more than 100000 frames in one request");
    frames.push_back(number);
  }
  return frames;
}

Response SendFrames(const Request& request, const DicomWebContext& context, const engine::InstanceRecord& record,
                    std::vector<size_t> frames) {
  auto wishes = FrameWishes(request);
  if (!wishes.ok()) return Response::Error(400, wishes.status().message());
  if (wishes->empty()) return Response::Error(406, "the Accept header allows no media type frames are sent in");
  if (record.pixel_layout == engine::PixelLayout::kNone)
    return Response::Error(404, "instance " + record.sop_instance_uid + " has no pixel data");
  auto file = dicom::LoadStoredHeader(context.store(), record);
  if (!file.ok()) return ErrorFor(file.status());
  auto source = dicom::FrameSource::Open(context.store(), record, *(*file)->getDataset());
  if (!source.ok()) return ErrorFor(source.status());
  if (frames.empty())
    for (size_t f = 1; f <= source->frame_count(); ++f) frames.push_back(f);
  for (const size_t f : frames)
    if (f > source->frame_count())
      return Response::Error(404, "instance " + record.sop_instance_uid + " has " +
                                      std::to_string(source->frame_count()) + " frames, not " + std::to_string(f));
  const std::string boundary = NewBoundary();
  std::string body;
  std::string first_type;
  for (const size_t f : frames) {
    auto part = ProduceFrame(*source, record, f - 1, *wishes, context.counters());
    if (!part.ok()) return ErrorFor(part.status());
    if (first_type.empty()) first_type = part->content_type.substr(0, part->content_type.find(';'));
    body += PartHeader(boundary, part->content_type);
    body += part->bytes;
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return Response::Text(200, MultipartType(first_type, boundary), std::move(body));
}

Response RetrieveFrames(const Request& request, const DicomWebContext& context) {
  auto target = TargetOf(request);
  if (!target.ok()) return ErrorFor(target.status());
  auto frames = ParseFrameList(request.Param("frames"));
  if (!frames.ok()) return ErrorFor(frames.status());
  auto records = InstancesOf(context, *target);
  if (!records.ok()) return ErrorFor(records.status());
  return SendFrames(request, context, records->front(), std::move(*frames));
}

// ---- bulk data ------------------------------------------------------------------------

Response RetrieveBulkData(const Request& request, const DicomWebContext& context) {
  auto target = TargetOf(request);
  if (!target.ok()) return ErrorFor(target.status());
  const std::string& tag_text = request.Param("tag");
  if (tag_text.size() != 8 ||
      !std::all_of(tag_text.begin(), tag_text.end(), [](unsigned char c) { return std::isxdigit(c) != 0; }))
    return Response::Error(400, "bulk data '" + tag_text.substr(0, 40) + "' is not a tag (8 hex digits)");
  auto records = InstancesOf(context, *target);
  if (!records.ok()) return ErrorFor(records.status());
  const auto tag = static_cast<uint32_t>(std::stoul(tag_text, nullptr, 16));
  if (tag == 0x7FE00010) return SendFrames(request, context, records->front(), {});
  auto file = dicom::LoadStoredHeader(context.store(), records->front());
  if (!file.ok()) return ErrorFor(file.status());
  DcmElement* element = nullptr;
  if ((*file)
          ->getDataset()
          ->findAndGetElement(DcmTagKey(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF)), element)
          .bad() ||
      element == nullptr || !IsBinaryVr(element->getTag().getEVR()))
    return Response::Error(404, "instance " + target->instance + " has no binary value " + tag_text);
  Uint8* bytes = nullptr;
  if (element->getUint8Array(bytes).bad() && element->getLength() > 0)
    return Response::Error(500, "cannot read the value of " + tag_text);
  auto ranges = ParseAccept(request.Header("accept"));
  if (!ranges.ok()) return Response::Error(400, ranges.status().message());
  const bool acceptable = std::any_of(ranges->begin(), ranges->end(), [](const MediaType& range) {
    return range.Covers("multipart/related") &&
           (!range.HasParam("type") || ToLower(range.Param("type")) == "application/octet-stream");
  });
  if (!acceptable)
    return Response::Error(406, "bulk data is sent as multipart/related; type=\"application/octet-stream\"");
  const std::string boundary = NewBoundary();
  std::string body = PartHeader(boundary, "application/octet-stream");
  body.append(reinterpret_cast<const char*>(bytes), element->getLength());
  body += "\r\n--" + boundary + "--\r\n";
  return Response::Text(200, MultipartType("application/octet-stream", boundary), std::move(body));
}

}  // namespace

void RegisterWadoRoutes(Router& router, DicomWebContext& context) {
  const std::string& root = context.options().root;
  const std::string study = root + "/studies/{study}";
  const std::string series = study + "/series/{series}";
  const std::string instance = series + "/instances/{instance}";
  auto add = [&](const std::string& path, Response (*handler)(const Request&, const DicomWebContext&)) {
    router.Add("GET", path, [&context, handler](const Request& request) { return handler(request, context); });
  };
  add(study, RetrieveInstances);
  add(series, RetrieveInstances);
  add(instance, RetrieveInstances);
  add(study + "/metadata", RetrieveMetadata);
  add(series + "/metadata", RetrieveMetadata);
  add(instance + "/metadata", RetrieveMetadata);
  add(instance + "/frames/{frames}", RetrieveFrames);
  add(instance + "/bulkdata/{tag}", RetrieveBulkData);
}

}  // namespace pacs::web
