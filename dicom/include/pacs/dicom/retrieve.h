// File: retrieve.h
// The sending half of C-MOVE and C-GET: which transfer syntax an instance
// goes out in, building it in that syntax, and the C-STORE association a
// C-MOVE opens to its destination.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "pacs/base/result.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

// A C-MOVE destination from `serve --peer NAME=AET@HOST:PORT`.
struct PeerAddress {
  std::string name;
  std::string ae_title;
  std::string host;
  uint16_t port = 0;
};
Result<PeerAddress> ParsePeer(std::string_view text);

// Transfer syntaxes `record` can be sent in, best first: the syntax it is
// stored in when that is a compressed one DCMTK can send, the one it arrived
// in, then the uncompressed ones. Filtered by CanProduce.
std::vector<std::string> RetrievalSyntaxes(const engine::InstanceRecord& record);

// Whether BuildForTransfer can produce `transfer_syntax` for `record`
// losslessly (or pass a lossy codestream through unchanged).
bool CanProduce(const engine::InstanceRecord& record, const std::string& transfer_syntax);

// Of the syntaxes a peer accepted, the one to send `record` in, or "" when none.
std::string ChooseSyntax(const engine::InstanceRecord& record, const std::vector<std::string>& accepted);

// The instance, ready to be written in `transfer_syntax`.
Result<std::unique_ptr<DcmFileFormat>> BuildForTransfer(const engine::Store& store,
                                                        const engine::InstanceRecord& record,
                                                        const std::string& transfer_syntax);

// Sub-operation bookkeeping of one C-MOVE / C-GET.
struct SubOperations {
  uint32_t remaining = 0;
  uint32_t completed = 0;
  uint32_t failed = 0;
  uint32_t warning = 0;
  std::vector<std::string> failed_uids;  // SOP Instance UIDs that failed
  // A DIMSE status word for the counts in the C-MOVE/C-GET response (they are
  // 16 bits wide; larger retrievals report 65535).
  static uint16_t Clamp(uint32_t n) { return static_cast<uint16_t>(n > 0xFFFF ? 0xFFFF : n); }
};

// One outgoing association carrying C-STORE sub-operations of a C-MOVE.
// Not thread-safe: one per C-MOVE.
class StoreAssociation {
 public:
  // Proposes, for each SOP class of `records`, each syntax of
  // RetrievalSyntaxes in a context of its own. Fails when the peer cannot be
  // reached or rejects the association.
  static Result<std::unique_ptr<StoreAssociation>> Open(const PeerAddress& peer, const std::string& calling_ae,
                                                        const std::vector<engine::InstanceRecord>& records);
  ~StoreAssociation();

  // Sends one instance; returns the peer's C-STORE status (0 success,
  // Bxxx warning, else failure) or an error when nothing could be sent.
  Result<uint16_t> Send(const engine::Store& store, const engine::InstanceRecord& record,
                        const std::string& move_originator_ae, uint16_t move_originator_message_id);

 private:
  StoreAssociation();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// DIMSE status classes.
inline bool IsWarningStatus(uint16_t status) {
  return (status & 0xF000) == 0xB000 || status == 0x0107 || status == 0x0116;
}

}  // namespace pacs::dicom
