// What every SSE stream sends, whatever carries it (an HTTP/1.1 connection,
// edge/sse_stream.h, or an HTTP/2 stream, edge/h2_sse_stream.h): the user's
// inbox counts (the first event of every stream), the replay of what the
// client missed (Last-Event-ID; byte-sized pages, a reset frame when its
// history is gone or from another store), then the live frames the hub
// delivers (an inbox entry's with the counts after it, written only when
// newer than the last counts written), and a heartbeat; all through one
// StreamQueue, bounded by max_queue_bytes (past it: the slow-consumer cut).
//
// A transport derives from StreamFeed and supplies two hooks, called on the
// strand: OnWritable (frames were queued while its writer was idle: take
// them with TakeBytes and write them, one write in flight) and OnCut (end
// the stream now: a slow consumer, or a failed store read). Frames are the
// hub's shared, pre-encoded ones: TakeBytes hands out views into them, never
// copies.
//
// Threading: everything on the strand `executor` except Deliver (the hub's
// thread), which only touches the thread-safe queue.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (listed in http_server.cc).
#ifndef NOTIFYD_EDGE_STREAM_FEED_H_
#define NOTIFYD_EDGE_STREAM_FEED_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "common/log.h"
#include "common/names.h"
#include "edge/edge_server_impl.h"
#include "edge/hub.h"
#include "edge/sse_frame.h"
#include "edge/stream_queue.h"
#include "edge/stream_request.h"
#include "edge/stream_start.h"
#include "storage/store.h"

namespace notifyd::edge::internal {

class StreamFeed : public Subscriber,
                   public std::enable_shared_from_this<StreamFeed> {
 public:
  // `user` already holds one place in max_streams_per_user (given back when
  // the feed stops); `strand` is the transport's; `address` the client's,
  // for the log (empty: unknown).
  StreamFeed(Impl& server, net::any_io_executor strand, std::string address,
             std::string user, StreamRequest params)
      : server_(server),
        executor_(std::move(strand)),
        queue_(server.options.max_queue_bytes),
        address_(std::move(address)),
        heartbeat_(executor_),
        channels_(OwnChannelFirst(std::move(params.channels), user)),
        start_(params.last_event_id,
               {.replay_page = server.options.replay_page,
                .max_queue_bytes = server.options.max_queue_bytes}),
        user_(std::move(user)),
        trace_id_(std::move(params.trace_id)) {
    // Live frames are only held until the first store read (StreamStart):
    // a resume's pages, or a fresh stream's counts.
    queue_.BeginReplay(0);
    (start_.resuming() ? server_.streams_replaying : server_.streams_live)
        .Add(1);
  }

  ~StreamFeed() override {
    if (subscribed_) server_.hub.Unsubscribe(this, channels_);
    ReleaseUser();
    (replaying_ ? server_.streams_replaying : server_.streams_live).Add(-1);
    Log(spdlog::level::debug, "edge: stream closed",
        {{"user", user_}, {"peer", address_}, {"trace_id", trace_id_}});
  }

  // Hub thread. Never blocks: queues and, when the writer is idle, wakes
  // it on the strand.
  bool Deliver(const FramePtr& frame) override {
    switch (queue_.PushLive(frame)) {
      case StreamQueue::PushResult::kWake:
        net::post(executor_, [self = shared_from_this()] {
          if (!self->stopped_) self->OnWritable();
        });
        return true;
      case StreamQueue::PushResult::kQueued:
      case StreamQueue::PushResult::kHeld:
        return true;
      case StreamQueue::PushResult::kDropped:
        return !queue_.closed();
      case StreamQueue::PushResult::kOverflow:
        OnOverflow();
        return false;
    }
    return false;
  }

 protected:
  // Frames were queued while the writer was idle: take them (TakeBytes).
  virtual void OnWritable() = 0;
  // Ends the stream at once (slow consumer, failed store read).
  virtual void OnCut() = 0;

  // Once, on the strand: subscribes, queues `head` (the transport's first
  // bytes; null: none), starts reading the start and the heartbeat.
  void Begin(FramePtr head) {
    // Subscribe BEFORE reading the store: anything committed after the
    // replay's snapshot is then guaranteed to arrive live (held until the
    // replay ends), so nothing falls between the two.
    server_.hub.Subscribe(shared_from_this(), channels_);
    subscribed_ = true;
    Log(spdlog::level::debug, "edge: stream opened",
        {{"user", user_},
         {"peer", address_},
         {"channels", channels_.size()},
         {"resuming", start_.resuming()},
         {"trace_id", trace_id_}});
    if (head) Push(queue_.PushControl(head));
    ReadStart();
    ArmHeartbeat();
  }

  // The writer's step: moves the queued frames into `batch` and appends
  // the bytes to write of each (views into them, valid while `batch` holds
  // them) to `out`. False when nothing is queued: the writer is then idle
  // (the next push wakes it), and a replay's next page is read.
  bool TakeBytes(std::vector<FramePtr>* batch,
                 std::vector<absl::string_view>* out) {
    if (!queue_.TakeBatch(batch)) {
      if (start_more_ && !start_pending_ && !stopped_) {
        start_more_ = false;
        ReadStart();
      }
      return false;
    }
    for (const FramePtr& f : *batch) {
      absl::string_view bytes = counts_.BytesToWrite(*f);
      if (!bytes.empty()) out->push_back(bytes);
    }
    return true;
  }

  // Graceful end: nothing more is queued; the writer flushes what is, then
  // ends the stream (TakeBytes false with closing()).
  void BeginClose() {
    // A fresh stream still waiting for its counts holds live frames it
    // must not lose: they go out without the counts. (A resuming stream's
    // client asks again from its Last-Event-ID.)
    if (!start_.resuming() && start_pending_) GoLive();
    closing_ = true;
    queue_.Close();
    heartbeat_.cancel();
  }

  // Stops everything the feed does: unsubscribes, gives the user's place
  // back, stops the heartbeat and closes the queue. Idempotent.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    queue_.Close();
    if (subscribed_) {
      server_.hub.Unsubscribe(this, channels_);
      subscribed_ = false;
    }
    ReleaseUser();
    heartbeat_.cancel();
  }

