#include "bus/redis_bus.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <future>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bus/bus_codec.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace notifyd::bus {
namespace {

constexpr size_t kMaxBatch = 256;  // PUBLISH commands per pipelined write
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(50);
constexpr absl::Duration kStartStoreTimeout = absl::Seconds(10);

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply Command(redisContext* c, const std::vector<absl::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (absl::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(redisCommandArgv(
      c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

absl::string_view ReplyText(const redisReply* r) {
  return absl::string_view(r->str, r->len);
}

uint64_t RandomOrigin() {
  std::random_device random;
  uint64_t origin = 0;
  while (origin == 0) {
    origin = (uint64_t{random()} << 32) ^ uint64_t { random() };
  }
  return origin;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisBus>> NewRedisBus(RedisBusOptions options) {
  if (!options.fill || !options.last_committed_id) {
    return absl::InvalidArgumentError(
        "bus: fill and last_committed_id are required");
  }
  if (options.channel.empty()) {
    return absl::InvalidArgumentError("bus: the channel name is empty");
  }
  if (options.gap_timeout <= absl::ZeroDuration() ||
      options.check_interval <= absl::ZeroDuration() ||
      options.max_publish_queue == 0) {
    return absl::InvalidArgumentError(
        "bus: gap_timeout, check_interval and max_publish_queue must be "
        "positive");
  }
  absl::StatusOr<RedisEndpoint> endpoint = ParseRedisUrl(options.url);
  if (!endpoint.ok()) return endpoint.status();
  return std::unique_ptr<RedisBus>(
      new RedisBus(std::move(options), *std::move(endpoint)));
}

RedisBus::RedisBus(RedisBusOptions options, RedisEndpoint endpoint)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      origin_(RandomOrigin()),
      delivery_(OrderedDelivery::Create({
          .fill = options_.fill,
          .last_committed_id = options_.last_committed_id,
          .gap_timeout = options_.gap_timeout,
          .check_interval = options_.check_interval,
      })),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

RedisBus::~RedisBus() {
  Close();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void RedisBus::AddListener(Listener listener) {
  delivery_->AddListener(std::move(listener));
}

absl::Status RedisBus::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError(
          "bus: Start called twice or after Close");
    }
    started_ = true;
  }
  std::string error;
  redisContext* pub = Connect(&error);
  if (pub == nullptr) return absl::UnavailableError(error);
  redisContext* sub = Connect(&error);
  if (sub != nullptr && !Subscribe(sub, &error)) {
    redisFree(sub);
    sub = nullptr;
  }
  if (sub == nullptr) {
    redisFree(pub);
    return absl::UnavailableError(error);
  }
  // Only now that the subscription is confirmed: every id committed later
  // is published after this point, so it reaches us or the store has it.
  auto promise = std::make_shared<std::promise<absl::StatusOr<uint64_t>>>();
  std::future<absl::StatusOr<uint64_t>> answer = promise->get_future();
  options_.last_committed_id([promise](absl::StatusOr<uint64_t> last) {
    promise->set_value(std::move(last));
  });
  absl::Status failed;
  if (answer.wait_for(absl::ToChronoNanoseconds(kStartStoreTimeout)) !=
      std::future_status::ready) {
    failed = absl::UnavailableError(
        "bus: the store did not answer LastCommittedId in time");
  } else if (absl::StatusOr<uint64_t> last = answer.get(); !last.ok()) {
    failed = absl::UnavailableError(absl::StrCat(
        "bus: cannot read the last committed id: ", last.status().message()));
  } else {
    delivery_->Start(*last);
    Log(spdlog::level::info, "bus: subscribed to Redis",
        {{"redis", endpoint_.HostPort()},
         {"redis_channel", options_.channel},
         {"live_from_id", *last + 1}});
  }
  if (!failed.ok()) {
    redisFree(pub);
    redisFree(sub);
    return failed;
  }
  publisher_up_ = true;
  subscribed_ = true;
  publisher_ = std::thread([this, pub] { PublisherLoop(pub); });
  subscriber_ = std::thread([this, sub] { SubscriberLoop(sub); });
  timer_ = std::thread([this] { TimerLoop(); });
  return absl::OkStatus();
}

size_t RedisBus::Publish(std::shared_ptr<const storage::Notification> n) {
  if (n == nullptr) return 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return 0;
    if (queue_.size() >= options_.max_publish_queue) {
      // Redis is away or slower than the store: the other instances fill
      // this id from the store within check_interval + gap_timeout.
      ++queue_overflow_;
      if (uint64_t dropped = 0; overflow_log_.Allow(&dropped)) {
        Log(spdlog::level::warn,
            "bus: Redis publish queue full; dropped a message, other "
            "instances will read it from the store",
            {{"redis", endpoint_.HostPort()},
             {"queued", queue_.size()},
             {"id", n->id},
             {"channel", n->channel},
             {"trace_id", n->trace_id},
             LogField::NonZero("dropped", dropped)});
      }
    } else {
      queue_.push_back(n);
      queue_cv_.Signal();
    }
  }
  return delivery_->Offer(std::move(n));
}

bool RedisBus::Healthy() const {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopping_) return false;
  }
  return publisher_up_ && subscribed_;
}

void RedisBus::Close() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
    queue_cv_.SignalAll();
  }
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t written = write(wake_fd_, &one, sizeof(one));
  }
  for (std::thread* t : {&publisher_, &subscriber_, &timer_}) {
    if (t->joinable()) t->join();
  }
  delivery_->Close();
  publisher_up_ = false;
  subscribed_ = false;
}

