// The Notifier's per-caller counters: one counter per (method, code,
// caller), found again without the registry, callers added at run time
// (past the first table) and from several threads at once.
#include "api/call_counters.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::api {
namespace {

using ::testing::HasSubstr;

TEST(CallCountersTest, CountsByMethodCodeAndCaller) {
  Metrics metrics;
  CallCounters counters(metrics, {"NotifyUser", "Publish"});
  CallCounters::Caller& alice = counters.Find("alice");
  EXPECT_EQ(&counters.Find("alice"), &alice);
  Counter& ok = counters.Calls(alice, 1, grpc::StatusCode::OK);
  EXPECT_EQ(&counters.Calls(alice, 1, grpc::StatusCode::OK), &ok);
  ok.Inc();
  counters.Calls(alice, 0, grpc::StatusCode::INVALID_ARGUMENT).Inc();
  const std::string text = metrics.RenderText();
  EXPECT_THAT(text, HasSubstr("notifyd_grpc_calls_total{method=\"Publish\","
                              "code=\"OK\",caller=\"alice\"} 1"));
  EXPECT_THAT(text, HasSubstr("notifyd_grpc_calls_total{method=\"NotifyUser\","
                              "code=\"INVALID_ARGUMENT\",caller=\"alice\"} 1"));
}

TEST(CallCountersTest, AnUnknownCodeCountsAsUnknown) {
  Metrics metrics;
  CallCounters counters(metrics, {"GetStats"});
  CallCounters::Caller& caller = counters.Find("c");
  // 20 is no canonical code yet a value the enum can hold (99 is not, and
  // forming it is undefined behaviour the sanitizer build reports).
  EXPECT_EQ(&counters.Calls(caller, 0, static_cast<grpc::StatusCode>(20)),
            &counters.Calls(caller, 0, grpc::StatusCode::UNKNOWN));
}

TEST(CallCountersTest, CallersAddedFromManyThreadsAreAllFound) {
  Metrics metrics;
  CallCounters counters(metrics, {"Publish"});
  constexpr int kThreads = 4;
  constexpr int kCallers = 200;  // several times the first table
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counters] {
      for (int i = 0; i < kCallers; ++i) {
        CallCounters::Caller& c = counters.Find(absl::StrCat("caller-", i));
        counters.Calls(c, 0, grpc::StatusCode::OK).Inc();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kCallers; ++i) {
    const std::string name = absl::StrCat("caller-", i);
    CallCounters::Caller& c = counters.Find(name);
    EXPECT_EQ(c.name, name);
    EXPECT_EQ(counters.Calls(c, 0, grpc::StatusCode::OK).Value(),
              static_cast<uint64_t>(kThreads));
  }
}

}  // namespace
}  // namespace notifyd::api
