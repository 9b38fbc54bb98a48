// EdgeServer end to end: a real server on an ephemeral port, a FakeStore,
// a Hub, and raw-socket HTTP/SSE clients.
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "edge/http_server.h"
#include "edge/routes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/edge/edge_server_fixture.h"
#include "tests/edge/fake_store.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge {
namespace {

using ::notifyd::edge::testing::FakeStore;
using ::notifyd::edge::testing::HttpGet;
using ::notifyd::edge::testing::HttpResponse;
using ::notifyd::edge::testing::HttpWithBody;
using ::notifyd::edge::testing::RawExchange;
using ::notifyd::edge::testing::SseClient;
using ::notifyd::edge::testing::SseMessage;
using ::notifyd::edge::testing::TrickleUntilClosed;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class EdgeServerTest : public ::notifyd::edge::testing::EdgeServerFixture {
 protected:
  EdgeServerTest() {
    options_.insecure_dev_identity = true;
    options_.heartbeat = absl::Seconds(30);
    options_.cors_origins = {"https://app.example"};
  }
  // Stores and publishes, as the gRPC service does.
  uint64_t Notify(const std::string& channel, const std::string& data,
                  const std::string& event = "notification") {
    auto n = store_.Add(channel, event, data);
    hub_.Publish(n);
    return n->id;
  }

  // Waits until the hub sees `n` streams (a stream subscribes right after
  // its response head is queued, so Open() can return slightly earlier).
  void WaitForConnections(uint64_t n) {
    for (int i = 0; i < 3000 && hub_.Connections() != n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(hub_.Connections(), n);
  }

  // Reads events until one with `id`; returns the ids seen (in order).
  std::vector<uint64_t> ReadIdsThrough(SseClient& c, uint64_t last) {
    std::vector<uint64_t> ids;
    while (true) {
      std::optional<SseMessage> m = c.NextEvent();
      if (!m || !m->has_id) break;
      ids.push_back(std::stoull(m->id));
      if (ids.back() >= last) break;
    }
    return ids;
  }
};

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

TEST_F(EdgeServerTest, SlowReaderIsDisconnectedWhileFastReaderGetsEverything) {
  options_.max_queue_bytes = 1024 * 1024;
  Start();
  SseClient slow;
  ASSERT_EQ(slow.Open(port_, "/v1/stream?user=alice", {}, /*rcvbuf=*/4096),
            200);
  SseClient fast;
  ASSERT_EQ(fast.Open(port_, "/v1/stream?user=alice"), 200);
  WaitForConnections(2);

  constexpr int kCount = 600;
  const std::string payload(16 * 1024, 'p');
  std::vector<uint64_t> fast_ids;
  std::thread reader([&] {
    std::vector<uint64_t> got;
    while (got.size() < kCount) {
      std::optional<SseMessage> m = fast.NextEvent();
      if (!m) break;
      got.push_back(std::stoull(m->id));
    }
    fast_ids = got;
  });
  uint64_t first = 0;
  for (int i = 0; i < kCount; ++i) {
    uint64_t id = Notify("user:alice", payload);
    if (i == 0) first = id;
    // ~16 MB/s: trivial for a reading client, while the queue bound leaves
    // the fast reader ~60 ms of scheduling slack on a busy 2-core machine.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  reader.join();
  ASSERT_EQ(fast_ids.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(fast_ids[i], first + i);

  EXPECT_TRUE(slow.WaitClosed(std::chrono::seconds(10)));
  EXPECT_LT(slow.bytes_read(), kCount * payload.size());
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_slow_consumer_disconnects_total 1\n"));
}

TEST_F(EdgeServerTest, StalledWriteTimesOut) {
  options_.max_queue_bytes = 64 << 20;  // so only the write timeout can fire
  options_.write_timeout = absl::Milliseconds(300);
  Start();
  SseClient stalled;
  ASSERT_EQ(stalled.Open(port_, "/v1/stream?user=alice", {}, 4096), 200);
  WaitForConnections(1);
  const std::string payload(64 * 1024, 'p');
  for (int i = 0; i < 200; ++i) Notify("user:alice", payload);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  WaitForConnections(0);
  EXPECT_TRUE(stalled.WaitClosed(std::chrono::seconds(10)));
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_slow_consumer_disconnects_total 0\n"));
}

// Per-stream memory is what bounds how many browsers one process serves
// (goal: >= 19,000 streams at <= 4 KiB each). Measured here with the
// clients in the same process, so the bound is loose.
TEST_F(EdgeServerTest, StreamsAreSmall) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "RSS is meaningless under AddressSanitizer";
#endif
  Start();
  auto rss_bytes = [] {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * 4096L;
  };
  constexpr int kStreams = 2000;
  std::vector<std::unique_ptr<SseClient>> clients;
  clients.reserve(kStreams);
  // Warm up allocator arenas and thread caches first.
  for (int i = 0; i < 100; ++i) {
    clients.push_back(std::make_unique<SseClient>());
    ASSERT_EQ(clients.back()->Open(port_, absl::StrCat("/v1/stream?user=u", i)),
              200);
  }
  WaitForConnections(100);
  long before = rss_bytes();
  for (int i = 100; i < kStreams; ++i) {
    clients.push_back(std::make_unique<SseClient>());
    ASSERT_EQ(clients.back()->Open(port_, absl::StrCat("/v1/stream?user=u", i)),
              200);
  }
  WaitForConnections(kStreams);
  long per_stream = (rss_bytes() - before) / (kStreams - 100);
  std::printf("RSS per stream (server + test client): %ld bytes\n", per_stream);
  EXPECT_LT(per_stream, 6 * 1024);
}

TEST_F(EdgeServerTest, HeartbeatComments) {
  options_.heartbeat = absl::Milliseconds(50);
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  int pings = 0;
  for (int i = 0; i < 10 && pings < 2; ++i) {
    std::optional<SseMessage> m = c.Next(std::chrono::milliseconds(1000));
    ASSERT_TRUE(m);
    for (const auto& comment : m->comments) pings += comment == "ping";
  }
  EXPECT_EQ(pings, 2);
}

TEST_F(EdgeServerTest, IdentityRequired) {
  options_.insecure_dev_identity = false;
  Start();
  HttpResponse r = HttpGet(port_, "/v1/stream?user=alice");
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.body, HasSubstr("credentials"));
  EXPECT_EQ(HttpGet(port_, "/v1/stream?access_token=abc").status, 401);
}

TEST_F(EdgeServerTest, DevIdentityNeedsAUser) {
  Start();
  EXPECT_EQ(HttpGet(port_, "/v1/stream").status, 401);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=bad%20user").status, 400);
}

TEST_F(EdgeServerTest, TokenVerifierPlugsIn) {
  options_.insecure_dev_identity = false;
  options_.token_verifier =
      [](absl::string_view token) -> absl::StatusOr<Identity> {
    if (token != "good") return absl::UnauthenticatedError("bad token");
    return Identity{"carol", {"news"}, false};
  };
  Start();
  EXPECT_EQ(HttpGet(port_, "/v1/stream?access_token=bad").status, 401);
  EXPECT_EQ(
      HttpGet(port_, "/v1/stream?access_token=good&channels=sports").status,
      403);
  SseClient c;
  ASSERT_EQ(
      c.Open(port_, "/v1/stream?channels=news", {"Authorization: Bearer good"}),
      200);
  WaitForConnections(1);
  uint64_t id = Notify("user:carol", "hi");
  EXPECT_EQ(ReadIdsThrough(c, id), (std::vector<uint64_t>{id}));
}

TEST_F(EdgeServerTest, BadStreamParameters) {
  options_.max_channels_per_stream = 2;
  Start();
  HttpResponse bad_name = HttpGet(port_, "/v1/stream?user=a&channels=ok,b%20d");
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_THAT(bad_name.body, HasSubstr("b d"));
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a&channels=user:bob").status, 403);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a&channels=x,y,z").status, 400);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a&last_event_id=abc").status, 400);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a",
                    {"Last-Event-ID: 99999999999999999999999"})
                .status,
            400);
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_limit_rejections_total{limit=\"channels_per_"
                        "stream\"} 1\n"));
}