RedisBusStats RedisBus::Stats() const {
  RedisBusStats stats;
  {
    absl::MutexLock lock(&mu_);
    stats.queue_overflow = queue_overflow_;
  }
  stats.sent = sent_;
  stats.received = received_;
  stats.malformed = malformed_;
  stats.reconnects = reconnects_;
  stats.delivery = delivery_->Stats();
  return stats;
}

redisContext* RedisBus::Connect(std::string* error) const {
  const std::string where = endpoint_.HostPort();
  redisContext* c =
      redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                              absl::ToTimeval(options_.connect_timeout));
  if (c == nullptr || c->err != 0) {
    *error = absl::StrCat("cannot connect to Redis at ", where, ": ",
                          c != nullptr ? c->errstr : "out of memory");
    if (c != nullptr) redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, absl::ToTimeval(options_.command_timeout));
  redisEnableKeepAlive(c);  // notices a peer gone without a FIN
  if (!endpoint_.password.empty()) {
    std::vector<absl::string_view> auth = {"AUTH"};
    if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
    auth.push_back(endpoint_.password);
    Reply reply = Command(c, auth);
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
      // Redis's own message ("WRONGPASS ...") never echoes the password.
      *error = absl::StrCat("Redis at ", where, " refused AUTH: ",
                            reply != nullptr ? ReplyText(reply.get())
                                             : absl::string_view(c->errstr));
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

bool RedisBus::Subscribe(redisContext* c, std::string* error) const {
  Reply reply = Command(c, {"SUBSCRIBE", options_.channel});
  if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == 3 && reply->element[0]->type == REDIS_REPLY_STRING &&
      ReplyText(reply->element[0]) == "subscribe") {
    return true;
  }
  *error =
      absl::StrCat("cannot subscribe to ", options_.channel, " on Redis at ",
                   endpoint_.HostPort(), ": ",
                   reply == nullptr ? absl::string_view(c->errstr)
                   : reply->type == REDIS_REPLY_ERROR ? ReplyText(reply.get())
                                                      : "unexpected reply");
  return false;
}

bool RedisBus::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool RedisBus::WaitUnlessStopping(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  return !mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
}

