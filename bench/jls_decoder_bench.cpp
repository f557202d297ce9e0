// pacs::jls::DecodeFrame (our JPEG-LS decoder) against Debian's CharLS 2.4.1
// jpegls_decoder on real corpus frames, in the same run. The frames are the
// ones bench/jls_bench.cpp encodes, coded losslessly once at start-up (our
// encoder, byte-identical to CharLS's: what pacscore stores):
//   BM_JlsDecode/<set>/<decoder>  throughput of each decoder (MB/s of decoded samples)
//   BM_JlsDecodeCompare/<set>     both decoders frame by frame in alternation,
//                                 timed in thread CPU time, with counters
//                                 charls_MBps, ours_MBps and speedup = ours / CharLS
// Sets: CT (20 slices of dcm_qa_ct/philips_ct_140_slices, 512x512, 12 bits),
// MR (20 slices of dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22, 256x256, 16 bits), CR
// (NEMA WG04 RG1/RG2/RG3).
//
// `--destuff=always|never` fixes our bit reader's choice (A/B runs).
// `jls_decoder_bench --callgrind=charls|ours[:CT|MR|CR]` decodes the first
// frame of a set once with one decoder and exits; under
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*DecodeOnce*'
// it counts the instructions of that decode alone.
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
#include "pacs/jls/jpegls_decoder.h"
#include "pacs/jls/jpegls_encoder.h"
#include "scan_decoder.h"

namespace {

using pacs::jls::testing::CorpusFrame;

struct Frame {
  pacs::jls::ExpectedFrame expected;
  std::vector<uint8_t> codestream;
  size_t decoded_bytes = 0;
};

Frame Encode(const CorpusFrame& f) {
  const int bits = std::clamp(f.bits_stored, 2, 16);
  const pacs::jls::FrameFormat format{f.columns, f.rows, bits, 1, pacs::jls::Interleave::kNone};
  auto coded = pacs::jls::EncodeLossless(format, pacs::jls::testing::AsEncoderInput(f, bits));
  if (!coded.ok()) std::abort();
  Frame frame;
  // Bits allocated as CharLS writes the samples (1 byte up to 8 bits), so
  // that both decoders produce the same bytes.
  frame.expected = {f.columns, f.rows, 1, bits > 8 ? 16 : 8, bits};
  frame.codestream = std::move(*coded);
  frame.decoded_bytes = pacs::jls::DecodedBytes(frame.expected);
  return frame;
}

std::vector<Frame> LoadFolder(const std::string& folder, size_t count) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(pacs::jls::testing::CorpusDir() + "/" + folder))
    files.push_back(folder + "/" + entry.path().filename().string());
  std::sort(files.begin(), files.end());
  std::vector<Frame> frames;
  for (const std::string& file : files) {
    if (frames.size() >= count) break;
    for (const CorpusFrame& f : pacs::jls::testing::FramesOfFile(file, 1)) frames.push_back(Encode(f));
  }
  return frames;
}

std::vector<Frame> LoadFiles(const std::vector<std::string>& files) {
  std::vector<Frame> frames;
  for (const std::string& file : files)
    for (const CorpusFrame& f : pacs::jls::testing::FramesOfFile(file, 1)) frames.push_back(Encode(f));
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

// Which line loops our decoder runs (PACS_JLS_DECODER_ISA=portable forces
// the portable ones on a CPU with BMI2).
std::string LoopsName() {
  return pacs::jls::internal::ActiveScanIsa() == pacs::jls::internal::ScanIsa::kBmi2 ? ", BMI2 loops"
                                                                                     : ", portable loops";
}

void DecodeCharls(const Frame& frame, std::vector<uint8_t>& out) {
  charls::jpegls_decoder decoder;
  decoder.source(frame.codestream.data(), frame.codestream.size());
  decoder.read_header();
  out.resize(decoder.destination_size());
  decoder.decode(out);
}

void DecodeOurs(const Frame& frame, std::vector<uint8_t>& out) {
  out.resize(frame.decoded_bytes);
  if (!pacs::jls::DecodeFrame(frame.codestream, frame.expected, out).ok()) std::abort();
}

void BM_JlsDecode(benchmark::State& state, const std::string& set, bool ours) {
  const auto& frames = Set(set);
  if (frames.empty()) {
    state.SkipWithError(("no frames for set " + set).c_str());
    return;
  }
  size_t decoded = 0;
  std::vector<uint8_t> out;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    decoded = 0;
    for (const Frame& frame : frames) {
      if (ours) {
        DecodeOurs(frame, out);
      } else {
        DecodeCharls(frame, out);
      }
      decoded += out.size();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * decoded));
  state.counters["frames"] = static_cast<double>(frames.size());
  state.SetLabel(ours ? std::string("pacs::jls ") + pacs::jls::ActiveSimdTarget() + LoopsName() : "CharLS 2.4.1");
}

