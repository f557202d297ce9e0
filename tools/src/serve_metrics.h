// File: serve_metrics.h
// What `pacscore serve --metrics-bind` says beside the DICOM node's own
// counters (dicom::ServerCounters): the archive's counts, bytes and ratios,
// the background encoder's backlog, RocksDB's figures and the data folder's
// file system, read fresh at each scrape. docs/operations.md lists them all.
#pragma once

#include <string>

#include "http_server.h"
#include "pacs/base/metrics.h"
#include "pacs/dicom/background_encoder.h"
#include "pacs/engine/store.h"

namespace pacs::tools {

// Registers its gauges in the constructor. Refresh() and Handle() run on
// the metrics endpoint's thread only; the registry itself is thread-safe.
class ArchiveMetrics {
 public:
  // `registry`, `store` and `background` must outlive this.
  ArchiveMetrics(metrics::Registry& registry, engine::Store& store, const dicom::BackgroundEncoder& background,
                 std::string data_dir);

  // Reads every source once and sets the gauges. A source that fails is
  // logged and counted (pacscore_metrics_source_errors_total{source});
  // its gauges keep their last values.
  void Refresh();

  // GET /metrics: Refresh(), then the registry in the text format.
  HttpReply Handle(const std::string& method, const std::string& target);

 private:
  void RefreshStore();
  void RefreshEngine();
  void RefreshFilesystem();

  metrics::Registry& registry_;
  engine::Store& store_;
  const dicom::BackgroundEncoder& background_;
  const std::string data_dir_;

  // The archive (engine::StoreStats).
  metrics::Gauge& instances_;
  metrics::Gauge& series_;
  metrics::Gauge& studies_;
  metrics::Gauge& patients_;
  metrics::Gauge& received_bytes_;
  metrics::Gauge& stored_bytes_;
  metrics::Gauge& disk_usage_bytes_;
  metrics::Gauge& pixel_raw_bytes_;
  metrics::Gauge& pixel_stored_bytes_;
  metrics::Gauge& dedup_saved_bytes_;
  metrics::Gauge& dedup_ratio_;
  metrics::Gauge& compression_ratio_;
  metrics::Gauge& backlog_frames_;
  // With frames in a RADOS pool (0 otherwise): this node's share, the pool's totals.
  metrics::Gauge& pool_chunk_objects_held_;
  metrics::Gauge& pool_chunk_bytes_held_;
  metrics::Gauge& pool_references_held_;
  metrics::Gauge& pool_objects_;
  metrics::Gauge& pool_bytes_;
  metrics::Counter& encoded_frames_;
  // RocksDB (engine::EngineFigures).
  metrics::Gauge& sst_bytes_;
  metrics::Gauge& live_sst_bytes_;
  metrics::Gauge& blob_bytes_;
  metrics::Gauge& live_blob_bytes_;
  metrics::Gauge& blob_garbage_bytes_;
  metrics::Gauge& memtable_bytes_;
  metrics::Gauge& pending_compaction_bytes_;
  metrics::Gauge& running_compactions_;
  metrics::Gauge& delayed_write_rate_;
  metrics::Gauge& write_stopped_;
  metrics::Family<metrics::Counter>& write_stalls_;
  metrics::Counter& background_errors_;
  // The data folder's file system.
  metrics::Gauge& filesystem_avail_bytes_;
  metrics::Gauge& filesystem_size_bytes_;
  metrics::Gauge& min_free_bytes_;
  metrics::Gauge& read_only_;
  metrics::Family<metrics::Counter>& source_errors_;
};

}  // namespace pacs::tools
