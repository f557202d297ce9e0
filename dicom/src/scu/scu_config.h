// Settings shared by the C-STORE, C-FIND and C-GET clients (store_scu.cpp,
// query_scu.cpp). Private to dicom/src/scu: the public headers stay free of
// DCMTK.
#pragma once

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/scu.h"
#include "pacs/dicom/store_scu.h"

namespace pacs::dicom {

// AE titles, address, PDU size and timeouts of every client association.
void ConfigureScu(DcmSCU& scu, const ScuPeer& peer);

}  // namespace pacs::dicom