TEST_F(EdgeServerTest, HeaderTooLarge) {
  options_.max_header_bytes = 1024;
  Start();
  HttpResponse r =
      HttpGet(port_, "/healthz", {"X-Big: " + std::string(4000, 'a')});
  EXPECT_EQ(r.status, 431);
  EXPECT_THAT(
      metrics_.RenderText(),
      HasSubstr("notifyd_limit_rejections_total{limit=\"header_bytes\"} 1\n"));
}

// A client that sends its header a byte at a time never completes it within
// idle_timeout: the deadline covers the whole header and is not pushed back
// by each byte.
TEST_F(EdgeServerTest, SlowlorisHeaderIsCutOffByTheTotalDeadline) {
  options_.idle_timeout = absl::Milliseconds(500);
  Start();
  std::optional<std::chrono::milliseconds> closed = TrickleUntilClosed(
      port_, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ",
      std::chrono::milliseconds(20), std::chrono::seconds(6));
  ASSERT_TRUE(closed) << "the server never closed a trickling client";
  EXPECT_GE(closed->count(), 400);
  EXPECT_LT(closed->count(), 3000);
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_limit_rejections_total{limit=\"request_"
                        "timeout\"} 1\n"));
  // Others are still served.
  EXPECT_EQ(HttpGet(port_, "/healthz").status, 200);
}

