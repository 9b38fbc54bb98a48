// The browser's Web Push routes on the public listener (docs/DESIGN.md, Web
// Push), JSON in and out, with the token, CSRF and CORS rules of POST
// /v1/inbox/state (AuthenticateChange: the token in the Authorization
// header, or a cookie only from an allowed Origin):
//
//   POST   /v1/push/subscriptions  (Content-Type: application/json)
//          PushSubscription.toJSON(): {"endpoint","expirationTime",
//          "keys":{"p256dh","auth"}} (edge/push_request.h)
//          201 {"credential":"…"}  a new subscription of the user
//          200 {"credential":"…"}  it replaced the user's own
//          429 past StoreOptions::max_push_subscriptions
//   DELETE /v1/push/subscriptions  {"endpoint":"…"}
//          204, or 404 when the user has no subscription there
//   GET    /v1/push/key
//          200 {"public_key":"<VAPID public key, base64url>"}, the
//          applicationServerKey for pushManager.subscribe(); 404
//          {"error":"push not configured"} while the edge has none.
//
// The credential (edge/push_credential.h) is what the service worker
// (web/sw.js) shows to mark a pushed notification seen; each POST issues a
// new one, and the store keeps only its hash. Refusals are ApiReply
// statuses as in edge/inbox_api.h; nothing is stored on any of them.
#ifndef NOTIFYD_EDGE_PUSH_API_H_
#define NOTIFYD_EDGE_PUSH_API_H_

#include <functional>
#include <string>
#include <vector>

#include "edge/identity.h"
#include "edge/inbox_api.h"
#include "storage/store.h"

namespace notifyd::edge {

class PushApi {
 public:
  // `public_key`: the VAPID public key (base64url of its 65 bytes), empty
  // while push is not configured. `allow_private`: --push_allow_private
  // (edge/push_request.h), for tests only.
  PushApi(storage::Store& store, const IdentityOptions& identity,
          std::vector<std::string> cors_origins, std::string public_key,
          bool allow_private);

  // Serves `request` (a push route, IsPushRoute) like InboxApi::Serve:
  // `done` exactly once, on the caller's thread for a refusal made before
  // the store is asked, else on a store thread; it must not block.
  // Thread-safe; the store and identity must outlive the PushApi.
  void Serve(const InboxRequest& request,
             std::function<void(ApiReply)> done) const;

 private:
  void Subscribe(std::string channel, absl::string_view body,
                 std::function<void(ApiReply)> done) const;
  void Unsubscribe(std::string channel, absl::string_view body,
                   std::function<void(ApiReply)> done) const;

  storage::Store& store_;
  const IdentityOptions& identity_;
  const std::vector<std::string> cors_origins_;
  const std::string public_key_;
  const bool allow_private_;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_PUSH_API_H_
