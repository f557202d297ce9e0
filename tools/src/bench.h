// File: bench.h
// `pacscore bench`: the storage benchmark an operator runs on their own
// hardware. `bench ingest` pushes a corpus through C-STORE into a fresh
// pacscore (or any node); `bench compare` runs the same workload, interleaved,
// against pacscore, Orthanc, Orthanc with JPEG-LS ingest transcoding and
// DCMTK's storescp, and writes a table and a chart.
#pragma once

namespace pacs::tools {

int RunBench(int argc, char** argv);

}  // namespace pacs::tools
