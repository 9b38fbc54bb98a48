// HTTP publishing as the edge reads it (edge/publish_api.h): the recipient
// from the path, the fields from the query, expires_at in either form, and
// the JSON answer.
#include "edge/publish_api.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "boost/json/parse.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// ParsePublishRequest on `raw` as the router would call it.
absl::StatusOr<PublishCall> Parse(RouteId route, const std::string& raw) {
  absl::StatusOr<HttpTarget> target = ParseTarget(raw);
  if (!target.ok()) return target.status();
  return ParsePublishRequest(route, raw, *target);
}

TEST(PublishApiTest, TheRecipientIsTheRestOfThePath) {
  absl::StatusOr<PublishCall> user =
      Parse(RouteId::kNotifyUser, "/v1/notify/alice");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->target, PublishTarget::kUser);
  EXPECT_EQ(user->name, "alice");
  // A channel spans segments.
  absl::StatusOr<PublishCall> channel =
      Parse(RouteId::kPublish, "/v1/publish/news/eu");
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_EQ(channel->target, PublishTarget::kChannel);
  EXPECT_EQ(channel->name, "news/eu");
}

TEST(PublishApiTest, SegmentsArePercentDecoded) {
  absl::StatusOr<PublishCall> user =
      Parse(RouteId::kNotifyUser, "/v1/notify/bob%40example.com");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->name, "bob@example.com");
  // What the publisher then refuses (a space) arrives as sent.
  absl::StatusOr<PublishCall> spaced =
      Parse(RouteId::kNotifyUser, "/v1/notify/a%20b");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced->name, "a b");
}

TEST(PublishApiTest, AnEmptyRecipientIsLeftForThePublisherToRefuse) {
  absl::StatusOr<PublishCall> user = Parse(RouteId::kNotifyUser, "/v1/notify/");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->name, "");
}

TEST(PublishApiTest, AnEncodedSlashIsRefusedNamingTheField) {
  absl::StatusOr<PublishCall> channel =
      Parse(RouteId::kPublish, "/v1/publish/news%2Feu");
  EXPECT_TRUE(absl::IsInvalidArgument(channel.status()));
  EXPECT_THAT(std::string(channel.status().message()), StartsWith("channel: "));
  EXPECT_THAT(std::string(channel.status().message()), HasSubstr("%2F"));
  absl::StatusOr<PublishCall> user =
      Parse(RouteId::kNotifyUser, "/v1/notify/a%2fb");
  EXPECT_TRUE(absl::IsInvalidArgument(user.status()));
  EXPECT_THAT(std::string(user.status().message()), StartsWith("user_id: "));
}

TEST(PublishApiTest, DotAndEmptySegmentsAreRefused) {
  for (const char* raw : {"/v1/publish/news/../metrics", "/v1/publish/./news",
                          "/v1/publish/news/%2E%2E", "/v1/publish/news//eu",
                          "/v1/publish/news/"}) {
    absl::StatusOr<PublishCall> call = Parse(RouteId::kPublish, raw);
    EXPECT_TRUE(absl::IsInvalidArgument(call.status())) << raw;
    EXPECT_THAT(std::string(call.status().message()), StartsWith("channel: "))
        << raw;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(
      Parse(RouteId::kNotifyUser, "/v1/notify/..").status()));
}

TEST(PublishApiTest, TheQueryCarriesTheOtherFieldsDecoded) {
  absl::StatusOr<PublishCall> call =
      Parse(RouteId::kNotifyUser,
            "/v1/notify/alice?event=order.shipped&idempotency_key=order%2017"
            "&collapse_key=order-17&expires_at=2100-01-02T03:04:05Z");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->event, "order.shipped");
  EXPECT_EQ(call->idempotency_key, "order 17");
  EXPECT_EQ(call->collapse_key, "order-17");
  ASSERT_TRUE(call->expires_at.has_value());
  EXPECT_EQ(absl::ToUnixSeconds(*call->expires_at), 4102542245);
  absl::StatusOr<PublishCall> bare = Parse(RouteId::kPublish, "/v1/publish/x");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->event, "");
  EXPECT_FALSE(bare->expires_at.has_value());
}

