// A blocking HTTP/1.1 keep-alive client for benchmarks (bench/inbox_bench.cc),
// on POSIX sockets, and the host:port its target flag names. Loopback use;
// one thread per connection.
#ifndef NOTIFYD_BENCH_HTTP_CONN_H_
#define NOTIFYD_BENCH_HTTP_CONN_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace notifyd::bench {

struct Target {
  std::string host;
  uint16_t port = 0;
};

inline absl::StatusOr<Target> ParseTarget(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  uint32_t port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port == 0 ||
      port > 65535) {
    return absl::InvalidArgumentError("--target must be host:port");
  }
  return Target{parts[0], static_cast<uint16_t>(port)};
}

// ---- A blocking HTTP/1.1 keep-alive client ---------------------------------

struct Response {
  int status = 0;
  std::string body;
};

class HttpConn {
 public:
  HttpConn() = default;
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;
  ~HttpConn() {
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Connect(const Target& target) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return absl::InternalError("socket failed");
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(target.port);
    if (inet_pton(AF_INET, target.host.c_str(), &addr.sin_addr) != 1) {
      return absl::InvalidArgumentError(
          "--target host must be an IPv4 address");
    }
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return absl::UnavailableError(absl::StrCat("connect: ", strerror(errno)));
    }
    host_ = absl::StrCat(target.host, ":", target.port);
    return absl::OkStatus();
  }

  std::string RequestText(absl::string_view method, absl::string_view path,
                          absl::string_view body) const {
    std::string r =
        absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", host_, "\r\n");
    if (!body.empty()) {
      absl::StrAppend(&r, "Content-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\n");
    }
    absl::StrAppend(&r, "\r\n", body);
    return r;
  }

  absl::Status Write(const std::string& request) {
    size_t off = 0;
    while (off < request.size()) {
      ssize_t n =
          send(fd_, request.data() + off, request.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
      }
      off += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  // One response with a Content-Length body.
  absl::StatusOr<Response> Read() {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (absl::Status s = Fill(); !s.ok()) return s;
    }
    absl::string_view head(buffer_.data(), head_end);
    Response response;
    if (head.size() < 12 || !absl::StartsWith(head, "HTTP/1.1 ") ||
        !absl::SimpleAtoi(head.substr(9, 3), &response.status)) {
      return absl::DataLossError("bad status line");
    }
    std::optional<size_t> length;
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      absl::string_view value =
          absl::StripAsciiWhitespace(line.substr(colon + 1));
      size_t n = 0;
      if (name == "content-length" && absl::SimpleAtoi(value, &n)) length = n;
      if (name == "transfer-encoding") {
        return absl::UnimplementedError("chunked response");
      }
    }
    if (!length) return absl::DataLossError("response without Content-Length");
    size_t total = head_end + 4 + *length;
    while (buffer_.size() < total) {
      if (absl::Status s = Fill(); !s.ok()) return s;
    }
    response.body = buffer_.substr(head_end + 4, *length);
    buffer_.erase(0, total);
    return response;
  }

  absl::StatusOr<Response> Exchange(absl::string_view method,
                                    absl::string_view path,
                                    absl::string_view body = {}) {
    if (absl::Status s = Write(RequestText(method, path, body)); !s.ok()) {
      return s;
    }
    return Read();
  }

 private:
  absl::Status Fill() {
    char chunk[64 * 1024];
    for (;;) {
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return absl::OkStatus();
      }
      if (n == 0) return absl::UnavailableError("closed by server");
      if (errno != EINTR) {
        return absl::UnavailableError(absl::StrCat("recv: ", strerror(errno)));
      }
    }
  }

  int fd_ = -1;
  std::string host_;
  std::string buffer_;
};

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_HTTP_CONN_H_
