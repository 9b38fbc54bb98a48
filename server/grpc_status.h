// The one place where absl::Status becomes grpc::Status. Stateless.
#ifndef NOTIFYD_SERVER_GRPC_STATUS_H_
#define NOTIFYD_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace notifyd::server {

// Keeps the code and message; canonical codes map one to one.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Name of a gRPC code as used in metrics labels ("OK", "INVALID_ARGUMENT").
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_GRPC_STATUS_H_
