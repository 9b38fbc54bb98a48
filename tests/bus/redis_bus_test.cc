// RedisBus against a real, private redis-server: several "instances" (buses
// in this process, each with its own listener) share a fake database that
// assigns ids in one global order, as PostgreSQL does, and serves the
// bus's fills. Every instance must deliver every notification to its
// listener once, in id order, whatever Redis does.
#include "bus/redis_bus.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bus/bus_codec.h"
#include "bus/redis_url.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/redis_server.h"

namespace notifyd::bus {
namespace {

using ::notifyd::testing::FreeLoopbackPort;
using ::notifyd::testing::RedisServer;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kDeadline = absl::Seconds(30);

// Polls `done` until it holds or the deadline passes (outcomes, not sleeps,
// decide the tests).
bool Eventually(const std::function<bool()>& done,
                absl::Duration deadline = kDeadline) {
  const absl::Time end = absl::Now() + deadline;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> ids(last - first + 1);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

// The database the instances share: Commit assigns the next id; fills and
// last-committed reads are answered on its own thread, like a store thread.
class SharedDatabase {
 public:
  SharedDatabase() : worker_([this] { Work(); }) {}
  ~SharedDatabase() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    worker_.join();
  }

  NotificationPtr Commit(std::string data = "{}") {
    absl::MutexLock lock(&mu_);
    auto n = std::make_shared<storage::Notification>();
    n->id = rows_.size() + 1;
    n->channel = "news";
    n->event = "notification";
    n->data = std::move(data);
    n->created_at_ms = 1700000000000 + static_cast<int64_t>(n->id);
    rows_.push_back(n);
    return n;
  }

  OrderedDeliveryOptions::FillFunction Fill() {
    return [this](uint64_t after, uint64_t up_to, uint32_t limit,
                  storage::Callback<std::vector<NotificationPtr>> done) {
      Post([this, after, up_to, limit, done = std::move(done)] {
        std::vector<NotificationPtr> out;
        {
          absl::MutexLock lock(&mu_);
          ++fills_;
          for (uint64_t id = after + 1;
               id <= up_to && id <= rows_.size() && out.size() < limit; ++id) {
            out.push_back(rows_[id - 1]);
          }
        }
        done(std::move(out));
      });
    };
  }
  OrderedDeliveryOptions::LastCommittedFunction LastCommitted() {
    return [this](storage::Callback<uint64_t> done) {
      Post([this, done = std::move(done)] {
        uint64_t last = 0;
        {
          absl::MutexLock lock(&mu_);
          last = rows_.size();
        }
        done(last);
      });
    };
  }
  int fills() const {
    absl::MutexLock lock(&mu_);
    return fills_;
  }

 private:
  void Post(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }
  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](SharedDatabase* db) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu_) {
              return db->stopping_ || !db->tasks_.empty();
            },
            this));
        if (tasks_.empty()) return;  // stopping
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  mutable absl::Mutex mu_;
  std::vector<NotificationPtr> rows_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int fills_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread worker_;  // last: starts once the rest is built
};

// One instance's live streams: records what the bus delivered.
class Streams {
 public:
  Bus::Listener Listener() {
    return [this](const NotificationPtr& n) -> size_t {
      absl::MutexLock lock(&mu_);
      ids_.push_back(n->id);
      return 1;
    };
  }
  std::vector<uint64_t> ids() const {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  // Waits until at least `count` were delivered; then ids() tells whether
  // they were the right ones.
  bool WaitForCount(size_t count) const {
    return Eventually([&] { return ids().size() >= count; });
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> ids_ ABSL_GUARDED_BY(mu_);
};

class RedisBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
  }

  // A started instance delivering to `streams`.
  std::unique_ptr<RedisBus> StartInstance(Streams& streams,
                                          RedisBusOptions options = {}) {
    options.url = redis_->url();
    options.fill = db_.Fill();
    options.last_committed_id = db_.LastCommitted();
    absl::StatusOr<std::unique_ptr<RedisBus>> bus =
        NewRedisBus(std::move(options));
    EXPECT_TRUE(bus.ok()) << bus.status();
    if (!bus.ok()) return nullptr;
    (*bus)->AddListener(streams.Listener());
    absl::Status started = (*bus)->Start();
    EXPECT_TRUE(started.ok()) << started;
    return started.ok() ? *std::move(bus) : nullptr;
  }

  // Only Redis and the resubscribe catch-up may deliver: no timer fills.
  static RedisBusOptions WithoutTimers() {
    RedisBusOptions options;
    options.gap_timeout = absl::Hours(1);
    options.check_interval = absl::Hours(1);
    return options;
  }