TEST_F(EdgeServerTest, StreamsPerUserLimitCountsOpenStreamsAndReleasesOnClose) {
  options_.max_streams_per_user = 2;
  Start();
  auto a1 = std::make_unique<SseClient>();
  SseClient a2;
  ASSERT_EQ(a1->Open(port_, "/v1/stream?user=alice"), 200);
  ASSERT_EQ(a2.Open(port_, "/v1/stream?user=alice&channels=news"), 200);
  HttpResponse third = HttpGet(port_, "/v1/stream?user=alice");
  EXPECT_EQ(third.status, 429);
  EXPECT_EQ(third.body, "too many streams for this user\n");
  // Another user is not affected; plain requests are not streams.
  SseClient b;
  ASSERT_EQ(b.Open(port_, "/v1/stream?user=bob"), 200);
  EXPECT_EQ(HttpGet(port_, "/healthz").status, 200);
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_limit_rejections_total{limit=\"streams_per_"
                        "user\"} 1\n"));

  // Closing a stream gives its place back (once the server notices).
  a1.reset();
  WaitForConnections(2);
  SseClient a3;
  EXPECT_EQ(a3.Open(port_, "/v1/stream?user=alice"), 200);
}

TEST_F(EdgeServerTest, ConnectionsPerAddressLimit) {
  options_.max_connections_per_address = 2;
  Start();
  auto s1 = std::make_unique<SseClient>();
  SseClient s2;
  ASSERT_EQ(s1->Open(port_, "/v1/stream?user=alice"), 200);
  ASSERT_EQ(s2.Open(port_, "/v1/stream?user=bob"), 200);
  HttpResponse refused = HttpGet(port_, "/healthz");
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.body, "too many connections from this address\n");
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_limit_rejections_total{limit=\"connections_"
                        "per_address\"} 1\n"));
  s1.reset();
  WaitForConnections(1);
  // The session is gone from the registry shortly after the hub forgets it.
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    status = HttpGet(port_, "/healthz").status;
    if (status != 200) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_EQ(status, 200);
}

TEST_F(EdgeServerTest, BehindATrustedProxyEachClientCountsOnItsOwn) {
  options_.max_connections_per_address = 1;
  options_.trusted_proxies = {"127.0.0.1"};
  Start();
  // Two clients through one proxy: each its own address, not the proxy's.
  SseClient s1;
  SseClient s2;
  ASSERT_EQ(s1.Open(port_, "/v1/stream?user=alice",
                    {"X-Forwarded-For: 198.51.100.7, 203.0.113.1"}),
            200);
  ASSERT_EQ(s2.Open(port_, "/v1/stream?user=bob",
                    {"Forwarded: for=\"[2001:db8::2]:4711\";proto=https"}),
            200);
  // A second connection of the first client is over its limit, whatever
  // it claims further left.
  HttpResponse refused =
      HttpGet(port_, "/healthz", {"X-Forwarded-For: 9.9.9.9, 203.0.113.1"});
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.body, "too many connections from this address\n");
  EXPECT_THAT(metrics_.RenderText(),
              HasSubstr("notifyd_limit_rejections_total{limit=\"connections_"
                        "per_address\"} 1\n"));
  // Without a header the proxy speaks for itself.
  EXPECT_EQ(HttpGet(port_, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port_, "/healthz", {"X-Forwarded-For: 203.0.113.3"}).status,
            200);
}

