// The naming rules shared by the API and the edge: what a user id and a
// channel may be, and which channels a token's grants open.
#include "common/names.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace notifyd {
namespace {

TEST(NamesTest, UserIdsAreOneTo128BytesOfTheirCharset) {
  EXPECT_TRUE(IsValidUserId("a.b_c@d:e-f"));
  EXPECT_TRUE(IsValidUserId(std::string(kMaxUserIdBytes, 'a')));
  EXPECT_FALSE(IsValidUserId(""));
  EXPECT_FALSE(IsValidUserId(std::string(kMaxUserIdBytes + 1, 'a')));
  for (const char* bad : {"a/b", "a b", "a\nb", "a*", "caf\xc3\xa9", "a%2F"}) {
    EXPECT_FALSE(IsValidUserId(bad)) << bad;
  }
  EXPECT_FALSE(IsValidUserId(std::string("a\0b", 3)));
}

TEST(NamesTest, ChannelsAlsoAllowSlashesAndUpTo200Bytes) {
  EXPECT_TRUE(IsValidChannelName("team/red:alerts"));
  EXPECT_TRUE(IsValidChannelName("user:bob"));
  EXPECT_TRUE(IsValidChannelName(std::string(kMaxChannelBytes, 'c')));
  EXPECT_FALSE(IsValidChannelName(std::string(kMaxChannelBytes + 1, 'c')));
  EXPECT_FALSE(IsValidChannelName(""));
  for (const char* bad : {"a b", "a,b", "a*", "a\r", "..%2f"}) {
    EXPECT_FALSE(IsValidChannelName(bad)) << bad;
  }
}

TEST(NamesTest, FirstInvalidByteNamesThePosition) {
  EXPECT_EQ(FirstInvalidByte("abc", ""), absl::string_view::npos);
  EXPECT_EQ(FirstInvalidByte("ab c", ""), 2u);
  EXPECT_EQ(FirstInvalidByte("a-b", "-"), absl::string_view::npos);
}

TEST(NamesTest, UserChannelIsThePrefixAndTheId) {
  EXPECT_EQ(UserChannel("x"), "user:x");
}

TEST(NamesTest, GrantsMatchExactlyOrByATrailingStarPrefix) {
  std::vector<std::string> grants = {"news", "team/*"};
  EXPECT_TRUE(ChannelGranted(grants, "news"));
  EXPECT_FALSE(ChannelGranted(grants, "news2"));
  EXPECT_FALSE(ChannelGranted(grants, "NEWS"));
  EXPECT_TRUE(ChannelGranted(grants, "team/a"));
  EXPECT_TRUE(ChannelGranted(grants, "team/a/b"));
  EXPECT_FALSE(ChannelGranted(grants, "team"));
  EXPECT_FALSE(ChannelGranted(grants, "teams/a"));
  EXPECT_FALSE(ChannelGranted({}, "news"));
}

TEST(NamesTest, ALoneStarGrantsNothing) {
  EXPECT_FALSE(ChannelGranted({"*"}, "news"));
  EXPECT_FALSE(ChannelGranted({""}, "news"));
}

}  // namespace
}  // namespace notifyd
