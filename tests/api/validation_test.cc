#include "api/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace notifyd::api {
namespace {

using ::testing::HasSubstr;

TEST(ValidationTest, UserIdAcceptsItsCharsetUpTo128Bytes) {
  EXPECT_TRUE(ValidateUserId("user_id", "a.B_9@x:y-z").ok());
  EXPECT_TRUE(ValidateUserId("user_id", std::string(128, 'a')).ok());
  EXPECT_FALSE(ValidateUserId("user_id", std::string(129, 'a')).ok());
  EXPECT_FALSE(ValidateUserId("user_id", "").ok());
  EXPECT_FALSE(ValidateUserId("user_id", "a/b").ok());
  EXPECT_FALSE(ValidateUserId("user_id", std::string("a\0b", 3)).ok());
}

TEST(ValidationTest, ChannelAllowsSlashButNotTheUserPrefix) {
  EXPECT_TRUE(ValidatePublicChannel("channel", "news/eu/sports").ok());
  EXPECT_TRUE(ValidatePublicChannel("channel", "users:list").ok());
  absl::Status reserved = ValidatePublicChannel("channel", "user:bob");
  EXPECT_EQ(reserved.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reserved.message(), HasSubstr("user:"));
  EXPECT_FALSE(ValidatePublicChannel("channel", std::string(201, 'c')).ok());
}

TEST(ValidationTest, EventMayBeEmptyAndDefaultsToNotification) {
  EXPECT_TRUE(ValidateEvent("event", "").ok());
  EXPECT_EQ(EffectiveEvent(""), "notification");
  EXPECT_EQ(EffectiveEvent("x"), "x");
  EXPECT_FALSE(ValidateEvent("event", "a:b").ok());
  EXPECT_FALSE(ValidateEvent("event", std::string(65, 'e')).ok());
}

TEST(ValidationTest, MessagesStartWithTheFieldName) {
  EXPECT_THAT(ValidateData("data", "xx", 1).message(), HasSubstr("data is 2"));
  EXPECT_THAT(ValidateIdempotencyKey("idempotency_key", std::string(129, 'k'))
                  .message(),
              HasSubstr("idempotency_key is 129 bytes"));
}

TEST(ValidationTest, ReservedEventsAreRefused) {
  for (absl::string_view event : {"state", "deleted", "counts", "reset"}) {
    absl::Status s = ValidateEvent("event", event);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << event;
    EXPECT_THAT(s.message(), HasSubstr("reserved"));
  }
  EXPECT_TRUE(ValidateEvent("event", "states").ok());
}

TEST(ValidationTest, CollapseKeyIsUpTo128BytesWithoutControls) {
  EXPECT_TRUE(ValidateCollapseKey("collapse_key", "").ok());
  EXPECT_TRUE(ValidateCollapseKey("collapse_key", std::string(128, 'k')).ok());
  EXPECT_TRUE(ValidateCollapseKey("collapse_key", "build 42 \xc3\xa9").ok());
  EXPECT_THAT(
      ValidateCollapseKey("collapse_key", std::string(129, 'k')).message(),
      HasSubstr("collapse_key is 129 bytes"));
  for (const char* bad : {"a\nb", "\x7f", "a\xc2\x85"}) {
    EXPECT_THAT(ValidateCollapseKey("collapse_key", bad).message(),
                HasSubstr("control character"))
        << bad;
  }
  EXPECT_FALSE(
      ValidateCollapseKey("collapse_key", std::string("a\0b", 3)).ok());
}

TEST(ValidationTest, ExpiresAtLiesAheadAndWithinRetention) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  const int64_t s = 1800000000;
  int64_t ms = 0;
  EXPECT_TRUE(
      ValidateExpiresAt("expires_at", s + 60, 1, now, absl::ZeroDuration(), &ms)
          .ok());
  EXPECT_EQ(ms, (s + 60) * 1000 + 1);  // rounded up, never earlier
  EXPECT_THAT(
      ValidateExpiresAt("expires_at", s, 0, now, absl::ZeroDuration(), &ms)
          .message(),
      HasSubstr("not in the future"));
  EXPECT_THAT(
      ValidateExpiresAt("expires_at", s + 3601, 0, now, absl::Hours(1), &ms)
          .message(),
      HasSubstr("beyond the retention"));
  EXPECT_TRUE(
      ValidateExpiresAt("expires_at", s + 3600, 0, now, absl::Hours(1), &ms)
          .ok());
  EXPECT_THAT(ValidateExpiresAt("expires_at", s + 60, 1000000000, now,
                                absl::ZeroDuration(), &ms)
                  .message(),
              HasSubstr("not a valid timestamp"));
  EXPECT_FALSE(ValidateExpiresAt("expires_at", int64_t{1} << 62, 0, now,
                                 absl::ZeroDuration(), &ms)
                   .ok());
}

// HTTP publishing hands over bytes; what is stored must read back over
// gRPC, whose strings are UTF-8.
TEST(ValidationTest, TextFieldsMustBeUtf8) {
  EXPECT_TRUE(IsValidUtf8("plain, \xc3\xa9t\xc3\xa9, \xf0\x9f\x94\x94"));
  for (const char* bad : {"\xff", "\xc3\x28", "\xc0\xaf" /* overlong */,
                          "\xed\xa0\x80" /* surrogate */,
                          "\xf4\x90\x80\x80" /* past U+10FFFF */, "\xe2\x82"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
  EXPECT_EQ(ValidateData("data",
                         "a\xff"
                         "b",
                         100)
                .message(),
            "data is not valid UTF-8");
  EXPECT_EQ(ValidateIdempotencyKey("idempotency_key", "\xff").message(),
            "idempotency_key is not valid UTF-8");
  EXPECT_EQ(ValidateCollapseKey("collapse_key", "\xc3").message(),
            "collapse_key is not valid UTF-8");
  // The size comes first: an oversized payload is not scanned.
  EXPECT_THAT(ValidateData("data", std::string(200, '\xff'), 100).message(),
              HasSubstr("at most 100"));
}

}  // namespace
}  // namespace notifyd::api
