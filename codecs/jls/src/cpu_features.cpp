#include "cpu_features.h"

#include <cstdlib>
#include <string_view>

#if PACS_JLS_BMI2_VARIANT
#include <cpuid.h>
#endif

namespace pacs::jls::internal {
namespace {

bool DetectBmi2Variant() {
#if PACS_JLS_BMI2_VARIANT
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool bmi1 = (ebx & (1u << 3)) != 0, bmi2 = (ebx & (1u << 8)) != 0;
  if (__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool lzcnt = (ecx & (1u << 5)) != 0;
  return bmi1 && bmi2 && lzcnt;
#else
  return false;
#endif
}

}  // namespace

bool CpuHasBmi2Variant() {
  static const bool has = DetectBmi2Variant();
  return has;
}

bool EnvironmentAsksPortable(const char* name) {
  const char* choice = std::getenv(name);
  return choice != nullptr && std::string_view(choice) == "portable";
}

}  // namespace pacs::jls::internal
