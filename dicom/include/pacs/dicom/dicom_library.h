// File: dicom_library.h
// Process-wide set-up of the DICOM toolkit (data dictionary, codecs), for
// programs that use the dicom module without including DCMTK themselves.
#pragma once

namespace pacs::dicom {

// Call once per process before any parsing: keeps DCMTK from "correcting"
// what it reads, so that what we store is what was sent.
void InitDicomLibrary();

// Sends DCMTK's own log lines (oflog) through pacs::Log: the same
// timestamps, format and destination (SetLogFile) as ours, named after the
// DCMTK logger ("dcmtk.dcmnet: ..."). InitDicomLibrary does it; call it
// again after anything that reconfigures oflog.
void RouteDcmtkLogging();

// DCMTK's own lines from `debug` up (--verbose), or from warnings up (the
// default).
void SetDcmtkLogVerbose(bool verbose);

}  // namespace pacs::dicom
