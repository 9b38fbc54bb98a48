#include "edge/stream_request.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParseTargetTest, PathAndDecodedParams) {
  absl::StatusOr<HttpTarget> t =
      ParseTarget("/v1/stream?user=al%40ice&channels=a,b&x");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, "/v1/stream");
  ASSERT_NE(t->Find("user"), nullptr);
  EXPECT_EQ(*t->Find("user"), "al@ice");
  EXPECT_EQ(*t->Find("channels"), "a,b");
  EXPECT_EQ(*t->Find("x"), "");
  EXPECT_EQ(t->Find("nope"), nullptr);
}

TEST(ParseTargetTest, RejectsNonOriginForm) {
  EXPECT_FALSE(ParseTarget("http://example.com/").ok());
  EXPECT_FALSE(ParseTarget("no-slash").ok());
}

TEST(ParseChannelListTest, SplitsSkipsEmptyAndDedups) {
  EXPECT_THAT(*ParseChannelList("a,b,,a,c/d", 10),
              ElementsAre("a", "b", "c/d"));
  EXPECT_THAT(*ParseChannelList("", 10), IsEmpty());
}

TEST(ParseChannelListTest, RejectsBadNamesNamingThem) {
  absl::StatusOr<std::vector<std::string>> r =
      ParseChannelList("ok,bad name", 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("bad name"));
  EXPECT_FALSE(ParseChannelList(std::string(201, 'a'), 10).ok());
  EXPECT_TRUE(ParseChannelList(std::string(200, 'a'), 10).ok());
}

TEST(ParseChannelListTest, UserChannelsParseAndAreLeftToAuthorize) {
  // Whether user:bob may be read depends on who asks (Authorize), not on
  // the syntax.
  absl::StatusOr<std::vector<std::string>> r = ParseChannelList("user:bob", 10);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre("user:bob"));
}

TEST(ParseChannelListTest, TooMany) {
  EXPECT_TRUE(ParseChannelList("a,b,c", 3).ok());
  absl::StatusOr<std::vector<std::string>> r = ParseChannelList("a,b,c,d", 3);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("too many"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  // Duplicates do not count twice.
  EXPECT_TRUE(ParseChannelList("a,b,c,a", 3).ok());
}

TEST(ParseLastEventIdTest, Decimal) {
  EXPECT_EQ(*ParseLastEventId("0"), 0u);
  EXPECT_EQ(*ParseLastEventId("12345"), 12345u);
  EXPECT_EQ(*ParseLastEventId("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(*ParseLastEventId(""), std::nullopt);
}

TEST(ParseLastEventIdTest, RejectsNonNumericAndOverflow) {
  for (const char* bad : {"abc", "12a", "-1", "+1", " 1", "1 ", "0x10", "1.5",
                          "18446744073709551616", "99999999999999999999999"}) {
    absl::StatusOr<std::optional<uint64_t>> r = ParseLastEventId(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseStreamRequestTest, HeaderWinsOverQuery) {
  HttpTarget t = *ParseTarget("/v1/stream?channels=n&last_event_id=5");
  StreamRequest r = *ParseStreamRequest(t, absl::string_view("9"), 4);
  EXPECT_THAT(r.channels, ElementsAre("n"));
  EXPECT_EQ(r.last_event_id, 9u);
  r = *ParseStreamRequest(t, std::nullopt, 4);
  EXPECT_EQ(r.last_event_id, 5u);
  t = *ParseTarget("/v1/stream");
  r = *ParseStreamRequest(t, std::nullopt, 4);
  EXPECT_EQ(r.last_event_id, std::nullopt);
  EXPECT_THAT(r.channels, IsEmpty());
}

TEST(ParseStreamRequestTest, Errors) {
  EXPECT_FALSE(
      ParseStreamRequest(*ParseTarget("/s?last_event_id=x"), std::nullopt, 4)
          .ok());
  EXPECT_FALSE(
      ParseStreamRequest(*ParseTarget("/s"), absl::string_view("x"), 4).ok());
  EXPECT_FALSE(
      ParseStreamRequest(*ParseTarget("/s?channels=a%0Ab"), std::nullopt, 4)
          .ok());
}

TEST(ParseStreamRequestTest, RepeatedSingleValuedParametersAreRejected) {
  for (const char* target :
       {"/s?channels=a&channels=b", "/s?last_event_id=1&last_event_id=2",
        "/s?user=a&user=b", "/s?access_token=x&access_token=y",
        "/s?user=a&%75ser=b", "/s?channels=&channels="}) {
    absl::StatusOr<StreamRequest> r =
        ParseStreamRequest(*ParseTarget(target), std::nullopt, 4);
    ASSERT_FALSE(r.ok()) << target;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << target;
    EXPECT_THAT(r.status().message(), HasSubstr("more than once")) << target;
  }
  // Other parameters (a cache buster, say) may repeat.
  EXPECT_TRUE(
      ParseStreamRequest(*ParseTarget("/s?t=1&t=2"), std::nullopt, 4).ok());
}

}  // namespace
}  // namespace notifyd::edge
