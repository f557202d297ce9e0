#include "dicomweb_common.h"

#include <algorithm>
#include <sstream>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcjson.h"
#include "pacs/web/media_type.h"

namespace pacs::web {

namespace {

// Writes the BulkDataURI of the tags it is given.
class BulkDataJsonFormat : public DcmJsonFormatCompact {
 public:
  explicit BulkDataJsonFormat(const std::map<uint32_t, std::string>& uris)
      : DcmJsonFormatCompact(OFFalse), uris_(uris) {}
  OFBool asBulkDataURI(const DcmTagKey& tag, OFString& uri) override {
    const auto it = uris_.find((uint32_t{tag.getGroup()} << 16) | tag.getElement());
    if (it == uris_.end()) return OFFalse;
    uri = it->second;
    return OFTrue;
  }

 private:
  const std::map<uint32_t, std::string>& uris_;
};

}  // namespace

bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
  char previous = 0;
  for (const char c : uid) {
    if (c != '.' && (c < '0' || c > '9')) return false;
    if (c == '.' && previous == '.') return false;
    previous = c;
  }
  return true;
}

Result<std::string> DatasetToJson(DcmDataset& dataset, const std::map<uint32_t, std::string>& bulk_uris) {
  delete dataset.remove(DCM_QueryRetrieveLevel);
  BulkDataJsonFormat format(bulk_uris);
  std::ostringstream out;
  // DcmDataset::writeJson writes the members only; the item form adds the braces.
  const OFCondition written = dataset.writeJsonExt(out, format, OFTrue, OFFalse);
  if (written.bad()) return Status::Internal(std::string("cannot write DICOM JSON: ") + written.text());
  std::string json = out.str();
  // DCMTK ends the object with a newline; keep the bytes compact.
  while (!json.empty() && (json.back() == '\n' || json.back() == '\r')) json.pop_back();
  return json;
}

bool AcceptsDicomJson(const Request& request, std::string& bad) {
  auto ranges = ParseAccept(request.Header("accept"));
  if (!ranges.ok()) {
    bad = ranges.status().message();
    return false;
  }
  return std::ranges::any_of(*ranges, [](const MediaType& range) {
    return range.Covers("application/dicom+json") || range.Covers("application/json");
  });
}

Response DicomJsonResponse(const Request& request, std::string json, int status) {
  Response response = Response::Text(status, kDicomJson, std::move(json));
  response.With("Vary", "Accept-Encoding");
  if (response.body.size() > 1024 && AcceptsGzip(request.Header("accept-encoding"))) {
    auto compressed = GzipCompress(response.body, 1);
    if (compressed.ok()) {
      response.body = std::move(*compressed);
      response.With("Content-Encoding", "gzip");
    }
  }
  return response;
}

}  // namespace pacs::web
