#include "tests/edge/sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace notifyd::edge::testing {
namespace {

using Clock = std::chrono::steady_clock;

int Connect(uint16_t port, int rcvbuf) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads once with a deadline: >0 bytes read, 0 EOF/error, -1 timeout. With
// `out` null, only waits for readability (1: readable).
ssize_t ReadSome(int fd, std::string* out, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - Clock::now());
  if (left.count() < 0) return -1;
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(left.count()));
  if (r == 0) return -1;
  if (r < 0) return 0;
  if (out == nullptr) return 1;
  char buf[16384];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n <= 0) return 0;
  out->append(buf, static_cast<size_t>(n));
  return n;
}

// Parses "HTTP/1.1 200 OK\r\nName: v\r\n..." (without the blank line).
void ParseHead(const std::string& head, HttpResponse* res) {
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  if (lines.empty()) return;
  std::vector<std::string> status = absl::StrSplit(lines[0], ' ');
  if (status.size() >= 2) (void)absl::SimpleAtoi(status[1], &res->status);
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    res->headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
}

// A response read to EOF: head and body (status 0 when there is no head).
HttpResponse ParseResponse(const std::string& raw) {
  HttpResponse res;
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return res;
  ParseHead(raw.substr(0, end), &res);
  res.body = raw.substr(end + 4);
  return res;
}

std::string Request(const std::string& method, const std::string& target,
                    const std::vector<std::string>& extra_headers, bool close) {
  std::string req =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (const std::string& h : extra_headers) absl::StrAppend(&req, h, "\r\n");
  if (close) req += "Connection: close\r\n";
  req += "\r\n";
  return req;
}

}  // namespace

std::string RawExchange(uint16_t port, const std::string& bytes,
                        std::chrono::milliseconds timeout, bool* closed) {
  if (closed != nullptr) *closed = false;
  int fd = Connect(port, 0);
  if (fd < 0) return "";
  SendAll(fd, bytes);
  std::string out;
  auto deadline = Clock::now() + timeout;
  ssize_t n;
  while ((n = ReadSome(fd, &out, deadline)) > 0) {
  }
  if (closed != nullptr) *closed = n == 0;
  ::close(fd);
  return out;
}

HttpResponse HttpGet(uint16_t port, const std::string& target,
                     const std::vector<std::string>& extra_headers,
                     const std::string& method) {
  return ParseResponse(
      RawExchange(port, Request(method, target, extra_headers, true)));
}

HttpResponse HttpWithBody(uint16_t port, const std::string& method,
                          const std::string& target,
                          const std::vector<std::string>& extra_headers,
                          const std::string& body) {
  std::vector<std::string> headers = extra_headers;
  headers.push_back(absl::StrCat("Content-Length: ", body.size()));
  return ParseResponse(
      RawExchange(port, Request(method, target, headers, true) + body));
}

std::optional<std::chrono::milliseconds> TrickleUntilClosed(
    uint16_t port, const std::string& prefix,
    std::chrono::milliseconds interval, std::chrono::milliseconds give_up) {
  int fd = Connect(port, 0);
  if (fd < 0) return std::nullopt;
  auto start = Clock::now();
  std::optional<std::chrono::milliseconds> closed_after;
  for (size_t i = 0; Clock::now() - start < give_up; ++i) {
    // A well-formed header that never ends: "X-Pad: aaaa...".
    char c = i < prefix.size() ? prefix[i] : 'a';
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    bool gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    if (gone || ::send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      closed_after = std::chrono::duration_cast<std::chrono::milliseconds>(
          Clock::now() - start);
      break;
    }
    std::this_thread::sleep_for(interval);
  }
  ::close(fd);
  return closed_after;
}

SseClient::~SseClient() { Close(); }

void SseClient::Close() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  ssl_ = nullptr;
  ctx_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string SseClient::Handshake() {
  auto last_error = [](const char* what) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    return absl::StrCat(what, ": ", buf);
  };
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return last_error("SSL_CTX_new");
  if (SSL_CTX_load_verify_locations(ctx_, ca_file_.c_str(), nullptr) != 1) {
    return last_error("load CA");
  }
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr) return last_error("SSL_new");
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) return last_error("handshake");
  return "";
}

bool SseClient::Send(const std::string& bytes) {
  if (ssl_ == nullptr) return SendAll(fd_, bytes);
  return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
         static_cast<int>(bytes.size());
}

int SseClient::Open(uint16_t port, const std::string& target,
                    const std::vector<std::string>& extra_headers, int rcvbuf) {
  fd_ = Connect(port, rcvbuf);
  if (fd_ < 0) return 0;
  if (!ca_file_.empty()) {
    tls_error_ = Handshake();
    if (!tls_error_.empty()) return 0;
  }
  std::vector<std::string> headers = extra_headers;
  headers.push_back("Accept: text/event-stream");
  if (!Send(Request("GET", target, headers, false))) return 0;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(deadline)) return 0;
  }
  ParseHead(buffer_.substr(0, end), &response_);
  buffer_.erase(0, end + 4);
  return response_.status;
}

bool SseClient::Fill(Clock::time_point deadline) {
  if (fd_ < 0 || eof_) return false;
  ssize_t n;
  if (ssl_ == nullptr) {
    n = ReadSome(fd_, &buffer_, deadline);
  } else {
    // Bytes OpenSSL already decrypted do not make the socket readable.
    n = -1;
    if (SSL_pending(ssl_) > 0 || ReadSome(fd_, nullptr, deadline) > 0) {
      char buf[16384];
      int got = SSL_read(ssl_, buf, sizeof(buf));
      n = got > 0 ? got : 0;
      if (got > 0) buffer_.append(buf, static_cast<size_t>(got));
    }
  }
  if (n == 0) eof_ = true;
  if (n > 0) bytes_read_ += static_cast<uint64_t>(n);
  return n > 0;
}

std::optional<SseMessage> SseClient::Next(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  size_t end;
  while ((end = buffer_.find("\n\n")) == std::string::npos) {
    if (!Fill(deadline)) return std::nullopt;
  }
  std::string block = buffer_.substr(0, end);
  buffer_.erase(0, end + 2);
  SseMessage msg;
  bool first_data = true;
  for (absl::string_view line : absl::StrSplit(block, '\n')) {
    if (absl::ConsumePrefix(&line, ":")) {
      msg.comments.emplace_back(absl::StripLeadingAsciiWhitespace(line));
      continue;
    }
    size_t colon = line.find(':');
    absl::string_view field = line.substr(0, colon);
    absl::string_view value =
        colon == absl::string_view::npos ? "" : line.substr(colon + 1);
    absl::ConsumePrefix(&value, " ");
    if (field == "id") {
      msg.id = std::string(value);
      msg.has_id = true;
    } else if (field == "event") {
      msg.event = std::string(value);
    } else if (field == "retry") {
      msg.retry = std::string(value);
    } else if (field == "data") {
      if (!first_data) msg.data += "\n";
      msg.data.append(value.data(), value.size());
      first_data = false;
    }
  }
  return msg;
}

std::optional<SseMessage> SseClient::NextEvent(
    std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    std::optional<SseMessage> msg = Next(left);
    if (!msg) return std::nullopt;
    if (msg->event == "counts") {
      last_counts_ = msg->data;
      if (skip_counts_) continue;
    }
    if (msg->has_id || !msg->event.empty()) return msg;
  }
}

bool SseClient::WaitClosed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!eof_) {
    buffer_.clear();
    if (!Fill(deadline) && !eof_) return false;
  }
  return true;
}

}  // namespace notifyd::edge::testing
