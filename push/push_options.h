// What a push::Sender is told: its limits, retry policy, timeouts, TLS
// trust, the SSRF switch and the VAPID subject, each with its default; and
// the one check of them all (Validate), which Sender::Create runs. Errors
// name each option by its command-line flag (--push_<field>, and
// --vapid_subject). Plain data; copy freely.
#ifndef NOTIFYD_PUSH_PUSH_OPTIONS_H_
#define NOTIFYD_PUSH_PUSH_OPTIONS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace notifyd::push {

struct PushOptions {
  // Threads running the sender's own io_context (HTTP client, timers,
  // encryption and signing). 1 to 16.
  int threads = 1;
  // Messages accepted and not yet reported (waiting, in flight or waiting
  // to retry); Send over it fails with RESOURCE_EXHAUSTED. Bounds memory:
  // each holds at most ~4 KB of payload. 1 to 1,000,000.
  size_t max_queue = 10000;
  // HTTP requests in flight at once, and so open connections (plus at
  // most as many idle kept-alive ones). 1 to 10,000.
  size_t max_in_flight = 64;
  // Requests per message, the first included: 429, 5xx, connection errors
  // and timeouts are retried until this many were made. 1 to 20.
  int max_attempts = 5;
  // Backoff between attempts: backoff_base doubling each time, at most
  // backoff_cap, with jitter (retry_policy.h). A Retry-After longer than
  // backoff_cap ends the message as failed rather than holding it longer.
  absl::Duration backoff_base = absl::Seconds(1);
  absl::Duration backoff_cap = absl::Minutes(10);
  // Resolving, connecting and the TLS handshake, together.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Writing the request and reading the whole answer.
  absl::Duration request_timeout = absl::Seconds(30);
  // A kept-alive connection unused this long is closed, not reused.
  absl::Duration idle_timeout = absl::Seconds(30);
  // PEM CA certificates that push services' certificates must chain to;
  // empty: the system's trust store.
  std::string ca_file;
  // Let endpoints resolve to loopback, private and other non-public
  // addresses (push/endpoint.h). For tests only: otherwise a subscription
  // could make notifyd send requests into the operator's network.
  bool allow_private = false;
  // The VAPID `sub`: mailto: or https: URL (push/vapid.h).
  std::string vapid_subject;

  // OK, or INVALID_ARGUMENT naming the first option out of range.
  absl::Status Validate() const;
};

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_PUSH_OPTIONS_H_
