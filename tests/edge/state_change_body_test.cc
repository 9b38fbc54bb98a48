// The body of POST /v1/inbox/state: its Content-Type and its JSON
// (edge/state_change_body.h).
#include "edge/state_change_body.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ErrorOf(absl::string_view body) {
  absl::StatusOr<storage::StateChange> c = ParseStateChange(body);
  EXPECT_FALSE(c.ok()) << body;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << body;
  return std::string(c.status().message());
}

TEST(StateChangeBodyTest, StateChangeBodies) {
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

TEST(StateChangeBodyTest, StateChangeRefusalsNameWhatIsWrong) {
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

TEST(StateChangeBodyTest, ContentTypeMustBeJson) {
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

}  // namespace
}  // namespace notifyd::edge
