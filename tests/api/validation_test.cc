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

}  // namespace
}  // namespace notifyd::api
