// The plaintext of a push (server/push_payload.h): what the service worker
// reads, its members, and how it stays within kMaxPushPayloadBytes.
#include "server/push_payload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "absl/strings/match.h"
#include "storage/notification.h"

namespace notifyd::server {
namespace {

using ::testing::EndsWith;
using ::testing::SizeIs;

storage::Notification Note(std::string data) {
  storage::Notification n;
  n.id = 42;
  n.channel = "user:alice";
  n.event = "build";
  n.data = std::move(data);
  n.created_at_ms = 1'700'000'000'123;
  return n;
}

// The payload, parsed (boost::json refuses invalid UTF-8).
boost::json::object Parsed(const storage::Notification& n) {
  std::string payload = PushPayload(n);
  EXPECT_LE(payload.size(), kMaxPushPayloadBytes);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(payload, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << payload;
  return ec ? boost::json::object() : v.as_object();
}

TEST(PushPayloadTest, TakesTheStringMembersOfAJsonObject) {
  storage::Notification n =
      Note(R"({"title":"Build failed","body":"main is red","icon":"/i.png",)"
           R"("url":"/builds/7","count":3,"extra":"not shown"})");
  n.collapse_key = "build-main";
  boost::json::object p = Parsed(n);
  EXPECT_EQ(
      p, boost::json::parse(
             R"({"id":"42","event":"build","title":"Build failed",)"
             R"("body":"main is red","icon":"/i.png","url":"/builds/7",)"
             R"("tag":"build-main","created_at":"2023-11-14T22:13:20.123Z"})"));
}

TEST(PushPayloadTest, DataThatIsNotAnObjectIsTheBody) {
  for (const std::string data :
       {"plain text", R"(["a","b"])", R"("a string")", "{not json"}) {
    boost::json::object p = Parsed(Note(data));
    EXPECT_EQ(p.at("body").as_string(), data);
    EXPECT_FALSE(p.contains("title"));
  }
}

TEST(PushPayloadTest, AnObjectWithNeitherTitleNorBodyIsShownAsText) {
  boost::json::object p = Parsed(Note(R"({"url":"/x","n":1})"));
  EXPECT_EQ(p.at("body").as_string(), R"({"url":"/x","n":1})");
  EXPECT_EQ(p.at("url").as_string(), "/x");
}

TEST(PushPayloadTest, NonStringMembersAndEmptyFieldsAreLeftOut) {
  storage::Notification n = Note(R"({"title":7,"body":"b","url":null})");
  n.event.clear();
  boost::json::object p = Parsed(n);
  EXPECT_FALSE(p.contains("title"));
  EXPECT_FALSE(p.contains("url"));
  EXPECT_FALSE(p.contains("event"));
  EXPECT_FALSE(p.contains("tag"));
  EXPECT_EQ(p.at("body").as_string(), "b");
}

TEST(PushPayloadTest, ALongBodyIsShortenedBetweenCharacters) {
  std::string body;
  for (int i = 0; i < 3000; ++i) body += "\xC3\xA9";  // "é", two bytes each
  boost::json::object p =
      Parsed(Note(R"({"title":"t","body":")" + body + R"("})"));
  std::string shortened(p.at("body").as_string());
  EXPECT_THAT(shortened, EndsWith("\xE2\x80\xA6"));
  EXPECT_TRUE(
      absl::StartsWith(body, shortened.substr(0, shortened.size() - 3)));
  EXPECT_GT(shortened.size(), 2500u);
}

TEST(PushPayloadTest, EscapesCountTowardsTheLimit) {
  // Each control character takes six bytes escaped, each quote two.
  std::string data(5000, '\x01');
  data += std::string(5000, '"');
  EXPECT_LE(PushPayload(Note(data)).size(), kMaxPushPayloadBytes);
  boost::json::object p = Parsed(Note(data));
  EXPECT_THAT(std::string(p.at("body").as_string()), EndsWith("\xE2\x80\xA6"));
}

TEST(PushPayloadTest, LongTitlesAreShortenedAndLongUrlsLeftOut) {
  const std::string title(1000, 'T');
  const std::string url = "https://example.com/" + std::string(600, 'u');
  boost::json::object p =
      Parsed(Note(R"({"title":")" + title + R"(","url":")" + url +
                  R"(","icon":")" + url + R"(","body":"b"})"));
  EXPECT_THAT(std::string(p.at("title").as_string()),
              SizeIs(kMaxPushTitleBytes));
  EXPECT_FALSE(p.contains("url"));
  EXPECT_FALSE(p.contains("icon"));
  EXPECT_EQ(p.at("body").as_string(), "b");
}

TEST(ShortenForJsonTest, KeepsTextThatFits) {
  EXPECT_EQ(ShortenForJson("abc", 3), "abc");
  EXPECT_EQ(ShortenForJson("", 0), "");
}

TEST(ShortenForJsonTest, CutsAtACharacterBoundaryAndAddsAnEllipsis) {
  // "aé€": 1 + 2 + 3 bytes; 6 bytes of room leave 3 for text after "…".
  EXPECT_EQ(ShortenForJson("a\xC3\xA9\xE2\x82\xAC", 5), "a\xE2\x80\xA6");
  EXPECT_EQ(ShortenForJson("a\xC3\xA9\xE2\x82\xAC!", 6),
            "a\xC3\xA9\xE2\x80\xA6");
  // 6 bytes escaped: one quote (2) and "…" (3) fit in 5.
  EXPECT_EQ(ShortenForJson("\"\"\"", 5), "\"\xE2\x80\xA6");
  EXPECT_EQ(ShortenForJson("abcdef", 2), "");  // no room for the ellipsis
}

}  // namespace
}  // namespace notifyd::server
