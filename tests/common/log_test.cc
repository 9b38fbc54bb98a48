// Log lines as text or JSON: a call site's fields come out as JSON members
// (escaped, always valid UTF-8) or as key=value words, in the order given.
#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>

namespace notifyd {
namespace {

using ::testing::HasSubstr;

// The object a JSON line's body makes once wrapped in braces, as the line
// formatter wraps it (after "ts" and "level").
boost::json::object ParseBody(const std::string& body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse("{" + body + "}", ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << body;
  return ec ? boost::json::object() : v.as_object();
}

TEST(LogTest, JsonBodyHoldsTheMessageAndEachFieldAsAMember) {
  const std::string body = RenderLogBody(
      LogFormat::kJson, "stored",
      {{"id", uint64_t{18446744073709551615u}},
       {"delta", int64_t{-3}},
       {"channel", "user:ada"},
       {"live", true},
       {"trace_id", std::string("4bf92f3577b34da6a3ce929d0e0e4736")}});
  EXPECT_EQ(body, R"("msg":"stored","id":18446744073709551615,"delta":-3,)"
                  R"("channel":"user:ada","live":true,)"
                  R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")");
  boost::json::object o = ParseBody(body);
  EXPECT_EQ(o.at("id").as_uint64(), 18446744073709551615u);
  EXPECT_EQ(o.at("live").as_bool(), true);
}

TEST(LogTest, EmptyStringsAndZeroNonZeroFieldsAreLeftOut) {
  EXPECT_EQ(RenderLogBody(LogFormat::kJson, "m",
                          {{"trace_id", ""},
                           LogField::NonZero("dropped", 0),
                           {"count", uint64_t{0}}}),
            R"("msg":"m","count":0)");
  EXPECT_EQ(RenderLogBody(LogFormat::kText, "m",
                          {LogField::NonZero("dropped", 4), {"peer", ""}}),
            "m dropped=4");
}

TEST(LogTest, JsonEscapesQuotesControlsAndReplacesInvalidUtf8) {
  const std::string hostile =
      "a\"b\\c\nd\te\x01 \xff\xfe end \xc3\x28 caf\xc3\xa9 \xed\xa0\x80";
  const std::string body =
      RenderLogBody(LogFormat::kJson, hostile, {{"error", hostile}});
  boost::json::object o = ParseBody(body);  // strict: UTF-8 only
  const std::string expected =
      "a\"b\\c\nd\te\x01 \xEF\xBF\xBD\xEF\xBF\xBD end \xEF\xBF\xBD( "
      "caf\xc3\xa9 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD";
  EXPECT_EQ(o.at("msg").as_string(), expected);
  EXPECT_EQ(o.at("error").as_string(), expected);
  EXPECT_EQ(body.find('\n'), std::string::npos);  // one line
}

TEST(LogTest, TextWritesWordsBareAndAnythingElseQuoted) {
  EXPECT_EQ(RenderLogBody(LogFormat::kText, "edge: stream opened",
                          {{"user", "ada"},
                           {"peer", "127.0.0.1:5000"},
                           {"channels", size_t{2}},
                           {"error", "not found: \"x\""},
                           {"key", "a=b"},
                           {"line", "two\nlines"}}),
            R"(edge: stream opened user=ada peer=127.0.0.1:5000 channels=2 )"
            R"(error="not found: \"x\"" key="a=b" line="two\nlines")");
}

TEST(LogTest, AHugeFieldStaysOneValidLine) {
  const std::string big(1 << 20, '\n');
  const std::string body = RenderLogBody(LogFormat::kJson, "m", {{"x", big}});
  EXPECT_EQ(ParseBody(body).at("x").as_string().size(), big.size());
  EXPECT_EQ(body.find('\n'), std::string::npos);
}

TEST(LogTest, FormatAndLevelNamesAreValidated) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  for (const char* bad : {"", "JSON", "xml", "json "}) {
    absl::StatusOr<LogFormat> f = ParseLogFormat(bad);
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(f.status().message(), HasSubstr("--log_format"));
  }
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  for (const char* bad : {"", "verbose", "off", "INFO"}) {
    absl::StatusOr<spdlog::level::level_enum> l = ParseLogLevel(bad);
    EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(l.status().message(), HasSubstr("--log_level"));
  }
}

}  // namespace
}  // namespace notifyd
