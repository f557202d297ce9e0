// File: negotiation.h
// Which presentation contexts the DICOM node accepts, and in which transfer
// syntax: the services' SOP classes (verification, query/retrieve, Storage
// Commitment Push Model) in an uncompressed syntax, every storage SOP class
// in the best syntax offered (with the SCP role for C-GET).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "access_control.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "pacs/dicom/query.h"

namespace pacs::dicom::scp {

// An accepted presentation context for a storage SOP class.
struct StorageContext {
  T_ASC_PresentationContextID id = 0;
  std::string sop_class_uid;
  std::string transfer_syntax_uid;
};

// Accepts or refuses each presentation context of an association request.
// DCMTK's association profiles hold at most 128 contexts, fewer than the
// storage SOP classes we accept, so the contexts are negotiated here.
// `permits` says which services the requester may use (access_control.h):
// the contexts of the others are refused (user rejection) and their
// services named in `refused` ("find, move"). A storage context is the
// store service, or C-GET's when the requester proposes the SCP role.
OFCondition NegotiatePresentationContexts(T_ASC_Parameters* params, const std::function<bool(AccessService)>& permits,
                                          std::string& refused);

// The storage contexts accepted on an association (where C-GET sends).
std::vector<StorageContext> AcceptedStorageContexts(T_ASC_Parameters* params);

bool IsStorageSopClass(const std::string& uid);

// The information model of a C-FIND/C-MOVE/C-GET SOP class.
InformationModel ModelOf(const std::string& sop_class);

}  // namespace pacs::dicom::scp
