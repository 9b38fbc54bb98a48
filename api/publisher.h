// What publishing a notification is, whatever the transport (docs/DESIGN.md,
// "The publish path"): who the caller is (API keys), what may be stored
// (api/validation.h), how often (the caller's publish-rate bucket), and the
// store append followed, once committed, by the bus publish and the count of
// stored notifications. The gRPC Notifier (NotifyUser, Publish, NotifyUsers
// and PublishStream's messages, api/notifier_service.h) and HTTP publishing
// on the admin listener (POST /v1/notify/{user_id}, POST
// /v1/publish/{channel}; edge/publish_api.h, wired by
// server/http_publishing.h) both call it: one set of rules, one set of
// errors, one place that stores and publishes.
//
// gRPC- and HTTP-free: a request arrives as plain fields, and every refusal
// is an absl::Status that each transport maps to its own codes:
//   INVALID_ARGUMENT    a field is invalid; the message starts with its
//                       name (user_id, channel, event, data, ...)
//   UNAUTHENTICATED     kInvalidApiKeyMessage (Authenticate)
//   RESOURCE_EXHAUSTED  "publish rate for <caller> exceeded", counted in
//                       notifyd_publish_rate_limited_total{caller}
//   whatever `before_store` returns, and the store's own failures
//   (UNAVAILABLE once it is closed; INTERNAL).
// A refused request stores nothing, and a malformed one costs its caller no
// publish-rate token (validation comes first).
//
// Threading: every method is thread-safe and non-blocking. A refusal is
// returned on the caller's thread; a store answer goes to `done` on the
// store's completer thread, in commit order, after the notification (and
// the deletion record of what its collapse key replaced, first) was
// published to the bus. The Store, Bus and Metrics must outlive the
// Publisher, and it must outlive every call's `done`.
#ifndef NOTIFYD_API_PUBLISHER_H_
#define NOTIFYD_API_PUBLISHER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "api/api_keys.h"
#include "api/rate_limiter.h"
#include "bus/bus.h"
#include "common/metrics.h"
#include "storage/notification.h"
#include "storage/store.h"

namespace notifyd::api {

// The caller name used when no API keys are configured.
inline constexpr char kAnonymousCaller[] = "anonymous";

struct PublisherOptions {
  // Largest `data` (--max_payload_bytes).
  size_t max_payload_bytes = 64 * 1024;
  // NotifyUsers: most bytes of `data` times recipients in one call
  // (--max_fanout_bytes): every user's row is a copy.
  uint64_t max_fanout_bytes = 64 << 20;
  // Keys a caller must present ("Bearer <key>"); null: every caller is
  // kAnonymousCaller (loopback, or --insecure).
  std::shared_ptr<const ApiKeySet> api_keys;
  // Publishing calls per second per caller; 0 = unlimited.
  double max_publish_rate = 0;
  // --retention: an expires_at may lie at most this far ahead; zero: no
  // bound (history is kept forever).
  absl::Duration retention = absl::ZeroDuration();
};

// Where a notification goes: a user's inbox (`user:<id>`) or a named
// channel (which must not start with `user:`).
enum class Target { kUser, kChannel };

// A google.protobuf.Timestamp's fields: checked by ValidateExpiresAt.
struct Expiry {
  int64_t seconds = 0;
  int32_t nanos = 0;
};

// What a NotifyUser, Publish or NotifyUsers request carries besides its
// recipients. Views into the request: valid during the call that takes
// them (their bytes are copied before it returns).
struct PublishContent {
  absl::string_view event;  // empty: "notification"
  absl::string_view data;
  absl::string_view idempotency_key;  // empty: none
  absl::string_view collapse_key;     // empty: none
  std::optional<Expiry> expires_at;   // absent: never expires
  // Of the request's traceparent (common/trace_context.h); empty: none.
  // Not stored: logged with the publish and carried on the bus.
  absl::string_view trace_id;
};

// One committed (or, with an idempotency key seen before, original)
// notification.
struct Published {
  std::shared_ptr<const storage::Notification> notification;
  // The idempotency key was seen: `notification` is the original; nothing
  // was stored or published.
  bool duplicate = false;
  // Streams of this process it was queued to (0 for a duplicate).
  size_t live_recipients = 0;
  // The deletion record of the older notifications its collapse key
  // replaced (storage::AppendResult::replaced), published just before it;
  // null: none.
  std::shared_ptr<const storage::Notification> replaced;
};

class Publisher {
 public:
  using Done = std::function<void(absl::StatusOr<Published>)>;
  using DoneMany = std::function<void(absl::StatusOr<std::vector<Published>>)>;
  // A transport's last word once a request is valid and within its rate,
  // just before the store is asked (a gRPC call whose deadline has passed
  // answers DEADLINE_EXCEEDED): a non-OK status refuses the request.
  using BeforeStore = absl::FunctionRef<absl::Status()>;

