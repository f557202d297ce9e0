// File: index.h
// The query index: patient, study, series and instance records plus secondary
// indexes (PatientID+Issuer, PatientName, StudyDate, AccessionNumber,
// ModalitiesInStudy) kept in the engine's catalog column family, written in
// the same atomic commit as each instance (and removed with it).
#pragma once

#include <string>

#include "pacs/engine/catalog.h"

class DcmItem;  // DCMTK's; only the dicom module's sources see its definition

namespace pacs::dicom {

// The attributes the index keeps of one dataset, text converted to UTF-8 from
// its SpecificCharacterSet: what Ingestor hands the store as catalog_payload.
std::string BuildCatalogPayload(DcmItem& dataset);

// The index writer. Stateless, so one process-wide instance serves every
// store; pass it as StoreOptions::catalog_observer when opening the store.
engine::CatalogObserver& IndexObserver();

}  // namespace pacs::dicom
