#include "api/publisher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/validation.h"
#include "common/log.h"

namespace notifyd::api {
namespace {

// What one recipient's row of a request stores on `channel`.
storage::AppendRequest ToAppend(std::string channel,
                                const PublishContent& content,
                                int64_t expires_at_ms) {
  return storage::AppendRequest{
      .channel = std::move(channel),
      .event = EffectiveEvent(content.event),
      .data = std::string(content.data),
      .idempotency_key = std::string(content.idempotency_key),
      .expires_at_ms = expires_at_ms,
      .collapse_key = std::string(content.collapse_key),
      .trace_id = std::string(content.trace_id)};
}

}  // namespace

Publisher::Publisher(PublisherOptions options, storage::Store& store,
                     bus::Bus& bus, Metrics& metrics)
    : options_(std::move(options)),
      store_(store),
      bus_(bus),
      metrics_(metrics),
      stored_total_(metrics.GetCounter(
          "notifyd_notifications_stored_total",
          "Notifications committed to the store (duplicates excluded)")),
      rate_(options_.max_publish_rate),
      api_keys_(options_.api_keys) {}

void Publisher::SetApiKeys(std::shared_ptr<const ApiKeySet> keys) {
  absl::MutexLock lock(&api_keys_mu_);
  api_keys_ = std::move(keys);
}

absl::StatusOr<std::string> Publisher::Authenticate(
    absl::Span<const absl::string_view> authorization) const {
  std::shared_ptr<const ApiKeySet> keys;
  {
    absl::ReaderMutexLock lock(&api_keys_mu_);
    keys = api_keys_;
  }
  if (!keys) return std::string(kAnonymousCaller);
  // Exactly one: with several, which one counts would be ambiguous.
  if (authorization.size() != 1) {
    return absl::UnauthenticatedError(kInvalidApiKeyMessage);
  }
  return keys->Authenticate(authorization.front());
}

absl::Status Publisher::ValidateContent(const PublishContent& content,
                                        int64_t* expires_at_ms) const {
  *expires_at_ms = 0;
  absl::Status valid = FirstError(
      {ValidateEvent("event", content.event),
       ValidateData("data", content.data, options_.max_payload_bytes),
       ValidateIdempotencyKey("idempotency_key", content.idempotency_key),
       ValidateCollapseKey("collapse_key", content.collapse_key)});
  if (valid.ok() && content.expires_at.has_value()) {
    valid = ValidateExpiresAt("expires_at", content.expires_at->seconds,
                              content.expires_at->nanos, absl::Now(),
                              options_.retention, expires_at_ms);
  }
  return valid;
}

absl::Status Publisher::TakeToken(absl::string_view caller) {
  if (rate_.TryAcquire(caller)) return absl::OkStatus();
  Counter* counter = nullptr;
  {
    absl::MutexLock lock(&rate_limited_mu_);
    Counter*& slot = rate_limited_[caller];
    if (slot == nullptr) {
      slot = &metrics_.GetCounter(
          "notifyd_publish_rate_limited_total",
          "Publishing calls (gRPC and HTTP) rejected by --max_publish_rate, "
          "by caller",
          {{"caller", std::string(caller)}});
    }
    counter = slot;
  }
  counter->Inc();
  return absl::ResourceExhaustedError(
      absl::StrCat("publish rate for ", caller, " exceeded"));
}

absl::Status Publisher::Publish(absl::string_view caller, Target target,
                                absl::string_view name,
                                const PublishContent& content,
                                BeforeStore before_store, Done done) {
  int64_t expires_at_ms = 0;
  absl::Status valid = target == Target::kUser
                           ? ValidateUserId("user_id", name)
                           : ValidatePublicChannel("channel", name);
  if (valid.ok()) valid = ValidateContent(content, &expires_at_ms);
  // After validation: a malformed request costs the caller no token.
  if (valid.ok()) valid = TakeToken(caller);
  if (valid.ok()) valid = before_store();
  if (!valid.ok()) return valid;
  std::string channel =
      target == Target::kUser ? UserChannel(name) : std::string(name);
  store_.Append(
      ToAppend(std::move(channel), content, expires_at_ms),
      [this, caller = std::string(caller),
       trace_id = std::string(content.trace_id),
       done = std::move(done)](absl::StatusOr<storage::AppendResult> result) {
        if (!result.ok()) return done(result.status());
        done(Deliver(caller, trace_id, *std::move(result)));
      });
  return absl::OkStatus();
}

absl::Status Publisher::PublishToUsers(
    absl::string_view caller, absl::string_view field,
    const std::vector<absl::string_view>& user_ids,
    const PublishContent& content, BeforeStore before_store, DoneMany done) {
  int64_t expires_at_ms = 0;
  absl::Status valid =
      ValidateUserIds(field, user_ids, storage::kMaxAppendMany);
  if (valid.ok()) valid = ValidateContent(content, &expires_at_ms);
  if (valid.ok() &&
      content.data.size() * user_ids.size() > options_.max_fanout_bytes) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "data: ", content.data.size(), " bytes to ", user_ids.size(),
        " users is ", content.data.size() * user_ids.size(),
        " bytes, over the ", options_.max_fanout_bytes,
        " a NotifyUsers call may fan out (--max_fanout_bytes)"));
  }
  // One token for the call, like NotifyUser: the rate limits calls.
  if (valid.ok()) valid = TakeToken(caller);
  if (valid.ok()) valid = before_store();
  if (!valid.ok()) return valid;
  std::vector<storage::AppendRequest> appends;
  appends.reserve(user_ids.size());
  for (absl::string_view user : user_ids) {
    appends.push_back(ToAppend(UserChannel(user), content, expires_at_ms));
  }
  store_.AppendMany(
      std::move(appends),
      [this, caller = std::string(caller),
       trace_id = std::string(content.trace_id), done = std::move(done)](
          absl::StatusOr<std::vector<storage::AppendResult>> results) {
        if (!results.ok()) return done(results.status());
        std::vector<Published> out;
        out.reserve(results->size());
        for (storage::AppendResult& r : *results) {
          out.push_back(Deliver(caller, trace_id, std::move(r)));
        }
        done(std::move(out));
      });
  return absl::OkStatus();
}

Published Publisher::Deliver(absl::string_view caller,
                             absl::string_view trace_id,
                             storage::AppendResult result) {
  Published out{.notification = std::move(result.notification),
                .duplicate = result.duplicate,
                .replaced = std::move(result.replaced)};
  if (!out.duplicate) {
    stored_total_.Inc();
    // Runs on the store's completer thread, in commit order, so the bus
    // sees ids in order: the replaced notifications' deletion record (id
    // one less) before the notification.
    PublishRecord(out.replaced);
    out.live_recipients = bus_.Publish(out.notification);
  }
  const storage::Notification& n = *out.notification;
  Log(spdlog::level::debug, out.duplicate ? "duplicate" : "stored",
      {{"caller", caller},
       {"id", n.id},
       {"channel", n.channel},
       {"live_recipients", out.live_recipients},
       {"trace_id", trace_id}});
  return out;
}

void Publisher::PublishRecord(
    const std::shared_ptr<const storage::Notification>& record) {
  if (record == nullptr) return;
  const size_t live = bus_.Publish(record);
  Log(spdlog::level::debug, "stored a record",
      {{"event", record->event},
       {"id", record->id},
       {"channel", record->channel},
       {"live_recipients", live},
       {"trace_id", record->trace_id}});
}

uint64_t Publisher::stored_total() const { return stored_total_.Value(); }

}  // namespace notifyd::api
