#include "metadata_cache.h"

namespace pacs::web {

std::shared_ptr<const SeriesMetadata> MetadataCache::Find(const std::string& series,
                                                          const std::vector<InstanceVersion>& instances) {
  MutexLock lock(mutex_);
  const auto it = entries_.find(series);
  if (it == entries_.end() || it->second.metadata->instances != instances) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.metadata;
}

std::shared_ptr<const SeriesMetadata> MetadataCache::FindAny(const std::string& series) {
  MutexLock lock(mutex_);
  const auto it = entries_.find(series);
  return it == entries_.end() ? nullptr : it->second.metadata;
}

void MetadataCache::Put(const std::string& series, std::shared_ptr<const SeriesMetadata> metadata) {
  uint64_t size = metadata->json.size() + metadata->gzip.size();
  for (const auto& [uid, json] : metadata->instance_json) size += uid.size() + json->size();
  MutexLock lock(mutex_);
  if (size > max_bytes_) return;
  if (const auto it = entries_.find(series); it != entries_.end()) {
    bytes_ -= it->second.bytes;
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
  while (bytes_ + size > max_bytes_ && !lru_.empty()) {
    const auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    lru_.pop_back();
  }
  lru_.push_front(series);
  entries_[series] = Entry{std::move(metadata), size, lru_.begin()};
  bytes_ += size;
}

uint64_t MetadataCache::bytes() const {
  MutexLock lock(mutex_);
  return bytes_;
}

}  // namespace pacs::web
