// The accept guard (server/accept_guard.h) on a listening socket of the
// test's own: it is the accept4 this executable exports, it sheds what is
// over its cap or its descriptor ceiling until the listen queue is empty
// and then answers EAGAIN, it turns EMFILE into shed connections, and it
// leaves sockets it does not guard alone.
#include "server/accept_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace notifyd::server {
namespace {

// A non-blocking listening socket on 127.0.0.1, port chosen by the kernel.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 64), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(fd_); }
  int fd() const { return fd_; }
  int port() const { return port_; }

  // A client connection (completed from the listen queue on loopback).
  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    clients_.push_back(fd);
    return fd;
  }

  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void CloseClients() {
    for (int fd : clients_) close(fd);
    clients_.clear();
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> clients_;
};

// True when the server side of `client` was closed (EOF or reset).
bool ClosedByServer(int client) {
  for (int i = 0; i < 50; ++i) {
    char c;
    ssize_t got = recv(client, &c, 1, MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// accept4 as gRPC calls it.
int Accept(int listen_fd) {
  return accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

class AcceptGuardTest : public ::testing::Test {
 protected:
  ~AcceptGuardTest() override { listener_.CloseClients(); }

  std::unique_ptr<AcceptGuard> Protect(uint64_t max_connections,
                                       uint64_t fd_ceiling = 1 << 20) {
    return AcceptGuard::Protect(
        listener_.port(),
        {.max_connections = max_connections, .fd_ceiling = fd_ceiling},
        [this](uint64_t n) { shed_ += n; });
  }

  Listener listener_;
  std::atomic<uint64_t> shed_{0};
};

// The executable exports accept4, so shared libraries (libgrpc) call it.
TEST_F(AcceptGuardTest, IsTheAccept4SharedLibrariesCall) {
  EXPECT_TRUE(AcceptGuard::Interposed());
}

TEST_F(AcceptGuardTest, ShedsOverTheCapUntilTheQueueIsEmpty) {
  auto guard = Protect(/*max_connections=*/2);
  for (int i = 0; i < 5; ++i) listener_.Connect();
  int first = Accept(listener_.fd());
  int second = Accept(listener_.fd());
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  // The three left are closed in one call, which then reports an empty
  // queue: gRPC re-arms on EAGAIN.
  errno = 0;
  EXPECT_EQ(Accept(listener_.fd()), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(shed_.load(), 3u);
  EXPECT_EQ(guard->OpenConnections(), 2u);
  // Once one of the two closes, the next connection gets through.
  close(first);
  int client = listener_.Connect();
  int third = Accept(listener_.fd());
  EXPECT_GE(third, 0);
  EXPECT_FALSE(ClosedByServer(client));
  close(second);
  close(third);
}

TEST_F(AcceptGuardTest, ShedsDescriptorsAtOrOverTheCeiling) {
  // The lowest free number; the next accept gets it or, when Protect opens
  // the spare descriptor there, a higher one.
  int probe = dup(0);
  ASSERT_GE(probe, 0);
  close(probe);
  auto guard = Protect(/*max_connections=*/100,
                       /*fd_ceiling=*/static_cast<uint64_t>(probe));
  int client = listener_.Connect();
  errno = 0;
  EXPECT_EQ(Accept(listener_.fd()), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(shed_.load(), 1u);
  EXPECT_TRUE(ClosedByServer(client));
}

// The process out of descriptors: accept4 sheds the waiting connections
// through the spare descriptor and never reports EMFILE, which would stop
// gRPC's listener for good. An unguarded listener still sees EMFILE.
TEST_F(AcceptGuardTest, OutOfDescriptorsShedsInsteadOfFailing) {
  auto guard = Protect(/*max_connections=*/100);
  Listener unguarded;
  int clients[3] = {listener_.Connect(), listener_.Connect(),
                    unguarded.Connect()};
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  int lowest_free = dup(0);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  struct rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);  // nothing new opens
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  errno = 0;
  int guarded_result = Accept(listener_.fd());
  int guarded_errno = errno;
  errno = 0;
  int unguarded_result = Accept(unguarded.fd());
  int unguarded_errno = errno;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_EQ(guarded_result, -1);
  EXPECT_EQ(guarded_errno, EAGAIN);
  EXPECT_EQ(shed_.load(), 2u);
  EXPECT_FALSE(guard->accepting());
  EXPECT_TRUE(ClosedByServer(clients[0]));
  EXPECT_TRUE(ClosedByServer(clients[1]));

  EXPECT_EQ(unguarded_result, -1);
  EXPECT_EQ(unguarded_errno, EMFILE);
  EXPECT_FALSE(ClosedByServer(clients[2]));
  unguarded.CloseClients();
}

TEST_F(AcceptGuardTest, LeavesListenersAloneOnceReleased) {
  Protect(/*max_connections=*/0).reset();
  listener_.Connect();
  int fd = Accept(listener_.fd());
  EXPECT_GE(fd, 0);
  EXPECT_EQ(shed_.load(), 0u);
  close(fd);
}

// gRPC accepts from several poller threads: the cap holds across them.
TEST_F(AcceptGuardTest, TheCapHoldsAcrossThreads) {
  auto guard = Protect(/*max_connections=*/8);
  for (int i = 0; i < 40; ++i) listener_.Connect();
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  std::vector<int> fds[4];
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        int fd = Accept(listener_.fd());
        if (fd >= 0) {
          ++admitted;
          fds[t].push_back(fd);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 8);
  EXPECT_EQ(shed_.load(), 32u);
  for (auto& list : fds) {
    for (int fd : list) close(fd);
  }
}

}  // namespace
}  // namespace notifyd::server
