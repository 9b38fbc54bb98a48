// A private redis-server for tests: started on a free loopback port with
// no persistence, in its own temporary directory, and stopped by pid (never
// by name) when the object goes away. It can be stopped and started again
// on the same port, to test reconnection.
//
// Not thread-safe; one owner. Needs /usr/bin/redis-server (Debian package
// redis-server; `make test` installs it), or $NOTIFYD_REDIS_SERVER.
#ifndef NOTIFYD_TESTS_SUPPORT_REDIS_SERVER_H_
#define NOTIFYD_TESTS_SUPPORT_REDIS_SERVER_H_

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace notifyd::testing {

class RedisServer {
 public:
  // Starts it and waits until it answers PING. FAILED_PRECONDITION when
  // redis-server is not installed, UNAVAILABLE (with its log) when it does
  // not come up.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const;  // redis://127.0.0.1:<port>
  bool running() const { return process_ != nullptr; }

  // SIGTERM by pid, then waits for it to exit (SIGKILL after 5 s).
  void Stop();
  // Starts again on the same port (after Stop) and waits for PING.
  absl::Status Restart();

  // PUBLISH from a plain client connection, as any other program could.
  // Returns how many subscribers received it.
  absl::StatusOr<long long> Publish(const std::string& channel,
                                    const std::string& payload);

  std::string Log() const;  // its stdout and stderr, over every run

 private:
  RedisServer(std::string binary, std::filesystem::path dir);
  // Runs redis-server on port_; waits for PING or its exit.
  absl::Status Launch();

  const std::string binary_;
  const std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// An unused loopback TCP port (bound to port 0, then released).
int FreeLoopbackPort();

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_SUPPORT_REDIS_SERVER_H_
