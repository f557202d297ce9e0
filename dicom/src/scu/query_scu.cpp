// The C-FIND and C-GET clients behind query_scu.h; DCMTK stays inside this
// file like in store_scu.cpp.
#include "pacs/dicom/query_scu.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dctag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scu.h"
#include "scu_config.h"

namespace pacs::dicom {
namespace {

constexpr size_t kMaxStorageContexts = 127;  // plus the C-GET context: DCMTK's limit of 128

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::string StatusText(Uint16 status) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04X", status);
  return hex;
}

bool BuildFind(const FindQuery& q, DcmDataset& ds, std::string& error) {
  ds.putAndInsertString(DCM_QueryRetrieveLevel, q.level.c_str());
  for (const auto& [keyword, value] : q.keys) {
    DcmTag tag;
    if (DcmTag::findTagFromName(keyword.c_str(), tag).bad()) {
      error = "unknown DICOM keyword " + keyword;
      return false;
    }
    ds.putAndInsertString(tag, value.c_str());
  }
  return true;
}

// Receives the C-STORE sub-operations of a C-GET into memory and counts them.
class CountingGetScu : public DcmSCU {
 public:
  uint64_t instances = 0;
  uint64_t bytes = 0;

 protected:
  OFCondition handleSTORERequest(const T_ASC_PresentationContextID /*presID*/, DcmDataset* incoming,
                                 OFBool& continue_session, Uint16& status) override {
    std::unique_ptr<DcmDataset> dataset(incoming);
    continue_session = OFTrue;
    status = STATUS_Success;
    if (dataset) {
      ++instances;
      bytes += dataset->getLength(dataset->getOriginalXfer(), EET_ExplicitLength);
    }
    return EC_Normal;
  }
};

}  // namespace

namespace {

// A Study/Patient Root C-FIND association, or null with `error` set.
std::unique_ptr<DcmSCU> OpenFind(const ScuPeer& peer, std::string& error) {
  auto scu = std::make_unique<DcmSCU>();
  ConfigureScu(*scu, peer);
  scu->addPresentationContext(UID_FINDPatientRootQueryRetrieveInformationModel, PlainSyntaxes());
  scu->addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, PlainSyntaxes());
  OFCondition cond = scu->initNetwork();
  if (cond.good()) cond = scu->negotiateAssociation();
  if (cond.bad()) {
    error = std::string("association failed: ") + cond.text();
    return nullptr;
  }
  return scu;
}

// One C-FIND on `scu`, timed from `start` (so that the caller may count an
// association set-up in it), the association released and closed after it
// when `release`. `scu` is reset when the association is gone.
RequestTiming TimedFind(std::unique_ptr<DcmSCU>& scu, const FindQuery& q, DcmDataset& keys,
                        std::chrono::steady_clock::time_point start, bool release) {
  RequestTiming t;
  const char* model = q.patient_root ? UID_FINDPatientRootQueryRetrieveInformationModel
                                     : UID_FINDStudyRootQueryRetrieveInformationModel;
  const T_ASC_PresentationContextID pc = scu->findAnyPresentationContextID(model, "");
  OFList<QRResponse*> responses;
  OFCondition cond =
      pc == 0 ? OFCondition(DIMSE_NOVALIDPRESENTATIONCONTEXTID) : scu->sendFINDRequest(pc, &keys, &responses);
  if (release) {
    scu->releaseAssociation();
    scu.reset();
  }
  t.ms = MsSince(start);
  Uint16 final_status = 0xFFFF;
  for (QRResponse* r : responses) {
    if (r->m_status == STATUS_Pending || r->m_status == STATUS_FIND_Pending_WarningUnsupportedOptionalKeys)
      ++t.matches;
    else
      final_status = r->m_status;
    delete r;
  }
  if (cond.bad()) {
    t.error = std::string("C-FIND failed: ") + cond.text();
    scu.reset();  // the association is gone; the next query opens another
  } else if (final_status != STATUS_Success) {
    t.error = "C-FIND ended with status " + StatusText(final_status);
  }
  return t;
}

}  // namespace

