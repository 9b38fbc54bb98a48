// EdgeServer end to end, streams: what a stream carries, resuming with
// Last-Event-ID, the user's counts and state on the stream, heartbeats and
// how a stream ends. A real server on an ephemeral port, a FakeStore, a Hub
// and raw-socket SSE clients (edge_server_test.h).
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/edge/edge_server_test.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge {
namespace {

using ::notifyd::edge::testing::EdgeServerTest;
using ::notifyd::edge::testing::HttpGet;
using ::notifyd::edge::testing::HttpResponse;
using ::notifyd::edge::testing::SseClient;
using ::notifyd::edge::testing::SseMessage;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(EdgeServerTest, PublishReachesStreamWithSseHeadersAndPreamble) {
  Start();
  SseClient c;
  ASSERT_EQ(
      c.Open(port_, "/v1/stream?user=alice", {"Origin: https://app.example"}),
      200);
  EXPECT_EQ(c.response().headers.at("content-type"), "text/event-stream");
  EXPECT_EQ(c.response().headers.at("cache-control"), "no-cache");
  EXPECT_EQ(c.response().headers.at("x-accel-buffering"), "no");
  EXPECT_EQ(c.response().headers.at("access-control-allow-origin"),
            "https://app.example");
  std::optional<SseMessage> hello = c.Next();
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->retry, "2000");
  EXPECT_THAT(hello->comments, ::testing::ElementsAre("connected"));
  WaitForConnections(1);

  uint64_t id = Notify("user:alice", "line one\nline two", "order.shipped");
  Notify("user:bob", "not for alice");
  std::optional<SseMessage> m = c.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, std::to_string(id));
  EXPECT_EQ(m->event, "order.shipped");
  EXPECT_EQ(m->data, "line one\nline two");
  EXPECT_EQ(hub_.DeliveredTotal(), 1u);
}

TEST_F(EdgeServerTest, ExtraChannels) {
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice&channels=news,team/red"), 200);
  WaitForConnections(1);
  Notify("sports", "no");
  uint64_t a = Notify("team/red", "yes1");
  uint64_t b = Notify("user:alice", "yes2");
  EXPECT_EQ(ReadIdsThrough(c, b), (std::vector<uint64_t>{a, b}));
}

TEST_F(EdgeServerTest, ResumeWithLastEventIdGetsExactlyWhatWasMissed) {
  options_.replay_page = 2;  // forces several pages
  Start();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(store_
                      .Add(i % 2 ? "user:alice" : "news", "notification",
                           absl::StrCat("m", i))
                      ->id);
    store_.Add("user:bob", "notification", "other");
  }
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice&channels=news",
                   {absl::StrCat("Last-Event-ID: ", ids[2])}),
            200);
  EXPECT_EQ(ReadIdsThrough(c, ids[6]),
            (std::vector<uint64_t>{ids[3], ids[4], ids[5], ids[6]}));
  uint64_t live = Notify("user:alice", "live");
  EXPECT_EQ(ReadIdsThrough(c, live), (std::vector<uint64_t>{live}));
  EXPECT_GE(store_.replay_calls(), 2);

  // Same via the query parameter (what the inbox page sends after reload).
  SseClient q;
  ASSERT_EQ(q.Open(port_, absl::StrCat("/v1/stream?user=alice&last_event_id=",
                                       ids[5])),
            200);
  EXPECT_EQ(ReadIdsThrough(q, live), (std::vector<uint64_t>{live}));
}

TEST_F(EdgeServerTest, NoGapNoDuplicateWhilePublishingDuringReplay) {
  options_.replay_page = 3;
  Start();
  for (int i = 0; i < 50; ++i) store_.Add("user:alice", "e", "old");
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> last_published{0};
  std::thread publisher([&] {
    while (!stop) {
      last_published = Notify("user:alice", "new");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::vector<std::unique_ptr<SseClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<SseClient>());
    ASSERT_EQ(clients.back()->Open(port_, "/v1/stream?user=alice",
                                   {absl::StrCat("Last-Event-ID: ", 10 * i)}),
              200);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  publisher.join();
  uint64_t last = last_published;
  for (int i = 0; i < 4; ++i) {
    std::vector<uint64_t> got = ReadIdsThrough(*clients[i], last);
    ASSERT_FALSE(got.empty());
    for (size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k], 10 * i + 1 + k) << "client " << i << " index " << k;
    }
    EXPECT_EQ(got.back(), last);
  }
}

