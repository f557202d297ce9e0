// File: store_fixture.h
// What the dicom unit tests share: a fresh RocksDB store per test (RocksDB's
// DBTestBase in miniature), real files from the shared corpus and pydicom,
// and the pixel bytes of a loaded dataset.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "pacs/dicom/instance_split.h"
#include "pacs/engine/store.h"

namespace pacs::testing {

inline std::filesystem::path CorpusFile(const std::string& relative) {
  return std::filesystem::path(PACS_CORPUS_DIR) / relative;
}
inline std::filesystem::path PydicomFile(const std::string& name) {
  return std::filesystem::path(PACS_PYDICOM_DIR) / name;
}

// The file loaded completely (as ingest reads it), or null when DCMTK
// cannot read it.
inline std::unique_ptr<DcmFileFormat> LoadDicomFile(const std::filesystem::path& path) {
  auto file = std::make_unique<DcmFileFormat>();
  if (file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect).bad()) return nullptr;
  if (file->getDataset()->loadAllDataIntoMemory().bad()) return nullptr;
  return file;
}

// The value of a native Pixel Data element, as DCMTK holds it in memory.
inline std::string NativePixelBytes(DcmDataset& dataset) {
  const Uint8* data = nullptr;
  unsigned long count = 0;
  if (dataset.findAndGetUint8Array(DCM_PixelData, data, &count).bad() || data == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(data), count);
}

// The items of an encapsulated Pixel Data element: the Basic Offset Table
// first, then every fragment. Empty when there is no such element.
inline std::vector<std::string> PixelItems(DcmDataset& dataset, E_TransferSyntax xfer) {
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) return {};
  DcmPixelSequence* sequence = nullptr;
  if (static_cast<DcmPixelData*>(element)->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() ||
      sequence == nullptr)
    return {};
  std::vector<std::string> items;
  for (unsigned long i = 0; i < sequence->card(); ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (sequence->getItem(item, i).bad()) return {};
    if (item->getLength() > 0 && item->getUint8Array(data).bad()) return {};
    items.emplace_back(reinterpret_cast<const char*>(data), item->getLength());
  }
  return items;
}

// A fresh store in a temporary folder, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dicom::InitDicomLibrary();
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');  // parameterised tests
    dir_ = std::filesystem::temp_directory_path() / ("pacs_dicom_test_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(dir_);
    auto opened = engine::Store::Open({.path = dir_.string()});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Splits `dataset` (arrived in `xfer`) and commits it; the stored record.
  Result<engine::InstanceRecord> SplitAndCommit(DcmDataset& dataset, E_TransferSyntax xfer,
                                                const dicom::PixelCodecPolicy& policy = {}) {
    auto split = dicom::SplitInstance(dataset, xfer, policy);
    if (!split.ok()) return split.status();
    auto committed = store_->CommitInstance(*split);
    if (!committed.ok()) return committed.status();
    return store_->GetInstance(split->record.sop_instance_uid);
  }

  std::filesystem::path dir_;
  std::unique_ptr<engine::Store> store_;
};

}  // namespace pacs::testing