std::vector<RequestTiming> RunFinds(const ScuPeer& peer, const std::vector<FindQuery>& queries,
                                    bool association_per_query) {
  std::vector<RequestTiming> timings;
  std::unique_ptr<DcmSCU> scu;
  for (const auto& q : queries) {
    RequestTiming t;
    DcmDataset keys;
    if (!BuildFind(q, keys, t.error)) {
      timings.push_back(t);
      continue;
    }
    if (!association_per_query && !scu) {  // the reused association is opened outside the clock
      scu = OpenFind(peer, t.error);
      if (!scu) {
        timings.push_back(t);
        continue;
      }
    }
    const auto start = std::chrono::steady_clock::now();
    if (association_per_query) {
      scu = OpenFind(peer, t.error);
      if (!scu) {
        timings.push_back(t);
        continue;
      }
    }
    timings.push_back(TimedFind(scu, q, keys, start, association_per_query));
  }
  if (scu && scu->isConnected()) scu->releaseAssociation();
  return timings;
}

void RunFindsInterleaved(const ScuPeer& peer, const std::vector<FindQuery>& queries,
                         std::vector<RequestTiming>& per_query, std::vector<RequestTiming>& reused) {
  std::unique_ptr<DcmSCU> kept;
  for (size_t i = 0; i < queries.size(); ++i) {
    const bool own = i % 2 == 0;
    std::vector<RequestTiming>& out = own ? per_query : reused;
    RequestTiming t;
    DcmDataset keys;
    if (!BuildFind(queries[i], keys, t.error)) {
      out.push_back(t);
      continue;
    }
    if (!own && !kept) {  // opened outside the clock
      kept = OpenFind(peer, t.error);
      if (!kept) {
        out.push_back(t);
        continue;
      }
    }
    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<DcmSCU> fresh;
    if (own) {
      fresh = OpenFind(peer, t.error);
      if (!fresh) {
        t.ms = MsSince(start);
        out.push_back(t);
        continue;
      }
    }
    out.push_back(TimedFind(own ? fresh : kept, queries[i], keys, start, own));
  }
  if (kept && kept->isConnected()) kept->releaseAssociation();
}

std::vector<RequestTiming> RunGets(const ScuPeer& peer, const std::vector<GetRequest>& requests,
                                   const std::vector<std::pair<std::string, std::string>>& storage, int associations,
                                   double& wall_seconds) {
  std::vector<RequestTiming> timings(requests.size());
  associations = std::max(1, associations);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(associations));
  for (int w = 0; w < associations; ++w) {
    threads.emplace_back([&, w] {
      CountingGetScu scu;
      ConfigureScu(scu, peer);
      scu.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, PlainSyntaxes());
      for (size_t i = 0; i < storage.size() && i < kMaxStorageContexts; ++i) {
        OFList<OFString> syntax;
        syntax.emplace_back(storage[i].second.c_str());
        scu.addPresentationContext(storage[i].first, syntax, ASC_SC_ROLE_SCP);
      }
      OFCondition cond = scu.initNetwork();
      if (cond.good()) cond = scu.negotiateAssociation();
      const T_ASC_PresentationContextID pc =
          cond.good() ? scu.findAnyPresentationContextID(UID_GETStudyRootQueryRetrieveInformationModel, "") : 0;
      for (auto i = static_cast<size_t>(w); i < requests.size(); i += static_cast<size_t>(associations)) {
        RequestTiming& t = timings[i];
        if (cond.bad() || pc == 0) {
          t.error = cond.bad() ? std::string("association failed: ") + cond.text()
                               : std::string("the peer did not accept Study Root C-GET");
          continue;
        }
        DcmDataset keys;
        keys.putAndInsertString(DCM_QueryRetrieveLevel, requests[i].series_uid.empty() ? "STUDY" : "SERIES");
        keys.putAndInsertString(DCM_StudyInstanceUID, requests[i].study_uid.c_str());
        if (!requests[i].series_uid.empty())
          keys.putAndInsertString(DCM_SeriesInstanceUID, requests[i].series_uid.c_str());
        const uint64_t instances_before = scu.instances, bytes_before = scu.bytes;
        OFList<RetrieveResponse*> responses;
        const auto request_start = std::chrono::steady_clock::now();
        cond = scu.sendCGETRequest(pc, &keys, &responses);
        t.ms = MsSince(request_start);
        t.matches = scu.instances - instances_before;
        t.bytes = scu.bytes - bytes_before;
        Uint16 final_status = 0xFFFF;
        for (RetrieveResponse* r : responses) {
          if (r->m_status != STATUS_Pending) final_status = r->m_status;
          delete r;
        }
        if (cond.bad())
          t.error = std::string("C-GET failed: ") + cond.text();
        else if (final_status != STATUS_Success)
          t.error = "C-GET ended with status " + StatusText(final_status);
      }
      if (scu.isConnected()) scu.releaseAssociation();
    });
  }
  for (auto& t : threads) t.join();
  wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return timings;
}

}  // namespace pacs::dicom
