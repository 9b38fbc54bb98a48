#include "server/notifier_service.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/grpc_status.h"
#include "server/validation.h"
#include "spdlog/spdlog.h"

namespace notifyd::server {
namespace {

namespace pb = ::notify::v1;

constexpr uint32_t kDefaultPageSize = 50;
constexpr uint32_t kMaxPageSize = 500;
constexpr size_t kMaxMarkReadIds = 1000;
constexpr uint32_t kDefaultTopChannels = 10;
constexpr uint32_t kMaxTopChannels = 1000;
// Caller label of calls rejected before a caller was known.
constexpr char kUnauthenticatedCaller[] = "unauthenticated";
// grpc::StatusCode runs from OK (0) to UNAUTHENTICATED (16).
constexpr size_t kCodeCount = grpc::StatusCode::UNAUTHENTICATED + 1;
// Indexed by NotifierService::Method.
constexpr std::array<const char*, 7> kMethodNames = {
    "NotifyUser",     "Publish",    "ListNotifications", "MarkRead",
    "GetUnreadCount", "IssueToken", "GetStats"};

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

struct NotifierService::Caller {
  explicit Caller(std::string caller_name) : name(std::move(caller_name)) {}

  const std::string name;
  // notifyd_grpc_calls_total by method and code: null until first counted.
  std::array<std::atomic<edge::Counter*>, kMethodCount * kCodeCount> calls{};
  // notifyd_publish_rate_limited_total: null until first counted.
  std::atomic<edge::Counter*> rate_limited{nullptr};
};

// Callers by name. Readers probe an open-addressing table of pointers
// without a lock; a caller seen for the first time (API keys are reloaded
// at run time) is added under a mutex. The table only grows: a full one is
// replaced by one twice its size, and the old one is kept for readers still
// probing it (at most as many slots as the current one, in all). Callers
// are never removed, like the publish-rate buckets: they are the names in
// the API keys file plus two.
class NotifierService::Callers {
  static_assert(kMethodNames.size() == kMethodCount);

 public:
  explicit Callers(edge::Metrics& metrics) : metrics_(metrics) {
    absl::MutexLock lock(&mu_);
    tables_.push_back(std::make_unique<Table>(kInitialSlots));
    table_.store(tables_.back().get(), std::memory_order_release);
  }

  Caller& Find(absl::string_view name) {
    if (Caller* caller =
            Lookup(*table_.load(std::memory_order_acquire), name)) {
      return *caller;
    }
    absl::MutexLock lock(&mu_);
    const Table* table = table_.load(std::memory_order_relaxed);
    if (Caller* caller = Lookup(*table, name)) return *caller;
    Caller* caller =
        callers_.emplace_back(std::make_unique<Caller>(std::string(name)))
            .get();
    // At most half full, so a probe always ends at an empty slot.
    if (2 * callers_.size() > table->size) {
      tables_.push_back(std::make_unique<Table>(2 * table->size));
      for (const auto& each : callers_) Insert(*tables_.back(), each.get());
      table_.store(tables_.back().get(), std::memory_order_release);
    } else {
      Insert(*table, caller);
    }
    return *caller;
  }

  edge::Counter& Calls(Caller& caller, Method method, grpc::StatusCode code) {
    auto code_index = static_cast<size_t>(code);
    if (code_index >= kCodeCount) {  // not a canonical code: as GrpcCodeName
      code = grpc::StatusCode::UNKNOWN;
      code_index = static_cast<size_t>(code);
    }
    const auto method_index = static_cast<size_t>(method);
    return Resolve(caller.calls[method_index * kCodeCount + code_index], [&] {
      return &metrics_.GetCounter(
          "notifyd_grpc_calls_total",
          "gRPC calls by method, code and caller (API key name)",
          {{"method", kMethodNames[method_index]},
           {"code", GrpcCodeName(code)},
           {"caller", caller.name}});
    });
  }

  edge::Counter& RateLimited(Caller& caller) {
    return Resolve(caller.rate_limited, [&] {
      return &metrics_.GetCounter(
          "notifyd_publish_rate_limited_total",
          "NotifyUser and Publish calls rejected by --max_publish_rate, by "
          "caller",
          {{"caller", caller.name}});
    });
  }

 private:
  static constexpr size_t kInitialSlots = 16;

