// File: peer_config.h
// A peer of `serve` as the command line and the configuration file give it:
// the shorthand NAME=AET@HOST:PORT (a peer with every permission), or, from
// the configuration file, a JSON object (docs/security.md):
//
//   {"name": "VIEWER", "aet": "VIEWERAE", "host": "10.0.0.5", "port": 104,
//    "permissions": ["echo", "find", "move"], "tls": false, "max_associations": 4}
#pragma once

#include <string_view>

#include "pacs/base/result.h"
#include "pacs/dicom/retrieve.h"

namespace pacs::tools {

// InvalidArgument naming the entry and what is wrong with it.
Result<dicom::PeerAddress> ParsePeerEntry(std::string_view text);

}  // namespace pacs::tools
