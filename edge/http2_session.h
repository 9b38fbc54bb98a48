// One HTTP/2 connection of the TLS edge (ALPN h2; the HTTP/1.1 session hands
// it over right after the handshake): libnghttp2's server state machine
// between the TLS stream and the connection's streams, each an H2Request
// (h2_request.h) answered by the handlers HTTP/1.1 uses, or an SSE stream
// (h2_sse_stream.h) with its own flow control, queue and cut-off.
//
// Writes: one in flight per connection. Flush asks nghttp2 for frames
// (nghttp2_session_send) into an H2Output of at most kMaxWriteBytes: control
// frames and headers are copied, DATA is referred to in the shared SSE
// frames and response bodies (NGHTTP2_DATA_FLAG_NO_COPY), then written
// with one scatter write; its completion flushes again. nghttp2 takes DATA
// from the streams round-robin as their windows allow, so a stream whose
// window is exhausted is skipped while the others go on.
//
// Limits (docs/DESIGN.md, "HTTP/2"): SETTINGS_MAX_CONCURRENT_STREAMS
// (h2_max_concurrent_streams; nghttp2 refuses the streams past it),
// SETTINGS_MAX_HEADER_LIST_SIZE (max_header_bytes; 431 past it), HPACK's
// table at 4 KiB, SETTINGS and PING acks nghttp2 may owe (h2_limits.h),
// RST_STREAM at nghttp2's rate limit, and h2_max_control_frames_per_second:
// frames that cost work and carry no request (SETTINGS, PING, RST_STREAM,
// PRIORITY, empty DATA, invalid frames), past which the connection gets
// GOAWAY ENHANCE_YOUR_CALM and is closed (rapid reset, CVE-2023-44487;
// SETTINGS and PING floods). The connection counts once in the connection
// limits, its streams in streams_per_user. Idle (no stream) for
// idle_timeout: GOAWAY and closed; a write over write_timeout: closed.
//
// Threading: everything on the connection's strand; nghttp2 is never
// re-entered (Flush waits until nghttp2's callbacks have returned).
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (listed in http_server.cc).
#ifndef NOTIFYD_EDGE_HTTP2_SESSION_H_
#define NOTIFYD_EDGE_HTTP2_SESSION_H_

#include <nghttp2/nghttp2.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "edge/edge_server_impl.h"
#include "edge/h2_connection.h"
#include "edge/h2_limits.h"
#include "edge/h2_request.h"
#include "spdlog/spdlog.h"

namespace notifyd::edge::internal {

// The ALPN protocol id that selects this session.
inline constexpr absl::string_view kAlpnH2 = "h2";

class Http2Session : public SessionBase,
                     private RegistryHolder,  // first: deregisters last
                     public H2Connection,
                     public std::enable_shared_from_this<Http2Session> {
 public:
  // Most bytes gathered into one write.
  static constexpr size_t kMaxWriteBytes = 64 * 1024;

  // From the HTTP/1.1 session, on the strand, right after a handshake that
  // chose h2: the TLS stream and its registry entry.
  Http2Session(Impl& server, TlsStream stream, RegistryEntry entry)
      : RegistryHolder{std::move(entry)},
        server_(server),
        stream_(std::move(stream)),
        executor_(stream_.get_executor()),
        write_deadline_(executor_),
        idle_deadline_(executor_),
        control_frames_(server.options.h2_max_control_frames_per_second) {}

  ~Http2Session() override {
    if (h2_ != nullptr) nghttp2_session_del(h2_);
  }

  // On the strand, once: takes over the registry entry, sends the server's
  // SETTINGS and starts reading.
  void Start() {
    entry_.Transfer(shared_from_this());
    if (!NewSession()) return Abort();
    ArmIdle();
    // Reads first, then waits: the client's preface may already be here.
    reading_ = true;
    OnReadable({});
  }

  void Close(bool graceful) override {
    net::dispatch(executor_, [self = shared_from_this(), graceful] {
      graceful ? self->CloseGracefully() : self->Abort();
    });
  }

  // ---- H2Connection (from the streams, on the strand) ----------------------

  void SubmitResponse(int32_t stream_id, const Response& head,
                      bool has_body) override {
    if (closed_ || !streams_.contains(stream_id)) return;
    std::deque<std::string> names;  // stable while nva points into them
    std::vector<nghttp2_nv> nva;
    std::string status = std::to_string(head.result_int());
    auto add = [&nva](const std::string& name, absl::string_view value) {
      nva.push_back(
          {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
           reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
           name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    };
    names.push_back(":status");
    add(names.back(), status);
    for (const auto& field : head) {
      std::string name = absl::AsciiStrToLower(View(field.name_string()));
      // Connection-specific fields do not exist in HTTP/2 (RFC 9113 §8.2.2).
      if (name == "connection" || name == "keep-alive" ||
          name == "transfer-encoding" || name == "upgrade" ||
          name == "proxy-connection") {
        continue;
      }
      names.push_back(std::move(name));
      add(names.back(), View(field.value()));
    }
    nghttp2_data_provider body{};
    body.read_callback = &Http2Session::OnReadData;
    nghttp2_submit_response(h2_, stream_id, nva.data(), nva.size(),
                            has_body ? &body : nullptr);
    Flush();
  }

  void ResumeData(int32_t stream_id) override {
    if (closed_ || !streams_.contains(stream_id)) return;
    nghttp2_session_resume_data(h2_, stream_id);
    FlushSoon();
  }

  void ResetStream(int32_t stream_id, uint32_t error_code) override {
    if (closed_ || !streams_.contains(stream_id)) return;
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, stream_id, error_code);
    Flush();
  }

 private:
  static Http2Session& Of(void* user_data) {
    return *static_cast<Http2Session*>(user_data);
  }

  bool NewSession() {
    nghttp2_session_callbacks* cb = nullptr;
    if (nghttp2_session_callbacks_new(&cb) != 0) return false;
    nghttp2_session_callbacks_set_send_callback(cb, &Http2Session::OnSend);
    nghttp2_session_callbacks_set_send_data_callback(cb,
                                                     &Http2Session::OnSendData);
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        cb, &Http2Session::OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cb,
                                                     &Http2Session::OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, &Http2Session::OnDataChunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, &Http2Session::OnFrame);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
        cb, &Http2Session::OnInvalidFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, &Http2Session::OnStreamClose);
    nghttp2_session_callbacks_set_on_invalid_header_callback(
        cb, &Http2Session::OnInvalidHeader);
    h2_ = NewH2ServerSession(
        cb, this,
        {.max_concurrent_streams = server_.options.h2_max_concurrent_streams,
         .max_header_list_bytes =
             static_cast<uint32_t>(server_.options.max_header_bytes)});
    nghttp2_session_callbacks_del(cb);
    return h2_ != nullptr;
  }

