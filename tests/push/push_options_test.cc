// PushOptions::Validate: the defaults pass (given the one thing only the
// operator knows, the VAPID subject) and each bound names its flag.
#include "push/push_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace notifyd::push {
namespace {

using ::testing::HasSubstr;

PushOptions Valid() {
  PushOptions options;
  options.vapid_subject = "mailto:ops@example.com";
  return options;
}

TEST(PushOptionsTest, DefaultsWithASubjectAreValid) {
  EXPECT_TRUE(Valid().Validate().ok());
  EXPECT_THAT(PushOptions().Validate().message(), HasSubstr("--vapid_subject"));
}

TEST(PushOptionsTest, EachBoundNamesItsFlag) {
  struct Case {
    const char* flag;
    std::function<void(PushOptions&)> set;
  };
  const std::vector<Case> cases = {
      {"--push_threads", [](PushOptions& o) { o.threads = 0; }},
      {"--push_threads", [](PushOptions& o) { o.threads = 17; }},
      {"--push_max_queue", [](PushOptions& o) { o.max_queue = 0; }},
      {"--push_max_queue", [](PushOptions& o) { o.max_queue = 1'000'001; }},
      {"--push_max_in_flight", [](PushOptions& o) { o.max_in_flight = 0; }},
      {"--push_max_in_flight",
       [](PushOptions& o) { o.max_in_flight = 10'001; }},
      {"--push_max_attempts", [](PushOptions& o) { o.max_attempts = 0; }},
      {"--push_max_attempts", [](PushOptions& o) { o.max_attempts = 21; }},
      {"--push_backoff_base",
       [](PushOptions& o) { o.backoff_base = absl::ZeroDuration(); }},
      {"--push_backoff_cap",
       [](PushOptions& o) { o.backoff_cap = o.backoff_base / 2; }},
      {"--push_connect_timeout",
       [](PushOptions& o) { o.connect_timeout = absl::ZeroDuration(); }},
      {"--push_request_timeout",
       [](PushOptions& o) { o.request_timeout = -absl::Seconds(1); }},
      {"--push_idle_timeout",
       [](PushOptions& o) { o.idle_timeout = -absl::Seconds(1); }},
      {"--vapid_subject",
       [](PushOptions& o) { o.vapid_subject = "ops@example.com"; }},
  };
  for (const Case& c : cases) {
    PushOptions options = Valid();
    c.set(options);
    absl::Status status = options.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(status.message(), HasSubstr(c.flag));
  }
}

}  // namespace
}  // namespace notifyd::push
