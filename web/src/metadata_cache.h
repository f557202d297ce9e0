// The series /metadata cache: the JSON of each instance, by SOP Instance
// UID and header hash, and the whole series' JSON (plain and gzip) for the
// set of instances it was built from. A request first lists the series'
// instances and their header hashes (cheap: the query index and the
// instance records); an entry built from exactly that list is served as is,
// so a commit, a replacement or a delete in the series is seen at once,
// with no hook into the commit path. Bounded in bytes; least recently used
// series go first.
#pragma once

#include <compare>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pacs/base/mutex.h"

namespace pacs::web {

// One instance of a series as the cache keys it.
struct InstanceVersion {
  std::string sop_instance_uid;
  std::string header_hash;  // hex; changes with any change to the instance's attributes
  bool operator==(const InstanceVersion& other) const = default;
  auto operator<=>(const InstanceVersion& other) const = default;
};

struct SeriesMetadata {
  std::vector<InstanceVersion> instances;  // what it was built from, in the order of the JSON
  std::string json;                        // [ {...}, ... ]
  std::string gzip;                        // gzip of json
  std::map<std::string, std::shared_ptr<const std::string>> instance_json;  // by SOP Instance UID
};

// Thread-safe.
class MetadataCache {
 public:
  explicit MetadataCache(uint64_t max_bytes = uint64_t{256} << 20) : max_bytes_(max_bytes) {}

  // The entry for `series` if it was built from exactly `instances`.
  std::shared_ptr<const SeriesMetadata> Find(const std::string& series, const std::vector<InstanceVersion>& instances)
      EXCLUDES(mutex_);
  // Any entry for `series` (to reuse the JSON of instances that did not change).
  std::shared_ptr<const SeriesMetadata> FindAny(const std::string& series) EXCLUDES(mutex_);
  void Put(const std::string& series, std::shared_ptr<const SeriesMetadata> metadata) EXCLUDES(mutex_);
  uint64_t bytes() const EXCLUDES(mutex_);

 private:
  struct Entry {
    std::shared_ptr<const SeriesMetadata> metadata;
    uint64_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  const uint64_t max_bytes_;
  mutable Mutex mutex_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mutex_);
  std::list<std::string> lru_ GUARDED_BY(mutex_);  // most recent first
  uint64_t bytes_ GUARDED_BY(mutex_) = 0;
};

}  // namespace pacs::web
