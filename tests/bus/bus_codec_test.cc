// The bus's wire format (bus/bus_codec.h): every field of a notification,
// the inbox's and the trace id, survives the round trip between instances;
// what is not a notification is refused.
#include "bus/bus_codec.h"

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/notification.h"

namespace notifyd::bus {
namespace {

TEST(BusCodecTest, RoundTripsEveryField) {
  storage::Notification n{.id = 18446744073709551000u,
                          .channel = "user:alice",
                          .event = "order.shipped",
                          .data = "line one\n\"quoted\" \xc3\xa9",
                          .created_at_ms = 1700000000123};
  absl::StatusOr<BusMessage> decoded =
      DecodeBusMessage(EncodeBusMessage(0xfeedface00000001u, n));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->origin, 0xfeedface00000001u);
  EXPECT_EQ(decoded->notification->id, n.id);
  EXPECT_EQ(decoded->notification->channel, n.channel);
  EXPECT_EQ(decoded->notification->event, n.event);
  EXPECT_EQ(decoded->notification->data, n.data);
  EXPECT_EQ(decoded->notification->created_at_ms, n.created_at_ms);
}

TEST(BusCodecTest, RoundTripsTheInboxFields) {
  storage::Notification n{.id = 7,
                          .channel = "user:alice",
                          .event = "state",
                          .data = R"({"ids":[3],"read":true})",
                          .created_at_ms = 1700000000123,
                          .kind = storage::Notification::Kind::kStateRecord,
                          .expires_at_ms = 1700000999000,
                          .collapse_key = "build-42",
                          .has_counts = true,
                          .counts = {4, 2}};
  absl::StatusOr<BusMessage> decoded = DecodeBusMessage(EncodeBusMessage(1, n));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const storage::Notification& d = *decoded->notification;
  EXPECT_EQ(d.kind, storage::Notification::Kind::kStateRecord);
  EXPECT_EQ(d.expires_at_ms, n.expires_at_ms);
  EXPECT_EQ(d.collapse_key, n.collapse_key);
  EXPECT_TRUE(d.has_counts);
  EXPECT_EQ(d.counts, n.counts);
  // A plain notification carries none of them.
  storage::Notification plain{.id = 8, .channel = "news", .event = "e"};
  EXPECT_EQ(EncodeBusMessage(1, plain).find("unread"), std::string::npos);
  absl::StatusOr<BusMessage> decoded_plain =
      DecodeBusMessage(EncodeBusMessage(1, plain));
  ASSERT_TRUE(decoded_plain.ok()) << decoded_plain.status();
  EXPECT_FALSE(decoded_plain->notification->has_counts);
  EXPECT_FALSE(decoded_plain->notification->is_record());
}

// The trace id of the request that wrote a notification travels with it,
// so the delivering instance can log it; only when there is one.
TEST(BusCodecTest, RoundTripsTheTraceId) {
  storage::Notification n{.id = 9, .channel = "user:ada", .event = "e"};
  n.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string bytes = EncodeBusMessage(1, n);
  EXPECT_NE(bytes.find(R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")"),
            std::string::npos);
  absl::StatusOr<BusMessage> decoded = DecodeBusMessage(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->notification->trace_id, n.trace_id);
  n.trace_id.clear();
  EXPECT_EQ(EncodeBusMessage(1, n).find("trace_id"), std::string::npos);
}

// An instance that predates trace ids sends none, and is read as before;
// a trace id that is not one is dropped, and the notification delivered.
TEST(BusCodecTest, AMissingOrMalformedTraceIdLeavesTheNotificationWithout) {
  constexpr char kWithout[] =
      R"({"v":1,"origin":"00000000000000aa","id":5,"channel":"news",)"
      R"("event":"e","data":"d","created_at_ms":1700000000123})";
  absl::StatusOr<BusMessage> old = DecodeBusMessage(kWithout);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->notification->id, 5u);
  EXPECT_EQ(old->notification->trace_id, "");
  for (const char* trace_id :
       {R"("4BF92F3577B34DA6A3CE929D0E0E4736")", R"("")", R"("not hex")",
        R"("00000000000000000000000000000000")", "7", "null",
        R"("4bf92f3577b34da6a3ce929d0e0e4736\n")"}) {
    std::string bytes = kWithout;
    bytes.insert(bytes.size() - 1, absl::StrCat(R"(,"trace_id":)", trace_id));
    absl::StatusOr<BusMessage> decoded = DecodeBusMessage(bytes);
    ASSERT_TRUE(decoded.ok()) << bytes << ": " << decoded.status();
    EXPECT_EQ(decoded->notification->trace_id, "") << bytes;
    EXPECT_EQ(decoded->notification->data, "d");
  }
}

TEST(BusCodecTest, RefusesWhatIsNotANotification) {
  for (const char* bytes :
       {"", "[]", "{\"v\":2}", R"({"v":1,"origin":"1","id":0,"channel":"c",
          "event":"","data":"","created_at_ms":1})",
        R"({"v":1,"origin":"zz","id":1,"channel":"c","event":"","data":"",
          "created_at_ms":1})",
        R"({"v":1,"origin":"1","id":1,"channel":"c","event":"","data":7,
          "created_at_ms":1})",
        R"({"v":1,"origin":"1","id":1,"channel":"c","event":"","data":"",
          "created_at_ms":1,"kind":9})",
        R"({"v":1,"origin":"1","id":1,"channel":"c","event":"","data":"",
          "created_at_ms":1,"unread":1})",
        R"({"v":1,"origin":"1","id":1,"channel":"c","event":"","data":"",
          "created_at_ms":1,"collapse_key":5})"}) {
    EXPECT_FALSE(DecodeBusMessage(bytes).ok()) << bytes;
  }
}

}  // namespace
}  // namespace notifyd::bus
