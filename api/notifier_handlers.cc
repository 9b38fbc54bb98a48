// What the publishing, listing and operator RPCs of the Notifier do:
// validate the request, call the store (and, for NotifyUser and Publish, the
// bus), fill the response and Finish. The inbox's RPCs are in
// notifier_inbox_handlers.cc; how a call gets here and is answered is in
// notifier_service.cc.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
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

namespace notifyd::api {
namespace {

namespace pb = ::notify::v1;

constexpr uint32_t kDefaultPageSize = 50;
constexpr uint32_t kMaxPageSize = 500;
constexpr uint32_t kDefaultTopChannels = 10;
constexpr uint32_t kMaxTopChannels = 1000;

// The content fields of a NotifyUser, Publish or NotifyUsers request, as
// the Publisher takes them (views into `request`), for the call of
// `trace_id`.
template <typename Request>
PublishContent ContentOf(const Request& request, absl::string_view trace_id) {
  PublishContent content{.event = request.event(),
                         .data = request.data(),
                         .idempotency_key = request.idempotency_key(),
                         .collapse_key = request.collapse_key(),
                         .expires_at = std::nullopt,
                         .trace_id = trace_id};
  if (request.has_expires_at()) {
    content.expires_at = Expiry{.seconds = request.expires_at().seconds(),
                                .nanos = request.expires_at().nanos()};
  }
  return content;
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

template <typename Request, typename Response>
void NotifierService::StoreNotification(grpc::CallbackServerContext* context,
                                        const Call& call, Target target,
                                        absl::string_view name,
                                        const Request& request,
                                        Response* response) {
  absl::Status refused = publisher_.Publish(
      call.caller->name, target, name, ContentOf(request, call.trace_id),
      [context] { return CallerStillWaits(context); },
      [this, call, response](absl::StatusOr<Published> result) {
        if (!result.ok()) return Finish(call, result.status());
        ToProto(*result->notification, response->mutable_notification());
        response->set_duplicate(result->duplicate);
        response->set_live_recipients(
            static_cast<uint32_t>(result->live_recipients));
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
  if (!refused.ok()) FinishRefused(context, call, refused);
}

void NotifierService::HandleNotifyUsers(grpc::CallbackServerContext* context,
                                        const Call& call,
                                        const pb::NotifyUsersRequest& request,
                                        pb::NotifyUsersResponse* response) {
  absl::Status refused = publisher_.PublishToUsers(
      call.caller->name, "user_ids",
      {request.user_ids().begin(), request.user_ids().end()},
      ContentOf(request, call.trace_id),
      [context] { return CallerStillWaits(context); },
      [this, call, response,
       &request](absl::StatusOr<std::vector<Published>> results) {
        if (!results.ok()) return Finish(call, results.status());
        size_t live = 0;
        uint32_t stored = 0;
        for (size_t i = 0; i < results->size(); ++i) {
          const Published& r = (*results)[i];
          if (!r.duplicate) ++stored;
          live += r.live_recipients;
          pb::NotifyUsersResponse::Delivery* d = response->add_deliveries();
          d->set_user_id(request.user_ids(static_cast<int>(i)));
          d->set_id(r.notification->id);
          d->set_duplicate(r.duplicate);
        }
        response->set_stored(stored);
        response->set_live_recipients(static_cast<uint32_t>(live));
        Finish(call, absl::OkStatus());
      });
  if (!refused.ok()) FinishRefused(context, call, refused);
}

void NotifierService::HandleNotifyUser(grpc::CallbackServerContext* context,
                                       const Call& call,
                                       const pb::NotifyUserRequest& request,
                                       pb::NotifyUserResponse* response) {
  StoreNotification(context, call, Target::kUser, request.user_id(), request,
                    response);
}

void NotifierService::HandlePublish(grpc::CallbackServerContext* context,
                                    const Call& call,
                                    const pb::PublishRequest& request,
                                    pb::PublishResponse* response) {
  StoreNotification(context, call, Target::kChannel, request.channel(), request,
                    response);
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
  response->set_published_total(publisher_.stored_total());
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
