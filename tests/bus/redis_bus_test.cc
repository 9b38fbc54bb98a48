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

}  // namespace
}  // namespace notifyd::bus
