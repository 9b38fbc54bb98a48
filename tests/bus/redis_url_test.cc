// ParseRedisUrl (bus/redis_url.h): the redis:// forms --redis_url accepts,
// and refusals that never echo the password.
#include "bus/redis_url.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::bus {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedisUrlTest, ParsesTheForms) {
  absl::StatusOr<RedisEndpoint> plain = ParseRedisUrl("redis://cache:6380");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->host, "cache");
  EXPECT_EQ(plain->port, 6380);
  EXPECT_EQ(plain->password, "");

  absl::StatusOr<RedisEndpoint> full =
      ParseRedisUrl("redis://:p%40ss@10.0.0.7:6379/2");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->password, "p@ss");
  EXPECT_EQ(full->user, "");
  EXPECT_EQ(full->db, 2);
  EXPECT_EQ(full->HostPort(), "10.0.0.7:6379");

  absl::StatusOr<RedisEndpoint> v6 = ParseRedisUrl("redis://notifyd:pw@[::1]");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->user, "notifyd");
  EXPECT_EQ(v6->port, 6379);
  EXPECT_EQ(v6->HostPort(), "[::1]:6379");
}

TEST(RedisUrlTest, RefusesOtherFormsWithoutEchoingThePassword) {
  for (const char* url :
       {"http://host:6379", "redis://", "redis://:secret@host:99999",
        "redis://:secret@host:6379/x", "redis://host?db=1", "not a url"}) {
    absl::StatusOr<RedisEndpoint> parsed = ParseRedisUrl(url);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << url;
    EXPECT_THAT(parsed.status().message(), Not(HasSubstr("secret"))) << url;
  }
}

}  // namespace
}  // namespace notifyd::bus
