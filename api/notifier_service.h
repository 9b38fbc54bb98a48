// notify.v1.Notifier on gRPC's callback API.
//
// Handlers validate on the gRPC thread, hand the work to the Store (which
// owns the threads that touch SQLite) and finish the call from the store's
// callback. A committed notification is published to the Bus from the
// store's writer thread, in id order, before the call is answered.
//
// Publisher authentication (docs/DESIGN.md, Security) happens here rather
// than in an interceptor: every call starts with Begin(), which resolves
// the caller from the `authorization` metadata through the Publisher
// (api/publisher.h: its API keys, or "anonymous" when none are configured)
// and answers UNAUTHENTICATED otherwise.
// With TLS, api/auth_processor.h refuses the same calls earlier, before
// their message is read, and tells CountRejectedAtMetadata; Begin checks
// the header all the same. Health and reflection are separate services and
// stay open. NotifyUser, NotifyUsers and Publish are the Publisher's:
// validation, the caller's publish-rate token, the store and the bus, the
// same for HTTP publishing on the admin listener; the service adds what is
// gRPC's (parsing, the call's deadline, the response message).
//
// The methods are registered raw (ByteBuffer in, ByteBuffer out) and the
// service parses requests itself: for a request that does not parse, gRPC
// 1.51's generated callback handler ignores the parse status and answers
// UNIMPLEMENTED with no message, which a client reads as "no such method".
// Parsed here (after authentication), it answers INVALID_ARGUMENT saying
// what is wrong. The method table is unchanged; reflection is served
// from embedded descriptors (api/reflection_service.h).
//
// Every call is counted by method, code and caller (api/call_counters.h).
//
// Written in three files: notifier_service.cc serves a call (reactor,
// authentication, parsing, publish rate, finishing and counting),
// notifier_handlers.cc holds what the publishing, listing and operator RPCs
// do with the store and the bus, and notifier_inbox_handlers.cc what the
// inbox's RPCs do (state changes, counts, deletes).
//
// Every write that commits something to a channel's stream publishes it to
// the bus from the store's callback, in commit order: a notification, the
// deletion record of the older notifications its collapse key replaced
// (first: its id is one less), and the state or deletion record of
// MarkRead, MarkSeen, SetArchived and DeleteNotifications, so that every
// stream of the user on every instance learns of it (docs/DESIGN.md, The
// inbox). Only NotifyUser, NotifyUsers and Publish take publish-rate
// tokens, one per call.
//
// Thread-safe; the Publisher, Store and Metrics must outlive the service.
#ifndef NOTIFYD_API_NOTIFIER_SERVICE_H_
#define NOTIFYD_API_NOTIFIER_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "api/call_counters.h"
#include "api/publisher.h"
#include "common/log_limiter.h"
#include "common/metrics.h"
#include "notify/v1/notify.grpc.pb.h"
#include "storage/store.h"

namespace notifyd::api {

// What the SSE edge knows about live streams, for GetStats.
struct LiveStats {
  uint64_t connections = 0;
  std::vector<std::pair<std::string, uint64_t>> top_channels;
  uint64_t delivered_total = 0;
};

// What the service adds to its Publisher (which holds the API keys, the
// payload limit, the publish rate and the retention bound).
struct NotifierOptions {
  // Answers for GetStats; absent means no edge is running.
  std::function<LiveStats(size_t top_n)> live_stats;
  // PublishStream: messages read ahead of their answers, at most.
  size_t max_stream_inflight = 256;
  // Mints subscriber tokens; absent means IssueToken is UNIMPLEMENTED.
  std::function<absl::StatusOr<std::pair<std::string, int64_t>>(
      const std::string& user_id, const std::vector<std::string>& channels,
      uint32_t ttl_seconds)>
      issue_token;
};

// The Notifier service with every method taking raw bytes.
using RawNotifierService =
    notify::v1::Notifier::WithRawCallbackMethod_PublishStream<
        notify::v1::Notifier::WithRawCallbackMethod_NotifyUsers<
            notify::v1::Notifier::WithRawCallbackMethod_NotifyUser<
                notify::v1::Notifier::WithRawCallbackMethod_Publish<
                    notify::v1::Notifier::WithRawCallbackMethod_ListNotifications<
                        notify::v1::Notifier::WithRawCallbackMethod_MarkRead<
                            notify::v1::Notifier::WithRawCallbackMethod_MarkSeen<
                                notify::v1::Notifier::
                                    WithRawCallbackMethod_SetArchived<notify::v1::Notifier::WithRawCallbackMethod_GetUnreadCount<
                                        notify::v1::
                                            Notifier::WithRawCallbackMethod_GetCounts<
                                                notify::
                                                    v1::Notifier::WithRawCallbackMethod_DeleteNotifications<
                                                        notify::
                                                            v1::Notifier::WithRawCallbackMethod_IssueToken<
                                                                notify::
                                                                    v1::Notifier::WithRawCallbackMethod_GetStats<
                                                                        notify::
                                                                            v1::Notifier::
                                                                                Service>>>>>>>>>>>>>;

// A message of PublishStream as NotifierService::Finish sees it: the
// handler has filled the item's response; Done gets the message's status,
// once, on whichever thread finished it (a gRPC thread for a refusal, the
// store's completer thread after a commit).
class StreamItem {
 public:
  virtual ~StreamItem() = default;
  virtual void Done(grpc::Status status) = 0;
};

class PublishStreamReactor;

class NotifierService final : public RawNotifierService {
 public:
  NotifierService(NotifierOptions options, Publisher& publisher,
                  storage::Store& store, Metrics& metrics);
  ~NotifierService() override;

