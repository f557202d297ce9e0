// File: ingest_dataset.h
// The DCMTK-typed entry point of the ingest pipeline (ingest.h), private to
// dicom/ so that the public header needs no DCMTK: the C-STORE handler hands
// it the dataset DCMTK received, and IngestFile and IngestAttributes end in it.
#pragma once

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "pacs/base/result.h"
#include "pacs/dicom/ingest.h"

namespace pacs::dicom {

// Stores `dataset`, received in `xfer`, through `ingestor` (thread-safe as
// the Ingestor is). Consumes the dataset's Pixel Data.
Result<IngestReport> IngestDataset(Ingestor& ingestor, DcmDataset& dataset, E_TransferSyntax xfer);

}  // namespace pacs::dicom
