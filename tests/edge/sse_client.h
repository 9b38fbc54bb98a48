// Minimal blocking HTTP/1.1 and SSE clients for edge tests, on raw POSIX
// sockets (no Beast: keeps test compile times down and tests the server
// against an independent parser), optionally over TLS with OpenSSL.
// Loopback only. Not thread-safe: one thread per client.
#ifndef NOTIFYD_TESTS_EDGE_SSE_CLIENT_H_
#define NOTIFYD_TESTS_EDGE_SSE_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// OpenSSL's SSL_CTX and SSL, without its headers.
struct ssl_ctx_st;
struct ssl_st;

namespace notifyd::edge::testing {

struct HttpResponse {
  int status = 0;  // 0: no response (connection failed or closed)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Sends one request ("Connection: close") and reads to EOF.
HttpResponse HttpGet(uint16_t port, const std::string& target,
                     const std::vector<std::string>& extra_headers = {},
                     const std::string& method = "GET");

// Sends one request with `body` (and its Content-Length; "Connection:
// close") and reads to EOF.
HttpResponse HttpWithBody(uint16_t port, const std::string& method,
                          const std::string& target,
                          const std::vector<std::string>& extra_headers,
                          const std::string& body);

// Sends raw bytes and returns whatever comes back until EOF or timeout;
// *closed (when given) says which it was: true when the server closed the
// connection.
std::string RawExchange(
    uint16_t port, const std::string& bytes,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000),
    bool* closed = nullptr);

// Sends `prefix` one byte every `interval` (then keeps sending filler
// header bytes) until the server closes the connection or `give_up` passes.
// Returns how long the server took to close it, or nullopt if it never did.
std::optional<std::chrono::milliseconds> TrickleUntilClosed(
    uint16_t port, const std::string& prefix,
    std::chrono::milliseconds interval, std::chrono::milliseconds give_up);

// One SSE message (a block ended by a blank line).
struct SseMessage {
  std::string id;
  bool has_id = false;
  std::string event;  // empty: "message"
  std::string data;   // data: lines joined with '\n'
  std::string retry;
  std::vector<std::string> comments;
};

class SseClient {
 public:
  SseClient() = default;
  // Speaks TLS, verifying the server's certificate for 127.0.0.1 against
  // the PEM certificate(s) in `ca_file`.
  explicit SseClient(std::string ca_file) : ca_file_(std::move(ca_file)) {}
  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  // Connects, sends the GET and reads the response head. `rcvbuf` > 0 sets
  // SO_RCVBUF before connecting (for slow-reader tests). Returns the status.
  int Open(uint16_t port, const std::string& target,
           const std::vector<std::string>& extra_headers = {}, int rcvbuf = 0);

  const HttpResponse& response() const { return response_; }

  // The next message, or nullopt on timeout or EOF (see eof()).
  std::optional<SseMessage> Next(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  // Next message that has an id: or an event: (skips comment-only blocks).
  // Skips an inbox's `counts` events too, unless set_skip_counts(false):
  // most tests are about the notifications; last_counts() keeps the data
  // of the last counts event seen.
  std::optional<SseMessage> NextEvent(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  void set_skip_counts(bool skip) { skip_counts_ = skip; }
  const std::string& last_counts() const { return last_counts_; }
  // Reads (discarding) until EOF; true when it came within `timeout`.
  bool WaitClosed(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  bool eof() const { return eof_; }
  // Why Open() failed during the TLS handshake, if it did.
  const std::string& tls_error() const { return tls_error_; }
  uint64_t bytes_read() const { return bytes_read_; }
  void Close();

 private:
  // Appends what arrives within `timeout` to buffer_; false on timeout/EOF.
  bool Fill(std::chrono::steady_clock::time_point deadline);
  bool Send(const std::string& bytes);
  // Returns the TLS error text, or "" on success.
  std::string Handshake();

  std::string ca_file_;  // empty: plain TCP
  ::ssl_ctx_st* ctx_ = nullptr;
  ::ssl_st* ssl_ = nullptr;
  std::string tls_error_;
  int fd_ = -1;
  bool eof_ = false;
  uint64_t bytes_read_ = 0;
  std::string buffer_;
  HttpResponse response_;
  bool skip_counts_ = true;
  std::string last_counts_;
};

}  // namespace notifyd::edge::testing

#endif  // NOTIFYD_TESTS_EDGE_SSE_CLIENT_H_
