// What the inbox's RPCs of the Notifier do (docs/DESIGN.md, The inbox):
// MarkRead, MarkSeen and SetArchived change per-user state, GetCounts and
// GetUnreadCount read the counts the store keeps, DeleteNotifications
// deletes. A change that committed a record publishes it to the bus, from
// the store's completer thread in commit order, so that every stream of the
// user on every instance learns of it. How a call gets here and is answered
// is in notifier_service.cc.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/notifier_convert.h"
#include "api/notifier_service.h"
#include "api/validation.h"

namespace notifyd::api {
namespace {

namespace pb = ::notify::v1;

// What a change of state names: `ids` and/or `up_to_id`.
template <typename Request>
absl::Status ValidateChangeTargets(const Request& request) {
  return FirstError(
      {ValidateUserId("user_id", request.user_id()),
       ValidateIdCount("ids", static_cast<size_t>(request.ids_size()),
                       " (use up_to_id for more)"),
       request.ids_size() == 0 && request.up_to_id() == 0
           ? absl::InvalidArgumentError("ids: give ids or up_to_id")
           : absl::OkStatus()});
}

}  // namespace

template <typename Request, typename Response>
void NotifierService::ChangeStateAndPublish(const Call& call,
                                            const Request& request,
                                            storage::StateChange change,
                                            Response* response) {
  if (absl::Status valid = ValidateChangeTargets(request); !valid.ok()) {
    Finish(call, valid);
    return;
  }
  change.channel = UserChannel(request.user_id());
  change.ids.assign(request.ids().begin(), request.ids().end());
  change.up_to_id = request.up_to_id();
  change.trace_id = std::string(call.trace_id);
  store_.ChangeState(
      std::move(change),
      [this, call, response](absl::StatusOr<storage::ChangeResult> result) {
        if (!result.ok()) {
          Finish(call, result.status());
          return;
        }
        publisher_.PublishRecord(result->record);
        response->set_changed(result->changed);
        ToProto(result->counts, response->mutable_counts());
        Finish(call, absl::OkStatus());
      });
}

void NotifierService::HandleMarkRead(grpc::CallbackServerContext* /*context*/,
                                     const Call& call,
                                     const pb::MarkReadRequest& request,
                                     pb::MarkReadResponse* response) {
  storage::StateChange change;
  change.read = !request.unread();
  ChangeStateAndPublish(call, request, std::move(change), response);
}

void NotifierService::HandleMarkSeen(grpc::CallbackServerContext* /*context*/,
                                     const Call& call,
                                     const pb::MarkSeenRequest& request,
                                     pb::MarkSeenResponse* response) {
  storage::StateChange change;
  change.seen = true;
  ChangeStateAndPublish(call, request, std::move(change), response);
}

void NotifierService::HandleSetArchived(
    grpc::CallbackServerContext* /*context*/, const Call& call,
    const pb::SetArchivedRequest& request, pb::SetArchivedResponse* response) {
  storage::StateChange change;
  change.archived = request.archived();
  ChangeStateAndPublish(call, request, std::move(change), response);
}

void NotifierService::HandleGetCounts(grpc::CallbackServerContext* /*context*/,
                                      const Call& call,
                                      const pb::GetCountsRequest& request,
                                      pb::GetCountsResponse* response) {
  absl::Status valid = ValidateUserId("user_id", request.user_id());
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  store_.GetCounts(
      UserChannel(request.user_id()),
      [this, call, response](absl::StatusOr<storage::Counts> counts) {
        if (counts.ok()) {
          response->set_unread(counts->unread);
          response->set_unseen(counts->unseen);
        }
        Finish(call, counts.status());
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

void NotifierService::HandleDeleteNotifications(
    grpc::CallbackServerContext* /*context*/, const Call& call,
    const pb::DeleteNotificationsRequest& request,
    pb::DeleteNotificationsResponse* response) {
  const bool user = request.has_user_id();
  absl::StatusOr<std::string> channel = TargetChannel(request);
  absl::Status valid = FirstError(
      {channel.status(),
       ValidateIdCount("ids", static_cast<size_t>(request.ids_size()),
                       " (or delete by collapse_key)"),
       ValidateCollapseKey("collapse_key", request.collapse_key()),
       request.ids_size() == 0 && request.collapse_key().empty()
           ? absl::InvalidArgumentError("ids: give ids or a collapse_key")
           : absl::OkStatus()});
  if (!valid.ok()) {
    Finish(call, valid);
    return;
  }
  storage::DeleteRequest remove{
      .channel = *std::move(channel),
      .ids = {request.ids().begin(), request.ids().end()},
      .collapse_key = request.collapse_key(),
      .trace_id = std::string(call.trace_id)};
  store_.Delete(std::move(remove),
                [this, call, response,
                 user](absl::StatusOr<storage::ChangeResult> result) {
                  if (!result.ok()) {
                    Finish(call, result.status());
                    return;
                  }
                  publisher_.PublishRecord(result->record);
                  response->set_deleted(result->changed);
                  if (user) ToProto(result->counts, response->mutable_counts());
                  Finish(call, absl::OkStatus());
                });
}

}  // namespace notifyd::api
