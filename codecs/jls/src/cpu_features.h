// File: cpu_features.h
// The choice between the portable line loops of the encoder and decoder and
// their BMI2 variant: whether this build has that variant, whether the CPU
// runs it, and whether the environment asks for the portable loops.
#pragma once

// The BMI2 variant: x86-64 with GCC or clang, whose `target` attribute
// compiles one function (and what it inlines) for more instructions than
// the rest of the build.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PACS_JLS_BMI2_VARIANT 1
#else
#define PACS_JLS_BMI2_VARIANT 0
#endif

namespace pacs::jls::internal {

// Whether the CPU has BMI1, BMI2 and LZCNT (cpuid, asked once); false
// without the variant.
bool CpuHasBmi2Variant();

// Whether the environment variable `name` is "portable".
bool EnvironmentAsksPortable(const char* name);

}  // namespace pacs::jls::internal
