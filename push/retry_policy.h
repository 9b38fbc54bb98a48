// When a push is tried again: which answers and errors are worth a retry,
// how long to wait (exponential backoff with jitter, or longer when the
// push service says so in Retry-After). Pure functions: thread-safe.
#ifndef NOTIFYD_PUSH_RETRY_POLICY_H_
#define NOTIFYD_PUSH_RETRY_POLICY_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "push/push_message.h"

namespace notifyd::push {

// What an HTTP status from a push service means: kDelivered (200, 201,
// 202), kGone (404, 410), kFailed for the retryable ones (429 and 5xx),
// kRejected for every other (other 2xx included: a push service answers
// 201; redirects are not followed).
Outcome ClassifyHttpStatus(int status);

// Whether a failed exchange (no HTTP answer) is worth a retry: UNAVAILABLE
// (connection refused or reset, DNS failure) and DEADLINE_EXCEEDED
// (timeouts) are; a refused endpoint (PERMISSION_DENIED), a certificate
// that does not verify and bad input are not.
bool IsRetryableError(const absl::Status& status);

// A Retry-After value (RFC 9110 section 10.2.3): delta-seconds, or an
// HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms) taken
// relative to `now` (0 when already past). nullopt when empty or not one
// of those. Huge values saturate at 10 years (the caller's cap applies).
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now);

// The wait after `attempts` failed tries (>= 1): base * 2^(attempts-1),
// at most `cap`, of which the upper half is scaled by `jitter` in [0, 1)
// ("equal jitter": at least half the step, never more than it), so that
// many messages failing together do not retry together.
absl::Duration Backoff(int attempts, absl::Duration base, absl::Duration cap,
                       double jitter);

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_RETRY_POLICY_H_
