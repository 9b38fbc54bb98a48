// The push service stand-in (tests/support/push_service.py) started for a
// test: HTTPS on 127.0.0.1 with the server tests' CA (tests/server/
// test_ca.h), one browser subscription whose keys it made, and the
// requests it got, as it recorded them. Stopped (by pid) on destruction.
// Not thread-safe; one owner.
#ifndef NOTIFYD_TESTS_PUSH_PUSH_SERVICE_H_
#define NOTIFYD_TESTS_PUSH_PUSH_SERVICE_H_

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "push/push_message.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd::testing {

struct PushServiceOptions {
  std::vector<std::string> gone_paths;  // answered 410
  int fail_first = 0;                   // the first N requests get...
  int fail_status = 429;                // ...this status,
  std::string retry_after;              // ...with this Retry-After if set
  // Close each connection after one answer, without Connection: close.
  bool close_after_answer = false;
};

class PushService {
 public:
  // Starts the stand-in with `ca`'s server certificate and waits (up to
  // 10 s) for its ready line; ok() tells whether it came.
  explicit PushService(const TestCa& ca, PushServiceOptions options = {});
  ~PushService();

  bool ok() const { return port_ != 0; }
  // The stand-in's output, for failure messages.
  std::string Log() const;
  int port() const { return port_; }
  // "https://127.0.0.1:<port>".
  std::string origin() const;
  // The subscription a browser would hand over for `path` (e.g.
  // "/push/a"): this service's endpoint and the keys it decrypts with.
  push::Subscription Subscribe(const std::string& path) const;

  // The requests recorded so far, oldest first (one JSON object each).
  std::vector<boost::json::object> Received() const;
  // Waits until at least `n` requests are recorded, up to `timeout`;
  // returns what was recorded by then.
  std::vector<boost::json::object> WaitForReceived(
      size_t n, std::chrono::milliseconds timeout) const;

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  std::string p256dh_, auth_;  // raw bytes
};

// The decrypted payload of a recorded request ("" when it has none).
std::string PayloadOf(const boost::json::object& request);

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_PUSH_PUSH_SERVICE_H_
