// What the parts of an HTTP/2 stream (H2Request, h2_request.h, and its SSE
// stream, h2_sse_stream.h) ask of the connection that carries them
// (Http2Session, http2_session.h), and H2Output, the bytes of the one write
// a connection has in flight: nghttp2's frames copied, and the DATA of SSE
// frames and response bodies referred to where they live (the hub's shared
// frames), held alive until the write completes.
//
// Threading: the connection's strand only.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (listed in http_server.cc).
#ifndef NOTIFYD_EDGE_H2_CONNECTION_H_
#define NOTIFYD_EDGE_H2_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"

namespace notifyd::edge::internal {

// The connection, as its streams see it. Every call is a no-op for a
// stream the connection no longer has (closed or reset meanwhile).
class H2Connection {
 public:
  virtual ~H2Connection() = default;
  // Sends `head` (its status and fields; never its body) on `stream_id`;
  // `has_body`: DATA follows, read from the stream (H2Request::ReadData),
  // else the stream ends with the head.
  virtual void SubmitResponse(int32_t stream_id, const Response& head,
                              bool has_body) = 0;
  // The stream has data again after it said it had none (deferred).
  virtual void ResumeData(int32_t stream_id) = 0;
  // Ends the stream with RST_STREAM `error_code` (an nghttp2 error code).
  virtual void ResetStream(int32_t stream_id, uint32_t error_code) = 0;
};

// The bytes of one socket write, in order.
class H2Output {
 public:
  // Copies `n` bytes (frames nghttp2 serialized, DATA frame headers).
  void Copy(const uint8_t* data, size_t n) {
    pieces_.push_back({nullptr, owned_.size(), n});
    owned_.append(reinterpret_cast<const char*>(data), n);
    size_ += n;
  }
  // Refers to `n` bytes at `data`, which `hold` keeps alive.
  void Refer(const char* data, size_t n, std::shared_ptr<const void> hold) {
    if (n == 0) return;
    pieces_.push_back({data, 0, n});
    if (hold && (holds_.empty() || holds_.back() != hold)) {
      holds_.push_back(std::move(hold));
    }
    size_ += n;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The write's buffers; valid until Clear().
  const std::vector<net::const_buffer>& Buffers() {
    buffers_.clear();
    for (const Piece& p : pieces_) {
      const char* at = p.data ? p.data : owned_.data() + p.offset;
      buffers_.push_back(net::buffer(at, p.size));
    }
    return buffers_;
  }

  // After the write: lets go of everything, memory included. Most
  // connections are idle between writes (a stream's events are seconds
  // apart), and three small allocations per write cost less than every
  // idle connection keeping the capacity of its largest burst.
  void Clear() {
    std::vector<Piece>().swap(pieces_);
    std::vector<std::shared_ptr<const void>>().swap(holds_);
    std::vector<net::const_buffer>().swap(buffers_);
    std::string().swap(owned_);
    size_ = 0;
  }

 private:
  struct Piece {
    const char* data;  // null: at `offset` in owned_
    size_t offset;
    size_t size;
  };
  std::vector<Piece> pieces_;
  std::string owned_;
  std::vector<std::shared_ptr<const void>> holds_;
  std::vector<net::const_buffer> buffers_;
  size_t size_ = 0;
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_H2_CONNECTION_H_