  // gRPC's entry points: each authenticates the caller, parses its request
  // and runs its Handle* method below.
  grpc::ServerUnaryReactor* NotifyUser(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* NotifyUsers(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  // A producer's stream of NotifyUser and Publish messages (publish_stream.h).
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PublishStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ListNotifications(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* MarkRead(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* MarkSeen(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SetArchived(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetUnreadCount(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetCounts(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteNotifications(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* IssueToken(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

  // Counts and logs (rate-limited, like Begin's refusals) a call that
  // api/auth_processor.h refused before it reached the service: `path` is
  // its ":path"; a path that is not a Notifier method is logged as
  // "unknown method" and not counted. Thread-safe, non-blocking.
  void CountRejectedAtMetadata(absl::string_view path);

 private:
  enum class Method : size_t {
    kNotifyUser,
    kPublish,
    kListNotifications,
    kMarkRead,
    kGetUnreadCount,
    kIssueToken,
    kGetStats,
    kMarkSeen,
    kSetArchived,
    kGetCounts,
    kDeleteNotifications,
    kNotifyUsers,
    kPublishStream,
  };
  static constexpr size_t kMethodCount = 13;

  // The reactor of one call; owns the parsed request and the response
  // until gRPC is done with the call (defined in the .cc).
  class Reactor;
  template <typename Request, typename Response>
  class TypedReactor;
  using Caller = CallCounters::Caller;

  friend class PublishStreamReactor;

  // One call in progress: what Finish needs to answer, count and log it.
  // Cheap to copy; valid until Finish. A message of PublishStream has no
  // reactor of its own but an `item`, which Finish tells instead.
  struct Call {
    Reactor* reactor = nullptr;
    Method method = Method::kNotifyUser;
    Caller* caller = nullptr;
    StreamItem* item = nullptr;
    // The trace id of the call's `traceparent` metadata
    // (common/trace_context.h), a view into the call's metadata; empty when
    // absent, repeated or malformed. Logged with what the call does and
    // carried by what it publishes.
    absl::string_view trace_id;
  };

  // Creates the call's reactor, authenticates the caller, parses the
  // request and runs `handle`, which must end in Finish (now or later).
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Serve(
      grpc::CallbackServerContext* context, Method method,
      const grpc::ByteBuffer& wire_request, grpc::ByteBuffer* wire_response,
      void (NotifierService::*handle)(grpc::CallbackServerContext*, const Call&,
                                      const Request&, Response*));

  // Authenticates the call and fills call->caller (and call->trace_id, so
  // that a refusal's log line has it). False when rejected: the call is
  // then finished (UNAUTHENTICATED, logged at warn). Authenticate does the
  // same without finishing, returning the refusal.
  bool Begin(grpc::CallbackServerContext* context, Call* call);
  absl::Status Authenticate(grpc::CallbackServerContext* context, Call* call);
  // Counts a finished call (or stream message) under its caller and method.
  void Count(const Call& call, grpc::StatusCode code);
  // Logs a call that failed with `status` (see Finish).
  void LogFailure(const Call& call, const absl::Status& status);
  static absl::string_view MethodName(Method method);

  void HandleNotifyUser(grpc::CallbackServerContext* context, const Call& call,
                        const notify::v1::NotifyUserRequest& request,
                        notify::v1::NotifyUserResponse* response);
  void HandleNotifyUsers(grpc::CallbackServerContext* context, const Call& call,
                         const notify::v1::NotifyUsersRequest& request,
                         notify::v1::NotifyUsersResponse* response);
  void HandlePublish(grpc::CallbackServerContext* context, const Call& call,
                     const notify::v1::PublishRequest& request,
                     notify::v1::PublishResponse* response);
  void HandleListNotifications(
      grpc::CallbackServerContext* context, const Call& call,
      const notify::v1::ListNotificationsRequest& request,
      notify::v1::ListNotificationsResponse* response);
  void HandleMarkRead(grpc::CallbackServerContext* context, const Call& call,
                      const notify::v1::MarkReadRequest& request,
                      notify::v1::MarkReadResponse* response);
  // The inbox's RPCs (notifier_inbox_handlers.cc).
  void HandleMarkSeen(grpc::CallbackServerContext* context, const Call& call,
                      const notify::v1::MarkSeenRequest& request,
                      notify::v1::MarkSeenResponse* response);
  void HandleSetArchived(grpc::CallbackServerContext* context, const Call& call,
                         const notify::v1::SetArchivedRequest& request,
                         notify::v1::SetArchivedResponse* response);
  void HandleGetCounts(grpc::CallbackServerContext* context, const Call& call,
                       const notify::v1::GetCountsRequest& request,
                       notify::v1::GetCountsResponse* response);
  void HandleDeleteNotifications(
      grpc::CallbackServerContext* context, const Call& call,
      const notify::v1::DeleteNotificationsRequest& request,
      notify::v1::DeleteNotificationsResponse* response);
  void HandleGetUnreadCount(grpc::CallbackServerContext* context,
                            const Call& call,
                            const notify::v1::GetUnreadCountRequest& request,
                            notify::v1::GetUnreadCountResponse* response);
  void HandleIssueToken(grpc::CallbackServerContext* context, const Call& call,
                        const notify::v1::IssueTokenRequest& request,
                        notify::v1::IssueTokenResponse* response);
  void HandleGetStats(grpc::CallbackServerContext* context, const Call& call,
                      const notify::v1::GetStatsRequest& request,
                      notify::v1::GetStatsResponse* response);

  // NotifyUser and Publish through the Publisher (`name` is the user id
  // or the channel), queued for the store only while the caller still
  // waits: a call whose deadline has passed answers DEADLINE_EXCEEDED (a
  // cancelled one CANCELLED), saying nothing was stored, and is not
  // stored. Fills the response once committed, then finishes the call.
  template <typename Request, typename Response>
  void StoreNotification(grpc::CallbackServerContext* context, const Call& call,
                         Target target, absl::string_view name,
                         const Request& request, Response* response);

  // Finishes a call the Publisher refused, logging (rate-limited) a refusal
  // by the publish rate with the method, caller and peer.
  void FinishRefused(grpc::CallbackServerContext* context, const Call& call,
                     const absl::Status& refusal);

  // MarkRead, MarkSeen and SetArchived: checks the user and the ids
  // (`valid` is what the caller checked already), applies `change` on the
  // user's inbox, publishes its state record (as AppendAndPublish does a
  // notification), fills `changed` and `counts`, then finishes the call.
  template <typename Request, typename Response>
  void ChangeStateAndPublish(const Call& call, const Request& request,
                             storage::StateChange change, Response* response);

  // Finishes the call and counts it by method, code and caller. A failure
  // is logged: at debug, or at warn (rate-limited) when the server is at
  // fault (INTERNAL, UNAVAILABLE, DATA_LOSS, UNKNOWN: a store error).
  void Finish(const Call& call, const absl::Status& status);

  const NotifierOptions options_;
  Publisher& publisher_;
  storage::Store& store_;
  // notifyd_grpc_calls_total.
  CallCounters counters_;
  Caller& unauthenticated_;  // calls rejected before a caller was known
  // Rejected calls are logged, but a flood of them must not flood the log;
  // nor may failing store calls.
  LogLimiter rejected_log_;
  LogLimiter failure_log_;
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_NOTIFIER_SERVICE_H_
