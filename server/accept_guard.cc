#include "server/accept_guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/log_limiter.h"

namespace notifyd::server {

// A listener's guard, shared between its AcceptGuard and the accept4 calls
// running on it.
struct AcceptGuard::State {
  State(int p, Limits l, std::function<void(uint64_t)> shed)
      : port(p), limits(l), on_shed(std::move(shed)) {}

  // Whether the accepted `fd` may be handed to gRPC; when not, `why` says
  // which limit refused it.
  bool Admit(int fd, std::string* why);
  // Drops admitted descriptors that have been closed since (or whose number
  // now names another socket).
  void DropClosed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  const int port;
  const Limits limits;
  const std::function<void(uint64_t)> on_shed;
  // When an accept last ran out of descriptors (absl::ToUnixNanos).
  std::atomic<int64_t> exhausted_at{std::numeric_limits<int64_t>::min()};
  mutable absl::Mutex mu;
  // Descriptors let through, with the inode of their socket.
  std::vector<std::pair<int, ino_t>> admitted ABSL_GUARDED_BY(mu);
};

namespace {

// How many connections one accept4 call sheds before it lets gRPC re-arm
// (ECONNABORTED): a poller thread is not held for ever by a steady flood,
// and a flood that keeps connecting keeps producing epoll edges.
constexpr int kMaxShedPerCall = 1024;
// accepting() is false this long after an accept ran out of descriptors.
constexpr absl::Duration kExhaustedFor = absl::Seconds(1);

using Accept4Fn = int (*)(int, sockaddr*, socklen_t*, int);

int RealAccept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  static const Accept4Fn real =
      reinterpret_cast<Accept4Fn>(dlsym(RTLD_NEXT, "accept4"));
  if (real != nullptr) return real(fd, addr, len, flags);
  return static_cast<int>(syscall(SYS_accept4, fd, addr, len, flags));
}

// The port a socket is bound to, or -1 (not an IP socket, or closed).
int BoundPort(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    return -1;
  }
  if (local.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
  }
  if (local.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port);
  }
  return -1;
}

// Errors accept4 passes on from a pending connection; the listener is fine
// (accept(2), "Error handling").
bool IsPendingConnectionError(int err) {
  switch (err) {
    case ENETDOWN:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
    case ECONNRESET:
      return true;
    default:
      return false;
  }
}

// Every guard, the descriptors found to be (or not to be) a guarded
// listener, and the spare descriptor. Process-wide; never destroyed, since
// accept4 may run on a library's thread after main returns.
class Registry {
 public:
  static Registry& Get() {
    static Registry* registry = new Registry;
    return *registry;
  }

  // True when some listener is guarded (the fast path's test).
  bool Any() const { return guards_count_.load(std::memory_order_acquire); }

  void Add(std::shared_ptr<AcceptGuard::State> state) {
    {
      absl::MutexLock lock(&mu_);
      guards_.push_back(std::move(state));
      by_fd_.clear();
      guards_count_.store(guards_.size(), std::memory_order_release);
    }
    absl::MutexLock lock(&spare_mu_);
    if (spare_fd_ < 0) spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  void Remove(const AcceptGuard::State* state) {
    absl::MutexLock lock(&mu_);
    guards_.erase(
        std::remove_if(guards_.begin(), guards_.end(),
                       [state](const std::shared_ptr<AcceptGuard::State>& g) {
                         return g.get() == state;
                       }),
        guards_.end());
    by_fd_.clear();
    guards_count_.store(guards_.size(), std::memory_order_release);
  }

  // The guard of the listening socket `fd`, or null.
  std::shared_ptr<AcceptGuard::State> Find(int fd) {
    {
      absl::MutexLock lock(&mu_);
      auto it = by_fd_.find(fd);
      if (it != by_fd_.end()) return it->second;
    }
    const int port = BoundPort(fd);
    absl::MutexLock lock(&mu_);
    std::shared_ptr<AcceptGuard::State> found;
    for (const std::shared_ptr<AcceptGuard::State>& g : guards_) {
      if (port > 0 && g->port == port) found = g;
    }
    by_fd_[fd] = found;
    return found;
  }

  // Out of descriptors: gives up the spare one to accept and close the
  // oldest pending connection on `listen_fd`, then takes it back. 0 when a
  // connection was shed, else the errno of that accept (EMFILE when the
  // spare could not be had).
  int ShedWithSpare(int listen_fd) {
    absl::MutexLock lock(&spare_mu_);
    if (spare_fd_ < 0) spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (spare_fd_ < 0) return EMFILE;
    close(spare_fd_);
    int fd = RealAccept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    int err = errno;
    if (fd >= 0) close(fd);
    // Another thread may have taken the number meanwhile; then the next
    // shortage tries again.
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? 0 : err;
  }

 private:
  Registry() = default;

  std::atomic<size_t> guards_count_{0};
  absl::Mutex mu_;
  std::vector<std::shared_ptr<AcceptGuard::State>> guards_ ABSL_GUARDED_BY(mu_);
  // Listening descriptors seen by accept4, with their guard (null: not
  // guarded). Cleared whenever a guard comes or goes, since a descriptor
  // number may name another socket by then.
  absl::flat_hash_map<int, std::shared_ptr<AcceptGuard::State>> by_fd_
      ABSL_GUARDED_BY(mu_);
  absl::Mutex spare_mu_;
  int spare_fd_ ABSL_GUARDED_BY(spare_mu_) = -1;
};

LogLimiter& ShedLog() {
  static LogLimiter* log = new LogLimiter();
  return *log;
}

// accept4 on a guarded listener (see the header).
int GuardedAccept4(AcceptGuard::State& guard, int listen_fd, sockaddr* addr,
                   socklen_t* len, int flags) {
  const socklen_t len_in = len != nullptr ? *len : 0;
  uint64_t shed = 0;
  std::string why;
  int result = -1;
  int result_errno = 0;
  for (;;) {
    if (len != nullptr) *len = len_in;
    int fd = RealAccept4(listen_fd, addr, len, flags);
    if (fd >= 0) {
      if (guard.Admit(fd, &why)) {
        result = fd;
        break;
      }
      close(fd);
      ++shed;
    } else {
      int err = errno;
      if (err == EMFILE || err == ENFILE) {
        guard.exhausted_at.store(absl::ToUnixNanos(absl::Now()));
        why = absl::StrCat("out of descriptors (", std::strerror(err), ")");
        err = Registry::Get().ShedWithSpare(listen_fd);
        if (err == 0) {
          ++shed;
        } else if (err != EINTR && err != ECONNABORTED &&
                   !IsPendingConnectionError(err)) {
          // The queue is empty (EAGAIN), or no spare could be had: either
          // way gRPC must re-arm, never give up.
          result_errno =
              err == EAGAIN || err == EWOULDBLOCK ? EAGAIN : ECONNABORTED;
          break;
        }
      } else if (IsPendingConnectionError(err)) {
        // That connection is gone; the listener is fine.
      } else if (err == ENOBUFS || err == ENOMEM) {
        result_errno = ECONNABORTED;
        break;
      } else {
        // EAGAIN (the queue is drained), EINTR, ECONNABORTED, or an error of
        // the listener itself (closed at shutdown): gRPC handles these.
        result_errno = err;
        break;
      }
    }
    if (shed >= kMaxShedPerCall) {
      result_errno = ECONNABORTED;
      break;
    }
  }
  if (shed > 0) {
    if (guard.on_shed) guard.on_shed(shed);
    if (uint64_t dropped = 0; ShedLog().Allow(&dropped)) {
      Log(spdlog::level::warn, "grpc: closed connections at accept",
          {{"port", guard.port},
           {"connections", shed},
           {"reason", why},
           LogField::NonZero("dropped", dropped)});
    }
  }
  if (result < 0) errno = result_errno;
  return result;
}

}  // namespace

