// The SSE edge's listener and lifecycle: binding, accepting (each socket
// becomes an HttpSession on a strand of its own), the registry of
// connections behind the connection limits, the refusal of a connection
// over one, readiness, and Shutdown.
//
// Beast is slow to compile, so it is compiled in this one translation unit,
// written as files by concept: edge_server_impl.h (shared state),
// http_session.h (a connection's HTTP/1.1 requests: reading them) with its
// parts request_router.h (routing, shared with HTTP/2), http_responses.h
// (building answers), plain_handler.h (health, metrics, readiness, the
// page), json_handler.h (the JSON routes: inbox, publishing) and
// stream_handler.h (/v1/stream), http_messages.h (the messages it reads and
// answers), stream_admission.h (who may open a stream, within which limits),
// stream_feed.h (what every SSE stream sends), sse_stream.h (the SSE
// stream an HTTP/1.1 session hands a /v1/stream connection to); for
// HTTP/2 (ALPN h2 on TLS), http2_session.h (the connection, libnghttp2),
// h2_connection.h (what its streams ask of it, its writes), h2_request.h
// (one HTTP/2 stream's request) and h2_sse_stream.h (an SSE stream on
// one); and this file.
// Everything that can do without Beast lives elsewhere (edge_options, hub,
// stream_queue, stream_start, sse_frame, stream_request, identity,
// web_assets, routes, inbox_api; metrics are in common/).
#include "edge/http_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/post.hpp"
#include "common/listen_address.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "edge/edge_server_impl.h"
#include "edge/http2_session.h"
#include "edge/http_session.h"
#include "edge/sse_stream.h"
#include "openssl/ssl.h"
#include "spdlog/spdlog.h"