TEST_F(EdgeServerTest, ForwardedHeadersFromAnUntrustedPeerAreIgnored) {
  options_.max_connections_per_address = 1;
  options_.trusted_proxies = {"10.0.0.0/8"};
  Start();
  SseClient s1;
  ASSERT_EQ(
      s1.Open(port_, "/v1/stream?user=alice", {"X-Forwarded-For: 203.0.113.1"}),
      200);
  // Counted under 127.0.0.1 at accept: a made-up address does not help.
  EXPECT_EQ(HttpGet(port_, "/healthz", {"X-Forwarded-For: 203.0.113.2"}).status,
            429);
}

TEST_F(EdgeServerTest, TooManyConnections) {
  options_.max_connections = 1;
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  EXPECT_EQ(HttpGet(port_, "/healthz").status, 503);
}

TEST_F(EdgeServerTest, PublicEndpoints) {
  Start();
  HttpResponse health = HttpGet(port_, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");

  HttpResponse page = HttpGet(port_, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.headers["content-type"], StartsWith("text/html"));
  EXPECT_THAT(page.body, HasSubstr("id=\"list\""));
  EXPECT_EQ(HttpGet(port_, "/inbox.js").status, 200);
  EXPECT_EQ(HttpGet(port_, "/../etc/passwd").status, 404);
  EXPECT_EQ(HttpGet(port_, "/nope").status, 404);
  EXPECT_EQ(HttpGet(port_, "/healthz", {}, "DELETE").status, 405);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a", {}, "POST").status, 405);

  HttpResponse head = HttpGet(port_, "/healthz", {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");

  // What names callers and internals is on the admin listener only.
  EXPECT_EQ(HttpGet(port_, "/metrics").status, 404);
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 404);
}

TEST_F(EdgeServerTest, AdminEndpoints) {
  options_.role = EdgeRole::kAdmin;
  Start();
  EXPECT_EQ(HttpGet(port_, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 503);
  server_->SetReady(true);
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 200);
  store_.set_ping_ok(false);
  HttpResponse store_down = HttpGet(port_, "/readyz");
  EXPECT_EQ(store_down.status, 503);
  EXPECT_EQ(store_down.body, "store unavailable\n");

  HttpResponse metrics = HttpGet(port_, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_THAT(metrics.body, HasSubstr("notifyd_http_connections"));
  EXPECT_THAT(metrics.body,
              HasSubstr("notifyd_http_requests_total{path=\"/healthz\","
                        "code=\"200\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("notifyd_streams{state=\"live\"} 0"));

  // Browsers' paths are not served here.
  EXPECT_EQ(HttpGet(port_, "/").status, 404);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a").status, 404);
}

// HTTP publishing as the edge serves it (edge/publish_api.h), with a
// PublishFunction that answers what the test says; the real publisher is
// tests/server/http_publish_test.cc's.
TEST_F(EdgeServerTest, PublishingHandsTheRequestOverAndAnswersItsOutcome) {
  options_.role = EdgeRole::kAdmin;
  std::optional<PublishCall> seen;
  std::string seen_data, seen_authorization;
  absl::Status answer = absl::OkStatus();
  options_.publish = [&](const PublishCall& call,
                         std::function<void(PublishOutcome)> done) {
    seen = call;
    seen_data = std::string(call.data);
    seen_authorization = std::string(call.authorization.value_or("<none>"));
    PublishOutcome outcome;
    outcome.status = answer;
    if (answer.ok()) {
      outcome.notification = store_.Add("news/eu", call.event, seen_data);
    }
    if (absl::IsResourceExhausted(answer)) {
      outcome.retry_after = absl::Milliseconds(1500);
    }
    done(std::move(outcome));
  };
  Start();
  server_->SetReady(true);
  HttpResponse ok =
      HttpWithBody(port_, "POST", "/v1/publish/news/eu?event=headline",
                   {"Authorization: Bearer k"}, "body");
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->target, PublishTarget::kChannel);
  EXPECT_EQ(seen->name, "news/eu");
  EXPECT_EQ(seen->event, "headline");
  EXPECT_EQ(seen_data, "body");
  EXPECT_EQ(seen_authorization, "Bearer k");
  EXPECT_TRUE(absl::StartsWith(seen->peer, "127.0.0.1:")) << seen->peer;
  EXPECT_THAT(ok.body, HasSubstr("\"data\":\"body\""));

  answer = absl::ResourceExhaustedError("publish rate for k exceeded");
  HttpResponse limited = HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers["retry-after"], "2");  // rounded up
  EXPECT_EQ(limited.body, "{\"error\":\"publish rate for k exceeded\"}");
  EXPECT_EQ(seen_authorization, "<none>");

  answer = absl::UnavailableError("store is closed");
  EXPECT_EQ(HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x").status, 503);
  answer = absl::InternalError("database is locked");
  HttpResponse broken = HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x");
  EXPECT_EQ(broken.status, 500);
  EXPECT_EQ(broken.body, "{\"error\":\"store error\"}");
}

TEST_F(EdgeServerTest, PublishingWaitsForReadinessAndNeedsAPublisher) {
  options_.role = EdgeRole::kAdmin;
  int calls = 0;
  options_.publish = [&calls](const PublishCall&,
                              std::function<void(PublishOutcome)> done) {
    ++calls;
    PublishOutcome outcome;
    outcome.status = absl::UnavailableError("x");
    done(std::move(outcome));
  };
  Start();
  // Starting (and, after SetReady(false), shutting down): 503, unasked.
  HttpResponse starting = HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x");
  EXPECT_EQ(starting.status, 503);
  EXPECT_THAT(starting.body, HasSubstr("starting or shutting down"));
  EXPECT_EQ(calls, 0);
  server_->Shutdown();
  options_.publish = nullptr;
  Start();
  server_->SetReady(true);
  EXPECT_EQ(HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x").status, 404);
}

TEST_F(EdgeServerTest, ReadyNamesTheFirstCheckThatFails) {
  std::atomic<bool> bus_up{false};
  std::atomic<bool> grpc_up{true};
  options_.role = EdgeRole::kAdmin;
  options_.ready_checks = {
      {"bus", [&bus_up] { return bus_up.load(); }},
      {"gRPC listener", [&grpc_up] { return grpc_up.load(); }}};
  Start();
  server_->SetReady(true);

  HttpResponse down = HttpGet(port_, "/readyz");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body, "bus unavailable\n");
  bus_up = true;
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 200);
  grpc_up = false;
  EXPECT_EQ(HttpGet(port_, "/readyz").body, "gRPC listener unavailable\n");
}

TEST_F(EdgeServerTest, CorsPreflight) {
  Start();
  HttpResponse r = HttpGet(
      port_, "/v1/stream",
      {"Origin: https://app.example", "Access-Control-Request-Method: GET",
       "Access-Control-Request-Headers: last-event-id"},
      "OPTIONS");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://app.example");
  EXPECT_THAT(r.headers["access-control-allow-headers"],
              HasSubstr("Last-Event-ID"));
  HttpResponse other = HttpGet(port_, "/healthz", {"Origin: https://evil"});
  EXPECT_EQ(other.headers.count("access-control-allow-origin"), 0u);
}

// A preflight says what the route table says of its path on this listener,
// and a path the listener does not serve is not found.
TEST_F(EdgeServerTest, CorsPreflightReadsTheRouteTable) {
  Start();
  const std::vector<std::string> preflight = {
      "Origin: https://app.example", "Access-Control-Request-Method: GET"};
  HttpResponse stream = HttpGet(port_, "/v1/stream", preflight, "OPTIONS");
  EXPECT_EQ(stream.status, 204);
  std::optional<Route> route = FindRoute("/v1/stream", EdgeRole::kPublic);
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(stream.headers["access-control-allow-methods"],
            AllowedMethods(*route));
  EXPECT_EQ(stream.headers["access-control-allow-methods"], "GET, OPTIONS");
  EXPECT_EQ(stream.headers["access-control-allow-headers"],
            route->cors_headers);

  HttpResponse health = HttpGet(port_, "/healthz", preflight, "OPTIONS");
  EXPECT_EQ(health.status, 204);
  EXPECT_EQ(health.headers["access-control-allow-methods"],
            "GET, HEAD, OPTIONS");
  EXPECT_EQ(health.headers.count("access-control-allow-headers"), 0u);

  EXPECT_EQ(HttpGet(port_, "/nope", preflight, "OPTIONS").status, 404);
  // The admin listener's routes are not the public one's.
  EXPECT_EQ(HttpGet(port_, "/metrics", preflight, "OPTIONS").status, 404);
}

TEST_F(EdgeServerTest, KeepAliveServesSeveralRequests) {
  Start();
  std::string out = RawExchange(
      port_,
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t first = out.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(out.find("HTTP/1.1 200", first + 1), std::string::npos);
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

// A self-signed certificate for 127.0.0.1, made with the openssl CLI in a
// fresh temporary directory.
class TlsFiles {
 public:
  TlsFiles() {
    std::string tmpl = ::testing::TempDir() + "edge_tls_XXXXXX";
    dir_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    cert = dir_ + "/cert.pem";
    key = dir_ + "/key.pem";
    std::string cmd = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
        " -keyout ",
        key, " -out ", cert, " >/dev/null 2>&1");
    ok = !dir_.empty() && std::system(cmd.c_str()) == 0;
  }
  ~TlsFiles() {
    if (!dir_.empty()) {
      std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
    }
  }
  bool ok = false;
  std::string cert, key;

 private:
  std::string dir_;
};

TEST_F(EdgeServerTest, ServesStreamsOverTls) {
  TlsFiles files;
  ASSERT_TRUE(files.ok) << "openssl req failed";
  options_.tls_cert_file = files.cert;
  options_.tls_key_file = files.key;
  Start();
  SseClient c(files.cert);
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice&channels=news"), 200)
      << c.tls_error();
  EXPECT_EQ(c.response().headers.at("content-type"), "text/event-stream");
  WaitForConnections(1);
  Notify("user:bob", "not for alice");
  uint64_t id = Notify("news", "over tls\nsecond line", "breaking");
  std::optional<SseMessage> m = c.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, std::to_string(id));
  EXPECT_EQ(m->event, "breaking");
  EXPECT_EQ(m->data, "over tls\nsecond line");

  // Plain HTTP to the TLS port gets no HTTP response.
  std::string plain =
      RawExchange(port_, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                  std::chrono::milliseconds(2000));
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("HTTP/1.1")));
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("ok")));

  // A client that does not trust the certificate fails the handshake.
  SseClient untrusting("/dev/null");
  EXPECT_EQ(untrusting.Open(port_, "/v1/stream?user=alice"), 0);
  EXPECT_FALSE(untrusting.tls_error().empty());
  // The stream is unaffected by both.
  uint64_t again = Notify("user:alice", "still here");
  EXPECT_EQ(ReadIdsThrough(c, again), (std::vector<uint64_t>{again}));
}

