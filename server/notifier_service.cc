#include "server/notifier_service.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"
#include "server/validation.h"

namespace notifyd::server {
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
  out->set_read(n.read);
}

// Runs the validations in order and returns the first failure.
absl::Status FirstError(std::initializer_list<absl::Status> checks) {
  for (const absl::Status& s : checks) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

NotifierService::NotifierService(NotifierOptions options,
                                 storage::Store& store, Bus& bus,
                                 edge::Metrics& metrics)
    : options_(std::move(options)),
      store_(store),
      bus_(bus),
      metrics_(metrics),
      published_total_(metrics.GetCounter(
          "notifyd_notifications_stored_total",
          "Notifications committed to the store (duplicates excluded)")) {}

void NotifierService::Finish(grpc::ServerUnaryReactor* reactor,
                             const char* method, const absl::Status& status) {
  grpc::Status grpc_status = ToGrpcStatus(status);
  metrics_
      .GetCounter("notifyd_grpc_calls_total", "gRPC calls by method and code",
                  {{"method", method},
                   {"code", GrpcCodeName(grpc_status.error_code())}})
      .Inc();
  reactor->Finish(grpc_status);
}

template <typename Response>
void NotifierService::AppendAndPublish(grpc::ServerUnaryReactor* reactor,
                                       const char* method,
                                       storage::AppendRequest append,
                                       Response* response) {
  store_.Append(
      std::move(append),
      [this, reactor, method,
       response](absl::StatusOr<storage::AppendResult> result) {
        if (!result.ok()) {
          Finish(reactor, method, result.status());
          return;
        }
        size_t live = 0;
        if (!result->duplicate) {
          published_total_.Inc();
          // Runs on the store's writer thread, so the bus sees ids in order.
          live = bus_.Publish(result->notification);
        }
        ToProto(*result->notification, response->mutable_notification());
        response->set_duplicate(result->duplicate);
        response->set_live_recipients(static_cast<uint32_t>(live));
        Finish(reactor, method, absl::OkStatus());
      });
}

grpc::ServerUnaryReactor* NotifierService::NotifyUser(
    grpc::CallbackServerContext* context, const pb::NotifyUserRequest* request,
    pb::NotifyUserResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = FirstError(
      {ValidateUserId("user_id", request->user_id()),
       ValidateEvent("event", request->event()),
       ValidateData("data", request->data(), options_.max_payload_bytes),
       ValidateIdempotencyKey("idempotency_key",
                              request->idempotency_key())});
  if (!valid.ok()) {
    Finish(reactor, "NotifyUser", valid);
    return reactor;
  }
  AppendAndPublish(reactor, "NotifyUser",
                   storage::AppendRequest{
                       .channel = UserChannel(request->user_id()),
                       .event = EffectiveEvent(request->event()),
                       .data = request->data(),
                       .idempotency_key = request->idempotency_key()},
                   response);
  return reactor;
}

grpc::ServerUnaryReactor* NotifierService::Publish(
    grpc::CallbackServerContext* context, const pb::PublishRequest* request,
    pb::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = FirstError(
      {ValidatePublicChannel("channel", request->channel()),
       ValidateEvent("event", request->event()),
       ValidateData("data", request->data(), options_.max_payload_bytes),
       ValidateIdempotencyKey("idempotency_key",
                              request->idempotency_key())});
  if (!valid.ok()) {
    Finish(reactor, "Publish", valid);
    return reactor;
  }
  AppendAndPublish(reactor, "Publish",
                   storage::AppendRequest{
                       .channel = request->channel(),
                       .event = EffectiveEvent(request->event()),
                       .data = request->data(),
                       .idempotency_key = request->idempotency_key()},
                   response);
  return reactor;
}

grpc::ServerUnaryReactor* NotifierService::ListNotifications(
    grpc::CallbackServerContext* context,
    const pb::ListNotificationsRequest* request,
    pb::ListNotificationsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  storage::ListQuery query;
  absl::Status valid;
  switch (request->target_case()) {
    case pb::ListNotificationsRequest::kUserId:
      valid = ValidateUserId("user_id", request->user_id());
      query.channel = UserChannel(request->user_id());
      break;
    case pb::ListNotificationsRequest::kChannel:
      valid = ValidatePublicChannel("channel", request->channel());
      query.channel = request->channel();
      break;
    default:
      valid = absl::InvalidArgumentError(
          "target: one of user_id or channel is required");
  }
  if (valid.ok() && request->limit() > kMaxPageSize) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "limit is ", request->limit(), "; at most ", kMaxPageSize,
        " are allowed"));
  }
  if (!valid.ok()) {
    Finish(reactor, "ListNotifications", valid);
    return reactor;
  }
  query.before_id = request->before_id();
  query.limit = request->limit() == 0 ? kDefaultPageSize : request->limit();
  query.unread_only = request->unread_only();
  const uint32_t limit = query.limit;
  store_.List(std::move(query),
              [this, reactor, response,
               limit](absl::StatusOr<std::vector<storage::Notification>> rows) {
                if (!rows.ok()) {
                  Finish(reactor, "ListNotifications", rows.status());
                  return;
                }
                for (const storage::Notification& n : *rows) {
                  ToProto(n, response->add_notifications());
                }
                if (rows->size() == limit) {
                  response->set_next_before_id(rows->back().id);
                }
                Finish(reactor, "ListNotifications", absl::OkStatus());
              });
  return reactor;
}

