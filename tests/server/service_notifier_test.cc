// notifyd under systemd (Type=notify), with this test in systemd's place: a
// unix datagram socket named by NOTIFY_SOCKET receives what the process
// sends. READY=1 comes once every listener answers, STOPPING=1 when SIGTERM
// starts the shutdown, WATCHDOG=1 only with WATCHDOG_USEC and only while
// the watchdog's probe answers; a NOTIFY_SOCKET that leads nowhere is
// logged once and changes nothing else.
#include "server/service_notifier.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/edge/sse_client.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd {
namespace {

using edge::testing::HttpGet;
using server::ServiceNotifier;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(20);

// systemd's end of NOTIFY_SOCKET: a datagram socket at dir/notify.sock
// whose messages a thread collects (and keeps reading, so a sender never
// blocks on a full queue).
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& dir)
      : path_((dir / "notify.sock").string()) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    EXPECT_LT(path_.size(), sizeof(address.sun_path)) << path_;
    path_.copy(address.sun_path, sizeof(address.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
              0)
        << path_;
    reader_ = std::thread([this] { Read(); });
  }
  ~NotifySocket() {
    stop_ = true;
    reader_.join();
    close(fd_);
  }

  const std::string& path() const { return path_; }
  std::string env() const { return "NOTIFY_SOCKET=" + path_; }

  // Every message so far, in arrival order.
  std::vector<std::string> Messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  // Waits until `count` messages have `line` as one of their lines; the
  // last of them, or nullopt when they did not come in time.
  std::optional<std::string> WaitFor(const std::string& line,
                                     size_t count = 1) {
    std::optional<std::string> found;
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      size_t n = 0;
      for (const std::string& m : messages_) {
        if (HasLine(m, line) && ++n == count) found = m;
      }
      return found.has_value();
    };
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return found;
  }
  size_t Count(const std::string& line) {
    std::vector<std::string> all = Messages();
    return std::count_if(all.begin(), all.end(), [&](const std::string& m) {
      return HasLine(m, line);
    });
  }

  static bool HasLine(const std::string& message, const std::string& line) {
    for (absl::string_view l : absl::StrSplit(message, '\n')) {
      if (l == line) return true;
    }
    return false;
  }

 private:
  void Read() {
    char buffer[4096];
    while (!stop_) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 50) != 1) continue;
      ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) continue;
      absl::MutexLock lock(&mu_);
      messages_.emplace_back(buffer, static_cast<size_t>(n));
    }
  }

  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
};

// Sets environment variables for one test and puts the old values back.
class ScopedEnv {
 public:
  ScopedEnv(std::vector<std::pair<std::string, std::string>> values) {
    for (auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_.push_back(
          {name, old ? std::optional<std::string>(old) : std::nullopt});
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (auto& [name, old] : saved_) {
      if (old) {
        setenv(name.c_str(), old->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// --- ServiceNotifier in this process

TEST(ServiceNotifierTest, WatchdogIntervalIsHalfOfWatchdogUsec) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path());
  ScopedEnv env(
      {{"NOTIFY_SOCKET", systemd.path()}, {"WATCHDOG_USEC", "30000000"}});
  EXPECT_EQ(ServiceNotifier().watchdog_interval(), absl::Seconds(15));
}

TEST(ServiceNotifierTest, TinyWatchdogUsecPingsAtTheMinimumInterval) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path());
  ScopedEnv env({{"NOTIFY_SOCKET", systemd.path()}, {"WATCHDOG_USEC", "1"}});
  EXPECT_EQ(ServiceNotifier().watchdog_interval(), server::kMinWatchdogPing);
}

TEST(ServiceNotifierTest, NoWatchdogWithoutNotifySocketOrWithBadUsec) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path());
  {
    ScopedEnv env({{"NOTIFY_SOCKET", ""}, {"WATCHDOG_USEC", "30000000"}});
    EXPECT_EQ(ServiceNotifier().watchdog_interval(), std::nullopt);
  }
  for (const char* bad : {"abc", "-5", "0"}) {
    ScopedEnv env({{"NOTIFY_SOCKET", systemd.path()}, {"WATCHDOG_USEC", bad}});
    EXPECT_EQ(ServiceNotifier().watchdog_interval(), std::nullopt) << bad;
  }
  // Another process's watchdog (WATCHDOG_PID) is not ours.
  ScopedEnv env({{"NOTIFY_SOCKET", systemd.path()},
                 {"WATCHDOG_USEC", "30000000"},
                 {"WATCHDOG_PID", std::to_string(getpid() + 1)}});
  EXPECT_EQ(ServiceNotifier().watchdog_interval(), std::nullopt);
}

TEST(ServiceNotifierTest, PingsOnlyAfterTheProbeAnswersTrue) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path());
  ScopedEnv env(
      {{"NOTIFY_SOCKET", systemd.path()}, {"WATCHDOG_USEC", "40000"}});
  ServiceNotifier notifier;
  ASSERT_TRUE(notifier.watchdog_interval().has_value());
  // Healthy for three probes, then stuck (answering false, as a probe
  // whose store did not answer in time does).
  absl::Mutex mu;
  int probes = 0;
  notifier.Ready("test");
  notifier.StartWatchdog([&](absl::Duration deadline) {
    EXPECT_EQ(deadline, *notifier.watchdog_interval());
    absl::MutexLock lock(&mu);
    return ++probes <= 3;
  });
  {
    absl::MutexLock lock(&mu);
    auto eight = [&]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return probes >= 8; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&eight), kWait));
  }
  notifier.Stopping();

  ASSERT_TRUE(systemd.WaitFor("STOPPING=1").has_value());
  // Datagrams arrive in the order sent: everything sent before STOPPING=1
  // is here.
  std::vector<std::string> messages = systemd.Messages();
  ASSERT_FALSE(messages.empty());
  EXPECT_TRUE(NotifySocket::HasLine(messages.front(), "READY=1"));
  EXPECT_TRUE(NotifySocket::HasLine(messages.front(), "STATUS=test"));
  EXPECT_EQ(systemd.Count("WATCHDOG=1"), 3u);
}