  Publisher(PublisherOptions options, storage::Store& store, bus::Bus& bus,
            Metrics& metrics);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Replaces the API keys that requests authenticated from now on are
  // checked against (the keys file was reloaded). Only meaningful when the
  // Publisher started with keys.
  void SetApiKeys(std::shared_ptr<const ApiKeySet> keys);

  // The caller that `authorization` names: the values of every
  // Authorization header (gRPC: `authorization` metadata) the request
  // carries. With API keys there must be exactly one, "Bearer <key>" with
  // a configured key; anything else is UNAUTHENTICATED
  // kInvalidApiKeyMessage. Without keys every request is kAnonymousCaller,
  // whatever it carries.
  absl::StatusOr<std::string> Authenticate(
      absl::Span<const absl::string_view> authorization) const;

  // NotifyUser (kUser: `name` is the user id, stored on user:<name>) or
  // Publish (kChannel: `name` is the channel), for `caller` (from
  // Authenticate): checks `name` (as the field user_id or channel) and the
  // content, takes a publish-rate token, asks `before_store`, then appends.
  // A refusal is returned, and `done` is never called; OK means the store
  // has the request and `done` will get its answer (see the file comment).
  absl::Status Publish(absl::string_view caller, Target target,
                       absl::string_view name, const PublishContent& content,
                       BeforeStore before_store, Done done);

  // NotifyUsers: the same content to each of `user_ids` (the field
  // `field`: 1 to storage::kMaxAppendMany distinct valid ids; a violation
  // names the entry; `data` times their number at most max_fanout_bytes,
  // else INVALID_ARGUMENT naming `data`), one publish-rate token for the
  // call, in one commit;
  // `done` gets one Published per user, in order. Otherwise as Publish.
  absl::Status PublishToUsers(absl::string_view caller, absl::string_view field,
                              const std::vector<absl::string_view>& user_ids,
                              const PublishContent& content,
                              BeforeStore before_store, DoneMany done);

  // Publishes a record the store committed for another write (a state or
  // deletion record of the inbox), as Publish does a notification, and logs
  // it at debug: call it from the store's completer thread, in commit
  // order. Null: nothing.
  void PublishRecord(
      const std::shared_ptr<const storage::Notification>& record);

  // Notifications committed since start (duplicates excluded), as
  // notifyd_notifications_stored_total counts them.
  uint64_t stored_total() const;

 private:
  // The checks every request makes on its content: OK with the expiry in
  // Unix milliseconds (0: none) in *expires_at_ms, or the first violation.
  absl::Status ValidateContent(const PublishContent& content,
                               int64_t* expires_at_ms) const;
  // Takes a token from `caller`'s bucket: RESOURCE_EXHAUSTED (counted)
  // when it is empty.
  absl::Status TakeToken(absl::string_view caller);
  // After a commit: publishes `result` unless it is a duplicate, and logs
  // it at debug for `caller` and the request's `trace_id`.
  Published Deliver(absl::string_view caller, absl::string_view trace_id,
                    storage::AppendResult result);

  const PublisherOptions options_;
  storage::Store& store_;
  bus::Bus& bus_;
  Metrics& metrics_;
  Counter& stored_total_;
  RateLimiter rate_;
  // Starts as options_.api_keys; SetApiKeys swaps it.
  mutable absl::Mutex api_keys_mu_;
  std::shared_ptr<const ApiKeySet> api_keys_ ABSL_GUARDED_BY(api_keys_mu_);
  // notifyd_publish_rate_limited_total{caller}, looked up in the registry
  // once per caller; touched only when a request is refused.
  absl::Mutex rate_limited_mu_;
  absl::flat_hash_map<std::string, Counter*> rate_limited_
      ABSL_GUARDED_BY(rate_limited_mu_);
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_PUBLISHER_H_
