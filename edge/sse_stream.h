// The second part of an HTTP/1.1 SSE connection (the HTTP session, in
// http_session.h, is the first): the Server-Sent Events stream the HTTP
// session hands an authenticated /v1/stream request to, with its socket.
// What it sends (counts, replay, live frames, heartbeat, the slow-consumer
// cut) is its StreamFeed's (edge/stream_feed.h), shared with HTTP/2
// streams; this part writes the response head, then the feed's frames with
// one write in flight that coalesces what was queued meanwhile, watches for
// the peer going away, and closes gracefully by flushing what is queued.
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

#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/message.hpp"
#include "edge/edge_server_impl.h"
#include "edge/sse_frame.h"
#include "edge/stream_feed.h"
#include "edge/stream_request.h"
#include "spdlog/spdlog.h"

namespace notifyd::edge::internal {

// One stream over `Stream` (tcp::socket or TlsStream). Lives as long as an
// operation (write, timer, peer watch, store call) holds a reference. All
// members are touched on the strand only, except what StreamFeed::Deliver
// uses from the hub's thread.
template <typename Stream>
class SseStream : public SessionBase,
                  private RegistryHolder,  // first: deregisters last
                  public StreamFeed {
 public:
  // From the HTTP session, on the strand: its socket and registry entry,
  // the client's address `peer` (for logs), and the stream's user, who
  // already holds one place in max_streams_per_user (given back when the
  // stream ends).
  SseStream(Impl& server, Stream stream, RegistryEntry entry, std::string peer,
            std::string user, StreamRequest params)
      : RegistryHolder{std::move(entry)},
        StreamFeed(server, stream.get_executor(), std::move(peer),
                   std::move(user), std::move(params)),
        stream_(std::move(stream)),
        deadline_(executor_) {}

  // On the strand, once, right after the hand-off: takes over the registry
  // entry (from then on Shutdown closes the stream), subscribes, queues the
  // head (with CORS for `request`) and starts the replay, if any.
  void Start(const http::request<http::empty_body>& request) {
    entry_.Transfer(Self());
    Begin(Head(request));
    WatchPeer();
  }

  void Close(bool graceful) override {
    net::dispatch(executor_, [self = Self(), graceful] {
      graceful ? self->CloseGracefully() : self->Abort();
    });
  }

 private:
  std::shared_ptr<SseStream> Self() {
    return std::static_pointer_cast<SseStream>(shared_from_this());
  }

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

  // ---- Writes and the peer watch -------------------------------------------

  void OnWritable() override { WriteNext(); }
  void OnCut() override { Abort(); }

  void WriteNext() {
    if (writing_ || closed_) return;
    pieces_.clear();
    if (!TakeBytes(&batch_, &pieces_)) {
      batch_.shrink_to_fit();
      pieces_.shrink_to_fit();
      buffers_.clear();
      buffers_.shrink_to_fit();
      if (closing()) FinishGracefulClose();
      return;
    }
    buffers_.clear();
    for (absl::string_view bytes : pieces_) {
      buffers_.push_back(net::buffer(bytes.data(), bytes.size()));
    }
    writing_ = true;
    deadline_.Arm(server_.options.write_timeout, [self = Self()] {
      spdlog::debug("edge: connection timed out");
      self->Abort();
    });
    net::async_write(stream_, buffers_, [self = Self()](error_code ec, size_t) {
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

  // A stream never reads, so without this a vanished client would only be
  // noticed at the next write. Waiting for readability costs no buffer.
  void WatchPeer() {
    Tcp().async_wait(tcp::socket::wait_read, [self = Self()](error_code ec) {
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
    BeginClose();
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
    Stop();
    error_code ec;
    deadline_.Cancel();
    Tcp().close(ec);
  }

  tcp::socket& Tcp() { return TcpOf(stream_); }

  Stream stream_;
  Deadline deadline_;                      // of the write in flight
  std::vector<FramePtr> batch_;            // frames of the write in flight
  std::vector<absl::string_view> pieces_;  // their bytes to write
  std::vector<net::const_buffer> buffers_;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_SSE_STREAM_H_
