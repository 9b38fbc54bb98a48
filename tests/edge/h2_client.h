// A blocking HTTP/2 client for edge tests: TLS (OpenSSL, ALPN h2 only) and
// libnghttp2's client session on a loopback socket, with what tests need
// beyond what curl and nghttp offer: streams whose flow-control window is
// never reopened (a client that does not read them), and raw frames
// (floods, resets, malformed requests) through session().
// Not thread-safe: one thread per client.
#ifndef NOTIFYD_TESTS_EDGE_H2_CLIENT_H_
#define NOTIFYD_TESTS_EDGE_H2_CLIENT_H_

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

struct ssl_ctx_st;
struct ssl_st;

namespace notifyd::edge::testing {

using H2Headers = std::vector<std::pair<std::string, std::string>>;

class H2Client {
 public:
  struct Stream {
    int status = 0;  // :status; 0 before the response head
    std::map<std::string, std::string> headers;
    std::string body;
    bool closed = false;
    uint32_t error_code = 0;  // of its RST_STREAM or close (0: NO_ERROR)
  };

  // Connects to 127.0.0.1:`port` over TLS trusting `ca_file` and sends the
  // connection preface with SETTINGS_INITIAL_WINDOW_SIZE `stream_window`.
  // ok() is false, with error(), when any step failed.
  H2Client(uint16_t port, const std::string& ca_file,
           uint32_t stream_window = 65535);
  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Submits a GET of `path` (with :authority, :scheme https); returns its
  // stream id (< 0: nghttp2's error).
  int32_t Get(const std::string& path, const H2Headers& extra = {});
  // Submits exactly `nva` (pseudo-headers included) and `body`, if any.
  int32_t Submit(const H2Headers& nva, const std::string& body = "");
  // Stops reopening `stream_id`'s window: its DATA is received but never
  // acknowledged to the server (the connection's window still is).
  void StopReading(int32_t stream_id) { stalled_.insert(stream_id); }

  // Sends what is submitted, then reads and writes until `done` is true
  // (false: `timeout` passed or the connection ended first).
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds timeout);
  // Sends what is submitted without reading.
  bool SendPending();

  const Stream& stream(int32_t id) { return streams_[id]; }
  bool got_goaway() const { return got_goaway_; }
  uint32_t goaway_error() const { return goaway_error_; }
  bool peer_closed() const { return peer_closed_; }
  nghttp2_session* session() { return session_; }

 private:
  static int OnHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t*,
                      size_t, const uint8_t*, size_t, uint8_t, void*);
  static int OnData(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t,
                    void*);
  static int OnFrame(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnClose(nghttp2_session*, int32_t, uint32_t, void*);
  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t*, size_t,
                          uint32_t*, nghttp2_data_source*, void*);

  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  nghttp2_session* session_ = nullptr;
  std::string error_;
  std::string authority_;
  std::map<int32_t, Stream> streams_;
  std::map<int32_t, std::pair<std::string, size_t>> bodies_;  // to send
  std::set<int32_t> stalled_;
  bool got_goaway_ = false;
  uint32_t goaway_error_ = 0;
  bool peer_closed_ = false;
};

}  // namespace notifyd::edge::testing

#endif  // NOTIFYD_TESTS_EDGE_H2_CLIENT_H_
