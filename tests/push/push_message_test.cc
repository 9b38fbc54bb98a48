// A push's headers (RFC 8030), its Topic, its limits, and the retry
// policy: which answers are retried and how long the sender waits.
#include "push/push_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "push/ece.h"
#include "push/retry_policy.h"

namespace notifyd::push {
namespace {

std::map<std::string, std::string> HeadersOf(const Message& message) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : PushHeaders(message)) out[name] = value;
  return out;
}

TEST(PushMessageTest, HeadersCarryTtlUrgencyAndTheContentCoding) {
  Message m;
  m.ttl = absl::Seconds(90) + absl::Milliseconds(700);
  m.urgency = Urgency::kHigh;
  std::map<std::string, std::string> h = HeadersOf(m);
  EXPECT_EQ(h["TTL"], "90");
  EXPECT_EQ(h["Urgency"], "high");
  EXPECT_EQ(h["Content-Encoding"], "aes128gcm");
  EXPECT_EQ(h["Content-Type"], "application/octet-stream");
  EXPECT_EQ(h.count("Topic"), 0u);  // no collapse key
  m.urgency = Urgency::kVeryLow;
  EXPECT_EQ(HeadersOf(m)["Urgency"], "very-low");
}

TEST(PushMessageTest, TopicIsTheCollapseKeyWhenItFits) {
  EXPECT_EQ(TopicFor("order-42_shipped"), "order-42_shipped");
  const std::string longest(kMaxTopicChars, 'a');
  EXPECT_EQ(TopicFor(longest), longest);
  Message m;
  m.collapse_key = "order-42";
  EXPECT_EQ(HeadersOf(m)["Topic"], "order-42");
}

TEST(PushMessageTest, TopicIsAHashWhenTheKeyDoesNotFit) {
  for (const std::string& key :
       {std::string(kMaxTopicChars + 1, 'a'), std::string("order:42"),
        std::string("caf\xc3\xa9"), std::string("a b")}) {
    const std::string topic = TopicFor(key);
    EXPECT_EQ(topic.size(), kMaxTopicChars) << key;
    EXPECT_EQ(topic.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
                                      "mnopqrstuvwxyz0123456789-_"),
              std::string::npos)
        << topic;
    EXPECT_EQ(TopicFor(key), topic);  // stable: the same key collapses
  }
  EXPECT_NE(TopicFor("order:42"), TopicFor("order:43"));
}

TEST(PushMessageTest, ValidateHoldsTheLimits) {
  Message m;
  m.payload = std::string(kMaxPlaintextBytes, 'x');
  m.ttl = kMaxTtl;
  m.collapse_key = std::string(kMaxCollapseKeyBytes, 'k');
  EXPECT_TRUE(ValidateMessage(m).ok());
  m.ttl = absl::ZeroDuration();
  EXPECT_TRUE(ValidateMessage(m).ok());

  Message big = m;
  big.payload.push_back('x');
  EXPECT_EQ(ValidateMessage(big).code(), absl::StatusCode::kInvalidArgument);
  Message long_ttl = m;
  long_ttl.ttl = kMaxTtl + absl::Seconds(1);
  EXPECT_EQ(ValidateMessage(long_ttl).code(),
            absl::StatusCode::kInvalidArgument);
  Message negative_ttl = m;
  negative_ttl.ttl = -absl::Seconds(1);
  EXPECT_EQ(ValidateMessage(negative_ttl).code(),
            absl::StatusCode::kInvalidArgument);
  Message long_key = m;
  long_key.collapse_key.push_back('k');
  EXPECT_EQ(ValidateMessage(long_key).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PushMessageTest, SubscriptionFromJsonKeysDecodesBase64Url) {
  absl::StatusOr<Subscription> s = SubscriptionFromJsonKeys(
      "https://push.example.net/x", "BP8-_w", "AAEC");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->endpoint, "https://push.example.net/x");
  EXPECT_EQ(s->p256dh, std::string("\x04\xff\x3e\xff", 4));
  EXPECT_EQ(s->auth, std::string("\x00\x01\x02", 3));
  EXPECT_EQ(SubscriptionFromJsonKeys("https://h.example/", "BP8+/w", "AAEC")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);  // standard base64
  EXPECT_EQ(SubscriptionFromJsonKeys("https://h.example/", "BP8-_w", "A A")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RetryPolicyTest, ClassifiesPushServiceAnswers) {
  for (int s : {200, 201, 202}) {
    EXPECT_EQ(ClassifyHttpStatus(s), Outcome::kDelivered) << s;
  }
  for (int s : {404, 410}) EXPECT_EQ(ClassifyHttpStatus(s), Outcome::kGone);
  for (int s : {429, 500, 502, 503, 599}) {
    EXPECT_EQ(ClassifyHttpStatus(s), Outcome::kFailed) << s;
  }
  for (int s : {204, 301, 400, 401, 403, 413, 600}) {
    EXPECT_EQ(ClassifyHttpStatus(s), Outcome::kRejected) << s;
  }
}

TEST(RetryPolicyTest, RetriesConnectionErrorsAndTimeoutsOnly) {
  EXPECT_TRUE(IsRetryableError(absl::UnavailableError("reset")));
  EXPECT_TRUE(IsRetryableError(absl::DeadlineExceededError("slow")));
  EXPECT_FALSE(IsRetryableError(absl::PermissionDeniedError("ssrf")));
  EXPECT_FALSE(IsRetryableError(absl::FailedPreconditionError("cert")));
  EXPECT_FALSE(IsRetryableError(absl::InvalidArgumentError("key")));
}

TEST(RetryPolicyTest, ParsesRetryAfterSecondsAndDates) {
  const absl::Time now = absl::FromUnixSeconds(784'111'777);  // 1994-11-06
  EXPECT_EQ(ParseRetryAfter("120", now), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), absl::ZeroDuration());
  // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", now),
            absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:50:07 GMT", now),
            absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:50:07 1994", now),
            absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now),
            absl::ZeroDuration());  // already past
  EXPECT_GE(*ParseRetryAfter("99999999999999999999", now), absl::Hours(24));
  for (const char* bad : {"", "soon", "-5", "1.5", "Sun, 06 Nov 1994"}) {
    EXPECT_FALSE(ParseRetryAfter(bad, now).has_value()) << bad;
  }
}

TEST(RetryPolicyTest, BackoffDoublesUpToTheCapWithJitter) {
  const absl::Duration base = absl::Seconds(1), cap = absl::Seconds(10);
  EXPECT_EQ(Backoff(1, base, cap, 0.0), absl::Milliseconds(500));
  EXPECT_EQ(Backoff(1, base, cap, 0.999), absl::Milliseconds(999.5));
  EXPECT_EQ(Backoff(2, base, cap, 0.0), absl::Seconds(1));
  EXPECT_EQ(Backoff(3, base, cap, 0.5), absl::Seconds(3));
  EXPECT_EQ(Backoff(5, base, cap, 1.0), cap);
  EXPECT_EQ(Backoff(60, base, cap, 0.0), cap / 2);
  EXPECT_EQ(Backoff(1000, base, cap, 1.0), cap);
}

}  // namespace
}  // namespace notifyd::push
