#include "edge/inbox_api.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "boost/json/basic_parser_impl.hpp"
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

// ---- The state change body: a SAX handler for json::basic_parser --------

// Members of the body, as bits (each may appear once).
enum Member : uint8_t {
  kNone = 0,
  kIds = 1,
  kUpToId = 2,
  kSeen = 4,
  kRead = 8,
  kArchived = 16,
};

// Longest member name worth reading; longer ones are unknown.
constexpr size_t kMaxKeyBytes = 16;

class StateBodyHandler {
 public:
  // Boost enforces none of these: the handler does, with clearer messages.
  static constexpr size_t max_object_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_array_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_key_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_string_size = std::numeric_limits<size_t>::max();

  storage::StateChange change;
  std::string error;  // set when the handler refused the body
  uint8_t given = kNone;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code& ec) {
    if (depth_ != 0) return WrongType(ec);
    depth_ = 1;
    return true;
  }
  bool on_object_end(size_t, json::error_code&) {
    depth_ = 0;
    return true;
  }
  bool on_array_begin(json::error_code& ec) {
    if (depth_ != 1 || member_ != kIds) return WrongType(ec);
    depth_ = 2;
    return true;
  }
  bool on_array_end(size_t, json::error_code&) {
    depth_ = 1;
    return true;
  }

  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    AppendKey(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code& ec) {
    AppendKey(s);
    std::string key = std::move(key_);
    key_.clear();
    static constexpr std::pair<absl::string_view, Member> kMembers[] = {
        {"ids", kIds},   {"up_to_id", kUpToId},   {"seen", kSeen},
        {"read", kRead}, {"archived", kArchived},
    };
    for (const auto& [name, member] : kMembers) {
      if (key != name) continue;
      if (given & member) {
        return Fail(ec, absl::StrCat("member given more than once: ", name));
      }
      given |= member;
      member_ = member;
      return true;
    }
    return Fail(ec, absl::StrCat("unknown member: ",
                                 EscapeForEcho(key.substr(0, kMaxKeyBytes))));
  }

  bool on_string_part(json::string_view, size_t, json::error_code& ec) {
    return WrongType(ec);
  }
  bool on_string(json::string_view, size_t, json::error_code& ec) {
    return WrongType(ec);
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, json::error_code& ec) {
    if (i <= 0) return WrongType(ec);
    return OnId(static_cast<uint64_t>(i), ec);
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code& ec) {
    if (u == 0) return WrongType(ec);
    return OnId(u, ec);
  }
  bool on_double(double, json::string_view, json::error_code& ec) {
    return WrongType(ec);
  }
  bool on_bool(bool b, json::error_code& ec) {
    if (depth_ != 1) return WrongType(ec);
    switch (member_) {
      case kSeen:
        if (!b) return WrongType(ec);
        change.seen = true;
        return true;
      case kRead:
        change.read = b;
        return true;
      case kArchived:
        change.archived = b;
        return true;
      default:
        return WrongType(ec);
    }
  }
  bool on_null(json::error_code& ec) { return WrongType(ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  void AppendKey(json::string_view s) {
    if (key_.size() <= kMaxKeyBytes) {
      key_.append(s.data(), std::min(s.size(), kMaxKeyBytes + 1));
    }
  }

  bool OnId(uint64_t id, json::error_code& ec) {
    if (depth_ == 2) {
      if (change.ids.size() == storage::kMaxChangeIds) {
        return Fail(ec, absl::StrCat("too many ids (max ",
                                     storage::kMaxChangeIds, ")"));
      }
      change.ids.push_back(id);
      return true;
    }
    if (depth_ == 1 && member_ == kUpToId) {
      change.up_to_id = id;
      return true;
    }
    return WrongType(ec);
  }

  // A value of the wrong type (or out of range) where it came.
  bool WrongType(json::error_code& ec) {
    if (depth_ == 0) return Fail(ec, "the body must be a JSON object");
    if (depth_ == 2) {
      return Fail(ec, "ids must be an array of positive integers");
    }
    switch (member_) {
      case kIds:
        return Fail(ec, "ids must be an array of positive integers");
      case kUpToId:
        return Fail(ec, "up_to_id must be a positive integer");
      case kSeen:
        return Fail(ec, "seen must be true (seen is never unset)");
      case kRead:
        return Fail(ec, "read must be true or false");
      case kArchived:
        return Fail(ec, "archived must be true or false");
      default:
        return Fail(ec, "the body must be a JSON object");
    }
  }

  bool Fail(json::error_code& ec, std::string message) {
    error = std::move(message);
    ec = json::make_error_code(json::error::exception);
    return false;
  }

  int depth_ = 0;  // 1: in the object; 2: in its ids array
  Member member_ = kNone;
  std::string key_;
};

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

absl::Status CheckJsonContentType(absl::string_view content_type) {
  absl::string_view media = content_type.substr(0, content_type.find(';'));
  media = absl::StripAsciiWhitespace(media);
  if (!absl::EqualsIgnoreCase(media, "application/json")) {
    return absl::FailedPreconditionError(
        "Content-Type must be application/json");
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::StateChange> ParseStateChange(absl::string_view body) {
  json::parse_options options;
  options.max_depth = 3;
  json::basic_parser<StateBodyHandler> parser(options);
  json::error_code ec;
  size_t used = parser.write_some(false, body.data(), body.size(), ec);
  StateBodyHandler& h = parser.handler();
  if (!h.error.empty()) return absl::InvalidArgumentError(h.error);
  if (ec) return absl::InvalidArgumentError("malformed JSON: " + ec.message());
  if (used != body.size()) {
    return absl::InvalidArgumentError("malformed JSON: data after the object");
  }
  if (h.change.ids.empty() && h.change.up_to_id == 0) {
    return absl::InvalidArgumentError(
        "no notifications named: give ids (non-empty) or up_to_id");
  }
  if (!h.change.seen && !h.change.read && !h.change.archived) {
    return absl::InvalidArgumentError("no change: give seen, read or archived");
  }
  return std::move(h.change);
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
