#include "negotiation.h"

#include <algorithm>

#include "dcmtk/dcmdata/dcuid.h"

namespace pacs::dicom::scp {
namespace {

// Preference order when a peer offers several syntaxes in one context:
// lossless compressed (kept as received), then uncompressed, then lossy
// (accepted only when nothing else is offered, and stored as received).
const char* const kStorageTransferSyntaxes[] = {
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_LittleEndianExplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG2MainProfileAtHighLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
    UID_MPEG4BDcompatibleHighProfileLevel4_1TransferSyntax,
    UID_MPEG4HighProfileLevel4_2_For2DVideoTransferSyntax,
    UID_MPEG4HighProfileLevel4_2_For3DVideoTransferSyntax,
    UID_MPEG4StereoHighProfileLevel4_2TransferSyntax,
    UID_HEVCMainProfileLevel5_1TransferSyntax,
    UID_HEVCMain10ProfileLevel5_1TransferSyntax,
};

const char* const kPlainTransferSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
};

const char* const kServiceSopClasses[] = {
    UID_VerificationSOPClass,
    UID_FINDPatientRootQueryRetrieveInformationModel,
    UID_FINDStudyRootQueryRetrieveInformationModel,
    UID_MOVEPatientRootQueryRetrieveInformationModel,
    UID_MOVEStudyRootQueryRetrieveInformationModel,
    UID_GETPatientRootQueryRetrieveInformationModel,
    UID_GETStudyRootQueryRetrieveInformationModel,
    UID_StorageCommitmentPushModelSOPClass,
};

template <size_t N>
std::string FirstOf(const char* const (&preferred)[N], const std::vector<std::string>& offered) {
  for (const char* ts : preferred)
    if (std::find(offered.begin(), offered.end(), ts) != offered.end()) return ts;
  return {};
}

bool IsServiceSopClass(const std::string& uid) {
  return std::find(std::begin(kServiceSopClasses), std::end(kServiceSopClasses), uid) != std::end(kServiceSopClasses);
}

// The service a context of one of kServiceSopClasses is for.
AccessService ServiceOf(const std::string& uid) {
  if (uid == UID_VerificationSOPClass) return AccessService::kEcho;
  if (uid == UID_FINDPatientRootQueryRetrieveInformationModel || uid == UID_FINDStudyRootQueryRetrieveInformationModel)
    return AccessService::kFind;
  if (uid == UID_MOVEPatientRootQueryRetrieveInformationModel || uid == UID_MOVEStudyRootQueryRetrieveInformationModel)
    return AccessService::kMove;
  if (uid == UID_GETPatientRootQueryRetrieveInformationModel || uid == UID_GETStudyRootQueryRetrieveInformationModel)
    return AccessService::kGet;
  return AccessService::kCommit;
}

// "find, move": the services in `refused`, each once, in the order first refused.
std::string Names(const std::vector<AccessService>& refused) {
  std::string out;
  for (size_t i = 0; i < refused.size(); ++i) {
    if (std::find(refused.begin(), refused.begin() + static_cast<std::ptrdiff_t>(i), refused[i]) !=
        refused.begin() + static_cast<std::ptrdiff_t>(i))
      continue;
    if (!out.empty()) out += ", ";
    out += AccessServiceName(refused[i]);
  }
  return out;
}

}  // namespace

bool IsStorageSopClass(const std::string& uid) {
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
    if (uid == dcmAllStorageSOPClassUIDs[i]) return true;
  return false;
}

InformationModel ModelOf(const std::string& sop_class) {
  return sop_class == UID_FINDPatientRootQueryRetrieveInformationModel ||
                 sop_class == UID_MOVEPatientRootQueryRetrieveInformationModel ||
                 sop_class == UID_GETPatientRootQueryRetrieveInformationModel
             ? InformationModel::kPatientRoot
             : InformationModel::kStudyRoot;
}

OFCondition NegotiatePresentationContexts(T_ASC_Parameters* params, const std::function<bool(AccessService)>& permits,
                                          std::string& refused) {
  std::vector<AccessService> refused_services;
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
    const std::string abstract = pc.abstractSyntax;
    std::vector<std::string> offered(pc.proposedTransferSyntaxes, pc.proposedTransferSyntaxes + pc.transferSyntaxCount);
    OFCondition cond = EC_Normal;
    const bool get_receiver = pc.proposedRole == ASC_SC_ROLE_SCP || pc.proposedRole == ASC_SC_ROLE_SCUSCP;
    const bool storage = IsStorageSopClass(abstract);
    if (IsServiceSopClass(abstract) && !permits(ServiceOf(abstract))) {
      refused_services.push_back(ServiceOf(abstract));
      cond = ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_USERREJECTION);
    } else if (storage && !permits(AccessService::kStore) && !(get_receiver && permits(AccessService::kGet))) {
      refused_services.push_back(AccessService::kStore);
      cond = ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_USERREJECTION);
    } else if (IsServiceSopClass(abstract)) {
      const std::string ts = FirstOf(kPlainTransferSyntaxes, offered);
      cond = ts.empty()
                 ? ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_TRANSFERSYNTAXESNOTSUPPORTED)
                 : ASC_acceptPresentationContext(params, pc.presentationContextID, ts.c_str());
    } else if (storage) {
      // A requester that proposes the SCP role wants C-GET sub-operations on
      // this context; the same preference serves it, since the transcoder
      // writes every lossless syntax we prefer.
      const std::string ts = FirstOf(kStorageTransferSyntaxes, offered);
      cond = ts.empty()
                 ? ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_TRANSFERSYNTAXESNOTSUPPORTED)
                 : ASC_acceptPresentationContext(params, pc.presentationContextID, ts.c_str(),
                                                 get_receiver ? ASC_SC_ROLE_SCUSCP : ASC_SC_ROLE_DEFAULT);
    } else {
      cond = ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
    }
    if (cond.bad()) return cond;
  }
  refused = Names(refused_services);
  return EC_Normal;
}

std::vector<StorageContext> AcceptedStorageContexts(T_ASC_Parameters* params) {
  std::vector<StorageContext> out;
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).bad() || pc.resultReason != ASC_P_ACCEPTANCE) continue;
    if (IsStorageSopClass(pc.abstractSyntax))
      out.push_back({pc.presentationContextID, pc.abstractSyntax, pc.acceptedTransferSyntax});
  }
  return out;
}

}  // namespace pacs::dicom::scp
