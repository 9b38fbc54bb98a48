// The protocol limits of an HTTP/2 server session, Beast-free so that the
// fuzz target (tests/fuzz/h2_session_fuzzer.cc) runs libnghttp2's server
// state machine exactly as the edge configures it:
//  - NewH2ServerSession: a server session with the edge's nghttp2 options
//    (outbound ack cap, no retained closed streams) and its SETTINGS
//    queued (concurrent streams, header list size, a 4 KiB HPACK table, no
//    RFC 7540 priorities);
//  - ControlFrameBudget: frames that cost work and carry no request, per
//    one-second window, for the flood cut-off.
// Thread-compatible: one connection's strand.
#ifndef NOTIFYD_EDGE_H2_LIMITS_H_
#define NOTIFYD_EDGE_H2_LIMITS_H_

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace notifyd::edge {

struct H2Limits {
  uint32_t max_concurrent_streams = 100;
  uint32_t max_header_list_bytes = 8192;
};

// SETTINGS and PING acks nghttp2 may owe (unsent) before it gives up on a
// peer that sends them faster than it reads the acks (and closes the
// connection without a GOAWAY). Twice the most
// h2_max_control_frames_per_second may be, so that the budget, which says
// GOAWAY ENHANCE_YOUR_CALM, speaks first.
inline constexpr size_t kH2MaxOutboundAcks = 2000;
inline constexpr uint32_t kH2MaxControlFramesPerSecond = 1000;
// The HPACK dynamic table the server allows the client (bytes): an HPACK
// bomb references at most this much per field.
inline constexpr uint32_t kH2HeaderTableBytes = 4096;
// The server's own HPACK table for the heads it sends: none. A connection's
// heads are few (one per stream, and streams last), so indexing them saves
// a few dozen bytes each, while every connection would keep a table of
// entries for as long as it lives (docs/BENCHMARKS.md, HTTP/2 memory).
inline constexpr size_t kH2DeflateTableBytes = 0;

// A server session with `callbacks` and `user_data`, its SETTINGS queued
// (sent by the first nghttp2_session_send); null when nghttp2 fails.
nghttp2_session* NewH2ServerSession(const nghttp2_session_callbacks* callbacks,
                                    void* user_data, const H2Limits& limits);

class ControlFrameBudget {
 public:
  explicit ControlFrameBudget(uint32_t per_second) : per_second_(per_second) {}

  // Counts one frame at `now`; true once more than per_second were counted
  // within one window (a window starts at the first frame after the last
  // one ended).
  bool Exceeded(std::chrono::steady_clock::time_point now) {
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      count_ = 0;
    }
    return ++count_ > per_second_;
  }

 private:
  const uint32_t per_second_;
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t count_ = 0;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_H2_LIMITS_H_
