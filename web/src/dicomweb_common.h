// What the DICOMweb route files share: UID checks, DICOM JSON (PS3.18
// Annex F) from a DCMTK dataset, and JSON replies (gzip when the client
// takes it).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "pacs/base/result.h"
#include "pacs/web/http.h"

namespace pacs::web {

inline constexpr char kDicomJson[] = "application/dicom+json";

// 1-64 characters, digits and dots, no empty component.
bool IsValidUid(std::string_view uid);

// The dataset as one DICOM JSON object ({"00080020": {"vr": "DA", "Value": [...]}, ...}).
// Top-level elements whose tag is in `bulk_uris` are written with that
// BulkDataURI instead of their value. Group 0002 and QueryRetrieveLevel are left out.
Result<std::string> DatasetToJson(DcmDataset& dataset, const std::map<uint32_t, std::string>& bulk_uris = {});

// Whether the Accept header allows application/dicom+json (or
// application/json, */*). A malformed Accept header is a 400 (`bad` set).
bool AcceptsDicomJson(const Request& request, std::string& bad);

// A 200 (or `status`) application/dicom+json reply; gzip-compressed when the
// request's Accept-Encoding allows and the body is over 1 KiB.
Response DicomJsonResponse(const Request& request, std::string json, int status = 200);

}  // namespace pacs::web
