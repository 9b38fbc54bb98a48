// h2_load: SSE streams over HTTP/2 (and, in the same run, over HTTP/1.1)
// against notifyd's TLS edge: what many browsers with many tabs cost it.
//
//   1. Reads the server's RSS (--server_pid), opens --h2_connections TLS
//      connections (ALPN h2) with --streams_per_connection SSE streams each,
//      waits --settle, reads the RSS again: bytes per h2 stream.
//   2. Opens --h1_connections TLS connections (ALPN http/1.1), one stream
//      each, and reads the RSS again: bytes per HTTP/1.1 stream.
//   3. Publishes stamped payloads ({"t":<ns>}, bench_util.h) to the channel
//      every stream listens on, at --rate for --duration, over gRPC (TLS,
//      --ca): fan-out deliveries/s, and publish -> SSE latency percentiles
//      for h2 and HTTP/1.1 streams separately.
//
// Streams are /v1/stream?user=<prefix><i>&channels=<channel> (the server
// needs --insecure_dev_identity and --stream_open_rate=0, and
// --max_streams_per_user >= 1 since every stream has its own user).
// Set-up is blocking, one connection at a time per thread; then each thread
// runs an epoll loop over its connections. One process keeps one socket per
// connection: stay under ulimit -n.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/latency_histogram.h"
#include "bench/sse_parser.h"
#include "grpcpp/grpcpp.h"
#include "notify/v1/notify.grpc.pb.h"
#include "openssl/ssl.h"

ABSL_FLAG(int, port, 8080, "notifyd's TLS HTTP port on 127.0.0.1");
ABSL_FLAG(std::string, ca, "", "PEM CA of notifyd's certificate (HTTP, gRPC)");
ABSL_FLAG(int, h2_connections, 1000, "HTTP/2 connections");
ABSL_FLAG(int, streams_per_connection, 19, "SSE streams per h2 connection");
ABSL_FLAG(int, h1_connections, 1000, "HTTP/1.1 connections (one stream each)");
ABSL_FLAG(std::string, user_prefix, "b", "user of stream i: prefix + i");
ABSL_FLAG(std::string, channel, "bench", "the channel every stream reads");
ABSL_FLAG(int, threads, 2, "client threads");
ABSL_FLAG(int, server_pid, 0, "notifyd's pid, for its VmRSS");
ABSL_FLAG(absl::Duration, settle, absl::Seconds(3), "wait before RSS reads");
ABSL_FLAG(std::string, pub_target, "127.0.0.1:50051", "notifyd gRPC");
ABSL_FLAG(double, rate, 10, "publishes per second");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(20), "publishing time");
ABSL_FLAG(int, payload_bytes, 100, "payload size");

namespace notifyd::bench {
namespace {

// One stream's unfinished line and what it counts into.
struct StreamLines {
  std::string partial;
};

struct Thread;

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  nghttp2_session* h2 = nullptr;  // null: HTTP/1.1
  SseParser h1;
  std::vector<StreamLines> streams;  // h2: by (id - 1) / 2
  std::string unsent;                // h2 frames SSL_write could not take
  Thread* thread = nullptr;
};

struct Thread : SseParser::Listener {
  std::vector<std::unique_ptr<Conn>> conns;
  LatencyHistogram h2_latency, h1_latency;
  std::atomic<uint64_t> delivered{0};
  std::atomic<bool> recording{false};
  void OnHeaders(int) override {}
  void OnEvent(std::string_view, std::string_view,
               std::string_view data) override {
    Record(data, &h1_latency);
  }
  void Record(std::string_view data, LatencyHistogram* h) {
    int64_t t = 0;
    if (!ParseStamp(data, &t)) return;
    delivered.fetch_add(1, std::memory_order_relaxed);
    if (recording.load(std::memory_order_relaxed)) h->Record(RealtimeNs() - t);
  }
};

SSL_CTX* NewContext(const std::string& ca) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  return ctx;
}

// Connects and handshakes (blocking), offering `alpn` (wire format).
bool Dial(Conn& c, SSL_CTX* ctx, int port, const unsigned char* alpn,
          unsigned alpn_len) {
  c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return false;
  }
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c.ssl = SSL_new(ctx);
  SSL_set_alpn_protos(c.ssl, alpn, alpn_len);
  SSL_set_fd(c.ssl, c.fd);
  return SSL_connect(c.ssl) == 1;
}

int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data,
           size_t len, void* user) {
  Conn& c = *static_cast<Conn*>(user);
  StreamLines& s = c.streams[(id - 1) / 2];
  s.partial.append(reinterpret_cast<const char*>(data), len);
  size_t start = 0;
  for (size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos;
       start = nl + 1) {
    std::string_view line(s.partial.data() + start, nl - start);
    if (line.starts_with("data: "))
      c.thread->Record(line, &c.thread->h2_latency);
  }
  s.partial.erase(0, start);
  return 0;
}

