#include "serve_metrics.h"

#include <chrono>
#include <filesystem>
#include <limits>

#include "pacs/base/log.h"

namespace pacs::tools {
namespace {

metrics::Gauge& AddGauge(metrics::Registry& registry, const std::string& name, const std::string& help) {
  return registry.AddGauge(name, help).Get();
}

// numerator / denominator, NaN while there is nothing to divide by.
double Ratio(uint64_t numerator, uint64_t denominator) {
  return denominator == 0 ? std::numeric_limits<double>::quiet_NaN()
                          : static_cast<double>(numerator) / static_cast<double>(denominator);
}

}  // namespace

ArchiveMetrics::ArchiveMetrics(metrics::Registry& registry, engine::Store& store,
                               const dicom::BackgroundEncoder& background, std::string data_dir)
    : registry_(registry),
      store_(store),
      background_(background),
      data_dir_(std::move(data_dir)),
      instances_(AddGauge(registry, "pacscore_archive_instances", "SOP instances stored.")),
      series_(AddGauge(registry, "pacscore_archive_series", "Series stored.")),
      studies_(AddGauge(registry, "pacscore_archive_studies", "Studies stored.")),
      patients_(AddGauge(registry, "pacscore_archive_patients", "Patients stored.")),
      received_bytes_(AddGauge(registry, "pacscore_archive_received_bytes",
                               "Bytes of the stored instances as they were received (their datasets' encoded size).")),
      stored_bytes_(AddGauge(registry, "pacscore_archive_stored_bytes",
                             "Apparent size of the files in the data folder (RocksDB's SST, blob, WAL, MANIFEST).")),
      disk_usage_bytes_(AddGauge(registry, "pacscore_archive_disk_usage_bytes",
                                 "Disk blocks allocated to the files in the data folder, as du counts them.")),
      pixel_raw_bytes_(AddGauge(registry, "pacscore_pixel_raw_bytes",
                                "Distinct frames stored, at their size as native pixels (or as received, if they "
                                "arrived compressed).")),
      pixel_stored_bytes_(AddGauge(registry, "pacscore_pixel_stored_bytes", "Distinct frames stored, as stored.")),
      dedup_saved_bytes_(AddGauge(registry, "pacscore_dedup_saved_bytes",
                                  "Stored bytes that frames referenced more than once would have taken again.")),
      dedup_ratio_(AddGauge(registry, "pacscore_dedup_ratio",
                            "Frame bytes referenced by instances over frame bytes stored (1: no frame stored twice "
                            "was saved; NaN while no frame is stored).")),
      compression_ratio_(AddGauge(registry, "pacscore_compression_ratio",
                                  "Distinct frames' raw bytes over their stored bytes (above 1: the codecs save "
                                  "space; NaN while no frame is stored).")),
      backlog_frames_(AddGauge(registry, "pacscore_background_backlog_frames",
                               "Frames stored raw that wait for the background encoder (the store's count of "
                               "re-encoding jobs; they survive a restart).")),
      pool_chunk_objects_held_(AddGauge(registry, "pacscore_pool_chunk_objects_held",
                                        "With --frames rados: chunk objects of the pool this node holds a reference "
                                        "on (its frames, those awaiting collection included); 0 otherwise.")),
      pool_chunk_bytes_held_(AddGauge(registry, "pacscore_pool_chunk_bytes_held",
                                      "With --frames rados: the size of those objects in the pool; 0 otherwise.")),
      pool_references_held_(AddGauge(registry, "pacscore_pool_references_held",
                                     "With --frames rados: reference tags this node holds in the pool (one per "
                                     "object it holds); 0 otherwise.")),
      pool_objects_(AddGauge(registry, "pacscore_pool_objects",
                             "With --frames rados: objects in the pool, every node's (the cluster's pool "
                             "statistics, a few seconds behind); 0 otherwise.")),
      pool_bytes_(AddGauge(registry, "pacscore_pool_bytes",
                           "With --frames rados: bytes of the objects in the pool, every node's (the cluster's "
                           "pool statistics, a few seconds behind); 0 otherwise.")),
      encoded_frames_(registry
                          .AddCounter("pacscore_background_encoded_frames_total",
                                      "Frames the background encoder re-encoded since the server started.")
                          .Get()),
      sst_bytes_(AddGauge(registry, "pacscore_rocksdb_sst_files_bytes",
                          "RocksDB SST files, every version still referenced (rocksdb.total-sst-files-size).")),
      live_sst_bytes_(AddGauge(registry, "pacscore_rocksdb_live_sst_files_bytes",
                               "RocksDB SST files of the current version (rocksdb.live-sst-files-size).")),
      blob_bytes_(AddGauge(registry, "pacscore_rocksdb_blob_files_bytes",
                           "RocksDB blob files, where frames live (rocksdb.total-blob-file-size).")),
      live_blob_bytes_(AddGauge(registry, "pacscore_rocksdb_live_blob_files_bytes",
                                "RocksDB blob files of the current version (rocksdb.live-blob-file-size).")),
      blob_garbage_bytes_(AddGauge(registry, "pacscore_rocksdb_blob_garbage_bytes",
                                   "Bytes in live blob files that no key refers to any more, until blob garbage "
                                   "collection rewrites them (rocksdb.live-blob-file-garbage-size).")),
      memtable_bytes_(AddGauge(registry, "pacscore_rocksdb_memtable_bytes",
                               "RocksDB memtables, active and immutable (rocksdb.cur-size-all-mem-tables).")),
      pending_compaction_bytes_(AddGauge(registry, "pacscore_rocksdb_pending_compaction_bytes",
                                         "Bytes RocksDB estimates compaction has to rewrite to settle the LSM tree "
                                         "(rocksdb.estimate-pending-compaction-bytes).")),
      running_compactions_(AddGauge(registry, "pacscore_rocksdb_running_compactions",
                                    "RocksDB compactions running now (rocksdb.num-running-compactions).")),
      delayed_write_rate_(AddGauge(registry, "pacscore_rocksdb_delayed_write_rate_bytes_per_second",
                                   "The rate RocksDB holds writes to while it slows them down, 0 while it does not "
                                   "(rocksdb.actual-delayed-write-rate).")),
      write_stopped_(AddGauge(registry, "pacscore_rocksdb_write_stopped",
                              "1 while RocksDB stops writes until compaction catches up, else 0 "
                              "(rocksdb.is-write-stopped). Every C-STORE waits meanwhile.")),
      write_stalls_(registry.AddCounter("pacscore_rocksdb_write_stalls_total",
                                        "Times RocksDB slowed down or stopped writes since the store was opened "
                                        "(rocksdb.cfstats io_stalls.total_slowdown / total_stop), by kind.",
                                        {"kind"})),
      background_errors_(registry
                             .AddCounter("pacscore_rocksdb_background_errors_total",
                                         "Errors in RocksDB's flushes and compactions since the store was opened "
                                         "(rocksdb.background-errors).")
                             .Get()),
      filesystem_avail_bytes_(AddGauge(registry, "pacscore_data_filesystem_avail_bytes",
                                       "Bytes free for the server on the file system of the data folder.")),
      filesystem_size_bytes_(
          AddGauge(registry, "pacscore_data_filesystem_size_bytes", "Size of the file system of the data folder.")),
      min_free_bytes_(AddGauge(registry, "pacscore_data_filesystem_min_free_bytes",
                               "The free-space watermark below which C-STORE is refused with A700 "
                               "(serve --min-free-space, a percentage resolved against the file system's size).")),
      read_only_(AddGauge(registry, "pacscore_store_read_only",
                          "1 while the store is read-only after a write error (a full disk): C-STORE is refused, "
                          "queries and retrievals go on; 0 otherwise.")),
      source_errors_(registry.AddCounter("pacscore_metrics_source_errors_total",
                                         "Scrapes in which a source of these metrics could not be read (its gauges "
                                         "kept their last values), by source: store, rocksdb, filesystem, pool "
                                         "(the RADOS pool's statistics).",
                                         {"source"})) {
  for (const char* source : {"store", "rocksdb", "filesystem", "pool"}) source_errors_.With({source});
  for (const char* kind : {"slowdown", "stop"}) write_stalls_.With({kind});
  registry.AddGauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.")
      .Get()
      .Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void ArchiveMetrics::RefreshStore() {
  auto stats = store_.Stats(false);
  if (!stats.ok()) {
    source_errors_.With({"store"}).Increment();
    LogWarning("metrics: the store's counts could not be read: " + stats.status().ToString());
    return;
  }
  instances_.Set(static_cast<double>(stats->instances));
  series_.Set(static_cast<double>(stats->series));
  studies_.Set(static_cast<double>(stats->studies));
  patients_.Set(static_cast<double>(stats->patients));
  received_bytes_.Set(static_cast<double>(stats->received_bytes));
  stored_bytes_.Set(static_cast<double>(stats->stored_bytes));
  disk_usage_bytes_.Set(static_cast<double>(stats->disk_usage_bytes));
  pixel_raw_bytes_.Set(static_cast<double>(stats->pixel_raw_bytes));
  pixel_stored_bytes_.Set(static_cast<double>(stats->pixel_stored_bytes));
  dedup_saved_bytes_.Set(static_cast<double>(stats->dedup_saved_bytes));
  dedup_ratio_.Set(Ratio(stats->chunk_bytes + stats->dedup_saved_bytes, stats->chunk_bytes));
  compression_ratio_.Set(Ratio(stats->pixel_raw_bytes, stats->pixel_stored_bytes));
  backlog_frames_.Set(static_cast<double>(stats->chunks_awaiting_reencoding));
  if (stats->pool) {
    pool_chunk_objects_held_.Set(static_cast<double>(stats->pool->chunk_objects));
    pool_chunk_bytes_held_.Set(static_cast<double>(stats->pool->chunk_bytes));
    pool_references_held_.Set(static_cast<double>(stats->pool->references));
    if (stats->pool->totals) {
      pool_objects_.Set(static_cast<double>(stats->pool->totals->objects));
      pool_bytes_.Set(static_cast<double>(stats->pool->totals->bytes));
    } else {
      source_errors_.With({"pool"}).Increment();
      LogWarning("metrics: the pool's statistics could not be read: " + stats->pool->totals_error);
    }
  }
}

void ArchiveMetrics::RefreshEngine() {
  auto figures = store_.ReadEngineFigures();
  if (!figures.ok()) {
    source_errors_.With({"rocksdb"}).Increment();
    LogWarning("metrics: RocksDB's figures could not be read: " + figures.status().ToString());
    return;
  }
  sst_bytes_.Set(static_cast<double>(figures->sst_bytes));
  live_sst_bytes_.Set(static_cast<double>(figures->live_sst_bytes));
  blob_bytes_.Set(static_cast<double>(figures->blob_bytes));
  live_blob_bytes_.Set(static_cast<double>(figures->live_blob_bytes));
  blob_garbage_bytes_.Set(static_cast<double>(figures->blob_garbage_bytes));
  memtable_bytes_.Set(static_cast<double>(figures->memtable_bytes));
  pending_compaction_bytes_.Set(static_cast<double>(figures->pending_compaction_bytes));
  running_compactions_.Set(static_cast<double>(figures->running_compactions));
  delayed_write_rate_.Set(static_cast<double>(figures->delayed_write_rate));
  write_stopped_.Set(figures->write_stopped ? 1 : 0);
  write_stalls_.With({"slowdown"}).RaiseTo(figures->write_slowdowns);
  write_stalls_.With({"stop"}).RaiseTo(figures->write_stops);
  background_errors_.RaiseTo(figures->background_errors);
}

void ArchiveMetrics::RefreshFilesystem() {
  std::error_code ec;
  const std::filesystem::space_info space = std::filesystem::space(data_dir_, ec);
  if (ec) {
    source_errors_.With({"filesystem"}).Increment();
    LogWarning("metrics: free space of " + data_dir_ + " could not be read: " + ec.message());
    return;
  }
  filesystem_avail_bytes_.Set(static_cast<double>(space.available));
  filesystem_size_bytes_.Set(static_cast<double>(space.capacity));
  const engine::WriteHealthReport health = store_.WriteHealth();
  min_free_bytes_.Set(static_cast<double>(health.min_free_bytes));
  read_only_.Set(health.read_only_after_error ? 1 : 0);
}

void ArchiveMetrics::Refresh() {
  RefreshStore();
  RefreshEngine();
  RefreshFilesystem();
  encoded_frames_.RaiseTo(background_.frames_encoded());
}

HttpReply ArchiveMetrics::Handle(const std::string& method, const std::string& target) {
  const std::string path = target.substr(0, target.find('?'));  // Prometheus may add parameters
  if (path != "/metrics") return {404, "only /metrics is served here\n", "text/plain; charset=utf-8"};
  if (method != "GET") return {405, "GET /metrics\n", "text/plain; charset=utf-8"};
  Refresh();
  return {200, registry_.Render(), metrics::kTextFormatContentType};
}

}  // namespace pacs::tools