  SharedDatabase db_;
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisBusTest, ANotificationReachesEveryInstanceOnce) {
  Streams streams_a, streams_b;
  auto a = StartInstance(streams_a, WithoutTimers());
  auto b = StartInstance(streams_b, WithoutTimers());
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->Healthy());

  EXPECT_EQ(a->Publish(db_.Commit()), 1u)
      << "A's own streams get it at once, without a Redis round trip";
  EXPECT_THAT(streams_a.ids(), ElementsAre(1));
  ASSERT_TRUE(streams_b.WaitForCount(1));
  EXPECT_EQ(b->Publish(db_.Commit()), 1u);
  ASSERT_TRUE(streams_a.WaitForCount(2));

  EXPECT_THAT(streams_a.ids(), ElementsAre(1, 2));
  EXPECT_THAT(streams_b.ids(), ElementsAre(1, 2));
  // Each ignored its own echo: it received only the other's message.
  EXPECT_EQ(a->Stats().received, 1u);
  EXPECT_EQ(b->Stats().received, 1u);
  EXPECT_EQ(db_.fills(), 0);
}

TEST_F(RedisBusTest, ReorderedPublishesFromTwoInstancesArriveInIdOrder) {
  constexpr int kNotifications = 600;
  Streams streams_a, streams_b, streams_c;
  auto a = StartInstance(streams_a, WithoutTimers());
  auto b = StartInstance(streams_b, WithoutTimers());
  auto c = StartInstance(streams_c, WithoutTimers());  // only listens
  ASSERT_TRUE(a && b && c);

  // The database assigns ids globally; runs of them belong to A or B.
  std::mt19937 random(7);
  std::vector<NotificationPtr> on_a, on_b;
  while (on_a.size() + on_b.size() < kNotifications) {
    auto& mine = random() % 2 ? on_a : on_b;
    for (int run = 1 + random() % 8; run > 0; --run) {
      mine.push_back(db_.Commit(absl::StrCat("{\"n\":", random(), "}")));
    }
  }
  // Each instance publishes its own in commit order (the store's
  // completer does), but A lags behind B: B's later ids reach every
  // instance before A's earlier ones.
  std::atomic<size_t> b_published{0};
  std::thread publisher_b([&] {
    for (const NotificationPtr& n : on_b) {
      b->Publish(n);
      if (++b_published % 16 == 0) std::this_thread::yield();
    }
  });
  std::thread publisher_a([&] {
    while (b_published < on_b.size() / 2) std::this_thread::yield();
    for (const NotificationPtr& n : on_a) a->Publish(n);
  });
  publisher_a.join();
  publisher_b.join();

  const std::vector<uint64_t> all = Range(1, on_a.size() + on_b.size());
  for (Streams* streams : {&streams_a, &streams_b, &streams_c}) {
    ASSERT_TRUE(streams->WaitForCount(all.size()));
    EXPECT_THAT(streams->ids(), ElementsAreArray(all));
  }
  EXPECT_GT(c->Stats().delivery.held, 0u) << "the test did reorder them";
  EXPECT_EQ(db_.fills(), 0) << "Redis lost nothing; holding sorted it out";
}

