#include "store_sender.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/retrieve.h"
#include "pacs/dicom/transcode.h"

namespace pacs::dicom::scp {
namespace {

// The instance, ready to be sent in `ts`.
Result<BuiltInstance> BuildForTransfer(const engine::Store& store, const engine::InstanceRecord& record,
                                       const std::string& ts) {
  if (!CanProduce(record, ts))
    return Status::Unsupported("instance " + record.sop_instance_uid + " (received in " + record.transfer_syntax_uid +
                               ") cannot be sent in " + ts);
  auto built = BuildInstance(store, record, TargetSyntax{TargetSyntax::Kind::kUid, ts});
  if (!built.ok()) return built.status().WithContext("instance " + record.sop_instance_uid + " in " + ts);
  if (!built->file->getDataset()->canWriteXfer(DcmXfer(ts.c_str()).getXfer()))
    return Status::Unsupported("instance " + record.sop_instance_uid + " cannot be written in " + ts);
  return built;
}

}  // namespace

CStoreSender::CStoreSender(DimseChannel& channel, std::vector<StorageContext> accepted, const engine::Store& store,
                           SyntaxChoice choice, std::string peer, uint16_t first_message_id)
    : channel_(channel),
      accepted_(std::move(accepted)),
      store_(store),
      choice_(choice),
      peer_(std::move(peer)),
      next_message_id_(first_message_id) {}

Result<StorageContext> CStoreSender::ContextFor(const engine::InstanceRecord& record) const {
  std::vector<std::string> syntaxes;
  for (const auto& context : accepted_)
    if (context.sop_class_uid == record.sop_class_uid) syntaxes.push_back(context.transfer_syntax_uid);
  if (syntaxes.empty())
    return Status::Unsupported(peer_ + " accepted no storage context for SOP class " + record.sop_class_uid);
  auto stored = StoredTransferSyntax(store_, record);
  if (!stored.ok()) return stored.status();
  if (choice_ == SyntaxChoice::kOwnProposals) {
    const auto ours = RetrievalSyntaxes(record, *stored);
    std::erase_if(syntaxes,
                  [&](const std::string& ts) { return std::find(ours.begin(), ours.end(), ts) == ours.end(); });
  }
  const std::string ts = ChooseSyntax(record, *stored, syntaxes);
  if (ts.empty())
    return Status::Unsupported(peer_ + " accepted no transfer syntax pacscore can send instance " +
                               record.sop_instance_uid + " (" + record.sop_class_uid + ", received in " +
                               record.transfer_syntax_uid + ") in");
  for (const auto& context : accepted_)
    if (context.sop_class_uid == record.sop_class_uid && context.transfer_syntax_uid == ts) return context;
  return Status::Internal("no context for the chosen syntax " + ts);  // unreachable: ts is one of `syntaxes`
}

Result<PreparedStore> CStoreSender::Prepare(const engine::InstanceRecord& record) const {
  auto context = ContextFor(record);
  if (!context.ok()) return context.status();
  auto built = BuildForTransfer(store_, record, context->transfer_syntax_uid);
  if (!built.ok()) return built.status();
  return PreparedStore{*context, std::move(built->file), built->held_bytes};
}

std::unique_ptr<OrderedPrefetcher<PreparedStore>> CStoreSender::Prefetch(
    const std::vector<engine::InstanceRecord>& records, const PrefetchOptions& options) const {
  return std::make_unique<OrderedPrefetcher<PreparedStore>>(
      records.size(), [this, &records](size_t i) { return Prepare(records[i]); },
      [&records](size_t i) { return EstimateBuiltBytes(records[i]); },
      [](const PreparedStore& prepared) { return prepared.held_bytes; }, options);
}

Result<uint16_t> CStoreSender::Send(const engine::InstanceRecord& record, Result<PreparedStore> prepared,
                                    const MoveOriginator* originator) {
  if (!prepared.ok()) return prepared.status();
  const StorageContext* context = &prepared->context;
  std::unique_ptr<DcmFileFormat>* file = &prepared->file;

  const uint16_t message_id = next_message_id_++;
  T_DIMSE_Message request;
  std::memset(&request, 0, sizeof request);
  request.CommandField = DIMSE_C_STORE_RQ;
  T_DIMSE_C_StoreRQ& store = request.msg.CStoreRQ;
  store.MessageID = message_id;
  OFStandard::strlcpy(store.AffectedSOPClassUID, record.sop_class_uid.c_str(), sizeof store.AffectedSOPClassUID);
  OFStandard::strlcpy(store.AffectedSOPInstanceUID, record.sop_instance_uid.c_str(),
                      sizeof store.AffectedSOPInstanceUID);
  store.Priority = DIMSE_PRIORITY_MEDIUM;
  store.DataSetType = DIMSE_DATASET_PRESENT;
  if (originator != nullptr && !originator->ae_title.empty()) {
    OFStandard::strlcpy(store.MoveOriginatorApplicationEntityTitle, originator->ae_title.c_str(),
                        sizeof store.MoveOriginatorApplicationEntityTitle);
    store.opts |= O_STORE_MOVEORIGINATORAETITLE;
  }
  if (originator != nullptr && originator->message_id != 0) {
    store.MoveOriginatorID = originator->message_id;
    store.opts |= O_STORE_MOVEORIGINATORID;
  }
  const std::string what = "C-STORE of " + record.sop_instance_uid + " to " + peer_;
  OFCondition cond = channel_.SendMessage(context->id, request, (*file)->getDataset());
  if (cond.bad()) return Status::IOError(what + ": sending the request failed: " + cond.text());

  T_ASC_PresentationContextID response_pres_id = 0;
  T_DIMSE_Message response;
  std::memset(&response, 0, sizeof response);
  cond = channel_.ReceiveCommand(response_pres_id, response);
  if (cond.bad()) return Status::IOError(what + ": no response: " + cond.text());
  if (response.CommandField != DIMSE_C_STORE_RSP || response.msg.CStoreRSP.MessageIDBeingRespondedTo != message_id)
    return Status::IOError(what + ": answered with another message than its C-STORE-RSP");
  return static_cast<uint16_t>(response.msg.CStoreRSP.DimseStatus);
}

}  // namespace pacs::dicom::scp