  // A power of two of slots, each null or a caller; a slot once set never
  // changes.
  struct Table {
    explicit Table(size_t n)
        : size(n), slots(std::make_unique<std::atomic<Caller*>[]>(n)) {}
    const size_t size;
    const std::unique_ptr<std::atomic<Caller*>[]> slots;
  };

  static Caller* Lookup(const Table& table, absl::string_view name) {
    const size_t mask = table.size - 1;
    for (size_t i = absl::HashOf(name) & mask;; i = (i + 1) & mask) {
      Caller* caller = table.slots[i].load(std::memory_order_acquire);
      if (caller == nullptr || caller->name == name) return caller;
    }
  }

  static void Insert(const Table& table, Caller* caller) {
    const size_t mask = table.size - 1;
    size_t i = absl::HashOf(absl::string_view(caller->name)) & mask;
    while (table.slots[i].load(std::memory_order_relaxed) != nullptr) {
      i = (i + 1) & mask;
    }
    table.slots[i].store(caller, std::memory_order_release);
  }

  // The counter in `slot`, looked up with `get` the first time. Two threads
  // may both look it up: the registry returns the same counter to both.
  template <typename Get>
  static edge::Counter& Resolve(std::atomic<edge::Counter*>& slot, Get get) {
    edge::Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = get();
      slot.store(counter, std::memory_order_release);
    }
    return *counter;
  }

  edge::Metrics& metrics_;
  std::atomic<const Table*> table_{nullptr};
  absl::Mutex mu_;
  // Every table made; the last is table_.
  std::vector<std::unique_ptr<Table>> tables_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Caller>> callers_ ABSL_GUARDED_BY(mu_);
};

NotifierService::NotifierService(NotifierOptions options, storage::Store& store,
                                 bus::Bus& bus, edge::Metrics& metrics)
    : options_(std::move(options)),
      store_(store),
      bus_(bus),
      published_total_(metrics.GetCounter(
          "notifyd_notifications_stored_total",
          "Notifications committed to the store (duplicates excluded)")),
      callers_(std::make_unique<Callers>(metrics)),
      anonymous_(callers_->Find(kAnonymousCaller)),
      unauthenticated_(callers_->Find(kUnauthenticatedCaller)),
      publish_rate_(options_.max_publish_rate),
      api_keys_(options_.api_keys) {}

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
  Call call{.reactor = reactor, .method = method};
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
  std::shared_ptr<const ApiKeySet> keys;
  {
    absl::ReaderMutexLock lock(&api_keys_mu_);
    keys = api_keys_;
  }
  if (!keys) {
    call->caller = &anonymous_;
    return true;
  }
  const auto& metadata = context->client_metadata();
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
      spdlog::warn("rejected {} from {}: {}{}",
                   kMethodNames[static_cast<size_t>(call->method)],
                   context->peer(), std::string(caller.status().message()),
                   LogLimiter::DroppedNote(dropped));
    }
    call->caller = &unauthenticated_;
    Finish(*call, caller.status());
    return false;
  }
  call->caller = &callers_->Find(*caller);
  return true;
}

absl::Status NotifierService::CheckPublishRate(
    grpc::CallbackServerContext* context, const Call& call) {
  const std::string& caller = call.caller->name;
  if (publish_rate_.TryAcquire(caller)) return absl::OkStatus();
  callers_->RateLimited(*call.caller).Inc();
  std::string message = absl::StrCat("publish rate for ", caller, " exceeded");
  if (uint64_t dropped = 0; rejected_log_.Allow(&dropped)) {
    spdlog::warn("rejected {} from {} ({}): {}{}",
                 kMethodNames[static_cast<size_t>(call.method)], caller,
                 context->peer(), message, LogLimiter::DroppedNote(dropped));
  }
  return absl::ResourceExhaustedError(message);
}

void NotifierService::Finish(const Call& call, const absl::Status& status) {
  grpc::Status grpc_status = call.reactor->WriteResponse(ToGrpcStatus(status));
  callers_->Calls(*call.caller, call.method, grpc_status.error_code()).Inc();
  call.reactor->Finish(std::move(grpc_status));
}

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

// gRPC's entry points.

grpc::ServerUnaryReactor* NotifierService::NotifyUser(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Serve(context, Method::kNotifyUser, *request, response,
               &NotifierService::HandleNotifyUser);
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

}  // namespace notifyd::server
