// Fuzzes libnghttp2's server state machine as the edge configures it
// (NewH2ServerSession, edge/h2_limits.h): input is the bytes a client sends
// after the TLS handshake (connection preface, frames, HPACK), fed in
// chunks the input's first byte sizes. The callbacks do what the edge's
// Http2Session does with them: collect each request's header list within
// its limit and its body within the route limit, answer every complete
// request with a DATA-bearing response, count frames that cost work in a
// ControlFrameBudget and end the session past it, and write out everything
// the session produces. Besides not crashing: the open streams never pass
// SETTINGS_MAX_CONCURRENT_STREAMS, and a header list collected never passes
// its limit.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "edge/h2_limits.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr notifyd::edge::H2Limits kLimits = {.max_concurrent_streams = 8,
                                             .max_header_list_bytes = 1024};
constexpr size_t kMaxBody = 4096;

struct Request {
  size_t header_bytes = 0;
  std::string headers;
  std::string body;
  std::string response = std::string(3000, 'r');
  size_t sent = 0;
};

struct Server {
  std::map<int32_t, Request> streams;
  notifyd::edge::ControlFrameBudget budget{50};
  std::chrono::steady_clock::time_point now{};
  nghttp2_session* session = nullptr;
  bool terminated = false;
};

Server& Of(void* p) { return *static_cast<Server*>(p); }

ssize_t Send(nghttp2_session*, const uint8_t*, size_t length, int, void*) {
  return static_cast<ssize_t>(length);
}

ssize_t ReadBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                 uint32_t* flags, nghttp2_data_source*, void* user) {
  auto it = Of(user).streams.find(id);
  if (it == Of(user).streams.end()) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  Request& r = it->second;
  size_t n = std::min(length, r.response.size() - r.sent);
  std::memcpy(buf, r.response.data() + r.sent, n);
  r.sent += n;
  if (r.sent == r.response.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int BeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    Of(user).streams[frame->hd.stream_id];
    FUZZ_CHECK(Of(user).streams.size() <= kLimits.max_concurrent_streams);
  }
  return 0;
}

int Header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
           void* user) {
  auto it = Of(user).streams.find(frame->hd.stream_id);
  if (it == Of(user).streams.end()) return 0;
  Request& r = it->second;
  r.header_bytes += namelen + valuelen + 32;
  if (r.header_bytes > kLimits.max_header_list_bytes) return 0;
  r.headers.append(reinterpret_cast<const char*>(name), namelen);
  r.headers.append(reinterpret_cast<const char*>(value), valuelen);
  FUZZ_CHECK(r.headers.size() <= kLimits.max_header_list_bytes);
  return 0;
}

int InvalidHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t*,
                  size_t, const uint8_t*, size_t, uint8_t, void*) {
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

int DataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data,
              size_t len, void* user) {
  auto it = Of(user).streams.find(id);
  if (it == Of(user).streams.end()) return 0;
  if (it->second.body.size() + len <= kMaxBody) {
    it->second.body.append(reinterpret_cast<const char*>(data), len);
  }
  return 0;
}

void CountControlFrame(Server& s) {
  s.now += std::chrono::milliseconds(1);
  if (s.budget.Exceeded(s.now) && !s.terminated) {
    nghttp2_session_terminate_session(s.session, NGHTTP2_ENHANCE_YOUR_CALM);
    s.terminated = true;
  }
}

int Frame(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  Server& s = Of(user);
  bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (end && s.streams.contains(frame->hd.stream_id)) {
        const nghttp2_nv nva[] = {
            {(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE}};
        nghttp2_data_provider body{};
        body.read_callback = ReadBody;
        nghttp2_submit_response(session, frame->hd.stream_id, nva, 1, &body);
      }
      break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) CountControlFrame(s);
      break;
    case NGHTTP2_RST_STREAM:
    case NGHTTP2_PRIORITY:
      CountControlFrame(s);
      break;
    default:
      break;
  }
  return 0;
}

int InvalidFrame(nghttp2_session*, const nghttp2_frame*, int, void* user) {
  CountControlFrame(Of(user));
  return 0;
}

int StreamClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
  Of(user).streams.erase(id);
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_send_callback(cb, Send);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, BeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb, Header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, DataChunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, Frame);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb,
                                                               InvalidFrame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, StreamClose);
  nghttp2_session_callbacks_set_on_invalid_header_callback(cb, InvalidHeader);
  Server server;
  server.session = notifyd::edge::NewH2ServerSession(cb, &server, kLimits);
  nghttp2_session_callbacks_del(cb);
  FUZZ_CHECK(server.session != nullptr);
  // The client preface comes first in every real connection; inputs that
  // start with it exercise frames, the rest the preface check.
  size_t chunk = size > 0 ? 1 + data[0] % 64 * 16 : 1;
  size_t at = size > 0 ? 1 : 0;
  bool alive = nghttp2_session_send(server.session) == 0;
  while (alive && at < size) {
    size_t n = std::min(chunk, size - at);
    alive = nghttp2_session_mem_recv(server.session, data + at, n) >= 0 &&
            nghttp2_session_send(server.session) == 0;
    at += n;
  }
  nghttp2_session_del(server.session);
  return 0;
}
