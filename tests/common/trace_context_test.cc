// W3C traceparent values: the trace id of a well-formed one, nothing from
// anything else (which notifyd then ignores, never logging it).
#include "common/trace_context.h"

#include <gtest/gtest.h>

#include <string>

namespace notifyd {
namespace {

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kValid[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContextTest, AWellFormedValueGivesItsTraceId) {
  EXPECT_EQ(TraceIdFromTraceparent(kValid), kTraceId);
  // Flags are not interpreted: unsampled traces are logged too.
  EXPECT_EQ(TraceIdFromTraceparent(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            kTraceId);
}

TEST(TraceContextTest, MalformedValuesGiveNothing) {
  const std::string valid = kValid;
  const char* const bad[] = {
      "",
      "00",
      // Uppercase hex.
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
      // All-zero ids.
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      // Version ff is invalid, and versions are hex.
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      // Wrong separators or lengths.
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      // Version 00 has nothing after its flags.
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
      // A later version's extra data follows a '-'.
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
  };
  for (const char* value : bad) {
    EXPECT_EQ(TraceIdFromTraceparent(value), "") << value;
  }
  EXPECT_EQ(TraceIdFromTraceparent(valid.substr(0, valid.size() - 1)), "");
  EXPECT_EQ(TraceIdFromTraceparent(std::string(valid.size(), '0')), "");
}

TEST(TraceContextTest, ALaterVersionIsReadAsVersion00) {
  EXPECT_EQ(TraceIdFromTraceparent(
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            kTraceId);
  EXPECT_EQ(TraceIdFromTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-"
                                   "00f067aa0ba902b7-01-what-the-future-adds"),
            kTraceId);
}

// The value's length is bounded only by the transport (gRPC's metadata
// limit, the edge's header limit): any length is read in constant time.
TEST(TraceContextTest, AHugeValueIsRefusedOrReadByItsPrefixOnly) {
  const std::string tail(1 << 20, 'a');
  EXPECT_EQ(TraceIdFromTraceparent(std::string(kValid) + tail), "");
  EXPECT_EQ(
      TraceIdFromTraceparent(
          "02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + tail),
      kTraceId);
}

TEST(TraceContextTest, TraceIdsAre32LowercaseHexNotAllZero) {
  EXPECT_TRUE(IsValidTraceId(kTraceId));
  EXPECT_FALSE(IsValidTraceId(""));
  EXPECT_FALSE(IsValidTraceId("4bf92f3577b34da6a3ce929d0e0e473"));
  EXPECT_FALSE(IsValidTraceId("4bf92f3577b34da6a3ce929d0e0e47360"));
  EXPECT_FALSE(IsValidTraceId("4BF92F3577B34DA6A3CE929D0E0E4736"));
  EXPECT_FALSE(IsValidTraceId(std::string(32, '0')));
  EXPECT_FALSE(IsValidTraceId("4bf92f3577b34da6a3ce929d0e0e473\n"));
}

}  // namespace
}  // namespace notifyd
