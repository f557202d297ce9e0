#include "pacs/dicom/dataset_compare.h"

#include <string>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcsequen.h"

namespace pacs::dicom {
namespace {

bool Ignored(const DcmTagKey& tag) {
  return tag.getElement() == 0x0000 || tag == DCM_DataSetTrailingPadding;
}

std::vector<DcmElement*> Significant(DcmItem& item) {
  std::vector<DcmElement*> out;
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* e = item.getElement(i);
    if (!Ignored(e->getTag())) out.push_back(e);
  }
  return out;
}

std::string Where(const std::string& path, const DcmTag& tag) {
  return path + tag.toString();
}

// VRs that DCMTK assigns when the encoding did not say (implicit VR): "??"
// for unknown private tags, "xs"/"ox"/... for dictionary entries with a choice.
// Sent again in explicit VR (storescu converts when the SCP prefers it), "??"
// becomes UN and "xs" becomes US or SS: not a difference.
bool EquivalentVr(DcmEVR a, DcmEVR b) {
  auto unknown = [](DcmEVR v) { return v == EVR_UNKNOWN || v == EVR_UNKNOWN2B || v == EVR_UN; };
  auto dictionary_choice = [](DcmEVR v) {
    return v == EVR_xs || v == EVR_lt || v == EVR_ox || v == EVR_px || v == EVR_na || v == EVR_up;
  };
  return a == b || (unknown(a) && unknown(b)) || dictionary_choice(a) || dictionary_choice(b);
}

Status CompareValues(DcmElement& a, DcmElement& b, const std::string& where) {
  const Uint32 len_a = a.getLength(), len_b = b.getLength();
  // A value of odd length (invalid DICOM) is padded to even length by any
  // DCMTK sender, storescu included: the one padding byte is not a difference.
  const bool padded = len_a % 2 == 1 && len_b == len_a + 1;
  if (len_a != len_b && !padded)
    return Status::Corruption(where + ": length " + std::to_string(len_a) + " vs " + std::to_string(len_b));
  if (len_a == 0) return Status::Ok();
  std::vector<char> va(len_a), vb(len_b);
  if (a.getPartialValue(va.data(), 0, len_a).bad() || b.getPartialValue(vb.data(), 0, len_b).bad())
    return Status::Corruption(where + ": value unreadable");
  if (padded) {
    if (vb.back() != '\0' && vb.back() != ' ')
      return Status::Corruption(where + ": odd-length value gained a non-padding byte");
    vb.pop_back();
  }
  if (va != vb) return Status::Corruption(where + ": values differ");
  return Status::Ok();
}

Status ComparePixelSequences(DcmPixelSequence& a, DcmPixelSequence& b, const std::string& where) {
  if (a.card() != b.card())
    return Status::Corruption(where + ": " + std::to_string(a.card()) + " vs " + std::to_string(b.card()) +
                              " fragments");
  for (unsigned long i = 0; i < a.card(); ++i) {
    DcmPixelItem *ia = nullptr, *ib = nullptr;
    if (a.getItem(ia, i).bad() || b.getItem(ib, i).bad()) return Status::Corruption(where + ": fragment unreadable");
    PACS_RETURN_IF_ERROR(CompareValues(*ia, *ib, where + " fragment " + std::to_string(i)));
  }
  return Status::Ok();
}

Status CompareElements(DcmElement& a, DcmElement& b, const std::string& path);

Status CompareItems(DcmItem& a, DcmItem& b, const std::string& path) {
  auto ea = Significant(a), eb = Significant(b);
  size_t i = 0;
  for (; i < ea.size() && i < eb.size(); ++i) {
    if (ea[i]->getTag() != eb[i]->getTag()) {
      const bool a_first = ea[i]->getTag() < eb[i]->getTag();
      return Status::Corruption(Where(path, a_first ? ea[i]->getTag() : eb[i]->getTag()) +
                                (a_first ? ": missing in the second dataset" : ": missing in the first dataset"));
    }
    PACS_RETURN_IF_ERROR(CompareElements(*ea[i], *eb[i], path));
  }
  if (i < ea.size()) return Status::Corruption(Where(path, ea[i]->getTag()) + ": missing in the second dataset");
  if (i < eb.size()) return Status::Corruption(Where(path, eb[i]->getTag()) + ": missing in the first dataset");
  return Status::Ok();
}

Status CompareElements(DcmElement& a, DcmElement& b, const std::string& path) {
  const std::string where = Where(path, a.getTag());
  if (a.ident() == EVR_SQ || b.ident() == EVR_SQ) {
    if (a.ident() != b.ident()) return Status::Corruption(where + ": sequence vs non-sequence");
    auto& sa = static_cast<DcmSequenceOfItems&>(a);
    auto& sb = static_cast<DcmSequenceOfItems&>(b);
    if (sa.card() != sb.card())
      return Status::Corruption(where + ": " + std::to_string(sa.card()) + " vs " + std::to_string(sb.card()) +
                                " items");
    for (unsigned long i = 0; i < sa.card(); ++i)
      PACS_RETURN_IF_ERROR(CompareItems(*sa.getItem(i), *sb.getItem(i), where + "[" + std::to_string(i) + "]."));
    return Status::Ok();
  }
  if (a.ident() == EVR_PixelData && b.ident() == EVR_PixelData) {
    auto& pa = static_cast<DcmPixelData&>(a);
    auto& pb = static_cast<DcmPixelData&>(b);
    DcmPixelSequence *qa = nullptr, *qb = nullptr;
    E_TransferSyntax xa = EXS_Unknown, xb = EXS_Unknown;
    const DcmRepresentationParameter* unused = nullptr;
    pa.getOriginalRepresentationKey(xa, unused);
    pb.getOriginalRepresentationKey(xb, unused);
    const bool enc_a = DcmXfer(xa).isEncapsulated() && pa.getEncapsulatedRepresentation(xa, nullptr, qa).good();
    const bool enc_b = DcmXfer(xb).isEncapsulated() && pb.getEncapsulatedRepresentation(xb, nullptr, qb).good();
    if (enc_a != enc_b) return Status::Corruption(where + ": encapsulated vs native pixel data");
    if (enc_a) return ComparePixelSequences(*qa, *qb, where);
  }
  if (!EquivalentVr(a.getVR(), b.getVR()))
    return Status::Corruption(where + ": VR " + DcmVR(a.getVR()).getVRName() + " vs " + DcmVR(b.getVR()).getVRName());
  return CompareValues(a, b, where);
}

}  // namespace

Status CompareDatasets(DcmItem& expected, DcmItem& actual) {
  return CompareItems(expected, actual, "");
}

}  // namespace pacs::dicom
