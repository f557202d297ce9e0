// File: dicom_library.h
// Process-wide set-up of the DICOM toolkit (data dictionary, codecs), for
// programs that use the dicom module without including DCMTK themselves.
#pragma once

namespace pacs::dicom {

// Call once per process before any parsing: keeps DCMTK from "correcting"
// what it reads, so that what we store is what was sent.
void InitDicomLibrary();

// Loads DCMTK's data dictionary now. DCMTK loads it on first use, inside
// whatever request needs it first (a C-STORE, a QIDO search, a series'
// metadata), which then pays ~40 ms more; a server calls this before it
// starts listening.
void LoadDataDictionary();

// Sends DCMTK's own log lines (oflog) through pacs::Log: the same
// timestamps, format and destination (SetLogFile) as ours, named after the
// DCMTK logger ("dcmtk.dcmnet: ..."). InitDicomLibrary does it; call it
// again after anything that reconfigures oflog.
void RouteDcmtkLogging();

// DCMTK's own lines from `debug` up (--verbose), or from warnings up (the
// default).
void SetDcmtkLogVerbose(bool verbose);

}  // namespace pacs::dicom
