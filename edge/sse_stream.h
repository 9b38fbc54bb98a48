// The second part of an SSE edge connection (the HTTP session, in
// http_session.h, is the first): the Server-Sent Events stream the HTTP
// session hands an authenticated /v1/stream request to, with its socket.
// It writes the response head, the user's inbox counts (the first event of
// every stream), replays what the client missed (Last-Event-ID; byte-sized
// pages, a reset frame when its history is gone or from another store),
// then the live frames the hub delivers (an inbox entry's with the counts
// after it, written only when newer than the last counts written), with one
// write in flight that coalesces what was queued meanwhile; a heartbeat, a
// watch for the peer going away, the slow-consumer cut, and a graceful
// close that flushes what is queued.
//
// SseStream is a template over the transport (plain TCP or TLS), like the
// HTTP session it comes from.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by stream_handler.h and http_server.cc only; the parts are
// listed in http_server.cc).
#ifndef NOTIFYD_EDGE_SSE_STREAM_H_
#define NOTIFYD_EDGE_SSE_STREAM_H_

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/message.hpp"
#include "common/names.h"
#include "edge/edge_server_impl.h"
#include "edge/hub.h"
#include "edge/sse_frame.h"
#include "edge/stream_queue.h"
#include "edge/stream_request.h"
#include "edge/stream_start.h"
#include "spdlog/spdlog.h"
#include "storage/store.h"

