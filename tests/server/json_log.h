// Reading notifyd's --log_format=json output in tests: every line must be
// one JSON object with "ts", "level" and "msg"; lines are then found by
// their message and fields.
#ifndef NOTIFYD_TESTS_SERVER_JSON_LOG_H_
#define NOTIFYD_TESTS_SERVER_JSON_LOG_H_

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"

namespace notifyd::testing {

// Every line of `log` parsed; each line that is not a JSON object with a
// "ts" (RFC 3339, UTC, milliseconds), a known "level" and a string "msg"
// fails the test, naming it.
inline std::vector<boost::json::object> ParseJsonLog(const std::string& log) {
  static const std::regex kTimestamp(
      R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  std::vector<boost::json::object> lines;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    const std::string text(line);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);  // strict UTF-8
    const boost::json::object* o = ec ? nullptr : v.if_object();
    if (o == nullptr) {
      ADD_FAILURE() << "not a JSON object: " << text;
      continue;
    }
    const boost::json::string* ts = nullptr;
    const boost::json::string* level = nullptr;
    if (const boost::json::value* t = o->if_contains("ts")) ts = t->if_string();
    if (const boost::json::value* l = o->if_contains("level")) {
      level = l->if_string();
    }
    const boost::json::value* msg = o->if_contains("msg");
    EXPECT_TRUE(ts != nullptr &&
                std::regex_match(std::string(ts->c_str()), kTimestamp))
        << text;
    EXPECT_TRUE(level != nullptr &&
                (*level == "trace" || *level == "debug" || *level == "info" ||
                 *level == "warn" || *level == "error" || *level == "critical"))
        << text;
    EXPECT_TRUE(msg != nullptr && msg->is_string()) << text;
    lines.push_back(*o);
  }
  return lines;
}

// The first line whose "msg" is `msg` and whose string fields include
// `fields`; nullopt when there is none.
inline std::optional<boost::json::object> FindLine(
    const std::vector<boost::json::object>& lines, const std::string& msg,
    const std::vector<std::pair<std::string, std::string>>& fields = {}) {
  for (const boost::json::object& o : lines) {
    const boost::json::value* m = o.if_contains("msg");
    if (m == nullptr || !m->is_string() || m->get_string() != msg) continue;
    bool all = true;
    for (const auto& [key, value] : fields) {
      const boost::json::value* f = o.if_contains(key);
      all = all && f != nullptr && f->is_string() && f->get_string() == value;
    }
    if (all) return o;
  }
  return std::nullopt;
}

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_SERVER_JSON_LOG_H_