TEST_F(EdgeServerTest, TlsHandshakeIsBoundedByIdleTimeout) {
  TlsFiles files;
  ASSERT_TRUE(files.ok);
  options_.tls_cert_file = files.cert;
  options_.tls_key_file = files.key;
  options_.idle_timeout = absl::Milliseconds(300);
  Start();
  // A TLS record header that never completes.
  std::string out = RawExchange(port_, std::string("\x16\x03\x01", 3),
                                std::chrono::milliseconds(3000));
  SseClient c(files.cert);
  EXPECT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200) << c.tls_error();
  EXPECT_EQ(out, "");
}

TEST_F(EdgeServerTest, TlsStartFailsNamingTheFile) {
  TlsFiles files;
  ASSERT_TRUE(files.ok);
  EdgeOptions o = options_;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = files.key;
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr("/nonexistent/cert.pem"));
  o.tls_cert_file = files.cert;
  o.tls_key_file = "/nonexistent/key.pem";
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr("/nonexistent/key.pem"));
  o.tls_key_file = files.cert;  // a certificate is not a key
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr(files.cert));
  o.tls_key_file = "";
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr("tls_key_file"));
}

TEST_F(EdgeServerTest, StartFailsNamingTheAddress) {
  Start();
  EdgeOptions taken = options_;
  taken.listen = absl::StrCat("127.0.0.1:", port_);
  EdgeServer second(taken, store_, hub_, metrics_);
  absl::Status s = second.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(taken.listen));
  EdgeServer bad(
      [] {
        EdgeOptions o;
        o.listen = "nonsense";
        return o;
      }(),
      store_, hub_, metrics_);
  EXPECT_THAT(bad.Start().message(), HasSubstr("nonsense"));
}

}  // namespace
}  // namespace notifyd::edge
