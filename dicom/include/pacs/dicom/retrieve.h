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

// What a peer may ask of this node (docs/security.md, "Access control").
// Echo and store are also open to every AE unless the server switches that
// off (ServerOptions::echo_from_any_ae, store_from_any_ae).
struct PeerPermissions {
  bool echo = true;
  bool store = true;
  bool find = true;
  bool get = true;
  bool move = true;
  bool commit = true;
  static PeerPermissions None() { return {false, false, false, false, false, false}; }
};
// "echo", "store", "find", "get", "move", "commit": the names the
// configuration uses. Unknown names are an InvalidArgument naming them.
Result<PeerPermissions> ParsePermissions(const std::vector<std::string>& names);
std::string PermissionsText(const PeerPermissions& permissions);  // "echo,store,..." or "none"

// A known DICOM peer (`serve --peer NAME=AET@HOST:PORT`, or an object of the
// configuration file): a C-MOVE destination, where Storage Commitment
// reports go, and who may ask for what.
struct PeerAddress {
  std::string name;
  std::string ae_title;
  std::string host;               // optional in the file; when set, associations from this AE are accepted only from it
  uint16_t port = 0;              // 0: none (cannot be a C-MOVE destination)
  bool tls = false;               // associations to it use DICOM TLS (`+tls`)
  PeerPermissions permissions;    // the shorthand gives every permission
  uint16_t max_associations = 0;  // at once from this AE; 0: ServerOptions::max_associations_per_ae
};
// The shorthand NAME=AET@HOST:PORT: a peer with every permission.
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
