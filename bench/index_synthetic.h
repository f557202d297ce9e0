// File: index_synthetic.h
// A deterministic synthetic archive for the query index benchmarks: every
// attribute is a function of the study number, so the generator and the
// latency driver agree on which keys exist without sharing a file.
// Defaults: 20,000 patients, 200,000 studies, ~1,000,000 instances, dates
// over ten years (2015-2024), a mix of modalities, surnames drawn so that
// `SMI*` matches more than 1% of patients.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace pacs::bench {

inline uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct Weighted {
  const char* value;
  unsigned weight;
};

// Surnames with weights per 1,000 patients: SMITH, SMIRNOV and SMIDT make
// SMI* about 2.1% of patients.
inline const std::vector<Weighted>& Surnames() {
  static const std::vector<Weighted> kSurnames = {
      {"SMITH", 15},    {"SMIRNOV", 4},   {"SMIDT", 2},     {"JOHNSON", 12},   {"WILLIAMS", 11}, {"BROWN", 10},
      {"JONES", 10},    {"GARCIA", 9},    {"MILLER", 9},    {"DAVIS", 9},      {"RODRIGUEZ", 8}, {"MARTINEZ", 8},
      {"HERNANDEZ", 8}, {"LOPEZ", 8},     {"GONZALEZ", 8},  {"WILSON", 8},     {"ANDERSON", 8},  {"THOMAS", 8},
      {"TAYLOR", 8},    {"MOORE", 7},     {"JACKSON", 7},   {"MARTIN", 7},     {"LEE", 7},       {"PEREZ", 7},
      {"THOMPSON", 7},  {"WHITE", 7},     {"HARRIS", 7},    {"SANCHEZ", 7},    {"CLARK", 7},     {"RAMIREZ", 7},
      {"LEWIS", 7},     {"ROBINSON", 7},  {"WALKER", 7},    {"YOUNG", 7},      {"ALLEN", 7},     {"KING", 7},
      {"WRIGHT", 7},    {"SCOTT", 7},     {"TORRES", 7},    {"NGUYEN", 7},     {"HILL", 7},      {"FLORES", 7},
      {"GREEN", 7},     {"ADAMS", 7},     {"NELSON", 7},    {"BAKER", 7},      {"HALL", 7},      {"RIVERA", 7},
      {"CAMPBELL", 7},  {"MITCHELL", 7},  {"CARTER", 7},    {"ROBERTS", 7},    {"MUELLER", 7},   {"SCHMIDT", 7},
      {"SCHNEIDER", 7}, {"FISCHER", 7},   {"WEBER", 7},     {"MEYER", 7},      {"WAGNER", 7},    {"BECKER", 7},
      {"SCHULZ", 7},    {"HOFFMANN", 7},  {"DUPONT", 7},    {"DURAND", 7},     {"LEROY", 7},     {"MOREAU", 7},
      {"SIMON", 7},     {"LAURENT", 7},   {"LEFEBVRE", 7},  {"MICHEL", 7},     {"ROSSI", 7},     {"RUSSO", 7},
      {"FERRARI", 7},   {"ESPOSITO", 7},  {"BIANCHI", 7},   {"ROMANO", 7},     {"COLOMBO", 7},   {"RICCI", 7},
      {"IVANOV", 7},    {"PETROV", 7},    {"SIDOROV", 7},   {"KUZNETSOV", 7},  {"POPOV", 7},     {"VASILIEV", 7},
      {"NOVAK", 7},     {"KOWALSKI", 7},  {"NOWAK", 7},     {"WISNIEWSKI", 7}, {"DABROWSKI", 7}, {"LEWANDOWSKI", 7},
      {"TANAKA", 7},    {"SUZUKI", 7},    {"TAKAHASHI", 7}, {"WATANABE", 7},   {"ITO", 7},       {"YAMAMOTO", 7},
      {"NAKAMURA", 7},  {"KOBAYASHI", 7}, {"KATO", 7},      {"KIM", 7},        {"PARK", 7},      {"CHOI", 7},
      {"WANG", 7},      {"LI", 7},        {"ZHANG", 7},     {"LIU", 7},        {"CHEN", 7},      {"YANG", 7},
      {"HUANG", 7},     {"ZHAO", 7},      {"WU", 7},        {"ZHOU", 7},       {"XU", 7},        {"SUN", 7},
      {"ANDERSEN", 7},  {"NIELSEN", 7},   {"HANSEN", 7},    {"PEDERSEN", 7},   {"LARSEN", 7},    {"JENSEN", 7},
      {"OLSEN", 7},     {"BERG", 7},      {"LINDQVIST", 7}, {"NILSSON", 7},    {"ERIKSSON", 7},  {"KARLSSON", 7},
      {"SILVA", 7},     {"SANTOS", 7},    {"OLIVEIRA", 7},  {"SOUZA", 7},      {"COSTA", 7},     {"PEREIRA", 7},
  };
  return kSurnames;
}

