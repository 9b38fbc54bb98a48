// TLS for the gRPC listener (docs/DESIGN.md, Security): server credentials from
// PEM files, optionally requiring and verifying client certificates (mutual
// TLS).
//
// The files are read and checked here, before the server starts: a missing
// file, a file that is not PEM, or a key that does not match the
// certificate is an INVALID_ARGUMENT naming the flag and the path, instead
// of a handshake failure at the first call. Stateless; thread-safe.
#ifndef NOTIFYD_SERVER_TLS_H_
#define NOTIFYD_SERVER_TLS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace notifyd::server {

struct TlsFiles {
  std::string cert_file;       // PEM certificate chain, leaf first
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // non-empty: mutual TLS against these CAs
};

// Insecure credentials when every file is empty; TLS when cert and key are
// given; mutual TLS when client_ca_file is given too. A key without a
// certificate (or the reverse), or a client CA without both, is an error.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsFiles& files);

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_TLS_H_
