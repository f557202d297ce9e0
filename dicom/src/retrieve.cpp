#include "pacs/dicom/retrieve.h"

#include <algorithm>
#include <optional>

#include "pacs/dicom/transcode.h"
#include "transfer_syntaxes.h"

namespace pacs::dicom {

Result<PeerAddress> ParsePeer(std::string_view text) {
  const std::string usage = "--peer must be NAME=AET@HOST:PORT[+tls], not '" + std::string(text) + "'";
  // "+tls" after the port (digits only) cannot be part of it: DICOM TLS to this peer.
  constexpr std::string_view kTls = "+tls";
  const bool tls = text.size() > kTls.size() && text.substr(text.size() - kTls.size()) == kTls;
  if (tls) text.remove_suffix(kTls.size());
  const size_t eq = text.find('='), at = text.rfind('@'), colon = text.rfind(':');
  if (eq == std::string_view::npos || at == std::string_view::npos || colon == std::string_view::npos ||
      !(eq < at && at < colon))
    return Status::InvalidArgument(usage);
  PeerAddress peer;
  peer.name = std::string(text.substr(0, eq));
  peer.ae_title = std::string(text.substr(eq + 1, at - eq - 1));
  peer.host = std::string(text.substr(at + 1, colon - at - 1));
  const std::string port(text.substr(colon + 1));
  if (peer.name.empty() || peer.ae_title.empty() || peer.ae_title.size() > 16 || peer.host.empty() || port.empty() ||
      port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit))
    return Status::InvalidArgument(usage);
  const long p = std::stol(port);
  if (p < 1 || p > 65535) return Status::InvalidArgument(usage);
  peer.port = static_cast<uint16_t>(p);
  peer.tls = tls;
  return peer;
}

Result<PeerPermissions> ParsePermissions(const std::vector<std::string>& names) {
  PeerPermissions permissions = PeerPermissions::None();
  for (const std::string& name : names) {
    bool* flag = name == "echo"     ? &permissions.echo
                 : name == "store"  ? &permissions.store
                 : name == "find"   ? &permissions.find
                 : name == "get"    ? &permissions.get
                 : name == "move"   ? &permissions.move
                 : name == "commit" ? &permissions.commit
                                    : nullptr;
    if (flag == nullptr)
      return Status::InvalidArgument("unknown permission '" + name + "' (known: echo, store, find, get, move, commit)");
    *flag = true;
  }
  return permissions;
}

std::string PermissionsText(const PeerPermissions& permissions) {
  std::string out;
  auto add = [&out](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(permissions.echo, "echo");
  add(permissions.store, "store");
  add(permissions.find, "find");
  add(permissions.get, "get");
  add(permissions.move, "move");
  add(permissions.commit, "commit");
  return out.empty() ? "none" : out;
}

bool CanProduce(const engine::InstanceRecord& record, const std::string& transfer_syntax) {
  const std::string& ts = transfer_syntax;
  if (ts == record.transfer_syntax_uid) return DcmtkKnows(ts);  // as received, always
  // HTJ2K (unknown to DCMTK 3.6.7) and deflate are never sent; lossy input
  // passes through unchanged or not at all.
  const TransferSyntaxInfo* target = FindTransferSyntax(ts);
  if (target == nullptr || !target->retrieval_target) return false;
  if (record.pixel_layout == engine::PixelLayout::kNone) return target->coding == PixelCoding::kNative;
  return CanTranscode(record);
}

std::vector<std::string> RetrievalSyntaxes(const engine::InstanceRecord& record, const std::string& stored_syntax) {
  std::vector<std::string> out;
  auto add = [&](const std::string& ts) {
    if (!ts.empty() && std::find(out.begin(), out.end(), ts) == out.end() && CanProduce(record, ts)) out.push_back(ts);
  };
  add(stored_syntax);  // no decoding: the stored frames go out as they are
  add(record.transfer_syntax_uid);
  for (const auto& ts : UncompressedRetrievalSyntaxes()) add(ts);
  return out;
}

std::string ChooseSyntax(const engine::InstanceRecord& record, const std::string& stored_syntax,
                         const std::vector<std::string>& accepted) {
  for (const auto& ts : RetrievalSyntaxes(record, stored_syntax))
    if (std::find(accepted.begin(), accepted.end(), ts) != accepted.end()) return ts;
  // A syntax accepted by the peer that is not among our proposals (C-GET:
  // the requester chose the contexts), if the transcoder can write it.
  for (const auto& ts : accepted)
    if (CanProduce(record, ts)) return ts;
  return {};
}

}  // namespace pacs::dicom
