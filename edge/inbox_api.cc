#include "edge/inbox_api.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "boost/json/object.hpp"
#include "boost/json/serialize.hpp"
#include "boost/json/value.hpp"
#include "common/log.h"
#include "common/log_limiter.h"
#include "common/names.h"
#include "edge/push_credential.h"

namespace notifyd::edge {
namespace {

namespace json = boost::json;

// A decimal uint64 parameter: digits only, no sign, no overflow.
absl::StatusOr<uint64_t> ParseDecimal(absl::string_view name,
                                      absl::string_view text) {
  uint64_t value = 0;
  bool digits =
      !text.empty() && std::all_of(text.begin(), text.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || !absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be a decimal 64-bit unsigned integer"));
  }
  return value;
}

// The query parameters each route accepts.
constexpr absl::string_view kListParams[] = {"filter", "limit", "before_id",
                                             "access_token", "user"};
constexpr absl::string_view kCountsParams[] = {"access_token", "user"};
constexpr absl::string_view kStateParams[] = {"user"};

}  // namespace

absl::Status StoreError(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kInvalidArgument) return s;
  // Never destroyed: store threads may call this until the process ends.
  static LogLimiter* const log = new LogLimiter();
  if (uint64_t dropped = 0; log->Allow(&dropped)) {
    Log(spdlog::level::warn, "inbox: store call failed",
        {{"error", s.ToString()}, LogField::NonZero("dropped", dropped)});
  }
  if (s.code() == absl::StatusCode::kUnavailable) return s;
  return absl::InternalError("store error");
}

