// How the Notifier serves a call: its reactor, the caller's authentication,
// the request's parsing, the publish rate, and finishing and counting the
// call. What each RPC does is in notifier_handlers.cc.
#include "api/notifier_service.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

NotifierService::NotifierService(NotifierOptions options, Publisher& publisher,
                                 storage::Store& store, Metrics& metrics)
    : options_(std::move(options)),
      publisher_(publisher),
      store_(store),
      counters_(metrics, {kMethodNames.begin(), kMethodNames.end()}),
      unauthenticated_(counters_.Find(kUnauthenticatedCaller)) {
  static_assert(kMethodNames.size() == kMethodCount);
}

NotifierService::~NotifierService() = default;

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
  auto [first, last] = metadata.equal_range("authorization");
  std::vector<absl::string_view> authorization;
  for (auto it = first; it != last; ++it) {
    authorization.emplace_back(it->second.data(), it->second.size());
  }
  absl::StatusOr<std::string> caller = publisher_.Authenticate(authorization);
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

void NotifierService::FinishRefused(grpc::CallbackServerContext* context,
                                    const Call& call,
                                    const absl::Status& refusal) {
  if (absl::IsResourceExhausted(refusal)) {
    if (uint64_t dropped = 0; rejected_log_.Allow(&dropped)) {
      Log(spdlog::level::warn, "rejected a call over its publish rate",
          {{"method", MethodName(call.method)},
           {"caller", call.caller->name},
           {"peer", context->peer()},
           {"trace_id", call.trace_id},
           LogField::NonZero("dropped", dropped)});
    }
  }
  Finish(call, refusal);
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
