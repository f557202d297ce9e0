// Codec and SIMD kernel micro benchmarks (Google Benchmark).
//
// Codecs: encode and decode of real corpus frames (CT, MR, CR, DX, RGB US,
// multi-frame RGB US) per codec beside a memcpy baseline; counters give
// MB/s of raw pixel bytes and the compression ratio (raw / coded).
// Kernels: each dispatched SIMD kernel beside its scalar reference loop, on
// a cache-resident (256 KiB) and a memory-bound (64 MiB) buffer.
//
//   codecs_bench --benchmark_min_time=0.1 [--benchmark_filter=Codec/CT]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pacs/codecs/codec_options.h"
#include "pacs/codecs/frame_codec.h"
#include "pacs/codecs/pixel_kernels.h"
#include "test_frames.h"

namespace pacs::codecs {
namespace {

struct Dataset {
  std::string name;
  FrameInfo info;
  std::vector<std::vector<uint8_t>> frames;
  size_t RawBytes() const { return frames.size() * info.FrameBytes(); }
};

// Up to `max_frames` frames from the native files under `folder`.
Dataset LoadNative(const std::string& name, const std::string& folder, size_t max_frames) {
  Dataset dataset{name, {}, {}};
  for (const auto& entry : testing::ReadManifest()) {
    if (dataset.frames.size() >= max_frames) break;
    if (!entry.relative_path.starts_with(folder) || !testing::IsNativeLittleEndian(entry.transfer_syntax)) continue;
    auto file = testing::ReadWholeFile(testing::CorpusDir() + "/" + entry.relative_path);
    if (!file) continue;
    FrameInfo info = entry.info;
    info.planar = testing::ReadPlanarConfiguration(*file);
    auto pixels = testing::FindNativePixelData(*file, info.FrameBytes() * entry.frames);
    if (!pixels) continue;
    dataset.info = info;
    for (uint32_t f = 0; f < entry.frames && dataset.frames.size() < max_frames; ++f)
      dataset.frames.emplace_back(pixels->begin() + f * info.FrameBytes(),
                                  pixels->begin() + (f + 1) * info.FrameBytes());
  }
  return dataset;
}

// The corpus has no uncompressed large CR: decode WG04 RG2's JPEG-LS
// codestream (2140x1760, 10 bits) with our own decoder to get one.
Dataset LoadJpegLsFile(const std::string& name, const std::string& relative_path) {
  Dataset dataset{name, {}, {}};
  for (const auto& entry : testing::ReadManifest()) {
    if (entry.relative_path != relative_path) continue;
    auto file = testing::ReadWholeFile(testing::CorpusDir() + "/" + relative_path);
    if (!file) break;
    auto codestreams = testing::FindEncapsulatedFrames(*file, 1);
    if (codestreams.size() != 1) break;
    auto decoded = MakeCodec(CodecId::kJpegLs)->Decode(entry.info, codestreams[0]);
    if (!decoded.ok()) break;
    dataset.info = entry.info;
    dataset.frames.push_back(std::move(decoded).value());
  }
  return dataset;
}

void Encode(benchmark::State& state, const Dataset& dataset, CodecId id, CodecOptions options) {
  const auto codec = MakeCodec(id, options);
  size_t coded = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    coded = 0;
    for (const auto& frame : dataset.frames) {
      auto encoded = codec->Encode(dataset.info, frame);
      if (!encoded.ok()) {
        state.SkipWithError(encoded.status().ToString().c_str());
        return;
      }
      coded += encoded->size();
      benchmark::DoNotOptimize(encoded->data());
    }
  }
  const auto raw = static_cast<double>(dataset.RawBytes());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * dataset.RawBytes()));
  state.counters["MB/s"] = benchmark::Counter(raw / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ratio"] = raw / static_cast<double>(coded);
  state.counters["frames"] = static_cast<double>(dataset.frames.size());
}

void Decode(benchmark::State& state, const Dataset& dataset, CodecId id, CodecOptions options) {
  const auto codec = MakeCodec(id, options);
  std::vector<std::vector<uint8_t>> codestreams;
  size_t coded = 0;
  for (const auto& frame : dataset.frames) {
    auto encoded = codec->Encode(dataset.info, frame);
    if (!encoded.ok()) {
      state.SkipWithError(encoded.status().ToString().c_str());
      return;
    }
    coded += encoded->size();
    codestreams.push_back(std::move(encoded).value());
  }
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    for (size_t i = 0; i < codestreams.size(); ++i) {
      auto decoded = codec->Decode(dataset.info, codestreams[i]);
      if (!decoded.ok() || decoded->size() != dataset.frames[i].size()) {
        state.SkipWithError("decode failed");
        return;
      }
      benchmark::DoNotOptimize(decoded->data());
    }
  }
  const auto raw = static_cast<double>(dataset.RawBytes());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * dataset.RawBytes()));
  state.counters["MB/s"] = benchmark::Counter(raw / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ratio"] = raw / static_cast<double>(coded);
  state.counters["frames"] = static_cast<double>(dataset.frames.size());
}