TEST_F(RedisBusTest, AMessageLostWhileRedisRestartsIsFilledAfterReconnection) {
  Streams streams_a, streams_b;
  auto a = StartInstance(streams_a, WithoutTimers());
  auto b = StartInstance(streams_b, WithoutTimers());
  ASSERT_TRUE(a && b);
  a->Publish(db_.Commit());
  ASSERT_TRUE(streams_b.WaitForCount(1));

  redis_->Stop();
  ASSERT_TRUE(Eventually([&] { return !b->Healthy(); }))
      << "B noticed the subscription is gone";
  // 2 and 3 were published into the Redis that died: gone for good.
  db_.Commit();
  db_.Commit();
  // 4 is published while Redis is down: A queues it, and delivers it to
  // its own streams only after 2 and 3.
  EXPECT_EQ(a->Publish(db_.Commit()), 0u);
  EXPECT_THAT(streams_a.ids(), ElementsAre(1));

  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(Eventually([&] { return a->Healthy() && b->Healthy(); }));
  ASSERT_TRUE(streams_a.WaitForCount(4));
  ASSERT_TRUE(streams_b.WaitForCount(4));
  b->Publish(db_.Commit());
  ASSERT_TRUE(streams_a.WaitForCount(5));
  ASSERT_TRUE(streams_b.WaitForCount(5));

  EXPECT_THAT(streams_a.ids(), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(streams_b.ids(), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_GE(b->Stats().reconnects, 1u);
  EXPECT_GE(db_.fills(), 1) << "2 and 3 can only have come from the store";
}

TEST_F(RedisBusTest, PeriodicCheckDeliversWhatACrashedInstanceNeverPublished) {
  Streams streams_a, streams_b;
  RedisBusOptions quick;
  quick.gap_timeout = absl::Milliseconds(50);
  quick.check_interval = absl::Milliseconds(100);
  auto a = StartInstance(streams_a, quick);
  auto b = StartInstance(streams_b, quick);
  ASSERT_TRUE(a && b);
  db_.Commit();  // its instance died between commit and publish
  a->Publish(db_.Commit());
  ASSERT_TRUE(streams_a.WaitForCount(2));
  ASSERT_TRUE(streams_b.WaitForCount(2));
  EXPECT_THAT(streams_a.ids(), ElementsAre(1, 2));
  EXPECT_THAT(streams_b.ids(), ElementsAre(1, 2));
}

TEST_F(RedisBusTest, MalformedMessagesAreDroppedAndLaterOnesStillArrive) {
  Streams streams_a, streams_b;
  auto a = StartInstance(streams_a, WithoutTimers());
  auto b = StartInstance(streams_b, WithoutTimers());
  ASSERT_TRUE(a && b);
  const std::string channel = RedisBusOptions().channel;
  absl::StatusOr<long long> receivers = redis_->Publish(channel, "not json");
  ASSERT_TRUE(receivers.ok()) << receivers.status();
  EXPECT_EQ(*receivers, 2) << "both instances are subscribed";
  ASSERT_TRUE(redis_
                  ->Publish(channel, R"({"v":1,"origin":"1","id":"seven",
      "channel":"news","event":"","data":"","created_at_ms":1})")
                  .ok());

  a->Publish(db_.Commit());
  ASSERT_TRUE(streams_b.WaitForCount(1));
  EXPECT_THAT(streams_b.ids(), ElementsAre(1));
  EXPECT_EQ(b->Stats().malformed, 2u);
  EXPECT_TRUE(b->Healthy());
}

TEST_F(RedisBusTest, StopsItsThreadsOnClose) {
  Streams streams;
  auto a = StartInstance(streams, WithoutTimers());
  ASSERT_TRUE(a);
  a->Close();
  EXPECT_FALSE(a->Healthy());
  EXPECT_EQ(a->Publish(db_.Commit()), 0u);
  EXPECT_TRUE(streams.ids().empty());
  a->Close();  // idempotent
}

TEST(RedisBusStartTest, FailsClearlyWhenRedisIsNotRunning) {
  SharedDatabase db;
  const int port = FreeLoopbackPort();  // nothing listens there
  RedisBusOptions options;
  options.url = absl::StrCat("redis://:s3cret-password@127.0.0.1:", port);
  options.fill = db.Fill();
  options.last_committed_id = db.LastCommitted();
  absl::StatusOr<std::unique_ptr<RedisBus>> bus =
      NewRedisBus(std::move(options));
  ASSERT_TRUE(bus.ok()) << bus.status();
  absl::Status started = (*bus)->Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable) << started;
  EXPECT_THAT(started.message(), HasSubstr(absl::StrCat("127.0.0.1:", port)));
  EXPECT_THAT(started.message(), Not(HasSubstr("s3cret")));
  EXPECT_FALSE((*bus)->Healthy());
}

TEST(RedisUrlTest, ParsesTheForms) {
  absl::StatusOr<RedisEndpoint> plain = ParseRedisUrl("redis://cache:6380");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->host, "cache");
  EXPECT_EQ(plain->port, 6380);
  EXPECT_EQ(plain->password, "");

  absl::StatusOr<RedisEndpoint> full =
      ParseRedisUrl("redis://:p%40ss@10.0.0.7:6379/2");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->password, "p@ss");
  EXPECT_EQ(full->user, "");
  EXPECT_EQ(full->db, 2);
  EXPECT_EQ(full->HostPort(), "10.0.0.7:6379");

  absl::StatusOr<RedisEndpoint> v6 = ParseRedisUrl("redis://notifyd:pw@[::1]");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->user, "notifyd");
  EXPECT_EQ(v6->port, 6379);
  EXPECT_EQ(v6->HostPort(), "[::1]:6379");
}

TEST(RedisUrlTest, RefusesOtherFormsWithoutEchoingThePassword) {
  for (const char* url :
       {"http://host:6379", "redis://", "redis://:secret@host:99999",
        "redis://:secret@host:6379/x", "redis://host?db=1", "not a url"}) {
    absl::StatusOr<RedisEndpoint> parsed = ParseRedisUrl(url);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << url;
    EXPECT_THAT(parsed.status().message(), Not(HasSubstr("secret"))) << url;
  }
}

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
