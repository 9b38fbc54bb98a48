// What the publishing, listing and operator RPCs of the Notifier do:
// validate the request, call the store (and, for NotifyUser and Publish, the
// bus), fill the response and Finish. The inbox's RPCs are in
// notifier_inbox_handlers.cc; how a call gets here and is answered is in
// notifier_service.cc.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "api/notifier_convert.h"
#include "api/notifier_service.h"
#include "api/validation.h"
#include "common/log.h"

namespace notifyd::api {
namespace {

namespace pb = ::notify::v1;

constexpr uint32_t kDefaultPageSize = 50;
constexpr uint32_t kMaxPageSize = 500;
constexpr uint32_t kDefaultTopChannels = 10;
constexpr uint32_t kMaxTopChannels = 1000;

// The fields NotifyUser, Publish and NotifyUsers share: OK with the expiry
// in Unix milliseconds (0: none) in *expires_at_ms, or the first violation.
template <typename Request>
absl::Status ValidateContent(const Request& request,
                             const NotifierOptions& options,
                             int64_t* expires_at_ms) {
  *expires_at_ms = 0;
  absl::Status valid = FirstError(
      {ValidateEvent("event", request.event()),
       ValidateData("data", request.data(), options.max_payload_bytes),
       ValidateIdempotencyKey("idempotency_key", request.idempotency_key()),
       ValidateCollapseKey("collapse_key", request.collapse_key())});
  if (valid.ok() && request.has_expires_at()) {
    valid = ValidateExpiresAt("expires_at", request.expires_at().seconds(),
                              request.expires_at().nanos(), absl::Now(),
                              options.retention, expires_at_ms);
  }
  return valid;
}

// What each recipient's row of a request stores on `channel`, for the call
// of `trace_id`.
template <typename Request>
storage::AppendRequest ToAppend(std::string channel, const Request& request,
                                int64_t expires_at_ms,
                                absl::string_view trace_id) {
  return storage::AppendRequest{.channel = std::move(channel),
                                .event = EffectiveEvent(request.event()),
                                .data = request.data(),
                                .idempotency_key = request.idempotency_key(),
                                .expires_at_ms = expires_at_ms,
                                .collapse_key = request.collapse_key(),
                                .trace_id = std::string(trace_id)};
}

// OK while the caller still waits for the answer. A write is queued for the
// store only then: once the deadline has passed or the caller cancelled,
// whatever the store did would reach nobody, and the caller, told
// DEADLINE_EXCEEDED or CANCELLED, could not know it was stored.
absl::Status CallerStillWaits(grpc::CallbackServerContext* context) {
  if (context->deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError(
        "the call's deadline passed before the notification was queued for "
        "the store: nothing was stored");
  }
  if (context->IsCancelled()) {
    return absl::CancelledError(
        "the call was cancelled before the notification was queued for the "
        "store: nothing was stored");
  }
  return absl::OkStatus();
}

}  // namespace

template <typename Response>
void NotifierService::AppendAndPublish(Call call, storage::AppendRequest append,
                                       Response* response) {
  store_.Append(
      std::move(append), [this, call = std::move(call), response](
                             absl::StatusOr<storage::AppendResult> result) {
        if (!result.ok()) {
          Finish(call, result.status());
          return;
        }
        size_t live = 0;
        if (!result->duplicate) {
          published_total_.Inc();
          // Runs on the store's completer thread, in commit order, so the bus
          // sees ids in order: the replaced notifications' deletion record
          // (id one less) before the notification.
          PublishRecord(result->replaced);
          live = bus_.Publish(result->notification);
        }
        const storage::Notification& n = *result->notification;
        Log(spdlog::level::debug, result->duplicate ? "duplicate" : "stored",
            {{"method", MethodName(call.method)},
             {"caller", call.caller->name},
             {"id", n.id},
             {"channel", n.channel},
             {"live_recipients", live},
             {"trace_id", call.trace_id}});
        ToProto(n, response->mutable_notification());
        response->set_duplicate(result->duplicate);
        response->set_live_recipients(static_cast<uint32_t>(live));
        if constexpr (std::is_same_v<Response, pb::NotifyUserResponse>) {
          if (!result->duplicate && result->notification->has_counts) {
            ToProto(result->notification->counts, response->mutable_counts());
          }
          if (result->replaced != nullptr) {
            absl::StatusOr<std::vector<uint64_t>> ids =
                RecordIds(result->replaced->data);
            // Committed and published already: a record that does not parse
            // (a bug) leaves replaced_ids empty rather than failing the call.
            if (ids.ok()) {
              response->mutable_replaced_ids()->Assign(ids->begin(),
                                                       ids->end());
            }
          }
        }
        Finish(call, absl::OkStatus());
      });
}

template <typename Request, typename Response>
void NotifierService::StoreNotification(grpc::CallbackServerContext* context,
                                        const Call& call,
                                        absl::Status target_valid,
                                        std::string channel,
                                        const Request& request,
                                        Response* response) {
  int64_t expires_at_ms = 0;
  absl::Status valid = target_valid.ok()
                           ? ValidateContent(request, options_, &expires_at_ms)
                           : std::move(target_valid);
  // Checked after validation: a malformed call costs the caller no token.
  if (valid.ok()) valid = CheckPublishRate(context, call);
  if (valid.ok()) valid = CallerStillWaits(context);
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  AppendAndPublish(
      call, ToAppend(std::move(channel), request, expires_at_ms, call.trace_id),
      response);
}

void NotifierService::HandleNotifyUsers(grpc::CallbackServerContext* context,
                                        const Call& call,
                                        const pb::NotifyUsersRequest& request,
                                        pb::NotifyUsersResponse* response) {
  int64_t expires_at_ms = 0;
  absl::Status valid = ValidateUserIds(
      "user_ids", {request.user_ids().begin(), request.user_ids().end()},
      storage::kMaxAppendMany);
  if (valid.ok()) valid = ValidateContent(request, options_, &expires_at_ms);
  // One token for the call, like NotifyUser: the rate limits calls.
  if (valid.ok()) valid = CheckPublishRate(context, call);
  if (valid.ok()) valid = CallerStillWaits(context);
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  std::vector<storage::AppendRequest> appends;
  appends.reserve(request.user_ids_size());
  for (const std::string& user : request.user_ids()) {
    appends.push_back(
        ToAppend(UserChannel(user), request, expires_at_ms, call.trace_id));
  }
  store_.AppendMany(
      std::move(appends),
      [this, call, response,
       &request](absl::StatusOr<std::vector<storage::AppendResult>> results) {
        if (!results.ok()) {
          Finish(call, results.status());
          return;
        }
        size_t live = 0;
        uint32_t stored = 0;
        for (size_t i = 0; i < results->size(); ++i) {
          const storage::AppendResult& r = (*results)[i];
          if (!r.duplicate) {
            ++stored;
            published_total_.Inc();
            // Completer thread, commit order: as AppendAndPublish.
            PublishRecord(r.replaced);
            live += bus_.Publish(r.notification);
          }
          pb::NotifyUsersResponse::Delivery* d = response->add_deliveries();
          d->set_user_id(request.user_ids(static_cast<int>(i)));
          d->set_id(r.notification->id);
          d->set_duplicate(r.duplicate);
        }
        response->set_stored(stored);
        response->set_live_recipients(static_cast<uint32_t>(live));
        Log(spdlog::level::debug, "stored",
            {{"method", MethodName(call.method)},
             {"caller", call.caller->name},
             {"users", results->size()},
             {"stored", stored},
             {"first_id",
              results->empty() ? 0 : results->front().notification->id},
             {"live_recipients", live},
             {"trace_id", call.trace_id}});
        Finish(call, absl::OkStatus());
      });
}

void NotifierService::HandleNotifyUser(grpc::CallbackServerContext* context,
                                       const Call& call,
                                       const pb::NotifyUserRequest& request,
                                       pb::NotifyUserResponse* response) {
  StoreNotification(context, call, ValidateUserId("user_id", request.user_id()),
                    UserChannel(request.user_id()), request, response);
}

void NotifierService::HandlePublish(grpc::CallbackServerContext* context,
                                    const Call& call,
                                    const pb::PublishRequest& request,
                                    pb::PublishResponse* response) {
  StoreNotification(context, call,
                    ValidatePublicChannel("channel", request.channel()),
                    request.channel(), request, response);
}

void NotifierService::HandleListNotifications(
    grpc::CallbackServerContext* /*context*/, const Call& call,
    const pb::ListNotificationsRequest& request,
    pb::ListNotificationsResponse* response) {
  storage::ListQuery query;
  absl::StatusOr<std::string> channel = TargetChannel(request);
  absl::Status valid = channel.status();
  if (valid.ok() && request.limit() > kMaxPageSize) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("limit is ", request.limit(), "; at most ", kMaxPageSize,
                     " are allowed"));
  }
  absl::StatusOr<storage::ListFilter> filter =
      ToListFilter(request.filter(), request.unread_only());
  if (valid.ok()) valid = filter.status();
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  query.channel = *std::move(channel);
  query.before_id = request.before_id();
  query.filter = *filter;
  const uint32_t limit =
      request.limit() == 0 ? kDefaultPageSize : request.limit();
  // One row more than the page: whether it exists says whether there is a
  // next page (next_before_id stays 0 when the last page is exactly full).
  static_assert(kMaxPageSize + 1 <= storage::kMaxPageRows);
  query.limit = limit + 1;
  store_.List(std::move(query),
              [this, call, response,
               limit](absl::StatusOr<std::vector<storage::Notification>> rows) {
                if (!rows.ok()) {
                  Finish(call, rows.status());
                  return;
                }
                const size_t shown = std::min<size_t>(rows->size(), limit);
                for (size_t i = 0; i < shown; ++i) {
                  ToProto((*rows)[i], response->add_notifications());
                }
                if (rows->size() > limit) {
                  response->set_next_before_id((*rows)[shown - 1].id);
                }
                Finish(call, absl::OkStatus());
              });
}