void FlushH2(Conn& c) {
  for (;;) {
    if (c.unsent.empty()) {
      const uint8_t* out = nullptr;
      ssize_t n = nghttp2_session_mem_send(c.h2, &out);
      if (n <= 0) return;
      c.unsent.assign(reinterpret_cast<const char*>(out), n);
    }
    int w =
        SSL_write(c.ssl, c.unsent.data(), static_cast<int>(c.unsent.size()));
    if (w <= 0) return;  // WANT_WRITE: retried on the next read
    c.unsent.erase(0, w);
  }
}

bool OpenH2(Conn& c, SSL_CTX* ctx, int port, int first_user, int streams) {
  static const unsigned char kH2[] = "\x02h2";
  if (!Dial(c, ctx, port, kH2, 3)) return false;
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, OnData);
  nghttp2_session_client_new(&c.h2, cb, &c);
  nghttp2_session_callbacks_del(cb);
  // Browser-sized windows: 6 MiB per stream, 15 MiB per connection.
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 6 << 20}};
  nghttp2_submit_settings(c.h2, NGHTTP2_FLAG_NONE, iv, 1);
  nghttp2_submit_window_update(c.h2, NGHTTP2_FLAG_NONE, 0, 15 << 20);
  std::string authority = absl::StrCat("127.0.0.1:", port);
  c.streams.resize(streams);
  for (int i = 0; i < streams; ++i) {
    std::string path = absl::StrCat(
        "/v1/stream?user=", absl::GetFlag(FLAGS_user_prefix), first_user + i,
        "&channels=", absl::GetFlag(FLAGS_channel));
    auto nv = [](const char* n, const std::string& v) {
      return nghttp2_nv{(uint8_t*)n, (uint8_t*)v.data(), strlen(n), v.size(),
                        NGHTTP2_NV_FLAG_NONE};
    };
    std::string get = "GET", https = "https";
    nghttp2_nv nva[] = {nv(":method", get), nv(":scheme", https),
                        nv(":authority", authority), nv(":path", path)};
    nghttp2_submit_request(c.h2, nullptr, nva, 4, nullptr, nullptr);
  }
  FlushH2(c);
  return c.unsent.empty();
}

