// What each Notifier RPC does: validate its request, call the store (and,
// for NotifyUser and Publish, the bus), fill its response and Finish. How a
// call gets here and is answered is in notifier_service.cc.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/notifier_service.h"
#include "api/validation.h"

namespace notifyd::api {
namespace {

namespace pb = ::notify::v1;

constexpr uint32_t kDefaultPageSize = 50;
constexpr uint32_t kMaxPageSize = 500;
constexpr size_t kMaxMarkReadIds = 1000;
constexpr uint32_t kDefaultTopChannels = 10;
constexpr uint32_t kMaxTopChannels = 1000;

void ToProto(const storage::Notification& n, pb::Notification* out) {
  out->set_id(n.id);
  out->set_channel(n.channel);
  out->set_event(n.event);
  out->set_data(n.data);
  out->mutable_created_at()->set_seconds(n.created_at_ms / 1000);
  out->mutable_created_at()->set_nanos(
      static_cast<int32_t>(n.created_at_ms % 1000) * 1000000);
  out->set_read(n.read());
}

// Runs the validations in order and returns the first failure.
absl::Status FirstError(std::initializer_list<absl::Status> checks) {
  for (const absl::Status& s : checks) {
    if (!s.ok()) return s;
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
          // sees ids in order.
          live = bus_.Publish(result->notification);
        }
        ToProto(*result->notification, response->mutable_notification());
        response->set_duplicate(result->duplicate);
        response->set_live_recipients(static_cast<uint32_t>(live));
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
  absl::Status valid = FirstError(
      {std::move(target_valid), ValidateEvent("event", request.event()),
       ValidateData("data", request.data(), options_.max_payload_bytes),
       ValidateIdempotencyKey("idempotency_key", request.idempotency_key())});
  // Checked after validation: a malformed call costs the caller no token.
  if (valid.ok()) valid = CheckPublishRate(context, call);
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  AppendAndPublish(
      call,
      storage::AppendRequest{.channel = std::move(channel),
                             .event = EffectiveEvent(request.event()),
                             .data = request.data(),
                             .idempotency_key = request.idempotency_key()},
      response);
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
  absl::Status valid;
  switch (request.target_case()) {
    case pb::ListNotificationsRequest::kUserId:
      valid = ValidateUserId("user_id", request.user_id());
      query.channel = UserChannel(request.user_id());
      break;
    case pb::ListNotificationsRequest::kChannel:
      valid = ValidatePublicChannel("channel", request.channel());
      query.channel = request.channel();
      break;
    default:
      valid = absl::InvalidArgumentError(
          "target: one of user_id or channel is required");
  }
  if (valid.ok() && request.limit() > kMaxPageSize) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("limit is ", request.limit(), "; at most ", kMaxPageSize,
                     " are allowed"));
  }
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  query.before_id = request.before_id();
  query.limit = request.limit() == 0 ? kDefaultPageSize : request.limit();
  if (request.unread_only()) query.filter = storage::ListFilter::kUnread;
  const uint32_t limit = query.limit;
  store_.List(std::move(query),
              [this, call, response,
               limit](absl::StatusOr<std::vector<storage::Notification>> rows) {
                if (!rows.ok()) {
                  Finish(call, rows.status());
                  return;
                }
                for (const storage::Notification& n : *rows) {
                  ToProto(n, response->add_notifications());
                }
                if (rows->size() == limit) {
                  response->set_next_before_id(rows->back().id);
                }
                Finish(call, absl::OkStatus());
              });
}

void NotifierService::HandleMarkRead(grpc::CallbackServerContext* /*context*/,
                                     const Call& call,
                                     const pb::MarkReadRequest& request,
                                     pb::MarkReadResponse* response) {
  absl::Status valid = ValidateUserId("user_id", request.user_id());
  if (valid.ok() && static_cast<size_t>(request.ids_size()) > kMaxMarkReadIds) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("ids has ", request.ids_size(), " entries; at most ",
                     kMaxMarkReadIds, " are allowed (use up_to_id for more)"));
  }
  if (valid.ok() && request.ids_size() == 0 && request.up_to_id() == 0) {
    valid = absl::InvalidArgumentError("ids: give ids or up_to_id");
  }
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  storage::MarkReadRequest mark{
      .channel = UserChannel(request.user_id()),
      .ids = {request.ids().begin(), request.ids().end()},
      .up_to_id = request.up_to_id()};
  store_.MarkRead(std::move(mark),
                  [this, call, response](absl::StatusOr<uint64_t> changed) {
                    if (changed.ok()) response->set_changed(*changed);
                    Finish(call, changed.status());
                  });
}

void NotifierService::HandleGetUnreadCount(
    grpc::CallbackServerContext* /*context*/, const Call& call,
    const pb::GetUnreadCountRequest& request,
    pb::GetUnreadCountResponse* response) {
  absl::Status valid = ValidateUserId("user_id", request.user_id());
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  store_.UnreadCount(UserChannel(request.user_id()),
                     [this, call, response](absl::StatusOr<uint64_t> unread) {
                       if (unread.ok()) response->set_unread(*unread);
                       Finish(call, unread.status());
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
