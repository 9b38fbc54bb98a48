// The HTTPS client push messages go out with: one POST per call on a
// caller-owned io_context, over TLS 1.2+ with the server's certificate
// verified (system trust store or a CA file) against the endpoint's host,
// with the SSRF guard applied to the addresses the host resolves to at
// send time, connect and request timeouts, and kept-alive connections
// reused per host:port.
//
// Boost.Beast is compiled in https_client.cc only; this header is
// Beast-free.
//
// Threading: Post is thread-safe and returns at once; `done` runs exactly
// once, on a thread running the io_context (never inside Post). The client
// must outlive every exchange: before destroying it, stop the io_context,
// join its threads, call CloseIdle(), then destroy the io_context (which
// drops the exchanges still pending), then the client.
#ifndef NOTIFYD_PUSH_HTTPS_CLIENT_H_
#define NOTIFYD_PUSH_HTTPS_CLIENT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "push/endpoint.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace notifyd::push {

class HttpsClient {
 public:
  struct Options {
    std::string ca_file;  // empty: the system's trust store
    bool allow_private = false;
    absl::Duration connect_timeout = absl::Seconds(10);  // resolve+TCP+TLS
    absl::Duration request_timeout = absl::Seconds(30);  // write+read
    absl::Duration idle_timeout = absl::Seconds(30);
    size_t max_idle = 64;  // kept-alive connections held, all hosts
  };

  struct Request {
    Endpoint endpoint;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
  };

  struct Response {
    int status = 0;
    std::string retry_after;  // the Retry-After header; empty when absent
  };

  // The answer, or why there is none: PERMISSION_DENIED (the host resolves
  // only to non-public addresses, refused by the SSRF guard),
  // FAILED_PRECONDITION (the certificate does not verify), DEADLINE_EXCEEDED
  // (a timeout), UNAVAILABLE (resolution, connection or protocol failure),
  // OUT_OF_RANGE (an answer over 64 KiB).
  using Done = absl::AnyInvocable<void(absl::StatusOr<Response>) &&>;

  // Fails (INVALID_ARGUMENT) when ca_file cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpsClient>> Create(
      boost::asio::io_context& io, Options options);
  ~HttpsClient();

  // POSTs request.body to the endpoint with the headers (plus Host,
  // User-Agent and Content-Length). A kept-alive connection that turns out
  // closed is replaced by a new one once, transparently.
  void Post(Request request, Done done);

  // Closes the kept-alive connections (see the shutdown order above).
  void CloseIdle();
  // Kept-alive connections held now.
  size_t idle_connections() const;

  struct Impl;

 private:
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_HTTPS_CLIENT_H_