  // ---- Reading -------------------------------------------------------------

  // Waits until the socket is readable, then reads everything that can be
  // read now through a per-thread buffer into nghttp2 (which keeps what it
  // needs): a connection keeps no read buffer of its own while it waits,
  // which it does nearly all the time.
  void Read(bool wait_write = false) {
    reading_ = true;
    stream_.AsyncWait(wait_write, [self = shared_from_this()](error_code ec) {
      self->OnReadable(ec);
    });
  }

  void OnReadable(error_code ec) {
    reading_ = false;
    if (closed_) return;
    if (ec) return Abort();
    thread_local std::array<char, 16 * 1024> buffer;
    bool wait_write = false;
    for (;;) {
      size_t n =
          stream_.ReadNow(buffer.data(), buffer.size(), &ec, &wait_write);
      if (ec) {
        spdlog::debug("edge: h2 read ended: {}", ec.message());
        return Abort();
      }
      if (n == 0) break;  // nothing more until the socket is ready again
      in_nghttp2_ = true;
      ssize_t rv = nghttp2_session_mem_recv(
          h2_, reinterpret_cast<const uint8_t*>(buffer.data()), n);
      in_nghttp2_ = false;
      if (closed_) return;
      if (rv < 0) {
        // Bad preface, flooding, a connection error: nghttp2 has queued the
        // GOAWAY it owes, if any; it goes out, then the connection closes.
        spdlog::debug("edge: h2 connection error: {}", nghttp2_strerror(rv));
        terminating_ = true;
      }
      if (terminating_ || !nghttp2_session_want_read(h2_)) break;
    }
    if (!terminating_ && nghttp2_session_want_read(h2_)) Read(wait_write);
    Flush();
  }

  // ---- Writing -------------------------------------------------------------

  // Sends what nghttp2 has to send, one write in flight; closes once there
  // is nothing left to say and nothing more to read.
  void Flush() {
    if (closed_ || writing_ || in_nghttp2_) return;
    in_nghttp2_ = true;
    int rv = nghttp2_session_send(h2_);
    in_nghttp2_ = false;
    if (rv != 0) return Abort();
    if (out_.empty()) {
      bool done =
          !nghttp2_session_want_read(h2_) && !nghttp2_session_want_write(h2_);
      if (done || terminating_ || (closing_ && streams_.empty())) Finish();
      return;
    }
    writing_ = true;
    write_deadline_.Arm(server_.options.write_timeout,
                        [self = shared_from_this()] {
                          spdlog::debug("edge: h2 write timed out");
                          self->Abort();
                        });
    net::async_write(stream_, out_.Buffers(),
                     [self = shared_from_this()](error_code ec, size_t) {
                       self->OnWrite(ec);
                     });
  }

