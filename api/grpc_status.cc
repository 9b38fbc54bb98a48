#include "api/grpc_status.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/validation.h"

namespace notifyd::api {
namespace {

// Why `bytes` did not parse as `message`'s type.
std::string ParseProblem(const std::string& bytes,
                         const google::protobuf::Message& message) {
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(bytes)) {
    return "not protobuf wire format";
  }
  // The wire format is sound, so a field's content was refused: a string
  // field that is not UTF-8 (the only such rule in proto3).
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  std::vector<int> seen(static_cast<size_t>(descriptor->field_count()), 0);
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    const google::protobuf::FieldDescriptor* fd =
        descriptor->FindFieldByNumber(field.number());
    if (fd == nullptr ||
        fd->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
        field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    const int index = seen[static_cast<size_t>(fd->index())]++;
    if (IsValidUtf8(field.length_delimited())) continue;
    return fd->is_repeated()
               ? absl::StrCat(fd->name(), "[", index, "] is not valid UTF-8")
               : absl::StrCat(fd->name(), " is not valid UTF-8");
  }
  return "invalid UTF-8 in a string field";
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share the canonical numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

std::string GrpcCodeName(grpc::StatusCode code) {
  // Same numbering, so abseil's names are gRPC's names.
  std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
}

absl::Status ParseRequest(const grpc::ByteBuffer& wire,
                          google::protobuf::Message* message) {
  // The reader consumes a buffer; a copy only references the same slices.
  grpc::ByteBuffer copy(wire);
  {
    grpc::ProtoBufferReader reader(&copy);
    if (!reader.status().ok()) {
      return absl::InternalError(absl::StrCat("request cannot be read: ",
                                              reader.status().error_message()));
    }
    if (message->ParseFromZeroCopyStream(&reader)) return absl::OkStatus();
  }
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (wire.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("request does not parse: ", ParseProblem(bytes, *message)));
}

}  // namespace notifyd::api
