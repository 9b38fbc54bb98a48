// Where gRPC's wire meets absl::Status: the one place where absl::Status
// becomes grpc::Status, and where a request's bytes become its message.
// Stateless.
#ifndef NOTIFYD_API_GRPC_STATUS_H_
#define NOTIFYD_API_GRPC_STATUS_H_

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace notifyd::api {

// Keeps the code and message; canonical codes map one to one.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Name of a gRPC code as used in metrics labels ("OK", "INVALID_ARGUMENT").
std::string GrpcCodeName(grpc::StatusCode code);

// Parses a request's bytes into `message`. A request that does not parse is
// the caller's mistake: INVALID_ARGUMENT, "request does not parse: " and
// the problem, naming the field when it is a string field that is not
// valid UTF-8 (proto3 refuses those). gRPC's generated handlers would
// answer UNIMPLEMENTED with no message instead (see NotifierService).
absl::Status ParseRequest(const grpc::ByteBuffer& wire,
                          google::protobuf::Message* message);

}  // namespace notifyd::api

#endif  // NOTIFYD_API_GRPC_STATUS_H_
