// How the Notifier serves a call: its reactor, the caller's authentication,
// the request's parsing, the publish rate, and finishing and counting the
// call. What each RPC does is in notifier_handlers.cc.
#include "api/notifier_service.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <array>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "api/grpc_status.h"
#include "api/publish_stream.h"
#include "common/log.h"
#include "common/trace_context.h"

namespace notifyd::api {
namespace {

// Caller label of calls rejected before a caller was known.
constexpr char kUnauthenticatedCaller[] = "unauthenticated";

// A failure that is the server's, not the caller's.
bool IsServerFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDataLoss ||
         code == absl::StatusCode::kUnknown;
}

// Indexed by NotifierService::Method.
// clang-format off
constexpr std::array<const char*, 13> kMethodNames = {
    "NotifyUser",     "Publish",    "ListNotifications",   "MarkRead",
    "GetUnreadCount", "IssueToken", "GetStats",            "MarkSeen",
    "SetArchived",    "GetCounts",  "DeleteNotifications", "NotifyUsers",
    "PublishStream"};
// clang-format on

}  // namespace

class NotifierService::Reactor : public grpc::ServerUnaryReactor {
 public:
  explicit Reactor(grpc::ByteBuffer* wire_response)
      : wire_response_(wire_response) {}

  // Writes the response into gRPC's buffer when `status` is OK; returns the
  // status to finish with (INTERNAL if the response cannot be written).
  grpc::Status WriteResponse(grpc::Status status) {
    if (!status.ok()) return status;
    return Serialize(wire_response_);
  }

  void OnDone() override { delete this; }

 private:
  virtual grpc::Status Serialize(grpc::ByteBuffer* out) const = 0;

  grpc::ByteBuffer* const wire_response_;  // owned by gRPC's call
};

template <typename Request, typename Response>
class NotifierService::TypedReactor final : public NotifierService::Reactor {
 public:
  using Reactor::Reactor;

  Request request;
  Response response;

 private:
  grpc::Status Serialize(grpc::ByteBuffer* out) const override {
    bool own_buffer = false;
    return grpc::SerializationTraits<Response>::Serialize(response, out,
                                                          &own_buffer);
  }
};

NotifierService::NotifierService(NotifierOptions options, storage::Store& store,
                                 bus::Bus& bus, Metrics& metrics)
    : options_(std::move(options)),
      store_(store),
      bus_(bus),
      published_total_(metrics.GetCounter(
          "notifyd_notifications_stored_total",
          "Notifications committed to the store (duplicates excluded)")),
      counters_(metrics, {kMethodNames.begin(), kMethodNames.end()}),
      anonymous_(counters_.Find(kAnonymousCaller)),
      unauthenticated_(counters_.Find(kUnauthenticatedCaller)),
      publish_rate_(options_.max_publish_rate),
      api_keys_(options_.api_keys) {
  static_assert(kMethodNames.size() == kMethodCount);
}

NotifierService::~NotifierService() = default;