TEST_F(EdgeServerTest, ResetWhenResumingFromPrunedHistory) {
  for (int i = 0; i < 10; ++i) store_.Add("user:alice", "e", "x");
  store_.PruneBelow(6);  // ids 6..10 remain
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice&last_event_id=2"), 200);
  std::optional<SseMessage> reset = c.NextEvent();
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->event, "reset");
  EXPECT_FALSE(reset->has_id);
  EXPECT_EQ(reset->data, "6");
  EXPECT_EQ(ReadIdsThrough(c, 10), (std::vector<uint64_t>{6, 7, 8, 9, 10}));

  // Resuming from exactly oldest-1 lost nothing: no reset.
  SseClient d;
  ASSERT_EQ(d.Open(port_, "/v1/stream?user=alice&last_event_id=5"), 200);
  std::optional<SseMessage> first = d.NextEvent();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, "6");
}

// A history many times --max_queue_bytes replays in one connection: pages
// are sized by bytes and read only as the client takes them, so a reader
// that keeps up is never cut as a slow consumer.
TEST_F(EdgeServerTest, OneReconnectCatchesUpOnHistoryFarLargerThanTheQueue) {
  ASSERT_EQ(options_.max_queue_bytes, size_t{1} << 20);  // the default
  const uint64_t seen = store_.Add("user:alice", "notification", "seen")->id;
  const std::string payload(64 * 1024, 'p');
  std::vector<uint64_t> missed;
  for (int i = 0; i < 200; ++i) {  // 12.5 MiB
    missed.push_back(store_.Add("user:alice", "notification", payload)->id);
  }
  Start();

  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice",
                   {absl::StrCat("Last-Event-ID: ", seen)}),
            200);
  std::vector<uint64_t> got;
  while (got.size() < missed.size()) {
    std::optional<SseMessage> m = c.NextEvent();
    if (!m) break;
    ASSERT_TRUE(m->has_id);
    ASSERT_EQ(m->data.size(), payload.size());
    got.push_back(std::stoull(m->id));
  }

  EXPECT_EQ(got, missed);
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_slow_consumer_disconnects_total 0\n"));
  // Still open and live afterwards.
  uint64_t live = Notify("user:alice", "live");
  EXPECT_EQ(ReadIdsThrough(c, live), (std::vector<uint64_t>{live}));
  // Pages of at most half the queue: 8 payloads each.
  EXPECT_GE(store_.replay_calls(), 200 / 8);
}

// A Last-Event-ID above every id the store handed out comes from another
// store's history: the client is told to refetch (reset, with the oldest id
// held), and the stream goes on live from the store's newest id.
TEST_F(EdgeServerTest, ResumeFromAnIdThisStoreNeverHandedOutResetsAndGoesLive) {
  for (int i = 0; i < 3; ++i) store_.Add("user:alice", "e", "x");  // 1..3
  Start();
  // newest + 1, a large id, and u64 max.
  for (const char* id : {"4", "1000", "18446744073709551615"}) {
    SCOPED_TRACE(id);
    SseClient c;
    ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice",
                     {absl::StrCat("Last-Event-ID: ", id)}),
              200);
    std::optional<SseMessage> reset = c.NextEvent();
    ASSERT_TRUE(reset);
    EXPECT_EQ(reset->event, "reset");
    EXPECT_EQ(reset->data, "1");
    WaitForConnections(1);

    uint64_t live = Notify("user:alice", "new");
    std::optional<SseMessage> m = c.NextEvent();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->id, std::to_string(live));
    EXPECT_EQ(m->data, "new");
    c.Close();
    WaitForConnections(0);
  }

  // The newest id itself is this store's: no reset, live follows.
  const uint64_t newest = Notify("user:bob", "elsewhere");
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice",
                   {absl::StrCat("Last-Event-ID: ", newest)}),
            200);
  WaitForConnections(1);
  uint64_t live = Notify("user:alice", "after");
  std::optional<SseMessage> first = c.NextEvent();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, std::to_string(live));
}

