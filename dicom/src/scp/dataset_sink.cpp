#include "dataset_sink.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmnet/cond.h"

namespace pacs::dicom::scp {
namespace {

// DcmOutputStream's constructor is protected: the one stream over our consumer.
class ConsumerStream final : public DcmOutputStream {
 public:
  explicit ConsumerStream(DcmConsumer* consumer) : DcmOutputStream(consumer) {}
};

// Elements longer than this stay in the spill file until read.
constexpr Uint32 kLazyLoadAbove = 4096;

}  // namespace

DatasetSink::DatasetSink(SinkLimits limits)
    : limits_(std::move(limits)), stream_(std::make_unique<ConsumerStream>(this)) {}

DatasetSink::~DatasetSink() {
  stream_.reset();
  if (file_ != nullptr) {
    std::fclose(file_);
    ::unlink(file_path_.c_str());
  }
}

OFCondition DatasetSink::status() const {
  return good() ? EC_Normal : makeOFCondition(OFM_dcmnet, 1, OF_error, problem_.c_str());
}

offile_off_t DatasetSink::avail() const {
  // As much as DCMTK wants to write: the limit is checked in write().
  return good() ? static_cast<offile_off_t>(1) << 30 : 0;
}

void DatasetSink::Fail(std::string problem) {
  if (problem_.empty()) problem_ = std::move(problem);
}

offile_off_t DatasetSink::write(const void* buf, offile_off_t buflen) {
  if (!good() || buflen <= 0) return 0;
  const auto length = static_cast<uint64_t>(buflen);
  bytes_ += length;
  if (limits_.max_dataset_bytes > 0 && bytes_ > limits_.max_dataset_bytes) {
    over_limit_ = true;
    Fail("the dataset is larger than --max-dataset-bytes " + std::to_string(limits_.max_dataset_bytes));
    return 0;
  }
  if (file_ == nullptr) {
    memory_.append(static_cast<const char*>(buf), length);
    if (memory_.size() <= limits_.spill_threshold_bytes) return buflen;
    if (Status opened = OpenSpillFile(); !opened.ok()) {
      Fail(opened.message());
      return 0;
    }
    return buflen;
  }
  if (std::fwrite(buf, 1, length, file_) != length) {
    Fail("writing the spill file " + file_path_ + " failed: " + std::strerror(errno));
    return 0;
  }
  return buflen;
}

void DatasetSink::Reserve(uint64_t bytes) {
  if (file_ != nullptr || !good()) return;
  memory_.reserve(static_cast<size_t>(std::min(bytes, limits_.spill_threshold_bytes)));
}

Status DatasetSink::OpenSpillFile() {
  std::error_code ec;
  std::filesystem::create_directories(limits_.spill_dir, ec);
  std::string path = (std::filesystem::path(limits_.spill_dir) / "cstore-XXXXXX").string();
  const int fd = ::mkstemp(path.data());
  if (fd < 0)
    return Status::IOError("cannot create a spill file in " + limits_.spill_dir + ": " + std::strerror(errno));
  file_ = ::fdopen(fd, "w+b");
  if (file_ == nullptr) {
    ::close(fd);
    ::unlink(path.c_str());
    return Status::IOError("cannot open the spill file " + path + ": " + std::strerror(errno));
  }
  file_path_ = path;
  if (std::fwrite(memory_.data(), 1, memory_.size(), file_) != memory_.size())
    return Status::IOError("writing the spill file " + file_path_ + " failed: " + std::strerror(errno));
  std::string().swap(memory_);  // give the memory back
  return Status::Ok();
}

Result<std::unique_ptr<DcmDataset>> DatasetSink::Load(E_TransferSyntax xfer) {
  if (!good()) return Status::IOError(problem_);
  auto dataset = std::make_unique<DcmDataset>();
  if (file_ == nullptr) {
    DcmInputBufferStream input;
    input.setBuffer(memory_.data(), static_cast<offile_off_t>(memory_.size()));
    input.setEos();
    dataset->transferInit();
    OFCondition cond = dataset->read(input, xfer, EGL_noChange, DCM_MaxReadLength);
    dataset->transferEnd();
    input.releaseBuffer();
    if (cond.bad())
      return Status::InvalidArgument(std::string("the received dataset cannot be parsed: ") + cond.text());
    std::string().swap(memory_);
    return dataset;
  }
  if (std::fflush(file_) != 0)
    return Status::IOError("writing the spill file " + file_path_ + " failed: " + std::strerror(errno));
  OFCondition cond = dataset->loadFile(file_path_.c_str(), xfer, EGL_noChange, kLazyLoadAbove);
  if (cond.bad())
    return Status::InvalidArgument("the received dataset (spilled to " + file_path_ +
                                   ") cannot be parsed: " + cond.text());
  return dataset;
}

}  // namespace pacs::dicom::scp