  // Flushes once the handlers already queued on the strand have run: a
  // broadcast queues one delivery per stream of the connection back to
  // back, and their frames then leave in one write instead of two.
  void FlushSoon() {
    if (writing_ || flush_pending_) return;  // a write's completion flushes
    flush_pending_ = true;
    net::post(executor_, [self = shared_from_this()] {
      self->flush_pending_ = false;
      self->Flush();
    });
  }

  void OnWrite(error_code ec) {
    writing_ = false;
    write_deadline_.Disarm();
    out_.Clear();
    if (ec) return Abort();
    Flush();
  }

  static ssize_t OnSend(nghttp2_session*, const uint8_t* data, size_t length,
                        int, void* user_data) {
    Http2Session& s = Of(user_data);
    if (s.out_.size() >= kMaxWriteBytes) return NGHTTP2_ERR_WOULDBLOCK;
    s.out_.Copy(data, length);
    return static_cast<ssize_t>(length);
  }

  // A DATA frame whose payload the stream refers to (NO_COPY).
  static int OnSendData(nghttp2_session*, nghttp2_frame* frame,
                        const uint8_t* framehd, size_t length,
                        nghttp2_data_source*, void* user_data) {
    Http2Session& s = Of(user_data);
    if (s.out_.size() >= kMaxWriteBytes) return NGHTTP2_ERR_WOULDBLOCK;
    H2Request* r = s.Find(frame->hd.stream_id);
    if (r == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s.out_.Copy(framehd, 9);
    r->Emit(length, s.out_);
    return 0;
  }

  // The data provider of every response with a body.
  static ssize_t OnReadData(nghttp2_session*, int32_t stream_id, uint8_t*,
                            size_t length, uint32_t* data_flags,
                            nghttp2_data_source*, void* user_data) {
    H2Request* r = Of(user_data).Find(stream_id);
    if (r == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    bool eof = false;
    size_t n = r->Readable(length, &eof);
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (eof) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (n == 0 && !eof) return NGHTTP2_ERR_DEFERRED;
    return static_cast<ssize_t>(n);
  }

  // ---- Receiving (nghttp2's callbacks) -------------------------------------

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                            void* user_data) {
    Http2Session& s = Of(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST || s.closing_) {
      return 0;
    }
    int32_t id = frame->hd.stream_id;
    s.streams_[id] = std::make_shared<H2Request>(
        s.server_, s.executor_, s.weak_from_this(), id, s.PeerForLog());
    s.idle_deadline_.Disarm();
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t, void* user_data) {
    if (H2Request* r = Of(user_data).Find(frame->hd.stream_id)) {
      r->AddHeader({reinterpret_cast<const char*>(name), namelen},
                   {reinterpret_cast<const char*>(value), valuelen});
    }
    return 0;
  }

  // A field RFC 9113 makes the request malformed with (an upper-case or
  // otherwise invalid name, a bad value): nghttp2 would drop the field and
  // go on; the request is refused instead (RST_STREAM PROTOCOL_ERROR).
  static int OnInvalidHeader(nghttp2_session*, const nghttp2_frame*,
                             const uint8_t*, size_t, const uint8_t*, size_t,
                             uint8_t, void*) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user_data) {
    if (H2Request* r = Of(user_data).Find(stream_id)) {
      r->AddBody({reinterpret_cast<const char*>(data), len});
    }
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame,
                     void* user_data) {
    Http2Session& s = Of(user_data);
    bool ack = (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0;
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA:
        if (frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 && !end) {
          s.CountControlFrame();
        }
        if (end) {
          if (H2Request* r = s.Find(frame->hd.stream_id)) r->OnComplete();
        }
        break;
      case NGHTTP2_SETTINGS:
      case NGHTTP2_PING:
        if (!ack) s.CountControlFrame();
        break;
      case NGHTTP2_RST_STREAM:
      case NGHTTP2_PRIORITY:
        s.CountControlFrame();
        break;
      default:
        break;
    }
    return 0;
  }

  static int OnInvalidFrame(nghttp2_session*, const nghttp2_frame*, int,
                            void* user_data) {
    Of(user_data).CountControlFrame();
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t,
                           void* user_data) {
    Http2Session& s = Of(user_data);
    auto it = s.streams_.find(stream_id);
    if (it == s.streams_.end()) return 0;
    std::shared_ptr<H2Request> r = std::move(it->second);
    s.streams_.erase(it);
    r->OnClosed();
    if (s.streams_.empty()) s.ArmIdle();
    return 0;
  }

