#include "j2k_header_check.h"

#include <optional>
#include <string>

namespace pacs::codecs::internal {
namespace {

constexpr uint16_t kSoc = 0xFF4F, kSiz = 0xFF51, kCod = 0xFF52, kCoc = 0xFF53, kQcd = 0xFF5C, kQcc = 0xFF5D,
                   kSot = 0xFF90, kSod = 0xFF93, kEoc = 0xFFD9, kPlt = 0xFF58, kCom = 0xFF64;

std::string Hex(uint16_t marker) {
  static const char* digits = "0123456789ABCDEF";
  std::string text = "0x";
  for (int shift = 12; shift >= 0; shift -= 4) text += digits[(marker >> shift) & 0xF];
  return text;
}

// Big-endian reads within one marker segment; every read is bounds-checked
// by the caller through `Need`.
class Segment {
 public:
  explicit Segment(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  size_t size() const { return bytes_.size(); }
  uint8_t u8(size_t at) const { return bytes_[at]; }
  uint16_t u16(size_t at) const { return static_cast<uint16_t>(bytes_[at] << 8 | bytes_[at + 1]); }
  uint32_t u32(size_t at) const { return static_cast<uint32_t>(u16(at)) << 16 | u16(at + 2); }

 private:
  std::span<const uint8_t> bytes_;
};

Status Refuse(const std::string& what) {
  return Status::Corruption("JPEG 2000 codestream " + what);
}

struct Coding {
  uint32_t levels = 0;
};

// SPcod / SPcoc from `at`: levels, code-block size and style, transform,
// precinct sizes when `precincts`.
Result<Coding> CheckCodingStyle(const Segment& s, size_t at, bool precincts, const char* marker) {
  if (s.size() < at + 5) return Refuse(std::string(marker) + " segment is too short");
  Coding coding{.levels = s.u8(at)};
  const uint32_t xcb = s.u8(at + 1), ycb = s.u8(at + 2), transform = s.u8(at + 4);
  if (coding.levels > 32)
    return Refuse(std::string(marker) + " has " + std::to_string(coding.levels) + " levels (at most 32)");
  if (xcb > 8 || ycb > 8 || xcb + ycb > 8)
    return Refuse(std::string(marker) + " has code-blocks of 2^" + std::to_string(xcb + 2) + " x 2^" +
                  std::to_string(ycb + 2) + " (at most 2^10 a side and 2^12 in all)");
  if (transform != 1)
    return Refuse(std::string(marker) + " asks for the irreversible 9/7 wavelet; only lossless (5/3) is decoded");
  const size_t expected = at + 5 + (precincts ? coding.levels + 1 : 0);
  if (s.size() != expected)
    return Refuse(std::string(marker) + " segment is " + std::to_string(s.size()) + " bytes, expected " +
                  std::to_string(expected));
  if (precincts)
    for (uint32_t r = 1; r <= coding.levels; ++r) {
      const uint8_t pp = s.u8(at + 5 + r);
      if ((pp & 0x0F) == 0 || (pp >> 4) == 0)
        return Refuse(std::string(marker) + " has a precinct of 2^0 at resolution " + std::to_string(r));
    }
  return coding;
}

// SPqcd / SPqcc from `at` to the end: "no quantisation" (reversible), one
// exponent byte per sub-band, magnitudes within 31 bits.
Status CheckQuantisation(const Segment& s, size_t at, const char* marker) {
  if (s.size() < at + 2) return Refuse(std::string(marker) + " segment is too short");
  const uint8_t sq = s.u8(at);
  if ((sq & 0x1F) != 0)
    return Refuse(std::string(marker) + " has quantisation style " + std::to_string(sq & 0x1F) +
                  "; lossless coding has none (0)");
  const uint32_t guard = sq >> 5;
  const size_t bands = s.size() - at - 1;
  if (bands % 3 != 1 || bands > 3 * 32 + 1)
    return Refuse(std::string(marker) + " has " + std::to_string(bands) + " sub-band exponents");
  for (size_t b = 0; b < bands; ++b) {
    const uint32_t exponent = s.u8(at + 1 + b) >> 3;
    if (guard + exponent > 32 || guard + exponent == 0)
      return Refuse(std::string(marker) + " gives sub-band " + std::to_string(b) + " " + std::to_string(guard) +
                    " guard bits and exponent " + std::to_string(exponent) + " (magnitudes of 1 to 31 bits)");
  }
  return Status::Ok();
}

}  // namespace

Status CheckJ2kHeaders(std::span<const uint8_t> cs) {
  size_t pos = 0;
  const auto marker_at = [&](size_t at) -> std::optional<uint16_t> {
    if (at + 2 > cs.size()) return std::nullopt;
    return static_cast<uint16_t>(cs[at] << 8 | cs[at + 1]);
  };
  // The segment of the marker at `pos`: its bytes after the marker and the
  // length field; advances `pos` past it.
  const auto next_segment = [&](uint16_t marker) -> Result<Segment> {
    if (pos + 4 > cs.size()) return Refuse("ends inside the header at marker " + Hex(marker));
    const auto length = static_cast<size_t>(cs[pos + 2] << 8 | cs[pos + 3]);
    if (length < 2 || pos + 2 + length > cs.size())
      return Refuse("marker " + Hex(marker) + " declares " + std::to_string(length) + " bytes past the end");
    Segment segment(cs.subspan(pos + 4, length - 2));
    pos += 2 + length;
    return segment;
  };

  if (marker_at(0) != kSoc || marker_at(2) != kSiz) return Refuse("does not start with SOC and SIZ");
  pos = 2;
  auto siz = next_segment(kSiz);
  if (!siz.ok()) return siz.status();
  const Segment& s = *siz;
  if (s.size() < 36) return Refuse("SIZ segment is too short");
  const uint32_t x = s.u32(2), y = s.u32(6), x0 = s.u32(10), y0 = s.u32(14);
  const uint32_t tw = s.u32(18), th = s.u32(22), tx0 = s.u32(26), ty0 = s.u32(30);
  const uint32_t components = s.u16(34);
  if (components == 0 || components > 16384 || s.size() != 36 + 3 * size_t{components})
    return Refuse("SIZ has " + std::to_string(components) + " components in " + std::to_string(s.size() + 2) +
                  " bytes");
  if (x <= x0 || y <= y0) return Refuse("SIZ has an empty image area");
  if (tw == 0 || th == 0) return Refuse("SIZ has a tile size of " + std::to_string(tw) + "x" + std::to_string(th));
  if (tx0 > x0 || ty0 > y0 || uint64_t{tx0} + tw <= x0 || uint64_t{ty0} + th <= y0)
    return Refuse("SIZ has a tile grid that does not cover the image origin");
  const uint64_t tiles = ((uint64_t{x} - tx0 + tw - 1) / tw) * ((uint64_t{y} - ty0 + th - 1) / th);
  if (tiles > 65535) return Refuse("SIZ makes " + std::to_string(tiles) + " tiles (at most 65,535)");
  for (uint32_t c = 0; c < components; ++c) {
    const size_t at = 36 + 3 * size_t{c};
    if ((s.u8(at) & 0x7F) > 37 || s.u8(at + 1) == 0 || s.u8(at + 2) == 0)
      return Refuse("SIZ component " + std::to_string(c) + " has precision " + std::to_string((s.u8(at) & 0x7F) + 1) +
                    ", subsampling " + std::to_string(s.u8(at + 1)) + "x" + std::to_string(s.u8(at + 2)));
  }
  const size_t component_bytes = components < 257 ? 1 : 2;

  bool have_cod = false, have_qcd = false;
  for (;;) {  // the main header, up to the first SOT
    const auto marker = marker_at(pos);
    if (!marker) return Refuse("ends inside the main header");
    if (*marker == kSot) break;
    if (*marker < 0xFF30) return Refuse("has " + Hex(*marker) + " where a main header marker belongs");
    auto segment = next_segment(*marker);
    if (!segment.ok()) return segment.status();
    if (*marker == kCod) {
      if (segment->size() < 5) return Refuse("COD segment is too short");
      const uint8_t scod = segment->u8(0);
      if (segment->u8(1) > 4 || segment->u16(2) == 0 || segment->u8(4) > 1)
        return Refuse("COD has progression order " + std::to_string(segment->u8(1)) + ", " +
                      std::to_string(segment->u16(2)) + " layers, colour transform " + std::to_string(segment->u8(4)));
      auto coding = CheckCodingStyle(*segment, 5, (scod & 1) != 0, "COD");
      if (!coding.ok()) return coding.status();
      have_cod = true;
    } else if (*marker == kCoc) {
      if (segment->size() < component_bytes + 1) return Refuse("COC segment is too short");
      auto coding = CheckCodingStyle(*segment, component_bytes + 1, (segment->u8(component_bytes) & 1) != 0, "COC");
      if (!coding.ok()) return coding.status();
    } else if (*marker == kQcd) {
      PACS_RETURN_IF_ERROR(CheckQuantisation(*segment, 0, "QCD"));
      have_qcd = true;
    } else if (*marker == kQcc) {
      PACS_RETURN_IF_ERROR(CheckQuantisation(*segment, component_bytes, "QCC"));
    }
  }
  if (!have_cod || !have_qcd) return Refuse("main header lacks COD or QCD");

  for (int parts = 0; parts < 65536 * 4; ++parts) {  // tile-parts: SOT, header, SOD, data
    const auto marker = marker_at(pos);
    if (!marker || *marker == kEoc) return Status::Ok();  // a truncated last tile is the decoder's to report
    if (*marker != kSot) return Refuse("has " + Hex(*marker) + " where a tile-part (SOT) begins");
    const size_t sot_at = pos;
    auto sot = next_segment(kSot);
    if (!sot.ok()) return sot.status();
    if (sot->size() != 8) return Refuse("SOT segment is " + std::to_string(sot->size() + 2) + " bytes, not 10");
    if (sot->u16(0) >= tiles)
      return Refuse("SOT names tile " + std::to_string(sot->u16(0)) + " of " + std::to_string(tiles));
    const uint32_t psot = sot->u32(2);
    for (;;) {
      const auto inner = marker_at(pos);
      if (!inner) return Refuse("ends inside a tile-part header");
      if (*inner == kSod) break;
      if (*inner != kPlt && *inner != kCom)
        return Refuse("has marker " + Hex(*inner) + " in a tile-part header (only PLT and COM are decoded here)");
      auto skipped = next_segment(*inner);
      if (!skipped.ok()) return skipped.status();
    }
    if (psot == 0) return Status::Ok();  // the last tile-part runs to the end
    if (psot < pos + 2 - sot_at || psot > cs.size() - sot_at)
      return Refuse("SOT declares a tile-part of " + std::to_string(psot) + " bytes");
    pos = sot_at + psot;
  }
  return Refuse("has too many tile-parts");
}

}  // namespace pacs::codecs::internal
