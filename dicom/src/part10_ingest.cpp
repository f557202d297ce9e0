#include "pacs/dicom/part10_ingest.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "ingest_dataset.h"

namespace pacs::dicom {
namespace {

// Elements above this stay in a spill file until read (as C-STORE's DatasetSink).
constexpr Uint32 kLazyLoadAbove = 4096;

std::string StringOf(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFString(tag, value).bad()) return "";
  return std::string(value.c_str(), value.length());
}

}  // namespace

Part10Failure Part10FailureOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kIOError:
    case StatusCode::kBusy:
      return Part10Failure::kOutOfResources;
    case StatusCode::kInvalidArgument:
      if (status.message().find("is of study") != std::string::npos) return Part10Failure::kStudyMismatch;
      return Part10Failure::kCannotUnderstand;
    case StatusCode::kUnsupported:
    case StatusCode::kCorruption:
      return Part10Failure::kCannotUnderstand;
    default:
      return Part10Failure::kProcessingFailure;
  }
}

Result<IngestReport> IngestPart10(Ingestor& ingestor, const Part10Source& source,
                                  const Part10Requirements& requirements, Part10Identity* identity) {
  DcmFileFormat file;
  OFCondition cond;
  if (!source.file.empty()) {
    cond = file.loadFile(source.file.c_str(), EXS_Unknown, EGL_noChange, kLazyLoadAbove, ERM_fileOnly);
  } else {
    DcmInputBufferStream input;
    input.setBuffer(source.memory.data(), static_cast<offile_off_t>(source.memory.size()));
    input.setEos();
    file.transferInit();
    cond = file.read(input, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file.transferEnd();
    input.releaseBuffer();
  }
  if (cond.bad())
    return Status::InvalidArgument(std::string("not a readable DICOM Part 10 file (") + cond.text() +
                                   "); nothing stored");
  Part10Identity who;
  who.transfer_syntax_uid = StringOf(*file.getMetaInfo(), DCM_TransferSyntaxUID);
  DcmDataset& dataset = *file.getDataset();
  who.sop_class_uid = StringOf(dataset, DCM_SOPClassUID);
  who.sop_instance_uid = StringOf(dataset, DCM_SOPInstanceUID);
  who.study_instance_uid = StringOf(dataset, DCM_StudyInstanceUID);
  who.series_instance_uid = StringOf(dataset, DCM_SeriesInstanceUID);
  if (identity != nullptr) *identity = who;
  if (who.transfer_syntax_uid.empty())
    return Status::InvalidArgument(
        "no File Meta Information (0002,0010 Transfer Syntax UID): not a DICOM Part 10 "
        "file; nothing stored");
  const E_TransferSyntax xfer = dataset.getOriginalXfer();
  if (xfer == EXS_Unknown)
    return Status::Unsupported("transfer syntax " + who.transfer_syntax_uid + " unknown to DCMTK; nothing stored");
  if (!requirements.study_instance_uid.empty() && who.study_instance_uid != requirements.study_instance_uid)
    return Status::InvalidArgument("SOP Instance " + who.sop_instance_uid + " is of study " +
                                   (who.study_instance_uid.empty() ? std::string("(none)") : who.study_instance_uid) +
                                   ", not of study " + requirements.study_instance_uid +
                                   " the request names; nothing stored");
  return IngestDataset(ingestor, dataset, xfer);
}

}  // namespace pacs::dicom
