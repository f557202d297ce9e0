// File: dataset_sink.h
// Where a C-STORE dataset lands as its PDVs arrive: in memory while small,
// in a spill file once it passes a threshold, and nowhere once it passes
// --max-dataset-bytes (DCMTK then reads and drops the rest, and the request
// is answered A700). The dataset is then parsed from memory, or loaded from
// the spill file lazily: elements above a few KiB (Pixel Data) stay in the
// file until read. Not thread-safe: one per C-STORE, on its association's thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcostrma.h"
#include "pacs/base/result.h"

namespace pacs::dicom::scp {

struct SinkLimits {
  uint64_t max_dataset_bytes = 0;                // 0: no limit
  uint64_t spill_threshold_bytes = 16ull << 20;  // beyond this, the dataset goes to a file
  std::string spill_dir;                         // where spill files are made (created if missing)
};

class DatasetSink final : public DcmConsumer {
 public:
  explicit DatasetSink(SinkLimits limits);
  ~DatasetSink() override;  // removes the spill file
  DatasetSink(const DatasetSink&) = delete;
  DatasetSink& operator=(const DatasetSink&) = delete;

  // DcmConsumer: a write past the limit, or one the spill file refuses,
  // writes nothing and marks the sink failed.
  OFBool good() const override { return problem_.empty(); }
  OFCondition status() const override;
  OFBool isFlushed() const override { return OFTrue; }
  offile_off_t avail() const override;
  offile_off_t write(const void* buf, offile_off_t buflen) override;
  void flush() override {}

  // Reserves memory for a dataset of about `bytes` (no more than the spill
  // threshold), so that it is not copied each time its buffer grows.
  void Reserve(uint64_t bytes);

  // The stream DCMTK's DIMSE_receiveDataSetInFile writes to.
  DcmOutputStream& stream() { return *stream_; }
  // Bytes offered so far (all of them, also past the limit: DCMTK drains the rest elsewhere).
  uint64_t bytes() const { return bytes_; }
  bool over_limit() const { return over_limit_; }
  bool spilled() const { return file_ != nullptr; }
  // Why the sink failed ("" while good).
  const std::string& problem() const { return problem_; }

  // The dataset received in `xfer`. The sink must outlive it (a spilled
  // dataset reads its large elements from the spill file on demand).
  Result<std::unique_ptr<DcmDataset>> Load(E_TransferSyntax xfer);

 private:
  void Fail(std::string problem);
  Status OpenSpillFile();

  const SinkLimits limits_;
  std::unique_ptr<DcmOutputStream> stream_;
  std::string memory_;
  std::FILE* file_ = nullptr;
  std::string file_path_;
  uint64_t bytes_ = 0;
  bool over_limit_ = false;
  std::string problem_;
};

}  // namespace pacs::dicom::scp
