#include "edge/publish_api.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/json/serialize.hpp"
#include "boost/url/parse.hpp"
#include "boost/url/url_view.hpp"

namespace notifyd::edge {
namespace {

namespace json = boost::json;

// Segments of the route's own path ("v1", "notify") before the recipient.
constexpr size_t kRouteSegments = 2;

// The recipient named by the path's segments after the route's own, each
// percent-decoded (a channel may span several). `field` names it in
// refusals.
absl::StatusOr<std::string> RecipientOf(absl::string_view raw_target,
                                        absl::string_view field) {
  auto parsed = boost::urls::parse_origin_form(
      boost::core::string_view(raw_target.data(), raw_target.size()));
  if (!parsed) return absl::InvalidArgumentError("malformed request target");
  std::vector<std::string> segments;
  size_t i = 0;
  for (auto encoded : parsed->encoded_segments()) {
    if (i++ < kRouteSegments) continue;
    std::string segment = encoded.decode();
    if (segment.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          field,
          ": a percent-encoded '/' (%2F) is not accepted in the path; write "
          "'/' as is"));
    }
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(field,
                       ": '.' and '..' path segments are not accepted "
                       "(clients and proxies resolve them)"));
    }
    segments.push_back(std::move(segment));
  }
  // One empty segment is an empty recipient, which the publisher refuses
  // as such; empty ones among others are refused here.
  if (segments.size() > 1 &&
      std::find(segments.begin(), segments.end(), "") != segments.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ": empty path segments (\"//\", a trailing '/') are not "
                     "accepted"));
  }
  return absl::StrJoin(segments, "/");
}

}  // namespace

absl::StatusOr<absl::Time> ParseExpiresAt(absl::string_view text) {
  const bool digits =
      !text.empty() && std::all_of(text.begin(), text.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
  int64_t seconds = 0;
  if (digits && absl::SimpleAtoi(text, &seconds)) {
    return absl::FromUnixSeconds(seconds);
  }
  absl::Time at;
  std::string error;
  if (!digits && absl::ParseTime(absl::RFC3339_full, text, &at, &error)) {
    return at;
  }
  return absl::InvalidArgumentError(
      "expires_at must be an RFC 3339 time (2025-06-01T12:00:00Z) or Unix "
      "seconds (1748779200)");
}

absl::StatusOr<PublishCall> ParsePublishRequest(RouteId route,
                                                absl::string_view raw_target,
                                                const HttpTarget& target) {
  PublishCall call;
  call.target = route == RouteId::kNotifyUser ? PublishTarget::kUser
                                              : PublishTarget::kChannel;
  absl::StatusOr<std::string> name = RecipientOf(
      raw_target, call.target == PublishTarget::kUser ? "user_id" : "channel");
  if (!name.ok()) return name.status();
  call.name = *std::move(name);
  if (absl::Status s = CheckParams(target, kPublishParams); !s.ok()) return s;
  for (auto [field, value] :
       {std::pair{"event", &call.event},
        std::pair{"idempotency_key", &call.idempotency_key},
        std::pair{"collapse_key", &call.collapse_key}}) {
    if (const std::string* given = target.Find(field)) *value = *given;
  }
  if (const std::string* text = target.Find("expires_at")) {
    absl::StatusOr<absl::Time> at = ParseExpiresAt(*text);
    if (!at.ok()) return at.status();
    call.expires_at = *at;
  }
  return call;
}

std::string EncodePublished(const PublishOutcome& outcome) {
  const storage::Notification& n = *outcome.notification;
  json::object notification = NotificationJson(n);
  if (n.collapse_key.empty()) {
    notification["collapse_key"] = nullptr;
  } else {
    notification["collapse_key"] = n.collapse_key;
  }
  json::object out;
  out["notification"] = std::move(notification);
  out["duplicate"] = outcome.duplicate;
  out["live_recipients"] = outcome.live_recipients;
  return json::serialize(out);
}

ApiReply ReplyOf(const PublishOutcome& outcome) {
  const absl::Status& s = outcome.status;
  if (s.ok()) return {absl::OkStatus(), EncodePublished(outcome)};
  // The publisher's refusals go out as they are; the store's own failures
  // as the inbox's do.
  const bool refusal =
      absl::IsUnauthenticated(s) || absl::IsResourceExhausted(s);
  return {refusal ? s : StoreError(s), "", outcome.retry_after};
}

}  // namespace notifyd::edge
