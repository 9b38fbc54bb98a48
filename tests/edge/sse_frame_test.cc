#include "edge/sse_frame.h"

#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

TEST(SseFrameTest, SingleLine) {
  EXPECT_EQ(*EncodeEvent(7, "notification", "{\"a\":1}"),
            "id: 7\nevent: notification\ndata: {\"a\":1}\n\n");
}

TEST(SseFrameTest, EmptyEventOmitsEventLine) {
  EXPECT_EQ(*EncodeEvent(1, "", "x"), "id: 1\ndata: x\n\n");
}

TEST(SseFrameTest, EmptyDataIsOneEmptyDataLine) {
  EXPECT_EQ(*EncodeEvent(1, "e", ""), "id: 1\nevent: e\ndata: \n\n");
}

TEST(SseFrameTest, SplitsOnLfCrAndCrLf) {
  EXPECT_EQ(*EncodeEvent(2, "e", "a\nb\rc\r\nd"),
            "id: 2\nevent: e\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
}

TEST(SseFrameTest, TrailingAndConsecutiveNewlinesKeepEmptyLines) {
  EXPECT_EQ(*EncodeEvent(3, "e", "a\n\nb\n"),
            "id: 3\nevent: e\ndata: a\ndata: \ndata: b\ndata: \n\n");
  EXPECT_EQ(*EncodeEvent(3, "e", "\r\n\r"),
            "id: 3\nevent: e\ndata: \ndata: \ndata: \n\n");
}

TEST(SseFrameTest, RejectsControlCharactersInEventName) {
  EXPECT_FALSE(EncodeEvent(1, "a\nb", "x").ok());
  EXPECT_FALSE(EncodeEvent(1, "a\rb", "x").ok());
  EXPECT_FALSE(EncodeEvent(1, std::string("a\0b", 3), "x").ok());
  EXPECT_EQ(EncodeEvent(1, "a\nb", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SseFrameTest, Utf8AndNulInDataPassThrough) {
  std::string data = "h\xC3\xA9llo \xF0\x9F\x94\x94";
  EXPECT_EQ(*EncodeEvent(4, "e", data),
            "id: 4\nevent: e\ndata: " + data + "\n\n");
}

TEST(SseFrameTest, EncodeNotificationCarriesId) {
  storage::Notification n;
  n.id = 42;
  n.event = "x";
  n.data = "y";
  absl::StatusOr<FramePtr> f = EncodeNotification(n);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->id, 42u);
  EXPECT_EQ((*f)->bytes, "id: 42\nevent: x\ndata: y\n\n");
  n.event = "bad\nname";
  EXPECT_FALSE(EncodeNotification(n).ok());
}

TEST(SseFrameTest, AnInboxEntryIsFollowedByItsCountsInTheSameFrame) {
  storage::Notification n;
  n.id = 9;
  n.channel = "user:u";
  n.event = "state";
  n.data = R"({"ids":[3],"read":true})";
  n.has_counts = true;
  n.counts = {2, 5};
  absl::StatusOr<FramePtr> f = EncodeNotification(n);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->bytes,
            "id: 9\nevent: state\ndata: {\"ids\":[3],\"read\":true}\n\n"
            "event: counts\ndata: {\"unread\":2,\"unseen\":5}\n\n");
  EXPECT_EQ((*f)->bytes.substr(0, (*f)->counts_at),
            "id: 9\nevent: state\ndata: {\"ids\":[3],\"read\":true}\n\n");
  EXPECT_EQ((*f)->counts_as_of, 9u);

  FramePtr counts = CountsFrame({1, 0}, 12);
  EXPECT_EQ(counts->id, 0u);
  EXPECT_EQ(counts->counts_at, 0u);
  EXPECT_EQ(counts->counts_as_of, 12u);
  EXPECT_EQ(counts->bytes,
            "event: counts\ndata: {\"unread\":1,\"unseen\":0}\n\n");
}

// A stream writes counts only when newer than the last it wrote; the entry
// they follow always goes out.
TEST(SseFrameTest, CountsCursorLeavesOutCountsOlderThanTheLastWritten) {
  CountsCursor cursor;
  storage::Notification older;
  older.id = 4;
  older.event = "e";
  older.data = "x";
  older.has_counts = true;
  older.counts = {1, 1};
  FramePtr first = CountsFrame({2, 2}, 5);
  FramePtr late = *EncodeNotification(older);
  older.id = 6;
  older.counts = {3, 3};
  FramePtr newer = *EncodeNotification(older);
  Frame plain{7, "id: 7\ndata: y\n\n"};

  EXPECT_EQ(cursor.BytesToWrite(*first), first->bytes);
  EXPECT_EQ(cursor.BytesToWrite(*late), "id: 4\nevent: e\ndata: x\n\n");
  EXPECT_EQ(cursor.BytesToWrite(*first), "");  // not newer than itself
  EXPECT_EQ(cursor.BytesToWrite(*newer), newer->bytes);
  EXPECT_EQ(cursor.BytesToWrite(plain), plain.bytes);
}

TEST(SseFrameTest, ControlFrames) {
  EXPECT_EQ(EncodePreamble(2000), "retry: 2000\n: connected\n\n");
  EXPECT_EQ(ResetFrame(17)->bytes, "event: reset\ndata: 17\n\n");
  EXPECT_EQ(ResetFrame(17)->id, 0u);
  EXPECT_EQ(PingFrame()->bytes, ": ping\n\n");
  EXPECT_EQ(PingFrame().get(), PingFrame().get());
}

}  // namespace
}  // namespace notifyd::edge