bool OpenH1(Conn& c, SSL_CTX* ctx, int port, int user) {
  static const unsigned char kH1[] = "\x08http/1.1";
  if (!Dial(c, ctx, port, kH1, 9)) return false;
  std::string req = absl::StrCat(
      "GET /v1/stream?user=", absl::GetFlag(FLAGS_user_prefix), user,
      "&channels=", absl::GetFlag(FLAGS_channel),
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
  return SSL_write(c.ssl, req.data(), static_cast<int>(req.size())) > 0;
}

void Loop(Thread& t, const std::atomic<bool>& stop) {
  int ep = epoll_create1(0);
  for (auto& c : t.conns) {
    ::fcntl(c->fd, F_SETFL, ::fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{EPOLLIN, {.ptr = c.get()}};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  std::vector<epoll_event> events(256);
  char buf[16384];
  while (!stop.load()) {
    int n = epoll_wait(ep, events.data(), events.size(), 100);
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      for (;;) {
        int got = SSL_read(c.ssl, buf, sizeof(buf));
        if (got <= 0) break;
        if (c.h2) {
          nghttp2_session_mem_recv(c.h2, reinterpret_cast<uint8_t*>(buf), got);
        } else {
          c.h1.Feed({buf, static_cast<size_t>(got)}, &t);
        }
      }
      if (c.h2) FlushH2(c);
    }
  }
  ::close(ep);
}

int64_t Rss() {
  int pid = absl::GetFlag(FLAGS_server_pid);
  return pid > 0 ? ReadRssBytes(pid, false) : -1;
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::printf("# %s\n# %s\n", CommandLine(argc, argv).c_str(),
              MachineSummary().c_str());
  const int port = absl::GetFlag(FLAGS_port);
  const int nthreads = absl::GetFlag(FLAGS_threads);
  const int h2n = absl::GetFlag(FLAGS_h2_connections);
  const int per = absl::GetFlag(FLAGS_streams_per_connection);
  const int h1n = absl::GetFlag(FLAGS_h1_connections);
  SSL_CTX* ctx = NewContext(absl::GetFlag(FLAGS_ca));
  std::vector<Thread> threads(nthreads);
  const absl::Duration settle = absl::GetFlag(FLAGS_settle);

  int64_t rss0 = Rss();
  auto t0 = SteadyClock::now();
  for (int i = 0; i < h2n; ++i) {
    auto c = std::make_unique<Conn>();
    c->thread = &threads[i % nthreads];
    if (!OpenH2(*c, ctx, port, i * per, per)) {
      std::fprintf(stderr, "h2 connection %d failed\n", i);
      return 1;
    }
    threads[i % nthreads].conns.push_back(std::move(c));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> loops;
  for (auto& t : threads) loops.emplace_back([&t, &stop] { Loop(t, stop); });
  absl::SleepFor(settle);
  int64_t rss_h2 = Rss();
  std::printf("h2: %d streams on %d connections up in %.1f s\n", h2n * per, h2n,
              Ns(SteadyClock::now() - t0) / 1e9);
  if (rss0 > 0) {
    std::printf("h2: server RSS +%.1f MiB, %.0f bytes per stream\n",
                (rss_h2 - rss0) / 1048576.0,
                double(rss_h2 - rss0) / std::max(1, h2n * per));
  }
  // HTTP/1.1 streams join the running loops: stop, add, restart.
  stop = true;
  for (auto& l : loops) l.join();
  loops.clear();
  for (int i = 0; i < h1n; ++i) {
    auto c = std::make_unique<Conn>();
    c->thread = &threads[i % nthreads];
    if (!OpenH1(*c, ctx, port, h2n * per + i)) {
      std::fprintf(stderr, "h1 connection %d failed\n", i);
      return 1;
    }
    threads[i % nthreads].conns.push_back(std::move(c));
  }
  stop = false;
  for (auto& t : threads) loops.emplace_back([&t, &stop] { Loop(t, stop); });
  absl::SleepFor(settle);
  int64_t rss_h1 = Rss();
  if (rss0 > 0 && h1n > 0) {
    std::printf("h1: server RSS +%.1f MiB, %.0f bytes per stream\n",
                (rss_h1 - rss_h2) / 1048576.0, double(rss_h1 - rss_h2) / h1n);
  }

  grpc::SslCredentialsOptions tls;
  {
    FILE* f = std::fopen(absl::GetFlag(FLAGS_ca).c_str(), "r");
    char b[8192];
    size_t n = f ? std::fread(b, 1, sizeof(b), f) : 0;
    if (f) std::fclose(f);
    tls.pem_root_certs.assign(b, n);
  }
  auto stub = notify::v1::Notifier::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_pub_target), grpc::SslCredentials(tls)));
  for (auto& t : threads) t.recording = true;
  uint64_t before = 0;
  for (auto& t : threads) before += t.delivered.load();
  auto p0 = SteadyClock::now();
  uint64_t published = RunOpenLoop(
      absl::GetFlag(FLAGS_rate), absl::GetFlag(FLAGS_duration),
      [&](uint64_t seq, SteadyClock::time_point) {
        notify::v1::PublishRequest r;
        r.set_channel(absl::GetFlag(FLAGS_channel));
        r.set_data(StampedPayload(RealtimeNs(), seq,
                                  absl::GetFlag(FLAGS_payload_bytes)));
        notify::v1::PublishResponse out;
        grpc::ClientContext ctx;
        grpc::Status s = stub->Publish(&ctx, r, &out);
        if (!s.ok())
          std::fprintf(stderr, "publish: %s\n", s.error_message().c_str());
      });
  // Deliveries per second of publishing; the last ones may arrive in the
  // 2 s that follow.
  double secs = Ns(SteadyClock::now() - p0) / 1e9;
  absl::SleepFor(absl::Seconds(2));
  stop = true;
  for (auto& l : loops) l.join();
  uint64_t after = 0;
  LatencyHistogram h2_all, h1_all;
  for (auto& t : threads) {
    after += t.delivered.load();
    h2_all.Merge(t.h2_latency);
    h1_all.Merge(t.h1_latency);
  }
  uint64_t expected = published * uint64_t(h2n * per + h1n);
  std::printf(
      "published %llu, delivered %llu of %llu expected, %.0f deliveries/s\n",
      (unsigned long long)published, (unsigned long long)(after - before),
      (unsigned long long)expected, (after - before) / secs);
  std::printf("publish -> SSE h2:       %s\n", h2_all.Summary().c_str());
  std::printf("publish -> SSE HTTP/1.1: %s\n", h1_all.Summary().c_str());
  if (h1_all.count() > 0 && h2_all.count() > 0) {
    std::printf("p99 h2 / HTTP/1.1: %.2f\n",
                double(h2_all.Percentile(0.99)) / h1_all.Percentile(0.99));
  }
  return 0;
}

}  // namespace
}  // namespace notifyd::bench

int main(int argc, char** argv) { return notifyd::bench::Main(argc, argv); }
