#include "api/grpc_status.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace notifyd::api {
namespace {

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t tail = 0;           // continuation bytes that follow
    unsigned char low = 0x80;  // bounds of the first of them
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      tail = 1;
    } else if (lead == 0xE0) {
      tail = 2;
      low = 0xA0;
    } else if (lead == 0xED) {
      tail = 2;
      high = 0x9F;
    } else if (lead >= 0xE1 && lead <= 0xEF) {
      tail = 2;
    } else if (lead == 0xF0) {
      tail = 3;
      low = 0x90;
    } else if (lead == 0xF4) {
      tail = 3;
      high = 0x8F;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      tail = 3;
    } else {
      return false;
    }
    if (s.size() - i - 1 < tail) return false;
    for (size_t k = 1; k <= tail; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) {
        return false;
      }
    }
    i += tail + 1;
  }
  return true;
}

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
