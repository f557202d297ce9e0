// pacs::jls (our SIMD JPEG-LS encoder) against Debian's CharLS 2.4.1
// jpegls_encoder on real corpus frames, in the same run:
//   BM_JlsEncode/<set>/<encoder>  throughput of each encoder (MB/s of raw samples)
//   BM_JlsCompare/<set>           both encoders interleaved frame by frame, timed
//                                 in thread CPU time, with counters charls_MBps,
//                                 ours_MBps and speedup = ours / CharLS (robust
//                                 to the load of the shared machine)
// Sets: CT (20 slices of dcm_qa_ct/philips_ct_140_slices, 512x512, 12 bits),
// MR (20 slices of dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22, 256x256, 16 bits), CR
// (NEMA WG04 RG1/RG2/RG3, decoded from JPEG-LS and JPEG lossless).
//
// `jls_bench --callgrind=charls|ours[:CT|MR|CR]` encodes the first frame of
// a set (CT by default) once with one encoder and exits; under
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*EncodeOnce*'
// it counts the instructions of that encode alone.
#include <benchmark/benchmark.h>
#include <charls/charls.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "corpus_frames.h"
#include "jls_bench_common.h"
#include "pacs/jls/jpegls_encoder.h"

namespace {

using pacs::jls::testing::CorpusFrame;

struct Frame {
  pacs::jls::FrameFormat format;
  std::vector<uint8_t> pixels;
};

std::vector<Frame> LoadFolder(const std::string& folder, size_t count, int bits_override = 0) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(pacs::jls::testing::CorpusDir() + "/" + folder))
    files.push_back(folder + "/" + entry.path().filename().string());
  std::sort(files.begin(), files.end());
  std::vector<Frame> frames;
  for (const std::string& file : files) {
    if (frames.size() >= count) break;
    for (const CorpusFrame& f : pacs::jls::testing::FramesOfFile(file, 1)) {
      const int bits = bits_override ? bits_override : std::clamp(f.bits_stored, 2, 16);
      frames.push_back(
          {{f.columns, f.rows, bits, 1, pacs::jls::Interleave::kNone}, pacs::jls::testing::AsEncoderInput(f, bits)});
    }
  }
  return frames;
}

std::vector<Frame> LoadFiles(const std::vector<std::string>& files) {
  std::vector<Frame> frames;
  for (const std::string& file : files)
    for (const CorpusFrame& f : pacs::jls::testing::FramesOfFile(file, 1)) {
      const int bits = std::clamp(f.bits_stored, 2, 16);
      frames.push_back(
          {{f.columns, f.rows, bits, 1, pacs::jls::Interleave::kNone}, pacs::jls::testing::AsEncoderInput(f, bits)});
    }
  return frames;
}

const std::vector<Frame>& Set(const std::string& name) {
  static std::map<std::string, std::vector<Frame>> sets;
  auto it = sets.find(name);
  if (it != sets.end()) return it->second;
  std::vector<Frame> frames;
  if (name == "CT") frames = LoadFolder("dcm_qa_ct/philips_ct_140_slices", 20);
  if (name == "MR") frames = LoadFolder("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22", 20);
  if (name == "CR")
    frames = LoadFiles({"nema_wg04/RG1/RG1_JLSN.dcm", "nema_wg04/RG2/RG2_JLSL.dcm", "nema_wg04/RG3/RG3_JPLL.dcm"});
  return sets.emplace(name, std::move(frames)).first->second;
}

size_t EncodeCharls(const Frame& frame, std::vector<uint8_t>& out) {
  charls::jpegls_encoder encoder;
  encoder.frame_info({frame.format.width, frame.format.height, frame.format.bits_per_sample, 1});
  out.resize(encoder.estimated_destination_size());
  encoder.destination(out);
  return encoder.encode(frame.pixels.data(), frame.pixels.size());
}

