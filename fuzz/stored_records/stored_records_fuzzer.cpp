// libFuzzer target: every decoder of bytes read back from the data folder.
// A data folder can be damaged (a bad disk, a copy cut short, another
// version's records), so each decoder must turn any byte string into either
// a valid value or a Corruption status naming it, never a crash, and must
// not allocate more than the input justifies.
//
// The first input byte picks the decoder, the rest is the stored bytes:
//   0 InstanceRecord (instances column family)
//   1 ChunkRef (refs column family: count, codec, sizes)
//   2 a hash key and a u64 value (frames/headers/gc/work keys, counters)
//   3 a query index record (pacs::dicom::index::Record)
//   4 query index keys and an instance location
//   5 a re-encoding job (work column family, dicom::EncodeJob)
//   6 a stored header (headers column family), in the syntax byte 1 picks
//   7 the catalog payload's attribute list (index::Attributes)
//
// Properties checked beyond "no crash": a decoded value re-encodes to bytes
// that decode to the same value (encode/decode are inverse on what decode
// accepts), and every refusal is a Corruption status.
//
// PACS_FUZZ_WRITE_SEEDS=DIR: write one valid input per decoder to DIR, exit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "index_records.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/dicom/pixel_codec_policy.h"
#include "pacs/engine/instance_record.h"
#include "rocks_store.h"