// --- The notifyd binary

// The ports READY=1's STATUS= names.
std::optional<testing::Ports> PortsOf(const std::string& ready) {
  for (absl::string_view line : absl::StrSplit(ready, '\n')) {
    testing::Ports ports;
    if (std::sscanf(std::string(line).c_str(),
                    "STATUS=serving gRPC on port %d, HTTP on port %d, admin "
                    "on port %d",
                    &ports.grpc, &ports.http, &ports.admin) == 3) {
      return ports;
    }
  }
  return std::nullopt;
}

// SIGTERM; true when the process exited with 0.
bool StopsCleanly(NotifydBinary& notifyd) {
  notifyd.process().Signal(SIGTERM);
  std::optional<int> status = notifyd.process().Wait(seconds(20));
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

TEST(SystemdNotifyTest, ReadyComesOnceEveryListenerAnswersStoppingOnSigterm) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path());
  NotifydBinary notifyd(dir.path(), {}, {.env = {systemd.env()}});

  std::optional<std::string> ready = systemd.WaitFor("READY=1");
  ASSERT_TRUE(ready.has_value()) << notifyd.process().Log();
  // At READY=1, at once: the ports it names answer, and the store with
  // them (/readyz pings it; NotifyUser commits).
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "ready.json"));
  std::optional<testing::Ports> ports = PortsOf(*ready);
  ASSERT_TRUE(ports.has_value()) << *ready;
  EXPECT_EQ(HttpGet(static_cast<uint16_t>(ports->admin), "/readyz").status,
            200);
  EXPECT_EQ(HttpGet(static_cast<uint16_t>(ports->http), "/healthz").status,
            200);
  auto stub = pb::Notifier::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(ports->grpc),
                          grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(testing::NotifyUser(*stub, "alice", "x").ok());
  stub.reset();  // a connected client would make the drain wait

  EXPECT_TRUE(StopsCleanly(notifyd)) << notifyd.process().Log();
  ASSERT_TRUE(systemd.WaitFor("STOPPING=1").has_value());
  std::vector<std::string> messages = systemd.Messages();
  EXPECT_EQ(systemd.Count("READY=1"), 1u);
  EXPECT_TRUE(NotifySocket::HasLine(messages.back(), "STOPPING=1"));
  // No WATCHDOG_USEC, no pings.
  EXPECT_EQ(systemd.Count("WATCHDOG=1"), 0u);
  EXPECT_THAT(notifyd.process().Log(), Not(HasSubstr("systemd:")));
}

TEST(SystemdNotifyTest, WatchdogPingsWhileServingWithWatchdogUsec) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path());
  NotifydBinary notifyd(dir.path(), {},
                        {.env = {systemd.env(), "WATCHDOG_USEC=200000"}});
  ASSERT_TRUE(systemd.WaitFor("WATCHDOG=1", 3).has_value())
      << notifyd.process().Log();
  std::vector<std::string> messages = systemd.Messages();
  EXPECT_TRUE(NotifySocket::HasLine(messages.front(), "READY=1"));

  EXPECT_TRUE(StopsCleanly(notifyd)) << notifyd.process().Log();
  EXPECT_TRUE(systemd.WaitFor("STOPPING=1").has_value());
}

TEST(SystemdNotifyTest, NotifySocketLeadingNowhereIsLoggedOnceAndServes) {
  testing::TempDir dir;
  const std::string nowhere = (dir.path() / "no-such.sock").string();
  // The watchdog makes a failed send every 50 ms besides READY=1.
  NotifydBinary notifyd(
      dir.path(), {},
      {.env = {"NOTIFY_SOCKET=" + nowhere, "WATCHDOG_USEC=100000"}});
  auto stub = notifyd.Connect();
  ASSERT_NE(stub, nullptr);
  EXPECT_TRUE(testing::NotifyUser(*stub, "alice", "x").ok());
  stub.reset();  // a connected client would make the drain wait
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  EXPECT_TRUE(StopsCleanly(notifyd)) << notifyd.process().Log();
  std::string log = notifyd.process().Log();
  EXPECT_THAT(log, HasSubstr("cannot notify NOTIFY_SOCKET=" + nowhere));
  EXPECT_EQ(log.find("cannot notify"), log.rfind("cannot notify")) << log;
}

TEST(SystemdNotifyTest, UnparsableWatchdogUsecIsLoggedAndIgnored) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path());
  NotifydBinary notifyd(dir.path(), {},
                        {.env = {systemd.env(), "WATCHDOG_USEC=soon"}});
  ASSERT_TRUE(systemd.WaitFor("READY=1").has_value())
      << notifyd.process().Log();

  EXPECT_TRUE(StopsCleanly(notifyd)) << notifyd.process().Log();
  ASSERT_TRUE(systemd.WaitFor("STOPPING=1").has_value());
  EXPECT_EQ(systemd.Count("WATCHDOG=1"), 0u);
  EXPECT_THAT(notifyd.process().Log(),
              HasSubstr("ignoring WATCHDOG_USEC=soon"));
}

}  // namespace
}  // namespace notifyd