bool AcceptGuard::State::Admit(int fd, std::string* why) {
  if (static_cast<uint64_t>(fd) >= limits.fd_ceiling) {
    *why = absl::StrCat("descriptor ", fd, " is at or over the ceiling ",
                        limits.fd_ceiling, " kept for the store and the bus");
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *why = absl::StrCat("fstat failed: ", std::strerror(errno));
    return false;
  }
  absl::MutexLock lock(&mu);
  if (admitted.size() >= limits.max_connections) DropClosed();
  if (admitted.size() >= limits.max_connections) {
    *why = absl::StrCat("--max_grpc_connections=", limits.max_connections,
                        " are open");
    return false;
  }
  admitted.emplace_back(fd, st.st_ino);
  return true;
}

void AcceptGuard::State::DropClosed() {
  admitted.erase(std::remove_if(admitted.begin(), admitted.end(),
                                [](const std::pair<int, ino_t>& a) {
                                  struct stat st;
                                  return fstat(a.first, &st) != 0 ||
                                         st.st_ino != a.second;
                                }),
                 admitted.end());
}

uint64_t AcceptGuard::Ceiling(const FdBudget& budget) {
  return budget.limit - budget.reserve / 2;
}

bool AcceptGuard::Interposed() {
  return dlsym(RTLD_DEFAULT, "accept4") == reinterpret_cast<void*>(&accept4);
}

std::unique_ptr<AcceptGuard> AcceptGuard::Protect(
    int port, Limits limits, std::function<void(uint64_t)> on_shed) {
  auto state = std::make_shared<State>(port, limits, std::move(on_shed));
  Registry::Get().Add(state);
  return std::unique_ptr<AcceptGuard>(new AcceptGuard(std::move(state)));
}

AcceptGuard::AcceptGuard(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

AcceptGuard::~AcceptGuard() { Registry::Get().Remove(state_.get()); }

bool AcceptGuard::accepting() const {
  int64_t at = state_->exhausted_at.load();
  return at == std::numeric_limits<int64_t>::min() ||
         absl::Now() - absl::FromUnixNanos(at) > kExhaustedFor;
}

uint64_t AcceptGuard::OpenConnections() const {
  absl::MutexLock lock(&state_->mu);
  state_->DropClosed();
  return state_->admitted.size();
}

}  // namespace notifyd::server

// The interposer (see the header): every accept4 in the process, gRPC's
// included, comes here.
extern "C" __attribute__((visibility("default"))) int accept4(int fd,
                                                              sockaddr* addr,
                                                              socklen_t* len,
                                                              int flags) {
  using notifyd::server::AcceptGuard;
  using notifyd::server::GuardedAccept4;
  using notifyd::server::RealAccept4;
  using notifyd::server::Registry;
  if (Registry::Get().Any()) {
    if (std::shared_ptr<AcceptGuard::State> guard = Registry::Get().Find(fd)) {
      return GuardedAccept4(*guard, fd, addr, len, flags);
    }
  }
  return RealAccept4(fd, addr, len, flags);
}
