// File: index.h
// The query index: patient, study, series and instance records plus secondary
// indexes (PatientID+Issuer, PatientName, StudyDate, AccessionNumber,
// ModalitiesInStudy) kept in the engine's catalog column family, written in
// the same atomic commit as each instance (and removed with it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "pacs/base/result.h"
#include "pacs/engine/catalog.h"
#include "pacs/engine/store.h"

class DcmItem;  // DCMTK's; only the dicom module's sources see its definition

namespace pacs::dicom {

// The attributes the index keeps of one dataset, text converted to UTF-8 from
// its SpecificCharacterSet: what Ingestor hands the store as catalog_payload.
std::string BuildCatalogPayload(DcmItem& dataset);

// The index writer. Stateless, so one process-wide instance serves every
// store; pass it as StoreOptions::catalog_observer when opening the store.
engine::CatalogObserver& IndexObserver();

// Rebuilds the query index of `store` (opened with IndexObserver()) from the
// stored instances, each header parsed and its payload built as at ingest;
// engine::Store::RebuildCatalog says how it is swapped in while the store
// serves. `progress` (may be empty) gets the instances read and their count.
Result<engine::CatalogRebuildReport> RebuildIndex(engine::Store& store,
                                                  const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace pacs::dicom