namespace notifyd::edge {

using internal::Admission;
using internal::HttpSession;
using internal::SessionBase;
using internal::TlsStream;
using Impl = EdgeServer::Impl;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::beast::error_code;

// What the TLS listener offers through ALPN, in its order of preference
// (wire format: length-prefixed ids).
constexpr char kAlpnH2AndH1[] = "\x02h2\x08http/1.1";
constexpr char kAlpnH1[] = "\x08http/1.1";

// Picks the first of the server's protocols (`arg`) the client offers; a
// client offering none of them goes on without ALPN (HTTP/1.1).
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* server = static_cast<const unsigned char*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(
          &selected, outlen, server,
          std::char_traits<char>::length(static_cast<const char*>(arg)), in,
          inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Upper bound for Shutdown() to let streams flush.
constexpr absl::Duration kMaxShutdownGrace = absl::Seconds(10);

Admission Impl::Register(const std::shared_ptr<SessionBase>& s,
                         const std::string& address) {
  absl::MutexLock lock(&sessions_mu);
  sessions.emplace(s.get(), s);
  size_t from_address = address.empty() ? 0 : ++per_address[address];
  if (options.max_connections > 0 &&
      sessions.size() > options.max_connections) {
    return Admission::kTooManyConnections;
  }
  if (options.max_connections_per_address > 0 &&
      from_address > options.max_connections_per_address) {
    return Admission::kTooManyFromAddress;
  }
  return Admission::kOk;
}

void Impl::Deregister(const SessionBase* s, const std::string& address) {
  absl::MutexLock lock(&sessions_mu);
  sessions.erase(s);
  if (address.empty()) return;
  auto it = per_address.find(address);
  if (it != per_address.end() && --it->second == 0) per_address.erase(it);
}

Admission Impl::Readdress(const std::string& from, const std::string& to) {
  if (from == to) return Admission::kOk;
  absl::MutexLock lock(&sessions_mu);
  if (!from.empty()) {
    auto it = per_address.find(from);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
  }
  if (to.empty()) return Admission::kOk;
  size_t from_address = ++per_address[to];
  if (options.max_connections_per_address > 0 &&
      from_address > options.max_connections_per_address) {
    return Admission::kTooManyFromAddress;
  }
  return Admission::kOk;
}

void Impl::Handover(const SessionBase* from,
                    const std::shared_ptr<SessionBase>& to) {
  absl::MutexLock lock(&sessions_mu);
  sessions.erase(from);
  sessions.emplace(to.get(), to);
}

void Impl::Refuse(tcp::socket& socket, Admission admission, bool tls) {
  bool per_address = admission == Admission::kTooManyFromAddress;
  LimitRejected(per_address ? internal::kLimitConnectionsPerAddress
                            : internal::kLimitConnections);
  if (!tls) {
    static constexpr absl::string_view kTooMany =
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Retry-After: 1\r\nContent-Length: 21\r\n"
        "Connection: close\r\n\r\ntoo many connections\n";
    static constexpr absl::string_view kTooManyFromAddress =
        "HTTP/1.1 429 Too Many Requests\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Retry-After: 1\r\nContent-Length: 39\r\n"
        "Connection: close\r\n\r\ntoo many connections from this address\n";
    absl::string_view answer = per_address ? kTooManyFromAddress : kTooMany;
    // A fresh socket's send buffer always has room for this.
    (void)!::send(socket.native_handle(), answer.data(), answer.size(),
                  MSG_DONTWAIT | MSG_NOSIGNAL);
    CountRequest("other",
                 per_address ? boost::beast::http::status::too_many_requests
                             : boost::beast::http::status::service_unavailable);
  }
  error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

void Impl::CheckReady(std::function<void(bool, std::string)> done) {
  if (!ready.load()) return done(false, "not ready\n");
  if (!accepting.load()) return done(false, "listener unavailable\n");
  for (const ReadyCheck& check : options.ready_checks) {
    if (!check.ok()) {
      return done(false, absl::StrCat(check.name, " unavailable\n"));
    }
  }
  StoreCallStarted();
  store.Ping([this, done = std::move(done)](absl::StatusOr<bool> ok) {
    bool up = ok.ok() && *ok;
    done(up, up ? "ready\n" : "store unavailable\n");
    StoreCallDone();
  });
}

bool Impl::AcquireStream(const std::string& user) {
  absl::MutexLock lock(&streams_mu);
  size_t& n = streams_per_user[user];
  if (options.max_streams_per_user > 0 && n >= options.max_streams_per_user) {
    if (n == 0) streams_per_user.erase(user);
    return false;
  }
  ++n;
  return true;
}

void Impl::ReleaseStream(const std::string& user) {
  absl::MutexLock lock(&streams_mu);
  auto it = streams_per_user.find(user);
  if (it != streams_per_user.end() && --it->second == 0) {
    streams_per_user.erase(it);
  }
}

absl::Status Impl::LoadTls() {
  const std::string& cert = options.tls_cert_file;
  const std::string& key = options.tls_key_file;
  if (cert.empty() && key.empty()) return absl::OkStatus();
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "HTTPS needs both tls_cert_file and tls_key_file");
  }
  tls.emplace(net::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
  // An idle connection (most streams, most of the time) keeps no TLS
  // read/write buffers.
  SSL_CTX_set_mode(tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(
      tls->native_handle(), &SelectAlpn,
      const_cast<char*>(options.http2 ? kAlpnH2AndH1 : kAlpnH1));
  tls->set_options(net::ssl::context::default_workarounds |
                   net::ssl::context::no_compression |
                   net::ssl::context::single_dh_use);
  error_code ec;
  tls->use_certificate_chain_file(cert, ec);
  if (ec) {
    tls.reset();
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load TLS certificate from ", cert, ": ", ec.message()));
  }
  tls->use_private_key_file(key, net::ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(tls->native_handle()) != 1) {
    std::string why = ec ? ec.message() : "does not match the certificate";
    tls.reset();
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TLS private key from ", key, ": ", why));
  }
  return absl::OkStatus();
}

absl::Status Impl::Listen() {
  const std::string& listen = options.listen;
  absl::StatusOr<ListenAddress> address =
      ParseListenAddress(listen, "HTTP listen address");
  if (!address.ok()) return address.status();
  const std::string& host = address->host;
  const uint16_t port = address->port;
  error_code ec;
  tcp::endpoint endpoint;
  if (host.empty()) {
    endpoint = tcp::endpoint(tcp::v4(), port);
  } else {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot resolve HTTP listen address '", listen, "': ", ec.message()));
    }
    endpoint = results.begin()->endpoint();
  }
  auto fail = [&](const char* what) {
    return absl::UnavailableError(
        absl::StrCat("cannot ", what, " HTTP on ", listen, ": ", ec.message()));
  };
  if (acceptor.open(endpoint.protocol(), ec)) return fail("open socket for");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec)) {
    return fail("set SO_REUSEADDR for");
  }
  if (acceptor.bind(endpoint, ec)) return fail("bind");
  if (acceptor.listen(net::socket_base::max_listen_connections, ec)) {
    return fail("listen");
  }
  bound_port = acceptor.local_endpoint(ec).port();
  return absl::OkStatus();
}

void Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](error_code ec,
                                                      tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Typically EMFILE: tell one waiting client at once (through the
      // spare descriptor), then back off instead of spinning.
      accepting = false;
      if (uint64_t dropped = 0; accept_log.Allow(&dropped)) {
        Log(spdlog::level::warn, "edge: accept failed; retrying",
            {{"listen", options.listen},
             {"error", ec.message()},
             LogField::NonZero("dropped", dropped)});
      }
      ShedOne();
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](error_code ec) {
        if (!ec) Accept();
      });
      return;
    }
    accepting = true;
    error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    // The client address counted against max_connections_per_address;
    // a trusted proxy's connection is counted under the client its
    // requests name (HttpSession::Readdress), not at accept.
    std::string address;
    bool proxied = false;
    if (options.max_connections_per_address > 0 || !trusted_proxies.empty()) {
      error_code peer_ec;
      tcp::endpoint peer = socket.remote_endpoint(peer_ec);
      // A peer already gone is not counted; its session fails at once.
      if (!peer_ec) {
        proxied = trusted_proxies.Trusts(peer.address());
        if (!proxied && options.max_connections_per_address > 0) {
          address = peer.address().to_string();
        }
      }
    }
    if (tls) {
      std::make_shared<HttpSession<TlsStream>>(*this, std::move(socket),
                                               address, proxied)
          ->Start();
    } else {
      std::make_shared<HttpSession<tcp::socket>>(*this, std::move(socket),
                                                 address, proxied)
          ->Start();
    }
    Accept();
  });
}

void Impl::ShedOne() {
  if (spare_fd < 0) return;
  ::close(spare_fd);
  pollfd waiting{acceptor.native_handle(), POLLIN, 0};
  if (::poll(&waiting, 1, 0) == 1) {
    int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      LimitRejected(internal::kLimitConnections);
      ::close(fd);
    }
  }
  spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void Impl::Shutdown() {
  if (shut_down) return;
  shut_down = true;
  if (!started) return;
  net::post(acceptor.get_executor(), [this] {
    error_code ec;
    acceptor.close(ec);
    accept_retry.cancel();
  });

  auto for_each_session = [this](bool graceful) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      absl::MutexLock lock(&sessions_mu);
      for (const auto& [key, weak] : sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (const auto& s : live) s->Close(graceful);
  };
  auto no_sessions = [this] {
    sessions_mu.AssertReaderHeld();
    return sessions.empty();
  };
  for_each_session(/*graceful=*/true);
  absl::Duration grace = std::min(options.write_timeout, kMaxShutdownGrace);
  bool drained;
  {
    absl::MutexLock lock(&sessions_mu);
    drained =
        sessions_mu.AwaitWithTimeout(absl::Condition(&no_sessions), grace);
  }
  if (!drained) {
    Log(spdlog::level::warn, "edge: streams did not flush; closing them",
        {{"grace", absl::FormatDuration(grace)}});
    for_each_session(/*graceful=*/false);
  }
  {
    absl::MutexLock lock(&store_mu);
    auto idle = [this] {
      store_mu.AssertReaderHeld();
      return store_calls == 0;
    };
    if (!store_mu.AwaitWithTimeout(absl::Condition(&idle), kMaxShutdownGrace)) {
      Log(spdlog::level::warn, "edge: store calls still pending at shutdown");
    }
  }
  ioc.stop();
  for (std::thread& t : threads) t.join();
  threads.clear();
  if (spare_fd >= 0) ::close(spare_fd);
  spare_fd = -1;
}

EdgeServer::EdgeServer(EdgeOptions options, storage::Store& store, Hub& hub,
                       Metrics& metrics)
    : impl_(std::make_shared<Impl>(std::move(options), store, hub, metrics)) {}

EdgeServer::~EdgeServer() { Shutdown(); }

absl::Status EdgeServer::Start() {
  Impl& impl = *impl_;
  if (impl.started || impl.shut_down) {
    return absl::FailedPreconditionError("EdgeServer already started");
  }
  if (absl::Status s = impl.options.Validate(); !s.ok()) return s;
  if (absl::Status s = impl.LoadTls(); !s.ok()) return s;
  if (absl::Status s = impl.Listen(); !s.ok()) return s;
  impl.started = true;
  impl.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  impl.Accept();
  int n = std::max(1, impl.options.io_threads);
  for (int i = 0; i < n; ++i) {
    impl.threads.emplace_back([&impl] {
      NameThisThread("http-io");
      impl.ioc.run();
    });
  }
  Log(spdlog::level::info, "edge: serving",
      {{"role", impl.options.role == EdgeRole::kAdmin ? "admin" : "public"},
       {"scheme", impl.tls ? "https" : "http"},
       {"listen", impl.options.listen},
       {"port", impl.bound_port.load()}});
  return absl::OkStatus();
}

uint16_t EdgeServer::port() const { return impl_->bound_port.load(); }

void EdgeServer::SetReady(bool ready) { impl_->ready.store(ready); }

bool EdgeServer::accepting() const { return impl_->accepting.load(); }

void EdgeServer::Shutdown() { impl_->Shutdown(); }

}  // namespace notifyd::edge
