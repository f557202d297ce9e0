// File: dataset_compare.h
// Attribute-by-attribute comparison of two datasets, used by the round-trip
// tests and by `verify`. Group lengths, trailing padding (FFFC,FFFC) and the
// defined/undefined length encoding of sequences carry no information and are
// ignored; everything else, including every Pixel Data byte, must match.
#pragma once

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "pacs/base/result.h"

namespace pacs::dicom {

// OK when equal; otherwise a Status whose message names the first difference.
Status CompareDatasets(DcmItem& expected, DcmItem& actual);

}  // namespace pacs::dicom