void NotifierService::HandleIssueToken(grpc::CallbackServerContext* /*context*/,
                                       const Call& call,
                                       const pb::IssueTokenRequest& request,
                                       pb::IssueTokenResponse* response) {
  if (!options_.issue_token) {
    Finish(call, absl::UnimplementedError(
                     "IssueToken needs a token key (--token_key_file)"));
    return;
  }
  absl::Status valid = ValidateUserId("user_id", request.user_id());
  for (int i = 0; valid.ok() && i < request.channels_size(); ++i) {
    absl::string_view channel = request.channels(i);
    // A trailing '*' grants a prefix; the rest must be a valid name.
    if (channel.size() > 1 && channel.back() == '*') {
      channel.remove_suffix(1);
    }
    valid = ValidatePublicChannel(absl::StrCat("channels[", i, "]"), channel);
  }
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  auto token = options_.issue_token(
      request.user_id(), {request.channels().begin(), request.channels().end()},
      request.ttl_seconds());
  if (token.ok()) {
    response->set_token(token->first);
    response->mutable_expires_at()->set_seconds(token->second);
  }
  Finish(call, token.status());
}

void NotifierService::HandleGetStats(grpc::CallbackServerContext* /*context*/,
                                     const Call& call,
                                     const pb::GetStatsRequest& request,
                                     pb::GetStatsResponse* response) {
  if (request.top_channels() > kMaxTopChannels) {
    Finish(call, absl::InvalidArgumentError(absl::StrCat(
                     "top_channels is ", request.top_channels(), "; at most ",
                     kMaxTopChannels, " are allowed")));
    return;
  }
  const size_t top_n = request.top_channels() == 0 ? kDefaultTopChannels
                                                   : request.top_channels();
  if (options_.live_stats) {
    LiveStats live = options_.live_stats(top_n);
    response->set_live_connections(live.connections);
    response->set_delivered_total(live.delivered_total);
    for (auto& [channel, subscribers] : live.top_channels) {
      pb::ChannelStats* out = response->add_channels();
      out->set_channel(channel);
      out->set_subscribers(subscribers);
    }
  }
  response->set_published_total(published_total_.Value());
  store_.Stats(
      [this, call, response](absl::StatusOr<storage::StoreStats> stats) {
        if (stats.ok()) {
          response->set_stored_notifications(stats->notifications);
          response->set_store_bytes(stats->bytes);
        }
        Finish(call, stats.status());
      });
}

}  // namespace notifyd::api
