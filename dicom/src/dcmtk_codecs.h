// DCMTK's JPEG and RLE encoders and decoders (never dcmjpls: its private
// CharLS exports the same symbols as the real one), registered once per
// process, for the transcoder and for decoding received pixel data.
#pragma once

namespace pacs::dicom {

void RegisterDcmtkCodecs();

}  // namespace pacs::dicom