  H2Request* Find(int32_t stream_id) {
    auto it = streams_.find(stream_id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  // One more frame that costs work without carrying a request; past
  // h2_max_control_frames_per_second the peer is told to calm down
  // (GOAWAY ENHANCE_YOUR_CALM) and the connection closes.
  void CountControlFrame() {
    if (!control_frames_.Exceeded(std::chrono::steady_clock::now()) ||
        terminating_) {
      return;
    }
    server_.LimitRejected(kLimitH2Flood);
    spdlog::debug("edge: h2 control frame flood; closing the connection");
    nghttp2_session_terminate_session(h2_, NGHTTP2_ENHANCE_YOUR_CALM);
    terminating_ = true;
  }

  // ---- Deadlines and closing -----------------------------------------------

  // No stream for idle_timeout: GOAWAY, then closed.
  void ArmIdle() {
    idle_deadline_.Arm(
        server_.options.idle_timeout, [self = shared_from_this()] {
          if (self->closed_ || !self->streams_.empty()) return;
          nghttp2_session_terminate_session(self->h2_, NGHTTP2_NO_ERROR);
          self->terminating_ = true;
          self->Flush();
        });
  }

  // GOAWAY (no new streams); SSE streams flush what they queued and end,
  // answers in progress finish; then the connection closes.
  void CloseGracefully() {
    if (closed_ || closing_) return;
    closing_ = true;
    nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h2_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    // A stream's Close may flush, and a stream that ends leaves streams_:
    // iterate a copy.
    std::vector<std::shared_ptr<H2Request>> streams;
    streams.reserve(streams_.size());
    for (auto& [id, r] : streams_) streams.push_back(r);
    for (auto& r : streams) r->Close(/*graceful=*/true);
    Flush();
  }

  // Everything said: closes. A client that was still sending (a flood, a
  // protocol error) may not have read the GOAWAY yet, and closing with its
  // bytes unread would make the kernel answer them with a RST that can
  // destroy the GOAWAY in flight: so the write side is shut and what it
  // still sends is drained, for at most kLingerTime, unless a read is
  // pending (an idle client, which sends nothing).
  void Finish() {
    if (closed_ || lingering_) return;
    error_code ec;
    if (reading_ || TcpOf(stream_).shutdown(tcp::socket::shutdown_send, ec)) {
      return Abort();
    }
    lingering_ = true;
    write_deadline_.Arm(kLingerTime,
                        [self = shared_from_this()] { self->Abort(); });
    Drain();
  }
  void Drain() {
    if (!drain_buffer_) drain_buffer_ = std::make_unique<char[]>(kDrainBytes);
    TcpOf(stream_).async_read_some(
        net::buffer(drain_buffer_.get(), kDrainBytes),
        [self = shared_from_this()](error_code ec, size_t) {
          if (ec || self->closed_) return self->Abort();
          self->Drain();
        });
  }

  void Abort() {
    if (closed_) return;
    closed_ = true;
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, r] : streams) r->OnClosed();
    write_deadline_.Cancel();
    idle_deadline_.Cancel();
    error_code ec;
    TcpOf(stream_).close(ec);
  }

  // The client's address for logs: the one the connection is counted
  // under (behind a trusted proxy, the client it names), else the socket's
  // peer, read once.
  const std::string& PeerForLog() {
    if (!entry_.address().empty()) return entry_.address();
    if (socket_peer_.empty()) socket_peer_ = SocketPeer(stream_);
    return socket_peer_;
  }

  Impl& server_;
  TlsStream stream_;
  std::string socket_peer_;              // PeerForLog's cache
  const net::any_io_executor executor_;  // the strand
  Deadline write_deadline_;              // of the write in flight
  Deadline idle_deadline_;               // while no stream is open
  nghttp2_session* h2_ = nullptr;
  absl::flat_hash_map<int32_t, std::shared_ptr<H2Request>> streams_;
  static constexpr size_t kDrainBytes = 4096;
  std::unique_ptr<char[]> drain_buffer_;  // only while Finish drains
  H2Output out_;  // the write in flight, or being gathered
  ControlFrameBudget control_frames_;
  bool in_nghttp2_ = false;     // inside mem_recv or send: no re-entry
  bool flush_pending_ = false;  // FlushSoon's Flush is queued
  bool reading_ = false;        // waiting for the TLS stream to be readable
  bool lingering_ = false;      // draining before the close (Finish)
  bool writing_ = false;
  bool closing_ = false;      // GOAWAY sent by Close(graceful)
  bool terminating_ = false;  // no more reading; close once flushed
  bool closed_ = false;
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_HTTP2_SESSION_H_
