#include "tests/edge/h2_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "openssl/ssl.h"

namespace notifyd::edge::testing {
namespace {

H2Client& Of(void* user_data) { return *static_cast<H2Client*>(user_data); }

std::vector<nghttp2_nv> ToNv(const H2Headers& headers) {
  std::vector<nghttp2_nv> nva;
  for (const auto& [name, value] : headers) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                   name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return nva;
}

}  // namespace

H2Client::H2Client(uint16_t port, const std::string& ca_file,
                   uint32_t stream_window)
    : authority_("127.0.0.1:" + std::to_string(port)) {
  // A server that closes the connection must not kill the test.
  ::signal(SIGPIPE, SIG_IGN);
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    error_ = "connect failed";
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) {
    error_ = "cannot load " + ca_file;
    return;
  }
  static const unsigned char kH2[] = "\x02h2";
  SSL_CTX_set_alpn_protos(ctx_, kH2, sizeof(kH2) - 1);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) {
    error_ = "TLS handshake failed";
    return;
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn_len != 2 || std::memcmp(alpn, "h2", 2) != 0) {
    error_ = "server did not choose h2";
    return;
  }
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, &H2Client::OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
                                                            &H2Client::OnData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &H2Client::OnFrame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb,
                                                         &H2Client::OnClose);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_client_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
}

H2Client::~H2Client() {
  if (session_) nghttp2_session_del(session_);
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

int32_t H2Client::Get(const std::string& path, const H2Headers& extra) {
  H2Headers nva = {{":method", "GET"},
                   {":scheme", "https"},
                   {":authority", authority_},
                   {":path", path}};
  nva.insert(nva.end(), extra.begin(), extra.end());
  return Submit(nva);
}

int32_t H2Client::Submit(const H2Headers& headers, const std::string& body) {
  std::vector<nghttp2_nv> nva = ToNv(headers);
  nghttp2_data_provider provider{};
  provider.read_callback = &H2Client::ReadBody;
  int32_t id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                             body.empty() ? nullptr : &provider, nullptr);
  if (id > 0) {
    streams_[id];
    if (!body.empty()) bodies_[id] = {body, 0};
  }
  return id;
}

ssize_t H2Client::ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf,
                           size_t length, uint32_t* flags, nghttp2_data_source*,
                           void* user_data) {
  auto& [body, sent] = Of(user_data).bodies_[stream_id];
  size_t n = std::min(length, body.size() - sent);
  std::memcpy(buf, body.data() + sent, n);
  sent += n;
  if (sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

bool H2Client::SendPending() {
  if (!ok()) return false;
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return false;
    if (n == 0) return true;
    if (SSL_write(ssl_, data, static_cast<int>(n)) <= 0) return false;
  }
}

bool H2Client::RunUntil(const std::function<bool()>& done,
                        std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (peer_closed_) return done();
    // A server that closes the connection may still have said why (a
    // GOAWAY): what it sent is read even when sending fails.
    SendPending();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (SSL_pending(ssl_) == 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1,
                 static_cast<int>(std::min<int64_t>(left.count(), 50))) <= 0) {
        continue;
      }
    }
    char buf[16384];
    int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n <= 0) {
      // Part of a TLS record (or a renegotiation message): not an end.
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        continue;
      }
      peer_closed_ = true;
      continue;
    }
    if (nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buf), n) <
        0) {
      peer_closed_ = true;
    }
  }
  return true;
}

int H2Client::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                       const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t,
                       void* user_data) {
  Stream& s = Of(user_data).streams_[frame->hd.stream_id];
  std::string n(reinterpret_cast<const char*>(name), namelen);
  std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") s.status = std::stoi(v);
  s.headers[n] = v;
  return 0;
}

int H2Client::OnData(nghttp2_session* session, uint8_t, int32_t stream_id,
                     const uint8_t* data, size_t len, void* user_data) {
  H2Client& c = Of(user_data);
  c.streams_[stream_id].body.append(reinterpret_cast<const char*>(data), len);
  if (c.stalled_.contains(stream_id)) {
    nghttp2_session_consume_connection(session, len);
  } else {
    nghttp2_session_consume(session, stream_id, len);
  }
  return 0;
}

int H2Client::OnFrame(nghttp2_session*, const nghttp2_frame* frame,
                      void* user_data) {
  H2Client& c = Of(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c.got_goaway_ = true;
    c.goaway_error_ = frame->goaway.error_code;
  }
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    c.streams_[frame->hd.stream_id].error_code = frame->rst_stream.error_code;
  }
  return 0;
}

int H2Client::OnClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                      void* user_data) {
  Stream& s = Of(user_data).streams_[stream_id];
  s.closed = true;
  if (error_code != 0) s.error_code = error_code;
  return 0;
}

}  // namespace notifyd::edge::testing
