// File: dicom_library.h
// Process-wide set-up of the DICOM toolkit (data dictionary, codecs), for
// programs that use the dicom module without including DCMTK themselves.
#pragma once

namespace pacs::dicom {

// Call once per process before any parsing: keeps DCMTK from "correcting"
// what it reads, so that what we store is what was sent.
void InitDicomLibrary();

}  // namespace pacs::dicom
