// Sends Web Push messages (RFC 8030) to browsers' push subscriptions: each
// message is encrypted for its subscription (RFC 8291, push/ece.h), signed
// for with VAPID (RFC 8292, push/vapid.h) and POSTed to the subscription's
// endpoint over HTTPS (push/https_client.h), retried with backoff on 429,
// 5xx and connection errors (while its TTL lasts; a retry carries the TTL
// left), and its outcome reported to a callback
// (push/push_message.h): delivered, gone (the caller removes the
// subscription), rejected, or failed.
//
// The push room knows no SQL, gRPC or HTTP server: which notification is
// pushed to which subscription, and what is done with an outcome, is the
// caller's (server/ wires it).
//
// Threading and ownership:
//  - The Sender owns its io_context and PushOptions::threads threads; all
//    encryption, signing and network I/O happen there, never on the
//    caller's thread (gRPC callback and edge I/O threads stay free).
//  - Send is thread-safe, never blocks on the network, and checks its
//    input at once. When it returns OK, `done` is called exactly once:
//    on a sender thread, or, for messages still pending when the sender
//    stops, on the thread calling Stop() (or the destructor), with
//    Outcome::kFailed and CANCELLED. When Send fails, `done` is dropped
//    uncalled.
//  - Callbacks run without the sender's lock: they may call Send (a retry
//    of their own, another subscription), but must not block, since they
//    hold up the sender's thread, and must not call Stop().
//  - Memory is bounded by max_queue messages (each at most ~4 KB of
//    payload) and sockets by max_in_flight plus as many idle ones.
#ifndef NOTIFYD_PUSH_PUSH_SENDER_H_
#define NOTIFYD_PUSH_PUSH_SENDER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "push/push_message.h"
#include "push/push_options.h"
#include "push/vapid.h"

namespace notifyd::push {

class Sender {
 public:
  using Callback = absl::AnyInvocable<void(const Result&) &&>;

  struct Stats {
    size_t queued = 0;     // accepted, not yet reported
    size_t in_flight = 0;  // HTTP requests under way
    uint64_t delivered = 0, gone = 0, rejected = 0, failed = 0;
    uint64_t retries = 0;  // requests made after a message's first
  };

  // Validates `options` and starts the threads; INVALID_ARGUMENT when an
  // option is out of range or ca_file cannot be loaded.
  static absl::StatusOr<std::unique_ptr<Sender>> Create(PushOptions options,
                                                        VapidKey key);
  // Stop(), then releases everything.
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Queues `message` for `subscription`. Fails at once, without calling
  // `done`: INVALID_ARGUMENT when the endpoint is not an https URL
  // (push/endpoint.h), the keys have the wrong length or the message is
  // out of bounds (ValidateMessage); RESOURCE_EXHAUSTED when max_queue
  // messages are pending; FAILED_PRECONDITION after Stop().
  // Endpoints that resolve to non-public addresses (unless allow_private)
  // and keys that are not valid P-256 points are reported through `done`
  // as kRejected (PERMISSION_DENIED, INVALID_ARGUMENT).
  absl::Status Send(Subscription subscription, Message message, Callback done);

  // Stops the threads (requests under way are abandoned) and reports every
  // pending message as kFailed / CANCELLED on this thread. Idempotent.
  void Stop();

  Stats stats() const;
  // The applicationServerKey browsers subscribe with.
  std::string public_key_base64url() const;

  struct Impl;

 private:
  explicit Sender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_PUSH_SENDER_H_
