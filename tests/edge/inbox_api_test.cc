// The inbox API's Beast-free parts: the query, the state change body, the
// CSRF rule and the JSON it writes (edge/inbox_api.h).
#include "edge/inbox_api.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/json/parse.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

HttpTarget Target(const std::string& text) {
  absl::StatusOr<HttpTarget> t = ParseTarget(text);
  EXPECT_TRUE(t.ok()) << text;
  return *t;
}

std::string ErrorOf(absl::string_view body) {
  absl::StatusOr<storage::StateChange> c = ParseStateChange(body);
  EXPECT_FALSE(c.ok()) << body;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << body;
  return std::string(c.status().message());
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

TEST(InboxApiTest, StateChangeBodies) {
  absl::StatusOr<storage::StateChange> c =
      ParseStateChange(R"({"ids":[3,1,18446744073709551615],"read":true})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->ids, ElementsAre(3u, 1u, 18446744073709551615u));
  EXPECT_EQ(c->read, true);
  EXPECT_FALSE(c->seen);
  EXPECT_FALSE(c->archived.has_value());

  c = ParseStateChange(
      " {\"up_to_id\": 9, \"seen\": true, \"archived\": false} \n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->ids.empty());
  EXPECT_EQ(c->up_to_id, 9u);
  EXPECT_TRUE(c->seen);
  EXPECT_EQ(c->archived, false);
  EXPECT_FALSE(c->read.has_value());

  c = ParseStateChange(R"({"read":false,"ids":[5],"up_to_id":2})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->read, false);

  std::string max = R"({"read":true,"ids":[1)";
  for (size_t i = 1; i < storage::kMaxChangeIds; ++i) max += ",1";
  c = ParseStateChange(max + "]}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ids.size(), storage::kMaxChangeIds);
  EXPECT_THAT(ErrorOf(max + ",1]}"), HasSubstr("too many ids (max 1000)"));
}

TEST(InboxApiTest, StateChangeRefusalsNameWhatIsWrong) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf("{"), HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":true} x)"),
              HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":true}{})"),
              HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":true,})"),
              HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],/*c*/"read":true})"),
              HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf("[1]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ErrorOf("7"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ErrorOf(R"({"ids":[-1],"read":true})"),
              HasSubstr("ids must be an array of positive integers"));
  EXPECT_THAT(ErrorOf(R"({"ids":[0],"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1.0],"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1e2],"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":[18446744073709551616],"read":true})"),
              HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":["1"],"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":[[1]],"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":1,"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":null,"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"ids":{},"read":true})"), HasSubstr("positive"));
  EXPECT_THAT(ErrorOf(R"({"up_to_id":-4,"read":true})"),
              HasSubstr("up_to_id must be a positive integer"));
  EXPECT_THAT(ErrorOf(R"({"up_to_id":[4],"read":true})"),
              HasSubstr("up_to_id must be"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"seen":false})"),
              HasSubstr("seen must be true"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":"yes"})"),
              HasSubstr("read must be true or false"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"archived":1})"),
              HasSubstr("archived must be true or false"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":null})"), HasSubstr("read must"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":true,"mute":true})"),
              HasSubstr("unknown member: mute"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":true,"a\nb":1})"),
              HasSubstr("unknown member: a\\x0ab"));
  EXPECT_THAT(ErrorOf(absl::StrCat(R"({")", std::string(5000, 'k'), R"(":1})")),
              HasSubstr("unknown member: kkkkkkkkkkkkkkkk"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"read":true,"read":false})"),
              HasSubstr("member given more than once: read"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1],"ids":[2],"read":true})"),
              HasSubstr("more than once: ids"));
  EXPECT_THAT(ErrorOf(R"({"read":true})"), HasSubstr("give ids"));
  EXPECT_THAT(ErrorOf(R"({"ids":[],"read":true})"), HasSubstr("give ids"));
  EXPECT_THAT(ErrorOf(R"({"ids":[1]})"), HasSubstr("no change"));
  EXPECT_THAT(ErrorOf("{}"), HasSubstr("give ids"));
  EXPECT_THAT(ErrorOf("{\"ids\":[1],\"read\":true,\"\xff\":1}"),
              HasSubstr("malformed JSON"));
}

TEST(InboxApiTest, ContentTypeMustBeJson) {
  EXPECT_TRUE(CheckJsonContentType("application/json").ok());
  EXPECT_TRUE(CheckJsonContentType("Application/JSON; charset=utf-8").ok());
  EXPECT_TRUE(CheckJsonContentType(" application/json ;x=y").ok());
  for (const char* bad : {"", "text/plain", "application/jsonx",
                          "application/x-www-form-urlencoded",
                          "multipart/form-data", "application/json-patch"}) {
    absl::Status s = CheckJsonContentType(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << bad;
  }
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