// Both decoders frame by frame in alternation, in thread CPU time (robust to
// the load of the shared machine); checks that they agree.
void BM_JlsDecodeCompare(benchmark::State& state, const std::string& set) {
  const auto& frames = Set(set);
  if (frames.empty()) {
    state.SkipWithError(("no frames for set " + set).c_str());
    return;
  }
  double seconds_charls = 0, seconds_ours = 0;
  size_t decoded = 0;
  std::vector<uint8_t> theirs, ours;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    for (const Frame& frame : frames) {
      const double t0 = pacs::bench::ThreadSeconds();
      DecodeCharls(frame, theirs);
      const double t1 = pacs::bench::ThreadSeconds();
      DecodeOurs(frame, ours);
      const double t2 = pacs::bench::ThreadSeconds();
      if (theirs != ours) state.SkipWithError("decoders disagree");
      seconds_charls += t1 - t0;
      seconds_ours += t2 - t1;
      decoded += ours.size();
    }
  }
  state.counters["charls_MBps"] = static_cast<double>(decoded) / 1e6 / seconds_charls;
  state.counters["ours_MBps"] = static_cast<double>(decoded) / 1e6 / seconds_ours;
  state.counters["speedup"] = seconds_charls / seconds_ours;
  state.SetLabel(std::string("ours on ") + pacs::jls::ActiveSimdTarget() + LoopsName());
}

// Kept out of line so callgrind's --toggle-collect can count exactly these.
__attribute__((noinline)) size_t DecodeOnceCharls(const Frame& frame) {
  std::vector<uint8_t> out;
  DecodeCharls(frame, out);
  return out.size();
}
__attribute__((noinline)) size_t DecodeOnceOurs(const Frame& frame) {
  std::vector<uint8_t> out;
  DecodeOurs(frame, out);
  return out.size();
}

}  // namespace

// `--destuff=always|never` overrides the per-segment choice of the bit
// reader (destuffed copy or in place, see DestuffChoice) for A/B runs of one
// binary; removed from argv before Google Benchmark sees it.
void ApplyDestuffFlag(int& argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--destuff=always") {
      pacs::jls::internal::SetDestuffForTesting(pacs::jls::internal::DestuffChoice::kAlways);
    } else if (arg == "--destuff=never") {
      pacs::jls::internal::SetDestuffForTesting(pacs::jls::internal::DestuffChoice::kNever);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
}

int Run(int argc, char** argv) {
  ApplyDestuffFlag(argc, argv);
  if (const auto request = pacs::bench::FindCallgrindRequest(argc, argv)) {
    const auto& frames = Set(request->set);
    if (frames.empty()) return 2;
    const size_t bytes = request->which == "charls" ? DecodeOnceCharls(frames[0]) : DecodeOnceOurs(frames[0]);
    std::printf("%s: %ux%u %d-bit %s frame, %zu coded bytes -> %zu bytes\n", request->which.c_str(),
                frames[0].expected.width, frames[0].expected.height, frames[0].expected.bits_stored,
                request->set.c_str(), frames[0].codestream.size(), bytes);
    return 0;
  }
  for (const char* set : {"CT", "MR", "CR"}) {
    benchmark::RegisterBenchmark((std::string("BM_JlsDecode/") + set + "/charls").c_str(), BM_JlsDecode,
                                 std::string(set), false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("BM_JlsDecode/") + set + "/ours").c_str(), BM_JlsDecode, std::string(set),
                                 true)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("BM_JlsDecodeCompare/") + set).c_str(), BM_JlsDecodeCompare,
                                 std::string(set))
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

int main(int argc, char** argv) {
  return pacs::bench::RunReportingExceptions("jls_decoder_bench", Run, argc, argv);
}
