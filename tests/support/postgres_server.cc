#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace notifyd::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres,
// or $NOTIFYD_POSTGRES_BINDIR.
absl::StatusOr<std::string> FindBinDir() {
  if (const char* env = std::getenv("NOTIFYD_POSTGRES_BINDIR")) {
    if (fs::exists(fs::path(env) / "initdb")) return std::string(env);
    return absl::NotFoundError(
        absl::StrCat("NOTIFYD_POSTGRES_BINDIR=", env, " holds no initdb"));
  }
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    int version = 0;
    if (fs::exists(bin / "initdb") && fs::exists(bin / "postgres") &&
        absl::SimpleAtoi(entry.path().filename().string(), &version)) {
      found.emplace_back(version, bin.string());
    }
  }
  if (found.empty()) {
    return absl::NotFoundError(
        "PostgreSQL server binaries (initdb, postgres) not found in "
        "/usr/lib/postgresql/*/bin: install Debian's postgresql package "
        "(make test does), or set NOTIFYD_POSTGRES_BINDIR");
  }
  return std::max_element(found.begin(), found.end())->second;
}

// A port nobody listens on right now (the kernel's pick for port 0). Another
// process may take it before postgres binds it; Start() then retries.
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return absl::InternalError("cannot bind a loopback port");
  return ntohs(addr.sin_port);
}

// Who runs the server: the test's own user, or `postgres` when that is
// root.
absl::StatusOr<std::optional<RunAs>> ServerUser() {
  if (geteuid() != 0) return std::optional<RunAs>();
  const passwd* pw = getpwnam("postgres");
  if (pw == nullptr) {
    return absl::FailedPreconditionError(
        "running as root, and there is no 'postgres' user to run PostgreSQL "
        "as (initdb and postgres refuse root); install Debian's postgresql "
        "package, which creates it");
  }
  return std::optional<RunAs>(RunAs{.uid = pw->pw_uid, .gid = pw->pw_gid});
}

absl::Status ChownTo(const fs::path& path, const std::optional<RunAs>& user) {
  if (!user) return absl::OkStatus();
  if (chown(path.c_str(), user->uid, user->gid) != 0) {
    return absl::InternalError(absl::StrCat("cannot chown ", path.string()));
  }
  return absl::OkStatus();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  absl::StatusOr<std::string> bindir = FindBinDir();
  if (!bindir.ok()) return bindir.status();
  absl::StatusOr<std::optional<RunAs>> user = ServerUser();
  if (!user.ok()) return user.status();

  std::unique_ptr<PostgresServer> server(new PostgresServer());
  std::string pattern =
      (fs::temp_directory_path() / "notifyd-pg-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp failed for ", pattern));
  }
  server->dir_ = pattern;
  const fs::path sockets = server->dir_ / "sock";
  fs::create_directory(sockets);
  if (absl::Status s = ChownTo(server->dir_, *user); !s.ok()) return s;
  if (absl::Status s = ChownTo(sockets, *user); !s.ok()) return s;

  const fs::path initdb_log = server->dir_ / "initdb.log";
  // --no-sync: see fsync=off in the header.
  ChildProcess initdb(
      {*bindir + "/initdb", "-D", (server->dir_ / "data").string(), "-U",
       "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"},
      initdb_log.string(), {.run_as = *user, .parent_death_signal = SIGKILL});
  std::optional<int> status = initdb.Wait(milliseconds(120'000));
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat("initdb failed:\n", initdb.Log()));
  }

  // The port may be taken between our probe and postgres binding it.
  absl::Status launched;
  for (int attempt = 0; attempt < 3; ++attempt) {
    launched = server->Launch(*bindir);
    if (launched.ok()) return server;
  }
  return launched;
}

absl::Status PostgresServer::Launch(const std::string& bindir) {
  absl::StatusOr<std::optional<RunAs>> user = ServerUser();
  if (!user.ok()) return user.status();
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  port_ = *port;
  const std::string log = (dir_ / "postgres.log").string();
  postgres_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{
          bindir + "/postgres", "-D", (dir_ / "data").string(), "-p",
          std::to_string(port_), "-c", "listen_addresses=127.0.0.1", "-c",
          "unix_socket_directories=" + (dir_ / "sock").string(), "-c",
          "fsync=off", "-c", "max_connections=60", "-c", "shared_buffers=32MB",
          "-c", "logging_collector=off"},
      // SIGQUIT: PostgreSQL's immediate shutdown, which also ends its
      // backends, should the test die without stopping it.
      log, ChildOptions{.run_as = *user, .parent_death_signal = SIGQUIT});

  const std::string conninfo =
      absl::StrCat("host=127.0.0.1 port=", port_,
                   " dbname=postgres user=postgres connect_timeout=2");
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    if (postgres_->Wait(milliseconds(0))) {
      absl::Status failed = absl::UnavailableError(
          absl::StrCat("postgres exited at start:\n", Log()));
      postgres_.reset();
      return failed;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  absl::Status failed = absl::DeadlineExceededError(
      absl::StrCat("postgres did not accept connections in 60 s:\n", Log()));
  postgres_->Signal(SIGQUIT);
  postgres_.reset();
  return failed;
}

PostgresServer::~PostgresServer() {
  if (postgres_) {
    // Fast shutdown: disconnect clients, checkpoint, exit. SIGQUIT when it
    // hangs, and ChildProcess's SIGKILL as the last resort.
    postgres_->Signal(SIGINT);
    if (!postgres_->Wait(seconds(30))) {
      postgres_->Signal(SIGQUIT);
      postgres_->Wait(seconds(5));
    }
    postgres_.reset();
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PostgresServer::Url(const std::string& database) const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", database);
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase() {
  const std::string name = absl::StrCat("t_", ++databases_);
  const std::string url = Url("postgres");
  PGconn* conn = PQconnectdb(url.c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(
        absl::StrCat("cannot connect to ", url, ": ", PQerrorMessage(conn)));
  } else {
    PGresult* result =
        PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      status = absl::InternalError(absl::StrCat(
          "CREATE DATABASE ", name, " failed: ", PQerrorMessage(conn)));
    }
    PQclear(result);
  }
  PQfinish(conn);
  if (!status.ok()) return status;
  return Url(name);
}

std::string PostgresServer::Log() const {
  return ReadFile(dir_ / "postgres.log");
}

}  // namespace notifyd::testing
