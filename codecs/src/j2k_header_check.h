// Checks a JPEG 2000 codestream's headers against the ranges of ISO/IEC
// 15444-1 Annex A before a decoder that trusts them sees the bytes.
// OpenJPH 0.9.0 (Debian builds it with assertions on) divides by a zero tile
// size while reading the main header and assert()s on out-of-range code-block
// exponents, quantisation styles and tile-part markers it does not handle:
// none of it can be caught, so the HTJ2K wrapper calls this first.
#pragma once

#include <cstdint>
#include <span>

#include "pacs/base/result.h"

namespace pacs::codecs::internal {

// Walks SOC, the main header (SIZ first, COD and QCD required, COC/QCC
// checked as COD/QCD) and every tile-part header up to its SOD. Refuses, as
// Corruption naming the marker and the value: sizes and counts outside the
// standard's ranges, more than 65,535 tiles, a transform other than the
// reversible 5/3 (lossless), quantisation other than "none" (what reversible
// coding writes), magnitudes above 31 bits, and in tile-part headers any
// marker but PLT and COM (OpenJPH 0.9 reads coding parameters from the main
// header only). The packet data itself is the decoder's to check.
Status CheckJ2kHeaders(std::span<const uint8_t> cs);

}  // namespace pacs::codecs::internal