// A client reconnecting in a loop: past the burst each open gets a 200
// that only says when to come back (EventSource would give up on a 429),
// and the store is not read for it.
TEST_F(EdgeServerTest, OpensPastTheOpenRateGetOnlyARetryAndReadNothing) {
  options_.stream_open_rate = 0.5;  // a token every 2 s
  options_.stream_open_burst = 3;
  options_.retry_ms = 100;
  store_.Add("user:alice", "notification", "old");
  Start();
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_limit_rejections_total{limit=\"stream_open_"
                        "rate\"} 0\n"));
  for (int i = 0; i < 3; ++i) {
    SseClient c;
    ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice", {"Last-Event-ID: 0"}),
              200);
    std::optional<SseMessage> m = c.NextEvent();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data, "old");
  }
  const int replays = store_.replay_calls();

  SseClient refused;
  ASSERT_EQ(refused.Open(port_, "/v1/stream?user=alice", {"Last-Event-ID: 0"}),
            200);
  EXPECT_EQ(refused.response().headers.at("content-type"), "text/event-stream");
  std::optional<SseMessage> retry = refused.Next();
  ASSERT_TRUE(retry);
  EXPECT_THAT(retry->comments,
              ::testing::ElementsAre("too many stream opens, retry later"));
  // The time until the next token, and never less than --retry_ms.
  const int retry_ms = std::stoi(retry->retry);
  EXPECT_GE(retry_ms, 100);
  EXPECT_LE(retry_ms, 2000);
  EXPECT_FALSE(refused.NextEvent());
  EXPECT_TRUE(refused.eof());
  HttpResponse again =
      HttpGet(port_, "/v1/stream?user=alice", {"Last-Event-ID: 0"});
  EXPECT_EQ(again.status, 200);
  EXPECT_THAT(again.body, StartsWith("retry: "));
  EXPECT_EQ(store_.replay_calls(), replays);
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_limit_rejections_total{limit=\"stream_open_"
                        "rate\"} 2\n"));

  // Other users have their own budget.
  SseClient bob;
  EXPECT_EQ(bob.Open(port_, "/v1/stream?user=bob"), 200);

  // Back when told to: the stream opens and replays.
  std::this_thread::sleep_for(std::chrono::milliseconds(retry_ms + 50));
  SseClient back;
  ASSERT_EQ(back.Open(port_, "/v1/stream?user=alice", {"Last-Event-ID: 0"}),
            200);
  std::optional<SseMessage> m = back.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data, "old");
}

TEST_F(EdgeServerTest, WithoutLastEventIdStreamIsLiveOnly) {
  store_.Add("user:alice", "e", "old");
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  WaitForConnections(1);
  uint64_t live = Notify("user:alice", "new");
  EXPECT_EQ(ReadIdsThrough(c, live), (std::vector<uint64_t>{live}));
  EXPECT_EQ(store_.replay_calls(), 0);
}

// --- The inbox on the stream (docs/DESIGN.md, The inbox)

TEST_F(EdgeServerTest, EveryStreamStartsWithTheUsersCounts) {
  store_.Add("user:alice", "e", "one");
  store_.Add("user:alice", "e", "two");
  Start();
  SseClient fresh;
  fresh.set_skip_counts(false);
  ASSERT_EQ(fresh.Open(port_, "/v1/stream?user=alice"), 200);
  SseClient resuming;
  resuming.set_skip_counts(false);
  ASSERT_EQ(resuming.Open(port_, "/v1/stream?user=alice&last_event_id=1"), 200);

  std::optional<SseMessage> first = fresh.NextEvent();
  std::optional<SseMessage> resumed_first = resuming.NextEvent();
  std::optional<SseMessage> replayed = resuming.NextEvent();

  ASSERT_TRUE(first && resumed_first && replayed);
  EXPECT_EQ(first->event, "counts");
  EXPECT_FALSE(first->has_id);
  EXPECT_EQ(first->data, R"({"unread":2,"unseen":2})");
  EXPECT_EQ(resumed_first->event, "counts");
  EXPECT_EQ(resumed_first->data, R"({"unread":2,"unseen":2})");
  EXPECT_EQ(replayed->id, "2");
}

