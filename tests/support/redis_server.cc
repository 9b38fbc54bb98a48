#include "tests/support/redis_server.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace notifyd::testing {
namespace {

constexpr char kDefaultBinary[] = "/usr/bin/redis-server";
constexpr auto kStartTimeout = std::chrono::seconds(10);

// A plain client connection, closed when it goes out of scope.
struct Client {
  explicit Client(int port) {
    c = redisConnectWithTimeout("127.0.0.1", port, {.tv_sec = 1, .tv_usec = 0});
    if (c != nullptr && c->err == 0) {
      redisSetTimeout(c, {.tv_sec = 5, .tv_usec = 0});
    }
  }
  ~Client() {
    if (c != nullptr) redisFree(c);
  }
  bool ok() const { return c != nullptr && c->err == 0; }
  redisContext* c = nullptr;
};

bool AnswersPing(int port) {
  Client client(port);
  if (!client.ok()) return false;
  auto* reply = static_cast<redisReply*>(redisCommand(client.c, "PING"));
  const bool pong = reply != nullptr && reply->type == REDIS_REPLY_STATUS &&
                    std::string(reply->str, reply->len) == "PONG";
  if (reply != nullptr) freeReplyObject(reply);
  return pong;
}

}  // namespace

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start() {
  const char* from_env = std::getenv("NOTIFYD_REDIS_SERVER");
  std::string binary = from_env != nullptr ? from_env : kDefaultBinary;
  if (access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "redis-server not found at ", binary,
        ": install the Debian package redis-server (make test does), or set "
        "NOTIFYD_REDIS_SERVER"));
  }
  std::string pattern =
      (std::filesystem::temp_directory_path() / "notifyd-redis-XXXXXX")
          .string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp failed for ", pattern));
  }
  std::unique_ptr<RedisServer> server(
      new RedisServer(std::move(binary), pattern));
  // The port was free a moment ago; another process may take it before
  // redis-server binds it, so a clash is retried on a new port.
  absl::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = FreeLoopbackPort();
    status = server->Launch();
    if (status.ok()) return server;
  }
  return status;
}

RedisServer::RedisServer(std::string binary, std::filesystem::path dir)
    : binary_(std::move(binary)), dir_(std::move(dir)) {}

RedisServer::~RedisServer() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::url() const {
  return absl::StrCat("redis://127.0.0.1:", port_);
}

absl::Status RedisServer::Launch() {
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{binary_, "--port", std::to_string(port_),
                               "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--daemonize", "no",
                               "--dir", dir_.string()},
      (dir_ / "redis.log").string());
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (AnswersPing(port_)) return absl::OkStatus();
    if (process_->Wait(std::chrono::milliseconds(0)).has_value()) {
      process_.reset();
      return absl::UnavailableError(
          absl::StrCat("redis-server exited at start on port ", port_,
                       "; its log:\n", Log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return absl::UnavailableError(
      absl::StrCat("redis-server did not answer PING on port ", port_,
                   " within 10 s; ", "its log:\n", Log()));
}

void RedisServer::Stop() {
  if (process_ == nullptr) return;
  process_->Signal(SIGTERM);
  if (!process_->Wait(std::chrono::seconds(5)).has_value()) {
    process_->Signal(SIGKILL);
    process_->Wait(std::chrono::seconds(5));
  }
  process_.reset();  // kills and reaps by pid if still there
}

absl::Status RedisServer::Restart() {
  if (process_ != nullptr) return absl::FailedPreconditionError("running");
  return Launch();
}

absl::StatusOr<long long> RedisServer::Publish(const std::string& channel,
                                               const std::string& payload) {
  Client client(port_);
  if (!client.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to redis-server on port ", port_));
  }
  const char* argv[] = {"PUBLISH", channel.data(), payload.data()};
  const size_t lengths[] = {7, channel.size(), payload.size()};
  auto* reply =
      static_cast<redisReply*>(redisCommandArgv(client.c, 3, argv, lengths));
  if (reply == nullptr || reply->type != REDIS_REPLY_INTEGER) {
    if (reply != nullptr) freeReplyObject(reply);
    return absl::InternalError("PUBLISH failed");
  }
  const long long receivers = reply->integer;
  freeReplyObject(reply);
  return receivers;
}

std::string RedisServer::Log() const {
  std::ifstream in(dir_ / "redis.log");
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace notifyd::testing