absl::Status CheckParams(const HttpTarget& target,
                         absl::Span<const absl::string_view> allowed) {
  for (size_t i = 0; i < target.params.size(); ++i) {
    const std::string& key = target.params[i].first;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter: ", EscapeForEcho(key.substr(0, 64))));
    }
    for (size_t j = 0; j < i; ++j) {
      if (target.params[j].first == key) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter given more than once: ", key));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::ListQuery> ParseListQuery(const HttpTarget& target,
                                                  std::string channel) {
  if (absl::Status s = CheckParams(target, kListParams); !s.ok()) return s;
  storage::ListQuery q;
  q.channel = std::move(channel);
  q.filter = storage::ListFilter::kInbox;
  if (const std::string* f = target.Find("filter")) {
    static constexpr std::pair<absl::string_view, storage::ListFilter>
        kFilters[] = {{"all", storage::ListFilter::kInbox},
                      {"unread", storage::ListFilter::kUnread},
                      {"unseen", storage::ListFilter::kUnseen},
                      {"archived", storage::ListFilter::kArchived}};
    auto it = std::find_if(std::begin(kFilters), std::end(kFilters),
                           [f](const auto& kv) { return kv.first == *f; });
    if (it == std::end(kFilters)) {
      return absl::InvalidArgumentError(
          "filter must be one of all, unread, unseen, archived");
    }
    q.filter = it->second;
  }
  uint64_t limit = kInboxDefaultLimit;
  if (const std::string* l = target.Find("limit")) {
    absl::StatusOr<uint64_t> v = ParseDecimal("limit", *l);
    if (!v.ok() || *v < 1 || *v > kInboxMaxLimit) {
      return absl::InvalidArgumentError(
          absl::StrCat("limit must be 1-", kInboxMaxLimit));
    }
    limit = *v;
  }
  q.limit = static_cast<uint32_t>(limit) + 1;
  if (const std::string* b = target.Find("before_id")) {
    absl::StatusOr<uint64_t> v = ParseDecimal("before_id", *b);
    if (!v.ok()) return v.status();
    q.before_id = *v;
  }
  return q;
}

absl::Status CheckCookieOrigin(std::optional<absl::string_view> origin,
                               const std::vector<std::string>& cors_origins,
                               absl::string_view self_origin) {
  if (!origin) {
    return absl::PermissionDeniedError(
        "a cookie is accepted for a state change only with an allowed "
        "Origin; send the token in the Authorization header");
  }
  bool listed = std::find(cors_origins.begin(), cors_origins.end(), *origin) !=
                cors_origins.end();
  if (!listed && (self_origin.empty() || *origin != self_origin)) {
    return absl::PermissionDeniedError(
        "Origin not allowed to change state with a cookie");
  }
  return absl::OkStatus();
}

std::string FormatRfc3339Millis(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

json::object NotificationJson(const storage::Notification& n) {
  json::object o;
  o["id"] = n.id;
  o["channel"] = n.channel;
  o["event"] = n.event;
  o["data"] = n.data;
  o["created_at"] = FormatRfc3339Millis(n.created_at_ms);
  o["seen"] = n.seen();
  o["read"] = n.read();
  o["archived"] = n.archived();
  if (n.expires_at_ms != 0) {
    o["expires_at"] = FormatRfc3339Millis(n.expires_at_ms);
  } else {
    o["expires_at"] = nullptr;
  }
  return o;
}

std::string EncodeInboxPage(const std::vector<storage::Notification>& rows,
                            uint32_t page_limit) {
  json::array list;
  size_t shown = std::min<size_t>(rows.size(), page_limit);
  list.reserve(shown);
  for (size_t i = 0; i < shown; ++i) list.push_back(NotificationJson(rows[i]));
  uint64_t next = rows.size() > shown && shown > 0 ? rows[shown - 1].id : 0;
  json::object out;
  out["notifications"] = std::move(list);
  out["next_before_id"] = next;
  return json::serialize(out);
}

std::string EncodeCounts(const storage::Counts& counts) {
  return json::serialize(
      json::object{{"unread", counts.unread}, {"unseen", counts.unseen}});
}

std::string EncodeChanged(uint64_t changed) {
  return json::serialize(json::object{{"changed", changed}});
}

std::string EncodeError(absl::string_view message) {
  return json::serialize(json::object{
      {"error", json::string_view(message.data(), message.size())}});
}

InboxApi::InboxApi(storage::Store& store, const IdentityOptions& identity,
                   std::vector<std::string> cors_origins, Publish publish)
    : store_(store),
      identity_(identity),
      cors_origins_(std::move(cors_origins)),
      publish_(std::move(publish)) {}

absl::StatusOr<std::string> AuthenticateChange(
    const InboxRequest& request, const IdentityOptions& identity,
    const std::vector<std::string>& cors_origins) {
  const HttpTarget& target = *request.target;
  if (target.Find("access_token") != nullptr) {
    return absl::InvalidArgumentError(
        "access_token is not accepted on a change; send the token in the "
        "Authorization header");
  }
  if (absl::Status s = CheckParams(target, kStateParams); !s.ok()) return s;
  AuthInputs auth;
  auth.authorization = request.authorization;
  auth.cookie = request.cookie;
  if (const std::string* u = target.Find("user")) {
    auth.dev_user = *u;
    auth.has_dev_user = true;
  }
  absl::StatusOr<Identity> id = Authenticate(auth, identity);
  if (!id.ok()) return id.status();
  // Without an Authorization header the token came from the cookie, which
  // a browser sends on its own: only from an allowed Origin. The
  // development identity (?user=) proves nothing anyway.
  bool by_cookie =
      request.authorization.empty() &&
      !TokenFromCookie(request.cookie, identity.cookie_name).empty();
  if (by_cookie) {
    std::string self_origin;
    if (!request.host.empty()) {
      self_origin =
          absl::StrCat(request.tls ? "https://" : "http://", request.host);
    }
    absl::Status s =
        CheckCookieOrigin(request.origin, cors_origins, self_origin);
    if (!s.ok()) return s;
  }
  if (absl::Status s = CheckJsonContentType(request.content_type); !s.ok()) {
    return s;
  }
  return UserChannel(id->user);
}

void InboxApi::Serve(const InboxRequest& request,
                     std::function<void(ApiReply)> done) const {
  auto refuse = [&done](absl::Status s) {
    done(ApiReply{std::move(s), std::string()});
  };
  const HttpTarget& target = *request.target;
  if (request.route == RouteId::kInboxState) {
    absl::string_view credential = PushCredentialOf(request.authorization);
    if (!credential.empty()) {
      return ServePushCredential(request, credential, std::move(done));
    }
    absl::StatusOr<std::string> channel =
        AuthenticateChange(request, identity_, cors_origins_);
    if (!channel.ok()) return refuse(channel.status());
    absl::StatusOr<storage::StateChange> change =
        ParseStateChange(request.body);
    if (!change.ok()) return refuse(change.status());
    change->channel = *std::move(channel);
    change->trace_id = std::string(request.trace_id);
    return CommitChange(*std::move(change), std::move(done));
  }
  if (request.route == RouteId::kInboxCounts) {
    if (absl::Status s = CheckParams(target, kCountsParams); !s.ok()) {
      return refuse(s);
    }
  }

  AuthInputs auth;
  auth.authorization = request.authorization;
  auth.cookie = request.cookie;
  if (const std::string* t = target.Find("access_token")) {
    auth.access_token = *t;
  }
  if (const std::string* u = target.Find("user")) {
    auth.dev_user = *u;
    auth.has_dev_user = true;
  }
  absl::StatusOr<Identity> id = Authenticate(auth, identity_);
  if (!id.ok()) return refuse(id.status());
  std::string channel = UserChannel(id->user);

  switch (request.route) {
    case RouteId::kInboxList: {
      absl::StatusOr<storage::ListQuery> q =
          ParseListQuery(target, std::move(channel));
      if (!q.ok()) return refuse(q.status());
      uint32_t page_limit = q->limit - 1;
      store_.List(
          *std::move(q),
          [done = std::move(done), page_limit](
              absl::StatusOr<std::vector<storage::Notification>> rows) {
            if (!rows.ok()) return done({StoreError(rows.status()), ""});
            done({absl::OkStatus(), EncodeInboxPage(*rows, page_limit)});
          });
      return;
    }
    case RouteId::kInboxCounts:
      store_.GetCounts(
          std::move(channel),
          [done = std::move(done)](absl::StatusOr<storage::Counts> counts) {
            if (!counts.ok()) {
              return done({StoreError(counts.status()), ""});
            }
            done({absl::OkStatus(), EncodeCounts(*counts)});
          });
      return;
    default:
      return refuse(absl::NotFoundError("not found"));
  }
}

void InboxApi::ServePushCredential(const InboxRequest& request,
                                   absl::string_view credential,
                                   std::function<void(ApiReply)> done) const {
  auto refuse = [&done](absl::Status s) {
    done(ApiReply{std::move(s), std::string()});
  };
  // No query parameter at all: the credential names the user.
  if (absl::Status s = CheckParams(*request.target, {}); !s.ok()) {
    return refuse(s);
  }
  if (absl::Status s = CheckJsonContentType(request.content_type); !s.ok()) {
    return refuse(s);
  }
  absl::StatusOr<storage::StateChange> change = ParseStateChange(request.body);
  if (!change.ok()) return refuse(change.status());
  if (change->archived.has_value() ||
      (change->read.has_value() && !*change->read)) {
    return refuse(absl::PermissionDeniedError(
        "a push credential only marks notifications seen or read"));
  }
  change->trace_id = std::string(request.trace_id);
  store_.FindPushSubscription(
      PushCredentialHash(credential),
      [this, change = *std::move(change), done = std::move(done)](
          absl::StatusOr<storage::PushSubscription> found) mutable {
        if (found.status().code() == absl::StatusCode::kNotFound) {
          return done(
              {absl::UnauthenticatedError("unknown push credential"), ""});
        }
        if (!found.ok()) return done({StoreError(found.status()), ""});
        change.channel = found->channel;
        CommitChange(std::move(change), std::move(done));
      });
}

void InboxApi::CommitChange(storage::StateChange change,
                            std::function<void(ApiReply)> done) const {
  store_.ChangeState(std::move(change),
                     [done = std::move(done), publish = &publish_](
                         absl::StatusOr<storage::ChangeResult> result) {
                       if (!result.ok())
                         return done({StoreError(result.status()), ""});
                       // On the completer thread, in commit order, like the
                       // gRPC service.
                       if (const auto& record = result->record) {
                         (*publish)(record);
                         Log(spdlog::level::debug, "inbox: state changed",
                             {{"channel", record->channel},
                              {"changed", result->changed},
                              {"id", record->id},
                              {"trace_id", record->trace_id}});
                       }
                       done({absl::OkStatus(), EncodeChanged(result->changed)});
                     });
}

}  // namespace notifyd::edge