inline const char* Pick(const std::vector<Weighted>& table, uint64_t h) {
  unsigned total = 0;
  for (const auto& w : table) total += w.weight;
  if (total == 0) return "";
  auto x = static_cast<unsigned>(h % total);
  for (const auto& w : table) {
    if (x < w.weight) return w.value;
    x -= w.weight;
  }
  return table.back().value;
}

inline const std::vector<Weighted>& Modalities() {
  static const std::vector<Weighted> kModalities = {{"CT", 30}, {"MR", 20}, {"CR", 18}, {"US", 10}, {"DX", 10},
                                                    {"MG", 6},  {"PT", 3},  {"NM", 2},  {"XA", 1}};
  return kModalities;
}

inline const char* SopClassFor(const std::string& modality) {
  if (modality == "CT") return "1.2.840.10008.5.1.4.1.1.2";
  if (modality == "MR") return "1.2.840.10008.5.1.4.1.1.4";
  if (modality == "CR") return "1.2.840.10008.5.1.4.1.1.1";
  if (modality == "US") return "1.2.840.10008.5.1.4.1.1.6.1";
  if (modality == "DX") return "1.2.840.10008.5.1.4.1.1.1.1";
  if (modality == "MG") return "1.2.840.10008.5.1.4.1.1.1.2";
  if (modality == "PT") return "1.2.840.10008.5.1.4.1.1.128";
  if (modality == "NM") return "1.2.840.10008.5.1.4.1.1.20";
  return "1.2.840.10008.5.1.4.1.1.12.1";
}

struct SyntheticSeries {
  std::string uid;
  std::string modality;
  int number = 0;
  int instances = 0;
};

struct SyntheticStudy {
  uint64_t index = 0;
  uint64_t patient = 0;
  std::string patient_id, patient_name, birth_date, sex;
  std::string study_uid, accession, date, time, description;
  std::vector<SyntheticSeries> series;
};

class SyntheticArchive {
 public:
  static constexpr const char* kUidRoot = "1.2.826.0.1.3680043.10.1043";
  explicit SyntheticArchive(uint64_t patients = 20000, uint64_t studies = 200000)
      : patients_(patients), studies_(studies) {}
  uint64_t patients() const { return patients_; }
  uint64_t studies() const { return studies_; }

  static std::string PatientId(uint64_t p) { return Format("PID%07llu", p); }
  static std::string Surname(uint64_t p) { return Pick(Surnames(), Mix(p * 3 + 1)); }

  SyntheticStudy Study(uint64_t i) const {
    SyntheticStudy s;
    s.index = i;
    const uint64_t h = Mix(i);
    // Each patient gets studies/patients studies; 7919 is prime, so the
    // mapping cycles through every patient.
    s.patient = (i * 7919) % patients_;
    s.patient_id = PatientId(s.patient);
    static const char* kGiven[] = {"JOHN", "MARY", "ANNA", "PETER", "LUCA", "YUKI", "WEI", "OLGA", "JAN", "SARA"};
    s.patient_name = Surname(s.patient) + "^" + kGiven[Mix(s.patient * 3 + 2) % 10];
    s.birth_date = Format("%04llu", 1930 + Mix(s.patient) % 80) + Format("%02llu", 1 + Mix(s.patient + 7) % 12) +
                   Format("%02llu", 1 + Mix(s.patient + 9) % 28);
    s.sex = (Mix(s.patient + 5) & 1) ? "F" : "M";
    s.study_uid = std::string(kUidRoot) + ".1." + std::to_string(i + 1);
    s.accession = Format("A%09llu", i + 1);
    s.date = DateFromDay(h % 3652);
    s.time = Format("%02llu", 7 + (h >> 20) % 12) + Format("%02llu", (h >> 28) % 60) + "00";
    const std::string modality = Pick(Modalities(), h >> 32);
    s.description = modality + " EXAM";
    const int n_series = 1 + static_cast<int>((h >> 40) % 3);
    for (int j = 0; j < n_series; ++j) {
      SyntheticSeries e;
      e.uid = s.study_uid + "." + std::to_string(j + 1);
      e.modality = modality;
      e.number = j + 1;
      e.instances = 1 + static_cast<int>(Mix(h + j) % 4);
      s.series.push_back(e);
    }
    return s;
  }

  static std::string InstanceUid(const SyntheticSeries& e, int k) { return e.uid + "." + std::to_string(k + 1); }

  // Day 0 is 2015-01-01.
  static std::string DateFromDay(uint64_t day) {
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = 2015, m = 0;
    auto leap = [](int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; };
    while (true) {
      const int year_days = leap(y) ? 366 : 365;
      if (day < static_cast<uint64_t>(year_days)) break;
      day -= year_days;
      ++y;
    }
    while (true) {
      const int md = kDays[m] + (m == 1 && leap(y) ? 1 : 0);
      if (day < static_cast<uint64_t>(md)) break;
      day -= md;
      ++m;
    }
    return Format("%04llu", static_cast<unsigned long long>(y)) + Format("%02llu", m + 1ull) +
           Format("%02llu", day + 1);
  }

 private:
  static std::string Format(const char* fmt, unsigned long long v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, v);
    return buf;
  }
  uint64_t patients_, studies_;
};

}  // namespace pacs::bench
