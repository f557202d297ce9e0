// File: catalog.h
// The seam through which the query index rides on instance commits: the
// store calls a CatalogObserver inside each commit, under its commit lock,
// and writes what the observer puts into the same atomic batch. The engine
// knows nothing of what the catalog holds (the DICOM index lives in dicom/).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "pacs/base/result.h"
#include "pacs/engine/instance_record.h"

namespace pacs::engine {

// Reads and writes of the catalog column family within one commit. Reads see
// the transaction's own earlier writes. Valid only during the callback.
class CatalogTxn {
 public:
  virtual ~CatalogTxn() = default;
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
};

// Implemented by the index. Called with the commit lock held: keep it quick.
class CatalogObserver {
 public:
  virtual ~CatalogObserver() = default;
  // `payload` is InstanceWrite::catalog_payload of the added instance.
  virtual Status OnInstanceAdded(CatalogTxn& txn, const InstanceRecord& record, std::string_view payload) = 0;
  virtual Status OnInstanceRemoved(CatalogTxn& txn, const InstanceRecord& record) = 0;
};

}  // namespace pacs::engine