void RedisBus::PublisherLoop(redisContext* c) {
  NameThisThread("bus-redis-pub");
  std::vector<std::shared_ptr<const storage::Notification>> batch;
  absl::Duration backoff = kFirstBackoff;
  bool in_outage = false;
  std::string error;
  for (;;) {
    if (batch.empty()) {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) queue_cv_.Wait(&mu_);
      if (stopping_) break;
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (c == nullptr) {
      c = Connect(&error);
      if (c == nullptr) {
        if (!WaitUnlessStopping(backoff)) break;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      publisher_up_ = true;
      backoff = kFirstBackoff;
      if (in_outage) {
        Log(spdlog::level::info, "bus: publishing to Redis again",
            {{"redis", endpoint_.HostPort()}});
      }
      in_outage = false;
    }
    // Pipelined: one write for the batch, then one reply per message.
    std::vector<std::string> encoded;
    encoded.reserve(batch.size());
    for (const auto& n : batch) {
      encoded.push_back(EncodeBusMessage(origin_, *n));
      const char* argv[] = {"PUBLISH", options_.channel.data(),
                            encoded.back().data()};
      const size_t lengths[] = {7, options_.channel.size(),
                                encoded.back().size()};
      redisAppendCommandArgv(c, 3, argv, lengths);
    }
    bool lost = false;
    for (size_t i = 0; i < batch.size() && !lost; ++i) {
      void* reply = nullptr;
      if (redisGetReply(c, &reply) != REDIS_OK || reply == nullptr) {
        lost = true;
        break;
      }
      freeReplyObject(reply);
    }
    if (!lost) {
      sent_ += batch.size();
      batch.clear();
      continue;
    }
    // The whole batch is sent again: receivers drop what they already got.
    if (!in_outage) {
      Log(spdlog::level::warn,
          "bus: lost the Redis publisher connection; reconnecting",
          {{"redis", endpoint_.HostPort()}, {"error", c->errstr}});
    }
    in_outage = true;
    publisher_up_ = false;
    redisFree(c);
    c = nullptr;
  }
  if (c != nullptr) redisFree(c);
  publisher_up_ = false;
}

void RedisBus::SubscriberLoop(redisContext* c) {
  NameThisThread("bus-redis-sub");
  absl::Duration backoff = kFirstBackoff;
  std::string error;
  for (;;) {
    if (Stopping()) break;
    if (c == nullptr) {
      c = Connect(&error);
      if (c != nullptr && !Subscribe(c, &error)) {
        redisFree(c);
        c = nullptr;
      }
      if (c == nullptr) {
        Log(spdlog::level::debug, "bus: cannot subscribe to Redis yet",
            {{"redis", endpoint_.HostPort()}, {"error", error}});
        if (!WaitUnlessStopping(backoff)) break;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      backoff = kFirstBackoff;
      subscribed_ = true;
      ++reconnects_;
      Log(spdlog::level::info,
          "bus: subscribed to Redis again; catching up from the store",
          {{"redis", endpoint_.HostPort()}});
      // What was published while we were away is gone from Redis.
      delivery_->CatchUp();
    }
    if (!ReadMessages(c)) {
      subscribed_ = false;
      if (Stopping()) break;
      Log(spdlog::level::warn, "bus: lost the Redis subscription; reconnecting",
          {{"redis", endpoint_.HostPort()},
           {"error", c->err != 0 ? c->errstr : "connection closed"}});
      redisFree(c);
      c = nullptr;
    }
  }
  if (c != nullptr) redisFree(c);
  subscribed_ = false;
}

bool RedisBus::ReadMessages(redisContext* c) {
  // Replies already in hiredis's buffer first: poll would not see them.
  for (;;) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return false;
    if (raw == nullptr) break;
    Reply reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        ReplyText(reply->element[0]) == "message" &&
        reply->element[2]->type == REDIS_REPLY_STRING) {
      HandleMessage(ReplyText(reply->element[2]));
    }
  }
  pollfd fds[2] = {{.fd = c->fd, .events = POLLIN, .revents = 0},
                   {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
  const int ready = poll(fds, 2, /*timeout_ms=*/1000);
  if (ready < 0) return errno == EINTR;
  if (fds[1].revents != 0) return false;  // Close
  if (fds[0].revents != 0 && redisBufferRead(c) != REDIS_OK) return false;
  return true;
}

void RedisBus::HandleMessage(absl::string_view payload) {
  absl::StatusOr<BusMessage> message = DecodeBusMessage(payload);
  if (!message.ok()) {
    ++malformed_;
    if (uint64_t dropped = 0; malformed_log_.Allow(&dropped)) {
      Log(spdlog::level::warn, "bus: dropped a malformed message",
          {{"redis_channel", options_.channel},
           {"error", message.status().message()},
           LogField::NonZero("dropped", dropped)});
    }
    return;
  }
  if (message->origin == origin_) return;  // offered locally in Publish
  ++received_;
  delivery_->Offer(std::move(message->notification));
}

void RedisBus::TimerLoop() {
  NameThisThread("bus-timer");
  const absl::Duration tick =
      std::clamp(std::min(options_.gap_timeout, options_.check_interval) / 4,
                 absl::Milliseconds(5), absl::Milliseconds(100));
  while (WaitUnlessStopping(tick)) delivery_->Poll();
}

}  // namespace notifyd::bus