TEST_F(EdgeServerTest, AStateChangeReachesTheStreamWithTheNewCounts) {
  Start();
  SseClient c;
  c.set_skip_counts(false);
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  WaitForConnections(1);
  ASSERT_EQ(c.NextEvent()->data, R"({"unread":0,"unseen":0})");
  uint64_t id = Notify("user:alice", "hello");
  storage::StateChange read;
  read.channel = "user:alice";
  read.ids = {id};
  read.read = true;
  absl::StatusOr<storage::ChangeResult> changed =
      storage::ChangeStateSync(store_, read);
  ASSERT_TRUE(changed.ok() && changed->record != nullptr);
  hub_.Publish(changed->record);

  std::vector<std::string> events;
  for (int i = 0; i < 4; ++i) {
    std::optional<SseMessage> m = c.NextEvent();
    ASSERT_TRUE(m.has_value()) << i;
    events.push_back(m->event + " " + m->id + " " + m->data);
  }

  EXPECT_EQ(events, (std::vector<std::string>{
                        absl::StrCat("notification ", id, " hello"),
                        R"(counts  {"unread":1,"unseen":1})",
                        absl::StrCat("state ", id + 1, R"( {"ids":[)", id,
                                     R"(],"seen":true,"read":true})"),
                        R"(counts  {"unread":0,"unseen":0})"}));
}

// An entry committed before the stream read its counts, delivered live
// after them, comes without counts that would go back in time.
TEST_F(EdgeServerTest, CountsOlderThanTheLastWrittenAreLeftOut) {
  auto older = store_.Add("user:alice", "e", "before the stream");
  store_.Add("user:alice", "e", "also before");
  Start();
  SseClient c;
  c.set_skip_counts(false);
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  WaitForConnections(1);
  ASSERT_EQ(c.NextEvent()->data, R"({"unread":2,"unseen":2})");

  hub_.Publish(older);  // its counts: {1,1}, as of an older id
  uint64_t live = Notify("user:alice", "after");

  std::optional<SseMessage> late = c.NextEvent();
  std::optional<SseMessage> next = c.NextEvent();
  std::optional<SseMessage> counts = c.NextEvent();
  ASSERT_TRUE(late && next && counts);
  EXPECT_EQ(late->id, std::to_string(older->id));
  EXPECT_EQ(next->id, std::to_string(live));
  EXPECT_EQ(counts->event, "counts");
  EXPECT_EQ(counts->data, R"({"unread":3,"unseen":3})");
}

TEST_F(EdgeServerTest, HeartbeatComments) {
  options_.heartbeat = absl::Milliseconds(50);
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  int pings = 0;
  for (int i = 0; i < 10 && pings < 2; ++i) {
    std::optional<SseMessage> m = c.Next(std::chrono::milliseconds(5000));
    ASSERT_TRUE(m);
    for (const auto& comment : m->comments) pings += comment == "ping";
  }
  EXPECT_EQ(pings, 2);
}

TEST_F(EdgeServerTest, ShutdownEndsStreamsCleanlyAfterFlushing) {
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  WaitForConnections(1);
  uint64_t id = Notify("user:alice", "last words");
  server_->Shutdown();
  server_->Shutdown();  // idempotent
  EXPECT_EQ(ReadIdsThrough(c, id), (std::vector<uint64_t>{id}));
  EXPECT_TRUE(c.WaitClosed(std::chrono::seconds(2)));
  EXPECT_EQ(hub_.Connections(), 0u);
}

TEST_F(EdgeServerTest, ClientDisconnectUnsubscribes) {
  Start();
  {
    SseClient c;
    ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
    WaitForConnections(1);
  }
  WaitForConnections(0);
  EXPECT_EQ(hub_.SubscriberCount("user:alice"), 0u);
}

}  // namespace
}  // namespace notifyd::edge