namespace notifyd::edge::internal {

// One stream over `Stream` (tcp::socket or TlsStream). Lives as long as an
// operation (write, timer, peer watch, store call) holds a reference. All
// members are touched on the strand only, except queue_ (thread-safe) and
// the immutable ones, which Deliver() uses from the hub's thread.
template <typename Stream>
class SseStream : public SessionBase,
                  public Subscriber,
                  public std::enable_shared_from_this<SseStream<Stream>> {
 public:
  // From the HTTP session, on the strand: its socket and registry entry,
  // and the stream's user, who already holds one place in
  // max_streams_per_user (given back when the stream ends).
  SseStream(Impl& server, Stream stream, RegistryEntry entry, std::string user,
            StreamRequest params)
      : server_(server),
        entry_(std::move(entry)),
        stream_(std::move(stream)),
        executor_(stream_.get_executor()),
        deadline_(executor_),
        heartbeat_(executor_),
        queue_(server.options.max_queue_bytes),
        channels_(OwnChannelFirst(std::move(params.channels), user)),
        start_(channels_, params.last_event_id,
               {.replay_page = server.options.replay_page,
                .max_queue_bytes = server.options.max_queue_bytes}),
        user_(std::move(user)) {
    // Live frames are only held until the first store read (StreamStart):
    // a resume's pages, or a fresh stream's counts.
    queue_.BeginReplay(0);
    (start_.resuming() ? server_.streams_replaying : server_.streams_live)
        .Add(1);
  }

  ~SseStream() override {
    if (subscribed_) server_.hub.Unsubscribe(this, channels_);
    ReleaseStream();
    (replaying_ ? server_.streams_replaying : server_.streams_live).Add(-1);
  }

  // On the strand, once, right after the hand-off: takes over the registry
  // entry (from then on Shutdown closes the stream), subscribes, queues the
  // head (with CORS for `request`) and starts the replay, if any.
  void Start(const http::request<http::empty_body>& request) {
    entry_.Transfer(this->shared_from_this());
    // Subscribe BEFORE reading the store: anything committed after the
    // replay's snapshot is then guaranteed to arrive live (held until the
    // replay ends), so nothing falls between the two.
    server_.hub.Subscribe(this->shared_from_this(), channels_);
    subscribed_ = true;
    Push(queue_.PushControl(Head(request)));
    ReadStart();
    ArmHeartbeat();
    WatchPeer();
  }

  // Hub thread. Never blocks: queues and, when the writer is idle, posts it.
  bool Deliver(const FramePtr& frame) override {
    switch (queue_.PushLive(frame)) {
      case StreamQueue::PushResult::kWake:
        net::post(executor_,
                  [self = this->shared_from_this()] { self->WriteNext(); });
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

  void Close(bool graceful) override {
    net::dispatch(executor_, [self = this->shared_from_this(), graceful] {
      graceful ? self->CloseGracefully() : self->Abort();
    });
  }

 private:
  // The response head, built by hand: the body is an endless event stream
  // delimited by connection close, so Beast's serializer adds nothing.
  FramePtr Head(const http::request<http::empty_body>& request) const {
    std::string head =
        "HTTP/1.1 200 OK\r\n"
        "Server: notifyd\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Connection: close\r\n";
    http::fields cors;
    AddCors(cors, request, server_.options.cors_origins);
    for (const auto& field : cors) {
      absl::StrAppend(&head, View(field.name_string()), ": ",
                      View(field.value()), "\r\n");
    }
    absl::StrAppend(&head, "\r\n", EncodePreamble(server_.options.retry_ms));
    return std::make_shared<const Frame>(Frame{0, std::move(head)});
  }

  // ---- Replay, writes, heartbeat, peer watch -------------------------------

  // Acts on a push made from the strand.
  void Push(StreamQueue::PushResult r) {
    if (r == StreamQueue::PushResult::kWake) WriteNext();
    if (r == StreamQueue::PushResult::kOverflow) OnOverflow();
  }

  void OnOverflow() {
    server_.slow_consumers.Inc();
    if (uint64_t dropped = 0; server_.slow_consumer_log.Allow(&dropped)) {
      spdlog::info("edge: closing slow SSE consumer on {}{}{}",
                   channels_.empty() ? "" : channels_.front(),
                   entry_.address().empty() ? "" : " from ", entry_.address(),
                   LogLimiter::DroppedNote(dropped));
    }
    net::post(executor_, [self = this->shared_from_this()] { self->Abort(); });
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
    server_.store.Replay(start_.NextQuery(queue_),
                         [self = this->shared_from_this()](
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
    if (closed_ || closing_) return;
    if (!page.ok()) {
      // The client will reconnect (with its Last-Event-ID) and try again.
      spdlog::warn("edge: reading the stream's start failed: {}",
                   page.status().ToString());
      return Abort();
    }
    const StreamStart::Step step = start_.OnPage(*page, queue_);
    if (step.overflow) return OnOverflow();
    server_.replayed.Inc(step.replayed);
    if (step.wake) WriteNext();
    if (step.more) {
      // The next page once this one is written, so a long history streams
      // at the client's pace instead of piling up.
      start_more_ = true;
      if (!writing_) WriteNext();
      return;
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

  void WriteNext() {
    if (writing_ || closed_) return;
    if (!queue_.TakeBatch(&batch_)) {
      batch_.shrink_to_fit();
      buffers_.clear();
      buffers_.shrink_to_fit();
      if (closing_) return FinishGracefulClose();
      if (start_more_ && !start_pending_) {
        start_more_ = false;
        ReadStart();
      }
      return;
    }
    buffers_.clear();
    for (const FramePtr& f : batch_) {
      absl::string_view bytes = counts_.BytesToWrite(*f);
      if (!bytes.empty())
        buffers_.push_back(net::buffer(bytes.data(), bytes.size()));
    }
    writing_ = true;
    deadline_.Arm(server_.options.write_timeout,
                  [self = this->shared_from_this()] {
                    spdlog::debug("edge: connection timed out");
                    self->Abort();
                  });
    net::async_write(stream_, buffers_,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       self->OnWrite(ec);
                     });
  }

  void OnWrite(error_code ec) {
    writing_ = false;
    deadline_.Disarm();
    batch_.clear();
    if (ec) {
      if (ec != net::error::operation_aborted) {
        spdlog::debug("edge: stream write failed: {}", ec.message());
      }
      return Abort();
    }
    WriteNext();
  }

  void ArmHeartbeat() {
    heartbeat_.expires_after(ToChrono(server_.options.heartbeat));
    heartbeat_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->closed_ || self->closing_) return;
      self->Push(self->queue_.PushControl(PingFrame()));
      self->ArmHeartbeat();
    });
  }

  // A stream never reads, so without this a vanished client would only be
  // noticed at the next write. Waiting for readability costs no buffer.
  void WatchPeer() {
    Tcp().async_wait(tcp::socket::wait_read,
                     [self = this->shared_from_this()](error_code ec) {
                       if (!ec && !self->closed_) self->OnPeerReadable();
                     });
  }

  // A readiness wake-up is not proof of EOF: peek without blocking and only
  // treat a zero-byte read as the peer closing. Anything else the client
  // sends on a stream is discarded.
  void OnPeerReadable() {
    char discard[512];
    for (;;) {
      ssize_t got =
          ::recv(Tcp().native_handle(), discard, sizeof(discard), MSG_DONTWAIT);
      if (got > 0) continue;
      if (got == 0) return Abort();  // orderly close
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Abort();  // reset or other error
    }
    WatchPeer();
  }

  // ---- Closing -------------------------------------------------------------

  void CloseGracefully() {
    if (closed_) return;
    // A fresh stream still waiting for its counts holds live frames it
    // must not lose: they go out without the counts. (A resuming stream's
    // client asks again from its Last-Event-ID.)
    if (!start_.resuming() && start_pending_) GoLive();
    closing_ = true;
    queue_.Close();
    heartbeat_.cancel();
    if (!writing_) WriteNext();
  }

  // Over TLS this ends with a TCP FIN and no close_notify: the stream has no
  // length, so a client cannot mistake the cut for a complete response, and
  // waiting for the peer's close_notify would hold shutdown for nothing.
  void FinishGracefulClose() {
    error_code ec;
    Tcp().shutdown(tcp::socket::shutdown_send, ec);
    Abort();
  }

  void Abort() {
    if (closed_) return;
    closed_ = true;
    queue_.Close();
    if (subscribed_) {
      server_.hub.Unsubscribe(this, channels_);
      subscribed_ = false;
    }
    ReleaseStream();
    error_code ec;
    deadline_.Cancel();
    heartbeat_.cancel();
    Tcp().close(ec);
  }

  tcp::socket& Tcp() { return TcpOf(stream_); }

  // Gives back this stream's place in the user's max_streams_per_user.
  void ReleaseStream() {
    if (user_.empty()) return;
    server_.ReleaseStream(user_);
    user_.clear();
  }

  Impl& server_;
  RegistryEntry entry_;  // first: deregisters last
  Stream stream_;
  const net::any_io_executor executor_;  // the strand
  Deadline deadline_;                    // of the write in flight
  net::steady_timer heartbeat_;
  StreamQueue queue_;
  const std::vector<std::string> channels_;  // user channel first
  StreamStart start_;                        // what it reads before live
  std::vector<FramePtr> batch_;              // frames of the write in flight
  std::vector<net::const_buffer> buffers_;
  // Counted in streams_replaying until a resume's start ends, else live.
  bool replaying_ = start_.resuming();
  std::string user_;     // counted in streams_per_user; empty: not (any more)
  CountsCursor counts_;  // which counts it has written
  bool subscribed_ = false;
  bool writing_ = false;
  bool start_pending_ = false;  // a read of the start in flight
  bool start_more_ = false;     // another page to read once written
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_SSE_STREAM_H_
