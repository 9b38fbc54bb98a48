#include "server/grpc_acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpcpp/server.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/listen_address.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace notifyd::server {
namespace {

// How long the thread sleeps after running out of descriptors before it
// tries again, and how often an idle acceptor gives freed memory back.
constexpr int kBackoffMs = 50;
constexpr absl::Duration kTrimInterval = absl::Seconds(10);

absl::Status SocketError(const std::string& what, const std::string& listen) {
  return absl::UnavailableError(absl::StrCat("cannot ", what,
                                             " gRPC on --grpc_listen=", listen,
                                             ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcAcceptor>> GrpcAcceptor::Bind(
    const std::string& listen, uint64_t max_connections, Metrics& metrics) {
  absl::StatusOr<ListenAddress> address =
      ParseListenAddress(listen, "--grpc_listen");
  if (!address.ok()) return address.status();
  const std::string& host = address->host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(address->port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                           service.c_str(), &hints, &found);
      rc != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve --grpc_listen '", listen,
                     "': ", rc != 0 ? gai_strerror(rc) : "no address"));
  }
  int fd =
      socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    return SocketError("open a socket for", listen);
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bool bound = bind(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!bound || ::listen(fd, SOMAXCONN) != 0) {
    absl::Status s = SocketError(bound ? "listen for" : "bind", listen);
    close(fd);
    return s;
  }
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  int bound_port =
      local.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port)
          : ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    absl::Status s = SocketError("create a wake-up descriptor for", listen);
    close(fd);
    return s;
  }
  return std::unique_ptr<GrpcAcceptor>(
      new GrpcAcceptor(fd, wake, bound_port, max_connections, metrics));
}

GrpcAcceptor::GrpcAcceptor(int listen_fd, int wake_fd, int port,
                           uint64_t max_connections, Metrics& metrics)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      max_connections_(max_connections),
      spare_fd_(open("/dev/null", O_RDONLY | O_CLOEXEC)),
      rejected_(metrics.GetCounter("notifyd_limit_rejections_total",
                                   "Requests and connections refused by a "
                                   "limit",
                                   {{"limit", "grpc_connections"}})) {}

GrpcAcceptor::~GrpcAcceptor() {
  Stop();
  close(wake_fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
}

void GrpcAcceptor::Start(grpc::Server* server) {
  thread_ = std::thread([this, server] {
    NameThisThread("grpc-accept");
    Run(server);
  });
}

void GrpcAcceptor::Stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  accepting_ = false;
}

size_t GrpcAcceptor::OpenConnections() {
  absl::MutexLock lock(&mu_);
  Reconcile();
  return handed_.size();
}

void GrpcAcceptor::Run(grpc::Server* server) {
  absl::Time last_trim = absl::Now();
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int timeout = accepting_.load() ? 1000 : kBackoffMs;
    int ready = poll(fds, 2, timeout);
    if (stopping_.load()) break;
    if (ready <= 0) {
      // Idle: a flood that has ended leaves freed memory in malloc's
      // arenas; give it back so the process returns near its baseline.
      if (absl::Now() - last_trim > kTrimInterval) {
        malloc_trim(0);
        last_trim = absl::Now();
      }
      if (!accepting_.load()) accepting_ = true;  // try again
      continue;
    }
    for (;;) {  // drain the listen queue
      int fd =
          accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        accepting_ = true;
        Admit(server, fd);
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        accepting_ = false;
        if (uint64_t dropped = 0; log_.Allow(&dropped)) {
          Log(spdlog::level::warn, "grpc: accept failed; retrying",
              {{"error", std::strerror(errno)},
               LogField::NonZero("dropped", dropped)});
        }
        ShedOne();
      }
      break;  // EAGAIN, or backing off
    }
  }
}

void GrpcAcceptor::Admit(grpc::Server* server, int fd) {
  struct stat st;
  bool admitted = false;
  if (fstat(fd, &st) == 0) {
    absl::MutexLock lock(&mu_);
    if (handed_.size() >= max_connections_) Reconcile();
    if (handed_.size() < max_connections_) {
      handed_.emplace_back(fd, st.st_ino);
      admitted = true;
    }
  }
  if (!admitted) {
    rejected_.Inc();
    if (uint64_t dropped = 0; log_.Allow(&dropped)) {
      Log(spdlog::level::warn,
          "grpc: refusing a connection: --max_grpc_connections are open",
          {{"max_grpc_connections", max_connections_},
           LogField::NonZero("dropped", dropped)});
    }
    close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
  grpc_server_add_channel_from_fd(server->c_server(), fd, creds);
  grpc_server_credentials_release(creds);
}

void GrpcAcceptor::ShedOne() {
  if (spare_fd_ < 0) return;
  close(spare_fd_);
  int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) {
    rejected_.Inc();
    close(fd);
  }
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void GrpcAcceptor::Reconcile() {
  handed_.erase(std::remove_if(handed_.begin(), handed_.end(),
                               [](const std::pair<int, ino_t>& h) {
                                 struct stat st;
                                 return fstat(h.first, &st) != 0 ||
                                        st.st_ino != h.second;
                               }),
                handed_.end());
}

}  // namespace notifyd::server