  bool closing() const { return closing_; }
  bool stopped() const { return stopped_; }
  const std::vector<std::string>& channels() const { return channels_; }

  Impl& server_;
  const net::any_io_executor executor_;  // the strand
  StreamQueue queue_;

 private:
  // Acts on a push made from the strand.
  void Push(StreamQueue::PushResult r) {
    if (r == StreamQueue::PushResult::kWake) OnWritable();
    if (r == StreamQueue::PushResult::kOverflow) OnOverflow();
  }

  void OnOverflow() {
    server_.slow_consumers.Inc();
    if (uint64_t dropped = 0; server_.slow_consumer_log.Allow(&dropped)) {
      Log(spdlog::level::info, "edge: closing a slow SSE consumer",
          {{"user", user_},
           {"peer", address_},
           {"trace_id", trace_id_},
           LogField::NonZero("dropped", dropped)});
    }
    net::post(executor_, [self = shared_from_this()] {
      if (!self->stopped_) self->OnCut();
    });
  }

  // The stream's own channel first, once, whether or not it was listed.
  static std::vector<std::string> OwnChannelFirst(
      std::vector<std::string> channels, const std::string& user) {
    const std::string own = UserChannel(user);
    channels.erase(std::remove(channels.begin(), channels.end(), own),
                   channels.end());
    channels.insert(channels.begin(), own);
    return channels;
  }

  // Reads the next part of the stream's start from the store (StreamStart),
  // then queues it on the strand.
  void ReadStart() {
    start_pending_ = true;
    server_.StoreCallStarted();
    server_.store.Replay(start_.NextQuery(channels_, queue_),
                         [self = shared_from_this()](
                             absl::StatusOr<storage::ReplayPage> page) mutable {
                           Impl& server = self->server_;
                           {
                             // Gone before StoreCallDone(): once every store
                             // call is done, shutdown may destroy the
                             // io_context this copy belongs to.
                             auto executor = self->executor_;
                             net::post(executor,
                                       [self = std::move(self),
                                        page = std::move(page)]() mutable {
                                         self->OnStartPage(std::move(page));
                                       });
                           }
                           server.StoreCallDone();
                         });
  }

  void OnStartPage(absl::StatusOr<storage::ReplayPage> page) {
    start_pending_ = false;
    if (stopped_ || closing_) return;
    if (!page.ok()) {
      // The client will reconnect (with its Last-Event-ID) and try again.
      Log(spdlog::level::warn, "edge: reading the stream's start failed",
          {{"user", user_},
           {"error", page.status().ToString()},
           {"trace_id", trace_id_}});
      return OnCut();
    }
    const StreamStart::Step step = start_.OnPage(*page, queue_);
    if (step.overflow) return OnOverflow();
    server_.replayed.Inc(step.replayed);
    if (step.wake) OnWritable();
    if (step.more) {
      // The next page once this one is written, so a long history streams
      // at the client's pace instead of piling up.
      start_more_ = true;
      return OnWritable();
    }
    GoLive();
  }

  // Ends the start: the live frames held meanwhile go out.
  void GoLive() {
    if (start_.resuming() && replaying_) {
      replaying_ = false;
      server_.streams_replaying.Add(-1);
      server_.streams_live.Add(1);
    }
    Push(queue_.FinishReplay());
  }

  void ArmHeartbeat() {
    heartbeat_.expires_after(ToChrono(server_.options.heartbeat));
    heartbeat_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->stopped_ || self->closing_) return;
      self->Push(self->queue_.PushControl(PingFrame()));
      self->ArmHeartbeat();
    });
  }

  // Gives back this stream's place in the user's max_streams_per_user.
  void ReleaseUser() {
    if (!holds_place_) return;
    server_.ReleaseStream(user_);
    holds_place_ = false;
  }

  const std::string address_;  // the client's, for the log
  net::steady_timer heartbeat_;
  const std::vector<std::string> channels_;  // user channel first
  StreamStart start_;                        // what it reads before live
  // Counted in streams_replaying until a resume's start ends, else live.
  bool replaying_ = start_.resuming();
  const std::string user_;
  const std::string trace_id_;  // of the request that opened it; for logs
  bool holds_place_ = true;     // counted in the user's streams_per_user
  CountsCursor counts_;         // which counts it has written
  bool subscribed_ = false;
  bool start_pending_ = false;  // a read of the start in flight
  bool start_more_ = false;     // another page to read once written
  bool closing_ = false;
  bool stopped_ = false;
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_STREAM_FEED_H_
