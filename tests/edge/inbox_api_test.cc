// The inbox API's Beast-free parts: the query, the CSRF rule and the JSON
// it writes (edge/inbox_api.h).
#include "edge/inbox_api.h"

#include <string>
#include <vector>

#include "boost/json/parse.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::HasSubstr;

HttpTarget Target(const std::string& text) {
  absl::StatusOr<HttpTarget> t = ParseTarget(text);
  EXPECT_TRUE(t.ok()) << text;
  return *t;
}

TEST(InboxApiTest, ListQueryDefaultsAndReadsOneMoreRowThanThePage) {
  absl::StatusOr<storage::ListQuery> q =
      ParseListQuery(Target("/v1/inbox"), "user:a");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->channel, "user:a");
  EXPECT_EQ(q->filter, storage::ListFilter::kInbox);
  EXPECT_EQ(q->limit, kInboxDefaultLimit + 1);
  EXPECT_EQ(q->before_id, 0u);

  q = ParseListQuery(
      Target("/v1/inbox?filter=archived&limit=500&before_id=77&access_token=t"),
      "user:a");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->filter, storage::ListFilter::kArchived);
  EXPECT_EQ(q->limit, 501u);
  EXPECT_EQ(q->before_id, 77u);
  EXPECT_EQ(ParseListQuery(Target("/v1/inbox?filter=unread"), "c")->filter,
            storage::ListFilter::kUnread);
  EXPECT_EQ(ParseListQuery(Target("/v1/inbox?filter=unseen"), "c")->filter,
            storage::ListFilter::kUnseen);
  EXPECT_EQ(ParseListQuery(Target("/v1/inbox?filter=all"), "c")->filter,
            storage::ListFilter::kInbox);
}

TEST(InboxApiTest, ListQueryRefusals) {
  for (const char* bad :
       {"/v1/inbox?limit=0", "/v1/inbox?limit=501", "/v1/inbox?limit=-1",
        "/v1/inbox?limit=+5", "/v1/inbox?limit=", "/v1/inbox?limit=1e2",
        "/v1/inbox?limit=99999999999999999999999", "/v1/inbox?before_id=x",
        "/v1/inbox?before_id=-3", "/v1/inbox?before_id=",
        "/v1/inbox?filter=ALL", "/v1/inbox?filter=", "/v1/inbox?nope=1",
        "/v1/inbox?limit=1&limit=2", "/v1/inbox?filter=all&filter=all",
        "/v1/inbox?access_token=a&access_token=b"}) {
    absl::StatusOr<storage::ListQuery> q = ParseListQuery(Target(bad), "c");
    EXPECT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(
      ParseListQuery(Target("/v1/inbox?x%0A=1"), "c").status().message(),
      HasSubstr("unknown parameter: x\\x0a"));
  EXPECT_THAT(ParseListQuery(Target("/v1/inbox?limit=2&limit=2"), "c")
                  .status()
                  .message(),
              HasSubstr("more than once: limit"));
}

TEST(InboxApiTest, CookieNeedsAnAllowedOrSameOrigin) {
  std::vector<std::string> cors = {"https://app.example", "*"};
  EXPECT_TRUE(
      CheckCookieOrigin("https://app.example", cors, "http://h:8080").ok());
  EXPECT_TRUE(CheckCookieOrigin("http://h:8080", cors, "http://h:8080").ok());
  EXPECT_EQ(CheckCookieOrigin(std::nullopt, cors, "http://h:8080").code(),
            absl::StatusCode::kPermissionDenied);
  // "*" lets any page read; it does not let any page write.
  EXPECT_EQ(CheckCookieOrigin("https://evil.example", cors, "http://h").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckCookieOrigin("null", cors, "http://h").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckCookieOrigin("https://h:8080", cors, "http://h:8080").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckCookieOrigin("", {}, "").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(InboxApiTest, JsonOut) {
  EXPECT_EQ(FormatRfc3339Millis(1714566896789), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(EncodeCounts({.unread = 3, .unseen = 7}),
            R"({"unread":3,"unseen":7})");
  EXPECT_EQ(EncodeChanged(2), R"({"changed":2})");
  EXPECT_EQ(EncodeError("a \"b\"\n"), R"({"error":"a \"b\"\n"})");

  std::vector<storage::Notification> rows(3);
  for (int i = 0; i < 3; ++i) {
    rows[i].id = 30 - i;
    rows[i].channel = "user:a";
    rows[i].event = "e";
    rows[i].data = R"({"title":"x"})";
    rows[i].created_at_ms = 1000;
  }
  rows[0].read_at_ms = rows[0].seen_at_ms = 5;
  rows[1].expires_at_ms = 1714566896789;
  boost::json::value page = boost::json::parse(EncodeInboxPage(rows, 2));
  const auto& list = page.at("notifications").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(page.at("next_before_id").to_number<uint64_t>(), 29u);
  EXPECT_EQ(list[0].at("id").to_number<uint64_t>(), 30u);
  EXPECT_EQ(list[0].at("data").as_string(), R"({"title":"x"})");
  EXPECT_EQ(list[0].at("created_at").as_string(), "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(list[0].at("read").as_bool(), true);
  EXPECT_EQ(list[0].at("seen").as_bool(), true);
  EXPECT_EQ(list[0].at("archived").as_bool(), false);
  EXPECT_TRUE(list[0].at("expires_at").is_null());
  EXPECT_EQ(list[1].at("expires_at").as_string(), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(list[1].as_object().size(), 9u);
  // A last page that is exactly full: no next page.
  page = boost::json::parse(EncodeInboxPage(rows, 3));
  EXPECT_EQ(page.at("notifications").as_array().size(), 3u);
  EXPECT_EQ(page.at("next_before_id").to_number<uint64_t>(), 0u);
  page = boost::json::parse(EncodeInboxPage({}, 50));
  EXPECT_TRUE(page.at("notifications").as_array().empty());
  EXPECT_EQ(page.at("next_before_id").to_number<uint64_t>(), 0u);
}

}  // namespace
}  // namespace notifyd::edge