TEST(PublishApiTest, UnknownAndRepeatedParametersAreRefused) {
  absl::StatusOr<PublishCall> unknown =
      Parse(RouteId::kPublish, "/v1/publish/x?data=hello");
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status()));
  EXPECT_EQ(unknown.status().message(), "unknown parameter: data");
  absl::StatusOr<PublishCall> repeated =
      Parse(RouteId::kPublish, "/v1/publish/x?event=a&event=b");
  EXPECT_EQ(repeated.status().message(),
            "parameter given more than once: event");
  // A token is not an API key: refused like any other unknown parameter.
  EXPECT_TRUE(absl::IsInvalidArgument(
      Parse(RouteId::kPublish, "/v1/publish/x?access_token=t").status()));
}

TEST(PublishApiTest, ExpiresAtIsRfc3339OrUnixSeconds) {
  EXPECT_EQ(*ParseExpiresAt("1748779200"), absl::FromUnixSeconds(1748779200));
  EXPECT_EQ(*ParseExpiresAt("2025-06-01T12:00:00Z"),
            absl::FromUnixSeconds(1748779200));
  EXPECT_EQ(*ParseExpiresAt("2025-06-01T14:00:00+02:00"),
            absl::FromUnixSeconds(1748779200));
  EXPECT_EQ(*ParseExpiresAt("2025-06-01T12:00:00.25Z"),
            absl::FromUnixSeconds(1748779200) + absl::Milliseconds(250));
  for (const char* bad : {"", "-5", "+5", "1.5", "tomorrow", "2025-06-01",
                          "99999999999999999999", "2025-06-01T12:00:00"}) {
    absl::StatusOr<absl::Time> at = ParseExpiresAt(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(at.status())) << bad;
    EXPECT_THAT(std::string(at.status().message()), StartsWith("expires_at "))
        << bad;
  }
}

TEST(PublishApiTest, TheAnswerIsTheNotificationWithItsFlags) {
  auto n = std::make_shared<storage::Notification>();
  n->id = 42;
  n->channel = "user:alice";
  n->event = "order";
  n->data = "{\"title\":\"hi\"}\nline 2";
  n->created_at_ms = 1748779200000;
  n->collapse_key = "order-17";
  PublishOutcome outcome{.status = absl::OkStatus(),
                         .notification = n,
                         .duplicate = true,
                         .live_recipients = 3};
  boost::json::value v = boost::json::parse(EncodePublished(outcome));
  const boost::json::object& got = v.at("notification").as_object();
  EXPECT_EQ(got.at("id").to_number<uint64_t>(), 42u);
  EXPECT_EQ(got.at("channel").as_string(), "user:alice");
  EXPECT_EQ(got.at("event").as_string(), "order");
  EXPECT_EQ(got.at("data").as_string(), n->data);
  EXPECT_EQ(got.at("created_at").as_string(), "2025-06-01T12:00:00.000Z");
  EXPECT_TRUE(got.at("expires_at").is_null());
  EXPECT_EQ(got.at("collapse_key").as_string(), "order-17");
  EXPECT_FALSE(got.at("read").as_bool());
  EXPECT_TRUE(v.at("duplicate").as_bool());
  EXPECT_EQ(v.at("live_recipients").to_number<uint64_t>(), 3u);
  n->collapse_key.clear();
  v = boost::json::parse(EncodePublished(outcome));
  EXPECT_TRUE(v.at("notification").at("collapse_key").is_null());
}

TEST(PublishApiTest, RefusalsKeepTheirMessageButStoreFailuresDoNot) {
  PublishOutcome rate;
  rate.status = absl::ResourceExhaustedError("publish rate for a exceeded");
  rate.retry_after = absl::Seconds(2);
  ApiReply reply = ReplyOf(rate);
  EXPECT_EQ(reply.status, rate.status);
  EXPECT_EQ(reply.retry_after, absl::Seconds(2));
  PublishOutcome key;
  key.status = absl::UnauthenticatedError("missing or invalid API key");
  EXPECT_EQ(ReplyOf(key).status, key.status);
  PublishOutcome invalid;
  invalid.status = absl::InvalidArgumentError("event is 65 bytes");
  EXPECT_EQ(ReplyOf(invalid).status, invalid.status);
  PublishOutcome closed;
  closed.status = absl::UnavailableError("store is closed");
  EXPECT_EQ(ReplyOf(closed).status, closed.status);
  PublishOutcome broken;
  broken.status = absl::InternalError("disk I/O error in /var/lib/x.db");
  EXPECT_EQ(ReplyOf(broken).status, absl::InternalError("store error"));
}

}  // namespace
}  // namespace notifyd::edge
