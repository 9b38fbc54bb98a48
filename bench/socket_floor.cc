// socket_floor: what one small write to each of many loopback TCP
// connections costs on this machine, with no server in between: the floor
// under a fan-out to that many live streams (issue #15, "one NotifyUsers to
// 10,000 users who all have a live stream"; docs/BENCHMARKS.md).
//
// A reader process (forked, so each side stays under the 20,000-descriptor
// limit) opens `--connections` connections to the writer and reads them
// with epoll on `--reader_threads` threads, as bench/sse_load does. For
// each of `--rounds` rounds the writer sends one `--bytes`-byte message
// (an SSE notification plus its counts event is about 180 bytes) to every
// connection from `--threads` threads, and the reader reports when the
// last message arrived. Prints, per round and as the median, how long the
// writes took and when the last message was read, counted from the first
// write. Both sides use CLOCK_MONOTONIC, which the processes share.
//
//   socket_floor [--connections=10000] [--threads=2] [--reader_threads=2]
//                [--bytes=180] [--rounds=5]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/bench_util.h"

ABSL_FLAG(int, connections, 10000, "loopback TCP connections");
ABSL_FLAG(int, threads, 2, "writer threads");
ABSL_FLAG(int, reader_threads, 2, "reader threads (epoll)");
ABSL_FLAG(int, bytes, 180, "bytes written to each connection per round");
ABSL_FLAG(int, rounds, 5, "rounds (one write to every connection each)");

namespace {

using notifyd::bench::SteadyClock;

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

void WriteAll(int fd, const void* p, size_t n) {
  if (write(fd, p, n) != static_cast<ssize_t>(n)) Die("pipe write");
}

void ReadAll(int fd, void* p, size_t n) {
  if (read(fd, p, n) != static_cast<ssize_t>(n)) Die("pipe read");
}

// The reader process: connects, says so on `ready`, then per round reads
// until every connection delivered `bytes` and reports the time of the
// last read on `report`.
[[noreturn]] void Reader(int port, int n, int threads, int bytes, int rounds,
                         int ready, int report) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) Die("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Die("connect");
    }
    fds.push_back(fd);
  }
  char one = 'r';
  WriteAll(ready, &one, 1);
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int64_t> last{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        int ep = epoll_create1(0);
        std::vector<int> got(fds.size(), 0);
        int mine = 0;
        for (size_t i = t; i < fds.size(); i += threads) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = i;
          epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
          ++mine;
        }
        std::vector<epoll_event> events(256);
        char buf[4096];
        int done = 0;
        while (done < mine) {
          int k = epoll_wait(ep, events.data(), events.size(), 1000);
          for (int e = 0; e < k; ++e) {
            const size_t i = events[e].data.u64;
            ssize_t r = read(fds[i], buf, sizeof buf);
            if (r <= 0) Die("read");
            got[i] += r;
            if (got[i] >= bytes) {
              ++done;
              epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr);
            }
          }
        }
        int64_t now = NowNs(), seen = last.load();
        while (now > seen && !last.compare_exchange_weak(seen, now)) {
        }
        close(ep);
      });
    }
    for (std::thread& w : workers) w.join();
    const int64_t t = last.load();
    WriteAll(report, &t, sizeof t);
  }
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_connections);
  const int threads = absl::GetFlag(FLAGS_threads);
  const int reader_threads = absl::GetFlag(FLAGS_reader_threads);
  const int bytes = absl::GetFlag(FLAGS_bytes);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (n < 1 || threads < 1 || reader_threads < 1 || bytes < 1 || rounds < 1) {
    std::fprintf(stderr, "socket_floor: every flag must be >= 1\n");
    return 2;
  }
  std::printf("$ %s\n# %s\n", notifyd::bench::CommandLine(argc, argv).c_str(),
              notifyd::bench::MachineSummary().c_str());
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listener, 4096) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    Die("listen");
  }
  int ready[2], report[2];
  if (pipe(ready) != 0 || pipe(report) != 0) Die("pipe");
  const pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    close(listener);
    Reader(ntohs(a.sin_port), n, reader_threads, bytes, rounds, ready[1],
           report[1]);
  }
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) Die("accept");
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    fds.push_back(fd);
  }
  char one;
  ReadAll(ready[0], &one, 1);
  const std::string message(bytes, 'x');
  std::vector<double> sent_ms, last_ms;
  for (int round = 0; round < rounds; ++round) {
    usleep(300'000);  // let the reader settle in epoll_wait
    const int64_t start = NowNs();
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&, t] {
        for (size_t i = t; i < fds.size(); i += threads) {
          if (send(fds[i], message.data(), message.size(), 0) !=
              static_cast<ssize_t>(message.size())) {
            Die("send");
          }
        }
      });
    }
    for (std::thread& w : writers) w.join();
    const int64_t sent = NowNs();
    int64_t last = 0;
    ReadAll(report[0], &last, sizeof last);
    sent_ms.push_back((sent - start) / 1e6);
    last_ms.push_back((last - start) / 1e6);
    std::printf(
        "round %d: %d writes from %d threads in %.1f ms; last read "
        "%.1f ms after the first write\n",
        round + 1, n, threads, sent_ms.back(), last_ms.back());
  }
  waitpid(child, nullptr, 0);
  std::sort(sent_ms.begin(), sent_ms.end());
  std::sort(last_ms.begin(), last_ms.end());
  std::printf(
      "median: %d writes in %.1f ms, last read after %.1f ms "
      "(%.1f us of a writer thread per write)\n",
      n, sent_ms[rounds / 2], last_ms[rounds / 2],
      1e3 * sent_ms[rounds / 2] / n * threads);
  return 0;
}
