// An SSE stream on an HTTP/2 stream: the StreamFeed (edge/stream_feed.h)
// of an admitted GET /v1/stream, whose frames go out as the DATA of its
// HTTP/2 stream. nghttp2 pulls them (the connection's data provider calls
// Readable, then Emit, for as much as the stream's flow-control window and
// the frame size allow), so a stream whose window is exhausted simply stops
// being pulled while the connection's other streams go on; what piles up
// meanwhile counts against its own max_queue_bytes, and past it this stream
// alone is reset (RST_STREAM CANCEL, the slow-consumer cut), not the
// connection. Its bytes are referred to in the hub's shared frames, never
// copied (H2Output).
//
// Threading: the connection's strand, except StreamFeed::Deliver.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (listed in http_server.cc).
#ifndef NOTIFYD_EDGE_H2_SSE_STREAM_H_
#define NOTIFYD_EDGE_H2_SSE_STREAM_H_

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edge/edge_server_impl.h"
#include "edge/h2_connection.h"
#include "edge/sse_frame.h"
#include "edge/stream_feed.h"
#include "edge/stream_request.h"

namespace notifyd::edge::internal {

class H2SseStream : public StreamFeed {
 public:
  // `user` holds one place in max_streams_per_user, given back when the
  // stream stops.
  H2SseStream(Impl& server, net::any_io_executor strand,
              std::weak_ptr<H2Connection> connection, int32_t stream_id,
              std::string address, std::string user, StreamRequest params)
      : StreamFeed(server, std::move(strand), std::move(address),
                   std::move(user), std::move(params)),
        connection_(std::move(connection)),
        stream_id_(stream_id) {}

  // Once the response head is submitted: subscribes, queues the preamble,
  // reads the stream's start.
  void Start() {
    Begin(std::make_shared<const Frame>(
        Frame{0, EncodePreamble(server_.options.retry_ms)}));
  }

  // How many bytes (at most `max`) can be sent now; 0 with *eof when the
  // stream has ended gracefully, 0 without: none yet (the next push
  // resumes the stream).
  size_t Readable(size_t max, bool* eof) {
    *eof = false;
    if (stopped()) return 0;
    size_t ready = Pending();
    while (ready == 0) {
      batch_ = std::make_shared<std::vector<FramePtr>>();
      pieces_.clear();
      piece_ = offset_ = 0;
      if (!TakeBytes(batch_.get(), &pieces_)) {
        batch_.reset();
        pieces_.shrink_to_fit();
        *eof = closing();
        return 0;
      }
      ready = Pending();
    }
    return std::min(ready, max);
  }

  // Appends the next `n` bytes (no more than Readable said) to `out`.
  void Emit(size_t n, H2Output& out) {
    while (n > 0 && piece_ < pieces_.size()) {
      absl::string_view piece = pieces_[piece_];
      size_t take = std::min(n, piece.size() - offset_);
      out.Refer(piece.data() + offset_, take, batch_);
      offset_ += take;
      n -= take;
      if (offset_ == piece.size()) {
        ++piece_;
        offset_ = 0;
      }
    }
  }

  // From the connection. Graceful: what is queued goes out, then the
  // stream ends (END_STREAM).
  void Close(bool graceful) {
    if (!graceful) return Stop();
    if (stopped() || closing()) return;
    BeginClose();
    OnWritable();
  }

  // The HTTP/2 stream is gone (closed, reset by either side).
  void OnStreamClosed() {
    Stop();
    batch_.reset();
    pieces_.clear();
  }

 private:
  void OnWritable() override {
    if (auto c = connection_.lock()) c->ResumeData(stream_id_);
  }
  void OnCut() override {
    Stop();
    if (auto c = connection_.lock()) c->ResetStream(stream_id_, NGHTTP2_CANCEL);
  }

  size_t Pending() const {
    size_t n = 0;
    for (size_t i = piece_; i < pieces_.size(); ++i) n += pieces_[i].size();
    return n - offset_;
  }

  const std::weak_ptr<H2Connection> connection_;
  const int32_t stream_id_;
  // The frames being sent, shared with the writes that refer to them.
  std::shared_ptr<std::vector<FramePtr>> batch_;
  std::vector<absl::string_view> pieces_;  // their bytes to send
  size_t piece_ = 0, offset_ = 0;          // how far they are sent
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_H2_SSE_STREAM_H_
