#include "server/http_publishing.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/log_limiter.h"

namespace notifyd::server {
namespace {

// The route's name in logs.
const char* RouteName(edge::PublishTarget target) {
  return target == edge::PublishTarget::kUser ? "POST /v1/notify"
                                              : "POST /v1/publish";
}

// A google.protobuf.Timestamp's fields for `at`, as the Publisher checks
// them (nanos in [0, 1e9)).
api::Expiry ExpiryOf(absl::Time at) {
  const int64_t seconds = absl::ToUnixSeconds(at);  // rounds down
  return api::Expiry{.seconds = seconds,
                     .nanos = static_cast<int32_t>(absl::ToInt64Nanoseconds(
                         at - absl::FromUnixSeconds(seconds)))};
}

edge::PublishOutcome Refused(absl::Status status) {
  edge::PublishOutcome out;
  out.status = std::move(status);
  return out;
}

}  // namespace

edge::PublishFunction HttpPublishing(api::Publisher& publisher,
                                     double max_publish_rate) {
  const absl::Duration retry_after =
      max_publish_rate > 0
          ? std::max(absl::Seconds(1), absl::Seconds(1 / max_publish_rate))
          : absl::ZeroDuration();
  // Shared by every copy of the function.
  auto log = std::make_shared<LogLimiter>();
  return [&publisher, retry_after, log](
             const edge::PublishCall& call,
             std::function<void(edge::PublishOutcome)> done) {
    auto refuse = [&](absl::Status status) {
      if (uint64_t dropped = 0; log->Allow(&dropped)) {
        Log(spdlog::level::warn, "rejected an HTTP publish",
            {{"route", RouteName(call.target)},
             {"peer", call.peer},
             {"error", status.message()},
             {"trace_id", call.trace_id},
             LogField::NonZero("dropped", dropped)});
      }
      edge::PublishOutcome refused = Refused(std::move(status));
      if (absl::IsResourceExhausted(refused.status)) {
        refused.retry_after = retry_after;
      }
      done(std::move(refused));
    };
    std::vector<absl::string_view> authorization;
    if (call.authorization) authorization.push_back(*call.authorization);
    absl::StatusOr<std::string> caller = publisher.Authenticate(authorization);
    if (!caller.ok()) return refuse(caller.status());
    api::PublishContent content;
    content.event = call.event;
    content.data = call.data;
    content.idempotency_key = call.idempotency_key;
    content.collapse_key = call.collapse_key;
    content.trace_id = call.trace_id;
    if (call.expires_at) content.expires_at = ExpiryOf(*call.expires_at);
    absl::Status refused = publisher.Publish(
        *caller,
        call.target == edge::PublishTarget::kUser ? api::Target::kUser
                                                  : api::Target::kChannel,
        call.name, content, [] { return absl::OkStatus(); },
        [done](absl::StatusOr<api::Published> published) {
          if (!published.ok()) return done(Refused(published.status()));
          edge::PublishOutcome out;
          out.notification = std::move(published->notification);
          out.duplicate = published->duplicate;
          out.live_recipients = published->live_recipients;
          done(std::move(out));
        });
    if (absl::IsResourceExhausted(refused)) return refuse(std::move(refused));
    if (!refused.ok()) done(Refused(std::move(refused)));
  };
}

}  // namespace notifyd::server