void Memcpy(benchmark::State& state, const Dataset& dataset) {
  std::vector<uint8_t> copy(dataset.info.FrameBytes());
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    for (const auto& frame : dataset.frames) {
      std::memcpy(copy.data(), frame.data(), frame.size());
      benchmark::ClobberMemory();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * dataset.RawBytes()));
  state.counters["MB/s"] =
      benchmark::Counter(static_cast<double>(dataset.RawBytes()) / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ratio"] = 1.0;
}

// --- SIMD kernels -----------------------------------------------------------

struct KernelBuffers {
  explicit KernelBuffers(size_t bytes)
      : u16(bytes / 2), i32(bytes / 2), u8_in(bytes), u8_out(bytes), u16_out(bytes / 2) {
    std::mt19937 rng(1);
    for (auto& v : u16) v = static_cast<uint16_t>(rng() & 0x0FFF);  // 12 bits stored
    for (auto& v : u8_in) v = static_cast<uint8_t>(rng());
    for (size_t i = 0; i < i32.size(); ++i) i32[i] = u16[i];
  }
  std::vector<uint16_t> u16;
  std::vector<int32_t> i32;
  std::vector<uint8_t> u8_in, u8_out;
  std::vector<uint16_t> u16_out;
};

KernelBuffers& Buffers(size_t bytes) {
  static KernelBuffers small(256 << 10), large(64 << 20);
  return bytes == small.u8_in.size() ? small : large;
}

