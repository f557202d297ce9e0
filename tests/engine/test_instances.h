// File: test_instances.h
// An InstanceWrite made up for engine tests (the store's, and the Ceph
// back end's in tests/ceph): one instance of `study` (series study + ".1",
// patient "PAT") with `header` and one chunk per frame, hashed as ingest
// hashes them.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pacs/engine/store.h"

namespace pacs::engine {

inline InstanceWrite MakeInstance(const std::string& sop, const std::string& study, const std::string& header,
                                  std::vector<std::string> frames) {
  InstanceWrite w;
  w.record.sop_instance_uid = sop;
  w.record.study_instance_uid = study;
  w.record.series_instance_uid = study + ".1";
  w.record.patient_id = "PAT";
  w.header_bytes = header;
  w.record.header_hash = Sha256(std::span(reinterpret_cast<const uint8_t*>(header.data()), header.size()));
  w.record.header_size = header.size();
  w.record.received_bytes = header.size();
  w.record.pixel_layout = PixelLayout::kNative;
  for (auto& f : frames) {
    w.record.chunks.push_back({Sha256(std::span(reinterpret_cast<const uint8_t*>(f.data()), f.size())), f.size(), 0});
    w.record.received_bytes += f.size();
  }
  w.chunk_bytes = std::move(frames);
  return w;
}

}  // namespace pacs::engine