namespace {

using pacs::Status;
using pacs::StatusCode;

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

void ExpectCorruption(const Status& status, const char* decoder) {
  if (status.code() != StatusCode::kCorruption)
    Finding(std::string(decoder) + " refused its input with a status other than Corruption: " + status.ToString());
}

void FuzzInstanceRecord(std::string_view bytes) {
  auto rec = pacs::engine::InstanceRecord::Decode(bytes);
  if (!rec.ok()) return ExpectCorruption(rec.status(), "InstanceRecord::Decode");
  const std::string encoded = rec->Encode();
  auto again = pacs::engine::InstanceRecord::Decode(encoded);
  if (!again.ok()) Finding("InstanceRecord: its own encoding does not decode: " + again.status().ToString());
  if (again->Encode() != encoded) Finding("InstanceRecord: encode(decode(encode(x))) differs");
}

void FuzzChunkRef(std::string_view bytes) {
  const std::string key = pacs::engine::ChunkRefKey(std::string(32, '\x01'));
  auto ref = pacs::engine::ChunkRef::Decode(key, bytes);
  if (!ref.ok()) return ExpectCorruption(ref.status(), "ChunkRef::Decode");
  if (ref->Encode() != bytes) Finding("ChunkRef: fixed-width encoding does not round-trip");
}

void FuzzHashKeyAndCounter(std::string_view bytes) {
  auto hash = pacs::engine::DecodeHashKey(pacs::engine::kWork, bytes);
  if (hash.ok()) {
    if (pacs::engine::AsKey(*hash) != bytes) Finding("DecodeHashKey does not round-trip");
  } else {
    ExpectCorruption(hash.status(), "DecodeHashKey");
  }
  auto value = pacs::engine::DecodeU64(pacs::engine::kDefault, "counter", bytes);
  if (!value.ok()) ExpectCorruption(value.status(), "DecodeU64");
}

void FuzzIndexRecord(std::string_view bytes) {
  namespace index = pacs::dicom::index;
  auto rec = index::Record::Decode(bytes);
  if (!rec.ok()) return ExpectCorruption(rec.status(), "index::Record::Decode");
  const std::string encoded = rec->Encode();
  auto again = index::Record::Decode(encoded);
  if (!again.ok()) Finding("index::Record: its own encoding does not decode: " + again.status().ToString());
  if (again->Encode() != encoded) Finding("index::Record: encode(decode(encode(x))) differs");
}

bool Within(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void FuzzIndexKeys(std::string_view bytes) {
  namespace index = pacs::dicom::index;
  const index::InstanceLocation location = index::DecodeInstanceLocation(bytes);
  const index::SecondaryKeyParts secondary = index::ParseSecondaryKey(bytes);
  const index::RecordKeyParts record = index::ParseRecordKey(bytes);
  const std::string_view id = index::RecordId(bytes);
  for (std::string_view part :
       {location.study, location.series, secondary.value, secondary.study, record.study, record.series, record.sop, id})
    if (!Within(part, bytes)) Finding("a parsed key part points outside the key");
  // Keys built from parts parse back to them when the parts hold no NUL.
  if (location.study.find('\0') == std::string_view::npos) {
    const std::string encoded = index::EncodeInstanceLocation(location.study, location.series);
    const index::InstanceLocation back = index::DecodeInstanceLocation(encoded);
    if (back.study != location.study || back.series != location.series)
      Finding("instance location does not round-trip");
  }
  (void)index::FoldCase(bytes);
  (void)index::NameTerms(bytes);
}

void FuzzEncodeJob(std::string_view bytes) {
  auto job = pacs::dicom::EncodeJob::Parse(bytes);
  if (!job.ok()) return ExpectCorruption(job.status(), "EncodeJob::Parse");
  const std::string encoded = job->Serialize();
  auto again = pacs::dicom::EncodeJob::Parse(encoded);
  if (!again.ok() || again->Serialize() != encoded) Finding("EncodeJob does not round-trip");
  (void)job->info.FrameBytes();  // what the background encoder compares with the staged size
}

void FuzzStoredHeader(std::string_view bytes) {
  static const char* const kSyntaxes[] = {
      "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "", "1.2.3.4"};
  if (bytes.empty()) return;
  pacs::engine::InstanceRecord record;
  record.header_transfer_syntax_uid = kSyntaxes[static_cast<uint8_t>(bytes[0]) % std::size(kSyntaxes)];
  DcmDataset dataset;
  Status status = pacs::dicom::DecodeStoredHeader(bytes.substr(1), record, dataset);
  if (!status.ok()) ExpectCorruption(status, "DecodeStoredHeader");
}

void FuzzAttributes(std::string_view bytes) {
  pacs::dicom::index::Attributes attributes;
  std::string_view in = bytes;
  if (!pacs::dicom::index::Attributes::ReadFrom(in, attributes)) return;
  std::string encoded;
  attributes.AppendTo(encoded);
  std::string_view again_in = encoded;
  pacs::dicom::index::Attributes again;
  if (!pacs::dicom::index::Attributes::ReadFrom(again_in, again) || !again_in.empty() ||
      again.entries() != attributes.entries())
    Finding("index::Attributes does not round-trip");
}

void WriteSeed(const std::filesystem::path& dir, const std::string& name, uint8_t selector, std::string_view body) {
  std::ofstream out(dir / name, std::ios::binary);
  out.put(static_cast<char>(selector));
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
}

void WriteSeeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  pacs::engine::InstanceRecord rec;
  rec.sop_instance_uid = "1.2.3.4.5.6";
  rec.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  rec.study_instance_uid = "1.2.3";
  rec.series_instance_uid = "1.2.3.4";
  rec.patient_id = "PID";
  rec.transfer_syntax_uid = "1.2.840.10008.1.2.4.80";
  rec.header_transfer_syntax_uid = "1.2.840.10008.1.2.1";
  rec.header_size = 1234;
  rec.received_bytes = 98765;
  rec.received_unix_ms = 1700000000000;
  rec.pixel_layout = pacs::engine::PixelLayout::kEncapsulated;
  rec.pixel_vr = "OB";
  rec.offset_table = std::string(8, '\0');
  rec.chunks.resize(2);
  rec.chunks[0].size = 4000;
  rec.chunks[0].codec = pacs::engine::kChunkAsReceived;
  rec.chunks[1].size = 5000;
  rec.chunks[1].hash[0] = 7;
  WriteSeed(dir, "instance_record", 0, rec.Encode());
  rec.pixel_layout = pacs::engine::PixelLayout::kNative;
  rec.chunks.resize(1);
  WriteSeed(dir, "instance_record_native", 0, rec.Encode());

  pacs::engine::ChunkRef ref;
  ref.count = 3;
  ref.codec = 1;
  ref.raw_size = 524288;
  ref.stored_size = 200000;
  WriteSeed(dir, "chunk_ref", 1, ref.Encode());
  WriteSeed(dir, "hash_key", 2, std::string(32, '\x5a'));
  WriteSeed(dir, "counter", 2, std::string(8, '\x01'));

  namespace index = pacs::dicom::index;
  index::Record study;
  study.attributes.Set(index::Tag(0x0008, 0x0020), "20240101");
  study.attributes.Set(index::Tag(0x0010, 0x0010), "Doe^Jane");
  study.attributes.Set(index::Tag(0x0020, 0x000D), "1.2.3");
  study.patient_key = index::PatientKey("PID", "");
  study.series = 2;
  study.instances = 40;
  study.modalities = {{"CT", 1}, {"SR", 1}};
  study.sop_classes = {{"1.2.840.10008.5.1.4.1.1.2", 39}, {"1.2.840.10008.5.1.4.1.1.88.11", 1}};
  WriteSeed(dir, "index_record", 3, study.Encode());
  WriteSeed(dir, "index_key_instance", 4, index::InstanceRecordKey("1.2.3", "1.2.3.4", "1.2.3.4.5"));
  WriteSeed(dir, "index_key_secondary", 4, index::SecondaryKey(index::kNameIndex, "DOE^JANE", "1.2.3"));
  WriteSeed(dir, "index_location", 4, index::EncodeInstanceLocation("1.2.3", "1.2.3.4"));

  pacs::dicom::EncodeJob job;
  job.codec = pacs::codecs::CodecId::kHtj2k;
  job.info = {.rows = 512, .columns = 512, .bits_allocated = 16, .bits_stored = 12};
  WriteSeed(dir, "encode_job", 5, job.Serialize());

  DcmDataset header;
  header.putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4.5");
  header.putAndInsertString(DCM_PatientName, "Doe^Jane");
  header.putAndInsertUint16(DCM_Rows, 16);
  for (uint8_t syntax = 0; syntax < 3; ++syntax) {
    const E_TransferSyntax xfer = syntax == 0   ? EXS_LittleEndianImplicit
                                  : syntax == 1 ? EXS_LittleEndianExplicit
                                                : EXS_BigEndianExplicit;
    auto bytes = pacs::dicom::EncodeDatasetBytes(header, xfer);
    if (bytes.ok()) WriteSeed(dir, "stored_header_" + std::to_string(syntax), 6, std::string(1, char(syntax)) + *bytes);
  }
  std::string attributes;
  study.attributes.AppendTo(attributes);
  WriteSeed(dir, "attributes", 7, attributes);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("PACS_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      FuzzInstanceRecord(bytes);
      break;
    case 1:
      FuzzChunkRef(bytes);
      break;
    case 2:
      FuzzHashKeyAndCounter(bytes);
      break;
    case 3:
      FuzzIndexRecord(bytes);
      break;
    case 4:
      FuzzIndexKeys(bytes);
      break;
    case 5:
      FuzzEncodeJob(bytes);
      break;
    case 6:
      FuzzStoredHeader(bytes);
      break;
    default:
      FuzzAttributes(bytes);
      break;
  }
  return 0;
}
