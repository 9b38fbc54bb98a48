// Publisher API keys checked when a call's initial metadata arrives
// (issue #11): with TLS, gRPC runs a grpc::AuthMetadataProcessor in its
// server auth filter on the call's headers, and holds the call there until
// Process answers. Only then does the call reach the server, which matches
// it to a method and reads its request message. A call refused here is
// answered UNAUTHENTICATED (kInvalidApiKeyMessage, as NotifierService
// answers) at once: a client that sends headers and never a message holds
// nothing but the stream itself, for a round trip.
//
// gRPC 1.51 runs the processor only on connections made with secure server
// credentials, so this guards TLS listeners; plaintext calls (notifyd's own
// listener hands gRPC descriptors without credentials) are checked by
// NotifierService::Begin alone, after the message is read.
//
// Which calls need a key: every method but grpc.health.v1.Health and server
// reflection (v1 and v1alpha), which stay open as they are without TLS
// (load balancers' health checks carry no key). A method no service has
// needs a key too (UNIMPLEMENTED only once the key is valid). The rule for
// the key is NotifierService's: exactly one `authorization` header holding
// "Bearer <key>" of the current ApiKeySet.
//
// The processor only gates: it adds nothing to the AuthContext, because
// gRPC shares that context among every call of a connection (a property
// set for one call would be seen by the next, accumulate, and be written by
// concurrent calls). NotifierService::Begin still resolves the caller's
// name from the header, which the processor leaves in place.
//
// Thread-safe: Process runs on gRPC's threads, concurrently, and never
// blocks (IsBlocking() is false, so gRPC calls it inline): one hash and
// compare per key, and `on_rejected`.
#ifndef NOTIFYD_API_AUTH_PROCESSOR_H_
#define NOTIFYD_API_AUTH_PROCESSOR_H_

#include <grpcpp/security/auth_metadata_processor.h>

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/api_keys.h"

namespace notifyd::api {

class ApiKeyAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  // Told the `:path` of each refused call, on the gRPC thread that ran
  // Process; must be thread-safe, cheap and non-blocking, and outlive the
  // processor's use by gRPC (the server).
  using OnRejected = std::function<void(absl::string_view path)>;

  // `keys` must not be null.
  ApiKeyAuthProcessor(std::shared_ptr<const ApiKeySet> keys,
                      OnRejected on_rejected);

  // Calls whose metadata arrives from now on are checked against `keys`
  // (the keys file was reloaded); not null.
  void SetApiKeys(std::shared_ptr<const ApiKeySet> keys);

  // False for the open services' methods (health, reflection).
  static bool NeedsApiKey(absl::string_view path);

  bool IsBlocking() const override { return false; }

  // OK, or UNAUTHENTICATED kInvalidApiKeyMessage. Consumes nothing and
  // writes nothing to `context`.
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const OnRejected on_rejected_;
  absl::Mutex mu_;
  std::shared_ptr<const ApiKeySet> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_AUTH_PROCESSOR_H_
