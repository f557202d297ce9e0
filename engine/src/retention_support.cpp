// What retention rules and storage quotas need from the engine: the stored
// studies with their receive times, the bytes deleting some of them would
// really free (chunks shared with other studies free nothing), and the
// persistent protection of studies (`protect/` keys in the default column
// family, docs/storage-format.md).
#include <map>
#include <set>

#include "rocks_store.h"

namespace pacs::engine {

Result<std::vector<StudyUsage>> RocksStore::ListStudies() const {
  std::map<std::string, StudyUsage> studies;
  PACS_RETURN_IF_ERROR(ForEachInstance([&](const InstanceRecord& rec) {
    StudyUsage& study = studies[rec.study_instance_uid];
    if (study.instances == 0) {
      study.study_instance_uid = rec.study_instance_uid;
      study.patient_id = rec.patient_id;
    }
    ++study.instances;
    study.last_received_unix_ms = std::max(study.last_received_unix_ms, rec.received_unix_ms);
    return true;
  }));
  auto protected_studies = ProtectedStudies();
  if (!protected_studies.ok()) return protected_studies.status();
  for (const auto& uid : *protected_studies)
    if (auto it = studies.find(uid); it != studies.end()) it->second.is_protected = true;
  std::vector<StudyUsage> out;
  out.reserve(studies.size());
  for (auto& [uid, study] : studies) out.push_back(std::move(study));
  return out;
}

Result<std::vector<uint64_t>> RocksStore::CumulativeBytesFreed(const std::vector<std::string>& study_uids) const {
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < study_uids.size(); ++i) position.emplace(study_uids[i], i);
  // Every chunk reference each study makes (a chunk referenced twice counts twice, as in refs).
  std::vector<std::vector<ContentHash>> references(study_uids.size());
  PACS_RETURN_IF_ERROR(ForEachInstance([&](const InstanceRecord& rec) {
    if (auto it = position.find(rec.study_instance_uid); it != position.end())
      for (const auto& chunk : rec.chunks) references[it->second].push_back(chunk.hash);
    return true;
  }));
  struct Remaining {
    uint64_t count = 0;
    uint64_t stored_size = 0;
  };
  std::map<ContentHash, Remaining> remaining;  // references left after the studies so far
  std::vector<uint64_t> cumulative(study_uids.size(), 0);
  uint64_t freed = 0;
  for (size_t i = 0; i < study_uids.size(); ++i) {
    for (const auto& hash : references[i]) {
      auto it = remaining.find(hash);
      if (it == remaining.end()) {
        auto ref = ReadChunkRef(hash);
        if (!ref.ok()) return ref.status();
        // A reference without a ChunkRef is verify's business; it frees nothing here.
        const Remaining start = ref->has_value() ? Remaining{(*ref)->count, (*ref)->stored_size} : Remaining{};
        it = remaining.emplace(hash, start).first;
      }
      if (it->second.count == 0) continue;
      if (--it->second.count == 0) freed += it->second.stored_size;
    }
    cumulative[i] = freed;
  }
  return cumulative;
}

Result<uint64_t> RocksStore::ReferencedChunkBytes() const {
  return ReadU64(kDefault, kCountChunkBytes);
}

Result<bool> RocksStore::HasStudy(std::string_view study_instance_uid) const {
  auto count = ReadU64(kIndex, "study/" + std::string(study_instance_uid));
  if (!count.ok()) return count.status();
  return *count > 0;
}

Status RocksStore::SetStudyProtected(std::string_view study_instance_uid, bool protect) {
  if (study_instance_uid.empty()) return Status::InvalidArgument("protect needs a Study Instance UID");
  // Under the commit lock: a retention run checks protection under it just before each delete.
  MutexLock lock(commit_mutex_);
  if (protect) {
    auto stored = HasStudy(study_instance_uid);
    if (!stored.ok()) return stored.status();
    if (!*stored) return Status::NotFound("no stored study " + std::string(study_instance_uid) + "; nothing protected");
  }
  rocksdb::WriteBatch batch;
  if (protect)
    batch.Put(cfs_[kDefault], ProtectKey(study_instance_uid), EncodeU64(static_cast<uint64_t>(NowMs())));
  else
    batch.Delete(cfs_[kDefault], ProtectKey(study_instance_uid));
  return WriteLocked(
      batch, std::string(protect ? "protecting" : "unprotecting") + " study " + std::string(study_instance_uid));
}

Result<bool> RocksStore::IsStudyProtected(std::string_view study_instance_uid) const {
  auto value = ReadValue(kDefault, ProtectKey(study_instance_uid));
  if (!value.ok()) return value.status();
  return value->has_value();
}

Result<std::vector<std::string>> RocksStore::ProtectedStudies() const {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
  for (it->Seek(kProtectPrefix); it->Valid() && it->key().starts_with(kProtectPrefix); it->Next())
    out.push_back(it->key().ToString().substr(sizeof(kProtectPrefix) - 1));
  PACS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning protected studies"));
  return out;
}

}  // namespace pacs::engine