grpc::ServerUnaryReactor* NotifierService::MarkRead(
    grpc::CallbackServerContext* context, const pb::MarkReadRequest* request,
    pb::MarkReadResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = ValidateUserId("user_id", request->user_id());
  if (valid.ok() && static_cast<size_t>(request->ids_size()) > kMaxMarkReadIds) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "ids has ", request->ids_size(), " entries; at most ",
        kMaxMarkReadIds, " are allowed (use up_to_id for more)"));
  }
  if (valid.ok() && request->ids_size() == 0 && request->up_to_id() == 0) {
    valid = absl::InvalidArgumentError("ids: give ids or up_to_id");
  }
  if (!valid.ok()) {
    Finish(reactor, "MarkRead", valid);
    return reactor;
  }
  storage::MarkReadRequest mark{
      .channel = UserChannel(request->user_id()),
      .ids = {request->ids().begin(), request->ids().end()},
      .up_to_id = request->up_to_id()};
  store_.MarkRead(std::move(mark),
                  [this, reactor, response](absl::StatusOr<uint64_t> changed) {
                    if (changed.ok()) response->set_changed(*changed);
                    Finish(reactor, "MarkRead", changed.status());
                  });
  return reactor;
}

grpc::ServerUnaryReactor* NotifierService::GetUnreadCount(
    grpc::CallbackServerContext* context,
    const pb::GetUnreadCountRequest* request,
    pb::GetUnreadCountResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = ValidateUserId("user_id", request->user_id());
  if (!valid.ok()) {
    Finish(reactor, "GetUnreadCount", valid);
    return reactor;
  }
  store_.UnreadCount(
      UserChannel(request->user_id()),
      [this, reactor, response](absl::StatusOr<uint64_t> unread) {
        if (unread.ok()) response->set_unread(*unread);
        Finish(reactor, "GetUnreadCount", unread.status());
      });
  return reactor;
}

grpc::ServerUnaryReactor* NotifierService::IssueToken(
    grpc::CallbackServerContext* context,
    const pb::IssueTokenRequest* request, pb::IssueTokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!options_.issue_token) {
    Finish(reactor, "IssueToken",
           absl::UnimplementedError(
               "IssueToken needs a token key (--token_key_file)"));
    return reactor;
  }
  absl::Status valid = ValidateUserId("user_id", request->user_id());
  for (int i = 0; valid.ok() && i < request->channels_size(); ++i) {
    absl::string_view channel = request->channels(i);
    // A trailing '*' grants a prefix; the rest must be a valid name.
    if (channel.size() > 1 && channel.back() == '*') {
      channel.remove_suffix(1);
    }
    valid = ValidatePublicChannel(absl::StrCat("channels[", i, "]"), channel);
  }
  if (!valid.ok()) {
    Finish(reactor, "IssueToken", valid);
    return reactor;
  }
  auto token = options_.issue_token(
      request->user_id(),
      {request->channels().begin(), request->channels().end()},
      request->ttl_seconds());
  if (token.ok()) {
    response->set_token(token->first);
    response->mutable_expires_at()->set_seconds(token->second);
  }
  Finish(reactor, "IssueToken", token.status());
  return reactor;
}

grpc::ServerUnaryReactor* NotifierService::GetStats(
    grpc::CallbackServerContext* context, const pb::GetStatsRequest* request,
    pb::GetStatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->top_channels() > kMaxTopChannels) {
    Finish(reactor, "GetStats",
           absl::InvalidArgumentError(absl::StrCat(
               "top_channels is ", request->top_channels(), "; at most ",
               kMaxTopChannels, " are allowed")));
    return reactor;
  }
  const size_t top_n = request->top_channels() == 0 ? kDefaultTopChannels
                                                    : request->top_channels();
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
  store_.Stats([this, reactor,
                response](absl::StatusOr<storage::StoreStats> stats) {
    if (stats.ok()) {
      response->set_stored_notifications(stats->notifications);
      response->set_store_bytes(stats->bytes);
    }
    Finish(reactor, "GetStats", stats.status());
  });
  return reactor;
}

}  // namespace notifyd::server
