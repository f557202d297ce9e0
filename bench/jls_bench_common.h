// File: jls_bench_common.h
// What the JPEG-LS encoder and decoder benchmarks (jls_bench,
// jls_decoder_bench) share: thread CPU time, the `--callgrind=WHO[:SET]`
// one-frame mode's argument, and a main that reports exceptions.
#pragma once

#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace pacs::bench {

// CPU seconds of the calling thread: robust to the load of a shared machine.
inline double ThreadSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// `--callgrind=charls|ours[:CT|MR|CR]`: which codec runs once, on which set.
struct CallgrindRequest {
  std::string which;
  std::string set = "CT";
};
inline std::optional<CallgrindRequest> FindCallgrindRequest(int argc, char** argv) {
  constexpr std::string_view kFlag = "--callgrind=";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(kFlag, 0) != 0) continue;
    CallgrindRequest request{.which = arg.substr(kFlag.size())};
    if (const size_t colon = request.which.find(':'); colon != std::string::npos) {
      request.set = request.which.substr(colon + 1);
      request.which.resize(colon);
    }
    return request;
  }
  return std::nullopt;
}

// Runs `run` and turns an exception into a message and exit code 1.
inline int RunReportingExceptions(const char* program, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace pacs::bench
