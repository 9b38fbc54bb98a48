// The browser's inbox API on the public listener (docs/DESIGN.md, The
// inbox), JSON in and out, with the token identity and CORS rules of
// /v1/stream:
//
//   GET  /v1/inbox?filter=all|unread|unseen|archived&limit=N&before_id=ID
//        200 {"notifications":[{"id","channel","event","data","created_at",
//             "seen","read","archived","expires_at"}],"next_before_id":ID}
//   GET  /v1/inbox/counts
//        200 {"unread":N,"unseen":M}
//   POST /v1/inbox/state  (Content-Type: application/json)
//        {"ids":[…]} and/or {"up_to_id":ID}, plus any of "seen":true,
//        "read":true|false, "archived":true|false
//        200 {"changed":N}
//
// The user is the token's subject; the inbox is its channel user:<sub>.
// Everything here is Beast-free: reading the query, the CSRF rule, the
// JSON body parser and the JSON encoders, and InboxApi, which runs one
// request against the store. The HTTP session (http_session.h, its part
// json_handler.h) only reads the request, hands it over and writes the
// reply.
//
// Errors are absl::Status values whose message goes out as
// {"error":"<message>"}; HttpStatusFor (edge_server_impl.h) maps the code:
// INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
// OUT_OF_RANGE 413 (a body over its limit), FAILED_PRECONDITION 415 (a body
// that is not application/json), UNAVAILABLE 503, anything else 500.
// Messages are printable ASCII; a value from the request is echoed only
// through EscapeForEcho.
#ifndef NOTIFYD_EDGE_INBOX_API_H_
#define NOTIFYD_EDGE_INBOX_API_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "boost/json/object.hpp"
#include "edge/identity.h"
#include "edge/routes.h"
#include "edge/state_change_body.h"
#include "edge/stream_request.h"
#include "storage/notification.h"
#include "storage/store.h"

