// File: instance_split.h
// Splits a DICOM dataset into what the engine stores (a header without Pixel
// Data, plus pixel chunks: native frames or encapsulated fragments) and puts
// it back together as a Part 10 file in the transfer syntax it arrived in.
#pragma once

#include <memory>
#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "pacs/base/result.h"
#include "pacs/dicom/dicom_library.h"
#include "pacs/dicom/frame_source.h"
#include "pacs/dicom/pixel_codec_policy.h"
#include "pacs/engine/store.h"

namespace pacs::dicom {

// Splits `dataset` (which arrived in `xfer`) into an InstanceWrite; the
// dataset itself is left as it was. Native frames are encoded per `policy`,
// except those `stored_frames` already holds (their bytes are left out);
// compressed pixel data is kept byte for byte, with the identity of its
// decoded pixels beside it when we can decode it.
Result<engine::InstanceWrite> SplitInstance(DcmDataset& dataset, E_TransferSyntax xfer,
                                            const PixelCodecPolicy& policy = {},
                                            const engine::Store* stored_frames = nullptr);

// Parses a stored header (bytes in record.header_transfer_syntax_uid) into
// `dataset`; Corruption when it does not parse.
Status DecodeStoredHeader(std::string_view header_bytes, const engine::InstanceRecord& record, DcmDataset& dataset);

// Rebuilds the stored instance as a file format object (meta header
// regenerated), pixel data in the syntax it arrived in: LoadStoredHeader,
// then AttachPixelDataAsReceived from the instance's FrameSource.
Result<std::unique_ptr<DcmFileFormat>> RebuildInstance(const engine::Store& store,
                                                       const engine::InstanceRecord& record);

// The stored header (the dataset without Pixel Data), parsed.
Result<std::unique_ptr<DcmFileFormat>> LoadStoredHeader(const engine::Store& store,
                                                        const engine::InstanceRecord& record);

// Puts the Pixel Data element back as received: native frames (decoded where
// stored compressed), or the received fragments untouched.
Status AttachPixelDataAsReceived(DcmDataset& dataset, const FrameSource& source, const engine::InstanceRecord& record);

// Deep check of one stored instance: its header parses, every chunk's bytes
// hash to its key (native frames after decoding, with their pixel
// description), and every compressed frame we can decode decodes to the
// recorded pixel identity. OK or the first problem.
Status VerifyInstanceDeep(const engine::Store& store, const engine::InstanceRecord& record);

// The transfer syntax an instance record arrived in, as DCMTK's enum.
E_TransferSyntax ReceivedTransferSyntax(const engine::InstanceRecord& record);

// The bytes of `dataset` encoded in `xfer` (explicit-length sequences,
// padding as it is), without preamble or meta header.
Result<std::string> EncodeDatasetBytes(DcmDataset& dataset, E_TransferSyntax xfer,
                                       E_GrpLenEncoding group_lengths = EGL_recalcGL);

// Size of `dataset` encoded in `xfer` (what we count as received bytes).
uint64_t EncodedDatasetSize(DcmDataset& dataset, E_TransferSyntax xfer);

}  // namespace pacs::dicom
