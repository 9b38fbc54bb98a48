// Incremental parser for one HTTP/1.1 response carrying a Server-Sent Events
// stream: status line and headers, optional chunked transfer coding (nchan
// uses it; Beast may), then SSE fields. It keeps only what the benchmarks
// need (id, event, data), so tens of thousands of parsers stay small.
//
// Threading: not thread-safe; one parser per connection, fed from the
// connection's thread.
#ifndef NOTIFYD_BENCH_SSE_PARSER_H_
#define NOTIFYD_BENCH_SSE_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace notifyd::bench {

class SseParser {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // Once, when the header block is complete.
    virtual void OnHeaders(int status) = 0;
    // Per dispatched event. `id` is the last id seen on the stream (SSE
    // semantics), empty when none.
    virtual void OnEvent(std::string_view id, std::string_view event,
                         std::string_view data) = 0;
  };

  // Feeds received bytes. Returns false on a malformed response; error()
  // then says why and the connection should be dropped.
  bool Feed(std::string_view bytes, Listener* listener);

  // The body ended (last chunk seen).
  bool ended() const { return ended_; }
  const std::string& error() const { return error_; }

 private:
  bool FeedHead(std::string_view* bytes, Listener* listener);
  bool FeedChunked(std::string_view bytes, Listener* listener);
  void FeedSse(std::string_view bytes, Listener* listener);
  void Line(std::string_view line, Listener* listener);

  enum class Phase { kHead, kBody };
  enum class ChunkState { kSize, kData, kDataCrlf };
  Phase phase_ = Phase::kHead;
  bool chunked_ = false;
  bool ended_ = false;
  ChunkState chunk_state_ = ChunkState::kSize;
  uint64_t chunk_left_ = 0;
  std::string pending_;  // partial header block, chunk-size line or SSE line
  std::string id_;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::string error_;
};

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_SSE_PARSER_H_
