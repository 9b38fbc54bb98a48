#include "edge/stream_request.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using std::string_literals::operator""s;

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

TEST(ParseChannelListTest, EchoedNamesCarryNoRawControlBytes) {
  // "a<CR><LF>X-Injected: 1<ESC>[2J" percent-decoded from the query: the
  // message names it, escaped, and is printable ASCII throughout.
  absl::StatusOr<std::vector<std::string>> r =
      ParseChannelList("ok,a\r\nX-Injected: 1\x1b[2J", 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "invalid channel name: a\\x0d\\x0aX-Injected: 1\\x1b[2J");
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

TEST(EscapeForEchoTest, KeepsPrintableAsciiAndEscapesEverythingElse) {
  EXPECT_EQ(EscapeForEcho("plain text: a-z <b> 'q' \"q\" ~"),
            "plain text: a-z <b> 'q' \"q\" ~");
  EXPECT_EQ(EscapeForEcho("a\r\nb\tc"), "a\\x0d\\x0ab\\x09c");
  EXPECT_EQ(EscapeForEcho("nul\0del\x7f"s), "nul\\x00del\\x7f");
  EXPECT_EQ(EscapeForEcho("caf\xc3\xa9\xff"), "caf\\xc3\\xa9\\xff");
  // A backslash is escaped too, so \x0d in the output always stands for
  // a CR byte, never for the four characters.
  EXPECT_EQ(EscapeForEcho("\\x0d"), "\\\\x0d");
  EXPECT_EQ(EscapeForEcho(""), "");
}

// CheckRequestHeader on `fields`, as HTTP/1.1 unless told.
absl::Status Check(std::vector<HeaderField> fields, unsigned version = 11) {
  return CheckRequestHeader(version, fields);
}

TEST(CheckRequestHeaderTest, PlainRequestsPass) {
  EXPECT_TRUE(Check({{"Host", "x"}}).ok());
  EXPECT_TRUE(Check({{"host", "example.com:8443"},
                     {"Authorization", "Bearer t"},
                     {"Last-Event-ID", "5"},
                     {"Cookie", "a=1; b=2"},
                     {"Accept", "text/event-stream"},
                     {"Accept", "*/*"}})
                  .ok());
  EXPECT_TRUE(Check({{"Host", "[::1]:8080"}}).ok());
  EXPECT_TRUE(Check({{"Host", "127.0.0.1"}}).ok());
  // Empty: what a client sends for a target without an authority.
  EXPECT_TRUE(Check({{"Host", ""}}).ok());
}

TEST(CheckRequestHeaderTest, AnyTransferEncodingIsRefused) {
  for (const char* coding :
       {"identity", "gzip", "chunked, identity", "chunked", "gzip, chunked"}) {
    for (const char* name : {"Transfer-Encoding", "transfer-encoding"}) {
      absl::Status s = Check({{"Host", "x"}, {name, coding}});
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << coding;
      EXPECT_EQ(s.message(), "Transfer-Encoding not accepted") << coding;
    }
  }
  // Also on HTTP/1.0, where RFC 9112 §6.1 calls its framing faulty.
  EXPECT_FALSE(Check({{"Transfer-Encoding", "chunked"}}, 10).ok());
}

TEST(CheckRequestHeaderTest, RepeatedSingleValuedHeadersAreRefusedNamingThem) {
  for (absl::string_view name : kSingleValuedHeaders) {
    std::string lower = absl::AsciiStrToLower(name);
    std::vector<HeaderField> fields = {{"Host", "x"}};
    if (name == "Host") fields.clear();
    fields.push_back({name, "1"});
    fields.push_back({"Accept", "*/*"});
    fields.push_back({lower, "2"});
    absl::Status s = Check(fields);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(s.message(), absl::StrCat("header given more than once: ", name))
        << name;
  }
  // The same value twice is still two.
  EXPECT_FALSE(
      Check({{"Host", "x"}, {"Authorization", "a"}, {"Authorization", "a"}})
          .ok());
}

TEST(CheckRequestHeaderTest, HostIsRequiredFromHttp11On) {
  absl::Status s = Check({{"Accept", "*/*"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "missing Host header");
  EXPECT_FALSE(Check({}, 12).ok());
  EXPECT_TRUE(Check({{"Accept", "*/*"}}, 10).ok());
}

TEST(CheckRequestHeaderTest, InvalidHostIsRefused) {
  for (const char* host :
       {"user@x", "x:port", "x/y", "a b", "x?q", "[::1", "x#f"}) {
    absl::Status s = Check({{"Host", host}});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << host;
    EXPECT_EQ(s.message(), "invalid Host header") << host;
    // HTTP/1.0 may omit Host, not send a bad one.
    EXPECT_FALSE(Check({{"Host", host}}, 10).ok()) << host;
  }
}

}  // namespace
}  // namespace notifyd::edge
