// A private PostgreSQL server for tests, real and disposable: initdb in a
// fresh temporary directory, then `postgres` listening only on 127.0.0.1 on
// a free port (its unix socket inside that directory). The destructor stops
// it by pid (SIGINT, a fast shutdown; SIGQUIT, then SIGKILL if it lingers)
// and removes the directory.
//
// Binaries come from /usr/lib/postgresql/<version>/bin (Debian's
// `postgresql` package; `make test` installs it), or from
// $NOTIFYD_POSTGRES_BINDIR. initdb and postgres refuse to run as root, so
// as root they run as the `postgres` system user.
//
// The server runs with fsync=off: these tests check what notifyd asks of
// PostgreSQL (transactions, locks, commit order), not whether PostgreSQL
// itself survives a power cut. synchronous_commit stays on.
//
// One server per test binary is the intent (start it in a gtest
// Environment); CreateDatabase() gives each test a database of its own.
// Thread-safe after Start().
#ifndef NOTIFYD_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define NOTIFYD_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace notifyd::testing {

class PostgresServer {
 public:
  // Fails with a message naming what is missing (binaries, the postgres
  // user) or quoting the server's log when it does not come up.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer();

  int port() const { return port_; }
  // postgresql://postgres@127.0.0.1:<port>/<database>; the superuser, no
  // password (trust authentication on loopback).
  std::string Url(const std::string& database) const;
  // Creates an empty database (t_1, t_2, ...) and returns its URL.
  absl::StatusOr<std::string> CreateDatabase();
  // The server's log so far.
  std::string Log() const;

 private:
  PostgresServer() = default;
  absl::Status Launch(const std::string& bindir);

  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> postgres_;
  std::atomic<int> databases_{0};
};

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_SUPPORT_POSTGRES_SERVER_H_