namespace notifyd::edge {

// GET /v1/inbox: `limit` when absent, and the most it may be.
inline constexpr uint32_t kInboxDefaultLimit = 50;
inline constexpr uint32_t kInboxMaxLimit = 500;
static_assert(kInboxMaxLimit + 1 <= storage::kMaxPageRows,
              "a page reads limit + 1 rows");

// ---- The query ------------------------------------------------------------

// INVALID_ARGUMENT for a parameter not in `allowed` ("unknown parameter:
// <name>") or given more than once ("parameter given more than once:
// <name>").
absl::Status CheckParams(const HttpTarget& target,
                         absl::Span<const absl::string_view> allowed);

// The listing GET /v1/inbox asks for on `channel`: filter (all, the
// default: everything not archived; unread; unseen, archived or not;
// archived), limit (1 to kInboxMaxLimit, default kInboxDefaultLimit) and
// before_id (a decimal id; 0 or absent: from the newest). Besides these
// the query may carry access_token and user (identity) only. The query's
// limit is the page's + 1, so that the page knows whether more follow.
absl::StatusOr<storage::ListQuery> ParseListQuery(const HttpTarget& target,
                                                  std::string channel);

// ---- CSRF -------------------------------------------------------------------

// Whether a state change authenticated by a cookie may proceed: only when
// the request carries an Origin that is listed in `cors_origins` (a "*"
// there does not count: it admits reading, not writing) or is the edge's
// own origin (`self_origin`, "http://" or "https://" + the Host header; a
// page served by notifyd itself). PERMISSION_DENIED otherwise, a missing
// Origin included. A token in the Authorization header needs no such
// check: no browser attaches it on its own.
absl::Status CheckCookieOrigin(std::optional<absl::string_view> origin,
                               const std::vector<std::string>& cors_origins,
                               absl::string_view self_origin);

// ---- JSON out ---------------------------------------------------------------

// "2024-05-01T12:34:56.789Z".
std::string FormatRfc3339Millis(int64_t unix_ms);

// One notification as the JSON routes show it (an item of
// EncodeInboxPage): id (number), channel, event, data (the payload text as
// a JSON string), created_at (RFC 3339), seen, read, archived (booleans)
// and expires_at (RFC 3339, or null: never).
boost::json::object NotificationJson(const storage::Notification& n);

// {"notifications":[…],"next_before_id":ID} from the rows a ListQuery of
// limit `page_limit` + 1 returned (newest first): at most page_limit of
// them (each a NotificationJson), next_before_id the id of the last one
// shown when another row followed, else 0.
std::string EncodeInboxPage(const std::vector<storage::Notification>& rows,
                            uint32_t page_limit);
std::string EncodeCounts(const storage::Counts& counts);  // {"unread","unseen"}
std::string EncodeChanged(uint64_t changed);              // {"changed":N}
std::string EncodeError(absl::string_view message);       // {"error":"…"}

// ---- Serving ----------------------------------------------------------------

// One request to an inbox route, as raw text from the HTTP message. The
// views must stay valid during Serve only.
struct InboxRequest {
  RouteId route = RouteId::kInboxList;  // kInboxList/Counts/State
  uint8_t method = kGet;                // a Method bit (routes.h)
  const HttpTarget* target = nullptr;
  absl::string_view authorization;  // Authorization header, or empty
  absl::string_view cookie;         // Cookie header, or empty
  std::optional<absl::string_view> origin;
  absl::string_view content_type;
  absl::string_view host;  // Host header, for the edge's own origin
  bool tls = false;        // the listener speaks HTTPS
  absl::string_view body;
  // Of its traceparent header (common/trace_context.h); empty: none. Logged
  // with a state change and carried by its record.
  absl::string_view trace_id;
};

// The user channel (user:<sub>) of a request that changes something
// (POST /v1/inbox/state, the push subscription routes: edge/push_api.h),
// checked to be CSRF-safe: no access_token in the query (a token in a URL
// is one a cross-site form could carry), no query parameter but `user`,
// the identity of Authenticate, with a cookie only from an allowed Origin
// (CheckCookieOrigin), and a JSON Content-Type (CheckJsonContentType).
absl::StatusOr<std::string> AuthenticateChange(
    const InboxRequest& request, const IdentityOptions& identity,
    const std::vector<std::string>& cors_origins);

// What a JSON route answers (the inbox's, the push routes' and
// publishing's: edge/publish_api.h): OK and a JSON body with http_status,
// or a refusal (see above).
struct ApiReply {
  absl::Status status;
  std::string json;
  // With a refusal: when a retry may pass, sent as Retry-After (whole
  // seconds, rounded up); zero: not said.
  absl::Duration retry_after = absl::ZeroDuration();
  // Of a success: 200, 201 (created) or 204 (no content: `json` is not
  // sent).
  int http_status = 200;
};

// A store failure as a client sees it: bad arguments and unavailability as
// they are, anything else INTERNAL "store error", naming nothing inside.
absl::Status StoreError(const absl::Status& s);

// Runs inbox requests against the store. Thread-safe (immutable after
// construction); the store, identity and publisher must outlive it.
class InboxApi {
 public:
  using Publish =
      std::function<void(std::shared_ptr<const storage::Notification>)>;

  InboxApi(storage::Store& store, const IdentityOptions& identity,
           std::vector<std::string> cors_origins, Publish publish);

  // Authenticates, parses and checks `request`, then asks the store.
  // Calls `done` exactly once: on the caller's thread for a refusal made
  // before the store is asked, else on a store thread (where a state
  // change's record is published first, in commit order). `done` must not
  // block.
  //
  // POST /v1/inbox/state also takes a push subscription's credential
  // (Authorization: Push <credential>; edge/push_credential.h) instead of
  // a token: it acts for the subscription's user and may only set seen
  // and read (true), what a click on a pushed notification does.
  void Serve(const InboxRequest& request,
             std::function<void(ApiReply)> done) const;

 private:
  // POST /v1/inbox/state by push credential (see Serve).
  void ServePushCredential(const InboxRequest& request,
                           absl::string_view credential,
                           std::function<void(ApiReply)> done) const;
  // Commits `change` and answers {"changed":N}, publishing its record.
  void CommitChange(storage::StateChange change,
                    std::function<void(ApiReply)> done) const;

  storage::Store& store_;
  const IdentityOptions& identity_;
  const std::vector<std::string> cors_origins_;
  const Publish publish_;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_INBOX_API_H_
