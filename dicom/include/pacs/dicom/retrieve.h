// File: retrieve.h
// Which transfer syntax a stored instance goes out in when C-MOVE or C-GET
// sends it, and the C-MOVE destinations `serve --peer` names. The DIMSE
// side of retrieval (sub-operations, the C-STORE sender) is in dicom/src/scp/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pacs/base/result.h"
#include "pacs/engine/instance_record.h"

namespace pacs::dicom {

// A C-MOVE destination from `serve --peer NAME=AET@HOST:PORT[+tls]`.
struct PeerAddress {
  std::string name;
  std::string ae_title;
  std::string host;
  uint16_t port = 0;
  bool tls = false;  // associations to it use DICOM TLS (`+tls`)
};
Result<PeerAddress> ParsePeer(std::string_view text);

// Transfer syntaxes `record` can be sent in, best first: `stored_syntax`
// (StoredTransferSyntax in frame_source.h: its frames go out as stored, with
// no decoding), the one it arrived in, then the uncompressed ones. Filtered
// by CanProduce.
std::vector<std::string> RetrievalSyntaxes(const engine::InstanceRecord& record, const std::string& stored_syntax);

// Whether the instance can be built in `transfer_syntax` losslessly (or a
// lossy codestream passed through unchanged) and sent by DCMTK.
bool CanProduce(const engine::InstanceRecord& record, const std::string& transfer_syntax);

// Of the syntaxes a peer accepted, the one to send `record` in (the first of
// RetrievalSyntaxes the peer accepted, else any it accepted that we can
// produce), or "" when none.
std::string ChooseSyntax(const engine::InstanceRecord& record, const std::string& stored_syntax,
                         const std::vector<std::string>& accepted);

}  // namespace pacs::dicom