void NotifierService::SetApiKeys(std::shared_ptr<const ApiKeySet> keys) {
  absl::MutexLock lock(&api_keys_mu_);
  api_keys_ = std::move(keys);
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* NotifierService::Serve(
    grpc::CallbackServerContext* context, Method method,
    const grpc::ByteBuffer& wire_request, grpc::ByteBuffer* wire_response,
    void (NotifierService::*handle)(grpc::CallbackServerContext*, const Call&,
                                    const Request&, Response*)) {
  // Deleted by its OnDone, which gRPC runs only after Finish and after this
  // returns it.
  auto* reactor = new TypedReactor<Request, Response>(wire_response);
  Call call;
  call.reactor = reactor;
  call.method = method;
  if (!Begin(context, &call)) return reactor;
  if (absl::Status parsed = ParseRequest(wire_request, &reactor->request);
      !parsed.ok()) {
    Finish(call, parsed);
    return reactor;
  }
  (this->*handle)(context, call, reactor->request, &reactor->response);
  return reactor;
}

bool NotifierService::Begin(grpc::CallbackServerContext* context, Call* call) {
  absl::Status status = Authenticate(context, call);
  if (status.ok()) return true;
  Finish(*call, status);
  return false;
}

absl::Status NotifierService::Authenticate(grpc::CallbackServerContext* context,
                                           Call* call) {
  const auto& metadata = context->client_metadata();
  // One traceparent exactly: with several, which one counts is ambiguous.
  if (auto [first, last] = metadata.equal_range("traceparent");
      first != last && std::next(first) == last) {
    call->trace_id = TraceIdFromTraceparent(
        absl::string_view(first->second.data(), first->second.size()));
  }
  std::shared_ptr<const ApiKeySet> keys;
  {
    absl::ReaderMutexLock lock(&api_keys_mu_);
    keys = api_keys_;
  }
  if (!keys) {
    call->caller = &anonymous_;
    return absl::OkStatus();
  }
  auto [first, last] = metadata.equal_range("authorization");
  absl::StatusOr<std::string> caller =
      absl::UnauthenticatedError(kInvalidApiKeyMessage);
  // Exactly one header: with several, which one counts would be ambiguous.
  if (first != last && std::next(first) == last) {
    caller = keys->Authenticate(
        absl::string_view(first->second.data(), first->second.size()));
  }
  if (!caller.ok()) {
    if (uint64_t dropped = 0; rejected_log_.Allow(&dropped)) {
      Log(spdlog::level::warn, "rejected an unauthenticated call",
          {{"method", MethodName(call->method)},
           {"peer", context->peer()},
           {"error", caller.status().message()},
           {"trace_id", call->trace_id},
           LogField::NonZero("dropped", dropped)});
    }
    call->caller = &unauthenticated_;
    return caller.status();
  }
  call->caller = &counters_.Find(*caller);
  return absl::OkStatus();
}

void NotifierService::CountRejectedAtMetadata(absl::string_view path) {
  constexpr absl::string_view kPrefix = "/notify.v1.Notifier/";
  const char* method_name = "unknown method";
  if (absl::ConsumePrefix(&path, kPrefix)) {
    for (size_t i = 0; i < kMethodNames.size(); ++i) {
      if (path != kMethodNames[i]) continue;
      method_name = kMethodNames[i];
      counters_.Calls(unauthenticated_, i, grpc::StatusCode::UNAUTHENTICATED)
          .Inc();
      break;
    }
  }
  if (uint64_t dropped = 0; rejected_log_.Allow(&dropped)) {
    Log(spdlog::level::warn, "rejected a call at its metadata",
        {{"method", method_name},
         {"error", kInvalidApiKeyMessage},
         LogField::NonZero("dropped", dropped)});
  }
}

absl::Status NotifierService::CheckPublishRate(
    grpc::CallbackServerContext* context, const Call& call) {
  const std::string& caller = call.caller->name;
  if (publish_rate_.TryAcquire(caller)) return absl::OkStatus();
  counters_.RateLimited(*call.caller).Inc();
  std::string message = absl::StrCat("publish rate for ", caller, " exceeded");
  if (uint64_t dropped = 0; rejected_log_.Allow(&dropped)) {
    Log(spdlog::level::warn, "rejected a call over its publish rate",
        {{"method", MethodName(call.method)},
         {"caller", caller},
         {"peer", context->peer()},
         {"trace_id", call.trace_id},
         LogField::NonZero("dropped", dropped)});
  }
  return absl::ResourceExhaustedError(message);
}

void NotifierService::Finish(const Call& call, const absl::Status& status) {
  if (!status.ok()) LogFailure(call, status);
  if (call.item != nullptr) {
    // A message of PublishStream: its response is in the item already.
    grpc::Status grpc_status = ToGrpcStatus(status);
    Count(call, grpc_status.error_code());
    call.item->Done(std::move(grpc_status));
    return;
  }
  grpc::Status grpc_status = call.reactor->WriteResponse(ToGrpcStatus(status));
  Count(call, grpc_status.error_code());
  call.reactor->Finish(std::move(grpc_status));
}

absl::string_view NotifierService::MethodName(Method method) {
  return kMethodNames[static_cast<size_t>(method)];
}

void NotifierService::LogFailure(const Call& call, const absl::Status& status) {
  const bool server_fault = IsServerFault(status.code());
  const auto level = server_fault ? spdlog::level::warn : spdlog::level::debug;
  if (!LogEnabled(level)) return;
  uint64_t dropped = 0;
  if (server_fault && !failure_log_.Allow(&dropped)) return;
  Log(level, "call failed",
      {{"method", MethodName(call.method)},
       {"caller", call.caller != nullptr ? call.caller->name : ""},
       {"code", absl::StatusCodeToString(status.code())},
       {"error", status.message()},
       {"trace_id", call.trace_id},
       LogField::NonZero("dropped", dropped)});
}

void NotifierService::Count(const Call& call, grpc::StatusCode code) {
  counters_.Calls(*call.caller, static_cast<size_t>(call.method), code).Inc();
}

// gRPC's entry points.

grpc::ServerUnaryReactor* NotifierService::NotifyUser(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kNotifyUser, *request, response,
               &NotifierService::HandleNotifyUser);
}

grpc::ServerUnaryReactor* NotifierService::NotifyUsers(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kNotifyUsers, *request, response,
               &NotifierService::HandleNotifyUsers);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
NotifierService::PublishStream(grpc::CallbackServerContext* context) {
  return new PublishStreamReactor(*this, context);
}

grpc::ServerUnaryReactor* NotifierService::Publish(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kPublish, *request, response,
               &NotifierService::HandlePublish);
}

grpc::ServerUnaryReactor* NotifierService::ListNotifications(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kListNotifications, *request, response,
               &NotifierService::HandleListNotifications);
}

grpc::ServerUnaryReactor* NotifierService::MarkRead(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kMarkRead, *request, response,
               &NotifierService::HandleMarkRead);
}

grpc::ServerUnaryReactor* NotifierService::MarkSeen(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kMarkSeen, *request, response,
               &NotifierService::HandleMarkSeen);
}

grpc::ServerUnaryReactor* NotifierService::SetArchived(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kSetArchived, *request, response,
               &NotifierService::HandleSetArchived);
}

grpc::ServerUnaryReactor* NotifierService::GetCounts(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kGetCounts, *request, response,
               &NotifierService::HandleGetCounts);
}

grpc::ServerUnaryReactor* NotifierService::DeleteNotifications(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kDeleteNotifications, *request, response,
               &NotifierService::HandleDeleteNotifications);
}

grpc::ServerUnaryReactor* NotifierService::GetUnreadCount(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kGetUnreadCount, *request, response,
               &NotifierService::HandleGetUnreadCount);
}

grpc::ServerUnaryReactor* NotifierService::IssueToken(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kIssueToken, *request, response,
               &NotifierService::HandleIssueToken);
}

grpc::ServerUnaryReactor* NotifierService::GetStats(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kGetStats, *request, response,
               &NotifierService::HandleGetStats);
}

}  // namespace notifyd::api