size_t EncodeOurs(const Frame& frame) {
  auto result = pacs::jls::EncodeLossless(frame.format, frame.pixels);
  if (!result.ok()) std::abort();
  return result->size();
}

void BM_JlsEncode(benchmark::State& state, const std::string& set, bool ours) {
  const auto& frames = Set(set);
  if (frames.empty()) {
    state.SkipWithError(("no frames for set " + set).c_str());
    return;
  }
  size_t raw = 0, coded = 0;
  std::vector<uint8_t> out;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    raw = coded = 0;
    for (const Frame& frame : frames) {
      coded += ours ? EncodeOurs(frame) : EncodeCharls(frame, out);
      raw += frame.pixels.size();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw));
  state.counters["frames"] = static_cast<double>(frames.size());
  state.counters["stored_over_raw"] = static_cast<double>(coded) / static_cast<double>(raw);
  state.SetLabel(ours ? std::string("pacs::jls ") + pacs::jls::ActiveSimdTarget() : "CharLS 2.4.1");
}

// Both encoders frame by frame in alternation, in thread CPU time, so that
// the load of the shared machine hits neither; reports each one's MB/s and
// the speedup.
void BM_JlsCompare(benchmark::State& state, const std::string& set) {
  const auto& frames = Set(set);
  if (frames.empty()) {
    state.SkipWithError(("no frames for set " + set).c_str());
    return;
  }
  double seconds_charls = 0, seconds_ours = 0;
  size_t raw = 0;
  std::vector<uint8_t> out;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    for (const Frame& frame : frames) {
      const double t0 = pacs::bench::ThreadSeconds();
      const size_t a = EncodeCharls(frame, out);
      const double t1 = pacs::bench::ThreadSeconds();
      const size_t b = EncodeOurs(frame);
      const double t2 = pacs::bench::ThreadSeconds();
      if (a != b) state.SkipWithError("encoders disagree on the coded size");
      seconds_charls += t1 - t0;
      seconds_ours += t2 - t1;
      raw += frame.pixels.size();
    }
  }
  state.counters["charls_MBps"] = static_cast<double>(raw) / 1e6 / seconds_charls;
  state.counters["ours_MBps"] = static_cast<double>(raw) / 1e6 / seconds_ours;
  state.counters["speedup"] = seconds_charls / seconds_ours;
  state.SetLabel(std::string("ours on ") + pacs::jls::ActiveSimdTarget());
}

// Kept out of line so callgrind's --toggle-collect can count exactly these.
__attribute__((noinline)) size_t EncodeOnceCharls(const Frame& frame) {
  std::vector<uint8_t> out;
  return EncodeCharls(frame, out);
}
__attribute__((noinline)) size_t EncodeOnceOurs(const Frame& frame) {
  return EncodeOurs(frame);
}

}  // namespace

int Run(int argc, char** argv) {
  if (const auto request = pacs::bench::FindCallgrindRequest(argc, argv)) {
    const auto& frames = Set(request->set);
    if (frames.empty()) return 2;
    const size_t bytes = request->which == "charls" ? EncodeOnceCharls(frames[0]) : EncodeOnceOurs(frames[0]);
    std::printf("%s: %ux%u %d-bit %s frame -> %zu bytes\n", request->which.c_str(), frames[0].format.width,
                frames[0].format.height, frames[0].format.bits_per_sample, request->set.c_str(), bytes);
    return 0;
  }
  for (const char* set : {"CT", "MR", "CR"}) {
    benchmark::RegisterBenchmark((std::string("BM_JlsEncode/") + set + "/charls").c_str(), BM_JlsEncode,
                                 std::string(set), false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("BM_JlsEncode/") + set + "/ours").c_str(), BM_JlsEncode, std::string(set),
                                 true)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("BM_JlsCompare/") + set).c_str(), BM_JlsCompare, std::string(set))
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

int main(int argc, char** argv) {
  return pacs::bench::RunReportingExceptions("jls_bench", Run, argc, argv);
}
