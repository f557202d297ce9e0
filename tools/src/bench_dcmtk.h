// File: bench_dcmtk.h
// DCMTK pieces shared by the bench's C-STORE and query/retrieve clients.
// Private to bench_scu.cpp and bench_qr.cpp: the bench's public headers stay
// free of DCMTK.
#pragma once

#include "bench_scu.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/scu.h"

namespace pacs::tools::bench {

// AE titles, address, PDU size and timeouts of every bench association.
void ConfigureScu(DcmSCU& scu, const PushTarget& target);

}  // namespace pacs::tools::bench
