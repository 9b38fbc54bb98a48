// Web Push as the store keeps it (docs/DESIGN.md, Web Push): each user's
// push subscriptions, and which notifications were already pushed, so that
// none is pushed twice, after a restart either. The Store calls that take
// these (store.h) and their write operations (push_ops.h) are written once
// for every database.
//
// The store checks only the shape of what it keeps (CheckPushSubscription:
// sizes, an inbox); whoever accepts a subscription from a browser checks
// the rest (edge/push_request.h: an https endpoint on a public host, a
// P-256 point on the curve).
#ifndef NOTIFYD_STORAGE_PUSH_H_
#define NOTIFYD_STORAGE_PUSH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace notifyd::storage {

// Longest endpoint URL, in bytes.
inline constexpr size_t kMaxPushEndpointBytes = 2048;
// The browser's ECDH public key (an uncompressed P-256 point) and its auth
// secret (RFC 8291), raw.
inline constexpr size_t kPushP256dhBytes = 65;
inline constexpr size_t kPushAuthBytes = 16;
// SHA-256 of a subscription's credential.
inline constexpr size_t kPushSecretHashBytes = 32;
// Default of StoreOptions::max_push_subscriptions: most subscriptions one
// user keeps (a browser profile each).
inline constexpr size_t kDefaultMaxPushSubscriptions = 16;
// Most rows one PushCandidates call reads.
inline constexpr uint32_t kMaxPushCandidates = 1000;

// One browser's subscription (PushSubscription.toJSON() in the browser).
struct PushSubscription {
  // The user's inbox, a `user:` channel.
  std::string channel;
  // Where pushes go: the push service's URL for this subscription. Unique:
  // one endpoint belongs to one user at a time.
  std::string endpoint;
  std::string p256dh;  // kPushP256dhBytes raw bytes
  std::string auth;    // kPushAuthBytes raw bytes
  // SHA-256 of the subscription's credential (kPushSecretHashBytes raw
  // bytes), which its service worker shows to mark what it showed as seen
  // (edge/push_api.h). Unique.
  std::string secret_sha256;
  // Unix milliseconds; set by the store when it stores the subscription.
  int64_t created_at_ms = 0;

  bool operator==(const PushSubscription&) const = default;
};

// What PutPushSubscription did.
struct PushPutResult {
  // True: the endpoint is new to the user (it was unknown, or another
  // user's, which lost it). False: it replaced the user's own.
  bool created = false;
};

// Which subscription RemovePushSubscription removes.
struct PushRemoval {
  std::string endpoint;
  // Non-empty: only when it is this inbox's (a user removes their own).
  // Empty: whoever's it is (the push service said it is gone).
  std::string channel;
};

// The notifications a push scheduler may push (Store::PushCandidates):
// those of inboxes with at least one subscription, created at or before
// `created_at_or_before_ms`, neither seen, read nor archived, not expired
// at the time of the call, not pushed yet, with ids above `after_id`;
// oldest first, at most `limit` (at most kMaxPushCandidates).
struct PushCandidatesQuery {
  uint64_t after_id = 0;
  int64_t created_at_or_before_ms = 0;
  uint32_t limit = 100;
};

// The store.h limits of these calls: OK, or INVALID_ARGUMENT naming the
// first field out of shape. A subscription needs an inbox, an endpoint of
// 1 to kMaxPushEndpointBytes bytes and keys and hash of their exact sizes.
absl::Status CheckPushSubscription(const PushSubscription& subscription);
absl::Status CheckPushRemoval(const PushRemoval& removal);
// 1 to kMaxChangeIds ids (store.h).
absl::Status CheckMarkPushed(const std::vector<uint64_t>& ids);
absl::Status CheckPushCandidates(const PushCandidatesQuery& query);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_PUSH_H_
