// Settings shared by our client associations: the C-STORE, C-FIND, C-GET
// and Storage Commitment clients (dicom/src/scu/) and the Storage Commitment
// report association (scp/commitment_scp.cpp). Private to dicom/src: the
// public headers stay free of DCMTK.
#pragma once

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/scu.h"
#include "pacs/dicom/store_scu.h"

namespace pacs::dicom {

// AE titles, address, PDU size and timeouts of every client association.
void ConfigureScu(DcmSCU& scu, const ScuPeer& peer);

// Explicit and Implicit VR Little Endian: the transfer syntaxes proposed for
// every context that carries no pixel data.
OFList<OFString> PlainSyntaxes();

}  // namespace pacs::dicom
