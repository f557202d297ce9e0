// File: bench.h
// `pacscore bench`: the storage benchmark an operator runs on their own
// hardware, a library of its own like LevelDB's db_bench. `bench ingest`
// pushes a corpus through C-STORE into a fresh pacscore (or any node);
// `bench compare` runs the same workload, interleaved, against pacscore,
// Orthanc, Orthanc with JPEG-LS ingest transcoding and DCMTK's storescp, and
// writes a table and a chart; `bench query` and `bench retrieve` time C-FIND
// and C-GET.
#pragma once

namespace pacs::bench {

// Runs `pacscore bench` with the arguments after `bench` (argv[0] is the
// benchmark's name, or --help). Parses its own flags, prints results on
// stdout and errors on stderr; returns the process exit code: 0 on success,
// 1 on bad flags or an error that stopped the benchmark, 2 when some
// requests failed.
int RunBenchCommand(int argc, char** argv);

}  // namespace pacs::bench