template <typename Kernel>
void RunKernel(benchmark::State& state, Kernel kernel) {
  KernelBuffers& b = Buffers(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark loop idiom
    kernel(b);
    benchmark::ClobberMemory();
  }
  // Bytes of input read per call.
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
  state.counters["MB/s"] =
      benchmark::Counter(static_cast<double>(state.range(0)) / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}

template <typename Kernel>
void RegisterKernel(const std::string& name, Kernel kernel) {
  benchmark::RegisterBenchmark(("Kernel/" + name).c_str(),
                               [kernel](benchmark::State& state) { RunKernel(state, kernel); })
      ->Arg(256 << 10)
      ->Arg(64 << 20);
}

void RegisterKernels() {
  // The 16-bit kernels read half as many samples as bytes; U16ToI32 reads
  // bytes/2 samples too (its output is twice the input size).
  RegisterKernel("memcpy", [](KernelBuffers& b) { std::memcpy(b.u8_out.data(), b.u8_in.data(), b.u8_in.size()); });
  RegisterKernel("MinMaxU16/simd",
                 [](KernelBuffers& b) { benchmark::DoNotOptimize(MinMaxU16(b.u16.data(), b.u16.size())); });
  RegisterKernel("MinMaxU16/scalar",
                 [](KernelBuffers& b) { benchmark::DoNotOptimize(scalar::MinMaxU16(b.u16.data(), b.u16.size())); });
  RegisterKernel("MinMaxS16/simd", [](KernelBuffers& b) {
    benchmark::DoNotOptimize(MinMaxS16(reinterpret_cast<const int16_t*>(b.u16.data()), b.u16.size()));
  });
  RegisterKernel("MinMaxS16/scalar", [](KernelBuffers& b) {
    benchmark::DoNotOptimize(scalar::MinMaxS16(reinterpret_cast<const int16_t*>(b.u16.data()), b.u16.size()));
  });
  // No bit above 12 anywhere: the whole buffer is scanned.
  RegisterKernel("HasBitsAboveU16/simd",
                 [](KernelBuffers& b) { benchmark::DoNotOptimize(HasBitsAboveU16(b.u16.data(), b.u16.size(), 12)); });
  RegisterKernel("HasBitsAboveU16/scalar", [](KernelBuffers& b) {
    benchmark::DoNotOptimize(scalar::HasBitsAboveU16(b.u16.data(), b.u16.size(), 12));
  });
  RegisterKernel("ByteSwap16/simd", [](KernelBuffers& b) { ByteSwap16(b.u16.data(), b.u16_out.data(), b.u16.size()); });
  RegisterKernel("ByteSwap16/scalar",
                 [](KernelBuffers& b) { scalar::ByteSwap16(b.u16.data(), b.u16_out.data(), b.u16.size()); });
  RegisterKernel("InterleavedToPlanar3x8/simd",
                 [](KernelBuffers& b) { InterleavedToPlanar3x8(b.u8_in.data(), b.u8_out.data(), b.u8_in.size() / 3); });
  RegisterKernel("InterleavedToPlanar3x8/scalar", [](KernelBuffers& b) {
    scalar::InterleavedToPlanar3x8(b.u8_in.data(), b.u8_out.data(), b.u8_in.size() / 3);
  });
  RegisterKernel("PlanarToInterleaved3x8/simd",
                 [](KernelBuffers& b) { PlanarToInterleaved3x8(b.u8_in.data(), b.u8_out.data(), b.u8_in.size() / 3); });
  RegisterKernel("PlanarToInterleaved3x8/scalar", [](KernelBuffers& b) {
    scalar::PlanarToInterleaved3x8(b.u8_in.data(), b.u8_out.data(), b.u8_in.size() / 3);
  });
  RegisterKernel("U16ToI32Signed/simd",
                 [](KernelBuffers& b) { U16ToI32(b.u16.data(), b.i32.data(), b.u16.size(), 12, true); });
  RegisterKernel("U16ToI32Signed/scalar",
                 [](KernelBuffers& b) { scalar::U16ToI32(b.u16.data(), b.i32.data(), b.u16.size(), 12, true); });
  RegisterKernel("I32ToU16/simd", [](KernelBuffers& b) { I32ToU16(b.i32.data(), b.u16_out.data(), b.u16.size(), 12); });
  RegisterKernel("I32ToU16/scalar",
                 [](KernelBuffers& b) { scalar::I32ToU16(b.i32.data(), b.u16_out.data(), b.u16.size(), 12); });
}

void RegisterCodecs(const std::vector<Dataset>& datasets) {
  for (const Dataset& dataset : datasets) {
    if (dataset.frames.empty()) {
      std::fprintf(stderr, "codecs_bench: no frames for %s, skipped\n", dataset.name.c_str());
      continue;
    }
    const Dataset* d = &dataset;
    benchmark::RegisterBenchmark(("Codec/" + d->name + "/memcpy").c_str(), [d](benchmark::State& s) {
      Memcpy(s, *d);
    })->Unit(benchmark::kMillisecond);
    for (CodecId id : {CodecId::kJpegLs, CodecId::kJ2k, CodecId::kHtj2k}) {
      for (bool rct : {false, true}) {
        // The colour transform only exists for three samples and JPEG 2000.
        if (rct && (id == CodecId::kJpegLs || d->info.samples_per_pixel != 3)) continue;
        const CodecOptions options{.rgb_colour_transform = rct};
        const std::string codec = std::string(CodecName(id)) + (rct ? "_rct" : "");
        benchmark::RegisterBenchmark(("Codec/" + d->name + "/" + codec + "/encode").c_str(), [d, id, options](
                                                                                                 benchmark::State& s) {
          Encode(s, *d, id, options);
        })->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("Codec/" + d->name + "/" + codec + "/decode").c_str(), [d, id, options](
                                                                                                 benchmark::State& s) {
          Decode(s, *d, id, options);
        })->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace
}  // namespace pacs::codecs

int main(int argc, char** argv) {
  using namespace pacs::codecs;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  static const std::vector<Dataset> datasets = {
      LoadNative("CT", "dcm_qa_ct/philips_ct_140_slices/", 20),
      LoadNative("MR", "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22/", 20),
      LoadJpegLsFile("CR", "nema_wg04/RG2/RG2_JLSL.dcm"),
      LoadNative("DX", "highdicom/", 1),
      LoadNative("US_RGB", "nema_wg04/US1/", 1),
      LoadNative("US_8frames", "dicomparser/", 8),
  };
  benchmark::AddCustomContext("simd_target", KernelTargetName());
  for (const auto& d : datasets)
    benchmark::AddCustomContext(
        "dataset_" + d.name, std::to_string(d.frames.size()) + " frames of " + std::to_string(d.info.columns) + "x" +
                                 std::to_string(d.info.rows) + "x" + std::to_string(d.info.samples_per_pixel) + ", " +
                                 std::to_string(d.info.bits_stored) + "/" + std::to_string(d.info.bits_allocated) +
                                 " bits");
  RegisterCodecs(datasets);
  RegisterKernels();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
