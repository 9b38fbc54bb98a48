// inbox_bench: the performance goals of the inbox (issue #13,
// docs/BENCHMARKS.md "The inbox"), against a running notifyd started with
// --insecure_dev_identity (the user is ?user=, on every inbox route).
//
//   --scenario=get   One HTTP/1.1 keep-alive connection sends --requests
//                    sequential GETs of --path (after --warmup_requests
//                    unmeasured ones) and times each from the first byte
//                    written to the last byte of the response read. Every
//                    answer must be 200. E.g.
//                    --path='/v1/inbox/counts?user=big'.
//
//   --scenario=tabs  "Other tabs": --stream_users users (u0, u1, ...) each
//                    hold --streams_per_user SSE streams (/v1/stream?user=),
//                    and state changes are posted at --rate/s (open loop)
//                    for --warmup + --duration, each for a user drawn
//                    uniformly from --users users, as
//                    POST /v1/inbox/state {"ids":[ID],"read":true} on one of
//                    --pub_connections keep-alive connections ("tab 1").
//                    The ids are the users' unread notifications, listed
//                    first with GET /v1/inbox?filter=unread (so the store
//                    must hold some for every user). Latency: from the POST
//                    being written to `event: state` naming that id arriving
//                    on each of the user's streams but the first (the first
//                    stands for tab 1's own stream and is timed apart), so
//                    streams_per_user - 1 samples per change to a user with
//                    streams. Changes to users without streams only load the
//                    server.
//
// Everything runs in this process on one steady clock: no stamp in the
// payload is needed, the sender notes when it wrote each id.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/asio_connect.h"
#include "bench/bench_util.h"
#include "bench/http_conn.h"
#include "bench/latency_histogram.h"
#include "bench/sse_parser.h"

ABSL_FLAG(std::string, scenario, "get", "get or tabs");
ABSL_FLAG(std::string, target, "127.0.0.1:8080", "notifyd HTTP host:port");
ABSL_FLAG(std::string, path, "/v1/inbox/counts?user=big",
          "get: the request target");
ABSL_FLAG(int, requests, 5000, "get: measured requests");
ABSL_FLAG(int, warmup_requests, 500, "get: unmeasured requests first");
ABSL_FLAG(absl::Duration, max_time, absl::Seconds(60),
          "get: stop measuring after this long even if fewer than --requests "
          "were made (warm-up stops after a tenth of it)");
ABSL_FLAG(int, users, 10000, "tabs: users state changes are spread over");
ABSL_FLAG(int, stream_users, 1000, "tabs: users u0.. that hold streams");
ABSL_FLAG(int, streams_per_user, 10, "tabs: streams each of them holds");
ABSL_FLAG(std::string, user_prefix, "u", "tabs: user id = prefix + index");
ABSL_FLAG(int, source_addrs, 2,
          "tabs: spread streams over 127.0.0.1 .. 127.0.0.<N>");
ABSL_FLAG(int, threads, 2, "tabs: I/O threads reading the streams");
ABSL_FLAG(int, connect_concurrency, 256, "tabs: streams in set-up at once");
ABSL_FLAG(int, list_limit, 500, "tabs: unread ids listed per user (<= 500)");
ABSL_FLAG(double, rate, 1000, "tabs: state changes per second");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2),
          "tabs: unmeasured posting first");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(15),
          "tabs: measured posting");
ABSL_FLAG(int, pub_connections, 32,
          "tabs: keep-alive connections (one thread each) posting changes");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "tabs: how long to wait for outstanding deliveries");
ABSL_FLAG(uint32_t, seed, 13, "tabs: seed of the user draw");

namespace notifyd::bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

int64_t NowNs() { return Ns(SteadyClock::now().time_since_epoch()); }

void PrintHistogram(const char* label, const LatencyHistogram& h) {
  std::printf(
      "%s: p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms "
      "mean=%.3fms (n=%llu)\n",
      label, h.Percentile(0.50) / 1e6, h.Percentile(0.90) / 1e6,
      h.Percentile(0.99) / 1e6, h.Percentile(0.999) / 1e6, h.max_ns() / 1e6,
      h.mean_ns() / 1e6, static_cast<unsigned long long>(h.count()));
}

// ---- get
// ---------------------------------------------------------------------

int RunGet(const Target& target) {
  const std::string path = absl::GetFlag(FLAGS_path);
  HttpConn conn;
  if (absl::Status s = conn.Connect(target); !s.ok()) {
    std::fprintf(stderr, "inbox_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string request = conn.RequestText("GET", path, {});
  LatencyHistogram h;
  size_t bytes = 0;
  std::string first_body;
  const int warmup = absl::GetFlag(FLAGS_warmup_requests);
  const int total = warmup + absl::GetFlag(FLAGS_requests);
  const int64_t max_ns =
      absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_max_time));
  const int64_t start_ns = NowNs();
  int64_t measure_from_ns = 0;
  int warmed = warmup;
  bool capped = false;
  for (int i = 0; i < total; ++i) {
    if (i < warmup && NowNs() - start_ns > max_ns / 10) {
      warmed = i;  // warm-up cut short; measure from here
      i = warmup;
    }
    if (i == warmup) measure_from_ns = NowNs();
    if (i > warmup && NowNs() - measure_from_ns > max_ns) {
      capped = true;
      break;
    }
    int64_t t0 = NowNs();
    absl::Status s = conn.Write(request);
    absl::StatusOr<Response> r =
        s.ok() ? conn.Read() : absl::StatusOr<Response>(s);
    int64_t t1 = NowNs();
    if (!r.ok() || r->status != 200) {
      std::fprintf(stderr, "inbox_bench: GET %s: %s\n", path.c_str(),
                   r.ok()
                       ? absl::StrCat("HTTP ", r->status, " ", r->body).c_str()
                       : r.status().ToString().c_str());
      return 1;
    }
    if (i == 0) first_body = r->body;
    if (i >= warmup) {
      h.Record(t1 - t0);
      bytes += r->body.size();
    }
  }
  std::printf(
      "GET %s: %llu sequential requests on one keep-alive connection "
      "(after %d unmeasured)%s, %.0f body bytes each\n",
      path.c_str(), static_cast<unsigned long long>(h.count()), warmed,
      capped ? absl::StrCat(", stopped at --max_time=",
                            absl::FormatDuration(absl::GetFlag(FLAGS_max_time)))
                   .c_str()
             : "",
      static_cast<double>(bytes) / std::max<uint64_t>(h.count(), 1));
  std::printf("first body: %s\n",
              first_body.size() > 160
                  ? absl::StrCat(first_body.substr(0, 160), "...").c_str()
                  : first_body.c_str());
  PrintHistogram("latency", h);
  return 0;
}

// ---- tabs
// ----------------------------------------------------------------------

// When each id's state change was written (steady ns), 0 = not yet; and
// from when on changes are measured. Written by the posting threads, read
// by the stream threads.
std::unique_ptr<std::atomic<int64_t>[]> g_sent_ns;
uint64_t g_max_id = 0;
std::atomic<int64_t> g_measure_from_ns{INT64_MAX};

struct alignas(64) Worker {
  asio::io_context io{1};
  std::vector<char> buffer = std::vector<char>(64 * 1024);
  LatencyHistogram others;  // streams 1.. of a user
  LatencyHistogram own;     // stream 0 ("tab 1's own")
  std::atomic<uint64_t> established{0};
  std::atomic<uint64_t> ready{0};  // got the first event (counts)
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> received{0};  // measured deliveries to streams 1..
  std::atomic<uint64_t> unknown{0};   // state events naming an id not sent
  absl::Mutex error_mu;
  std::string first_error ABSL_GUARDED_BY(error_mu);
  void Error(const std::string& e) {
    absl::MutexLock lock(&error_mu);
    if (first_error.empty()) first_error = e;
  }
};

std::atomic<int> g_in_setup{0};

// The ids in `data` = {"ids":[1,2],...}.
void ForEachId(std::string_view data, const std::function<void(uint64_t)>& fn) {
  size_t at = data.find("\"ids\":[");
  if (at == std::string_view::npos) return;
  at += 7;
  uint64_t v = 0;
  bool in_number = false;
  for (; at < data.size(); ++at) {
    char c = data[at];
    if (c >= '0' && c <= '9') {
      v = v * 10 + static_cast<uint64_t>(c - '0');
      in_number = true;
      continue;
    }
    if (in_number) fn(v);
    v = 0;
    in_number = false;
    if (c == ']') return;
  }
}

class Stream final : public SseParser::Listener {
 public:
  Stream(Worker* worker, tcp::endpoint server, asio::ip::address_v4 source,
         std::string request, bool own)
      : worker_(worker),
        socket_(worker->io),
        server_(server),
        source_(source),
        request_(std::move(request)),
        own_(own) {}

  void Start() {
    asio::post(worker_->io, [this] { Connect(); });
  }
  void Close() {
    asio::post(worker_->io, [this] {
      closing_ = true;
      boost::system::error_code ec;
      socket_.close(ec);
    });
  }

 private:
  void Connect() {
    ConnectAndSend(socket_, source_, server_, request_,
                   [this](const std::string& error) {
                     if (!error.empty()) return Fail(error);
                     WaitRead();
                   });
  }

  void WaitRead() {
    socket_.async_wait(tcp::socket::wait_read,
                       [this](boost::system::error_code ec) {
                         if (ec) return Ended(ec.message());
                         ReadAvailable();
                       });
  }

  void ReadAvailable() {
    for (int round = 0; round < 8; ++round) {
      boost::system::error_code ec;
      size_t n = socket_.read_some(asio::buffer(worker_->buffer), ec);
      if (ec == asio::error::would_block) break;
      if (ec) {
        return Ended(ec == asio::error::eof ? "closed by server"
                                            : ec.message());
      }
      if (!parser_.Feed(std::string_view(worker_->buffer.data(), n), this)) {
        return Ended(parser_.error());
      }
      if (closing_) return;
      if (n < worker_->buffer.size()) break;
    }
    WaitRead();
  }

  void OnHeaders(int status) override {
    if (status != 200) return Fail(absl::StrCat("HTTP ", status));
    established_ = true;
    g_in_setup.fetch_sub(1, std::memory_order_relaxed);
    worker_->established.fetch_add(1, std::memory_order_relaxed);
  }

  void OnEvent(std::string_view, std::string_view event,
               std::string_view data) override {
    if (++events_ == 1) worker_->ready.fetch_add(1, std::memory_order_relaxed);
    if (event != "state") return;
    const int64_t now = NowNs();
    ForEachId(data, [&](uint64_t id) {
      int64_t sent =
          id <= g_max_id ? g_sent_ns[id].load(std::memory_order_acquire) : 0;
      if (sent == 0) {
        worker_->unknown.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (sent < g_measure_from_ns.load(std::memory_order_relaxed)) return;
      if (own_) {
        worker_->own.Record(now - sent);
      } else {
        worker_->others.Record(now - sent);
        worker_->received.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  void Fail(const std::string& why) {
    if (closing_) return;
    closing_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    g_in_setup.fetch_sub(1, std::memory_order_relaxed);
    worker_->failed.fetch_add(1, std::memory_order_relaxed);
    worker_->Error(why);
  }

  void Ended(const std::string& why) {
    if (closing_) return;
    if (!established_) return Fail(why);
    closing_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    worker_->dropped.fetch_add(1, std::memory_order_relaxed);
    worker_->Error(absl::StrCat("after set-up: ", why));
  }

  Worker* worker_;
  tcp::socket socket_;
  tcp::endpoint server_;
  asio::ip::address_v4 source_;
  std::string request_;
  const bool own_;
  SseParser parser_;
  bool established_ = false;
  bool closing_ = false;
  uint64_t events_ = 0;
};

// The unread ids of every user, from GET /v1/inbox?filter=unread, newest
// first, listed over `conns` connections in parallel.
absl::StatusOr<std::vector<std::vector<uint64_t>>> ListUnread(
    const Target& target, const std::string& prefix, int users, int limit,
    int conns) {
  std::vector<std::vector<uint64_t>> ids(users);
  std::atomic<int> next{0};
  std::mutex mu;
  absl::Status error;
  std::vector<std::thread> threads;
  for (int t = 0; t < conns; ++t) {
    threads.emplace_back([&] {
      HttpConn conn;
      absl::Status s = conn.Connect(target);
      for (int u; s.ok() && (u = next.fetch_add(1)) < users;) {
        absl::StatusOr<Response> r =
            conn.Exchange("GET", absl::StrCat("/v1/inbox?user=", prefix, u,
                                              "&filter=unread&limit=", limit));
        if (!r.ok()) {
          s = r.status();
        } else if (r->status != 200) {
          s = absl::InternalError(
              absl::StrCat("HTTP ", r->status, " ", r->body));
        } else {
          // Each notification starts {"id":N,...; payloads are JSON strings,
          // so an "id": inside one is escaped and never matches.
          absl::string_view body = r->body;
          for (size_t at = 0;
               (at = body.find("{\"id\":", at)) != absl::string_view::npos;) {
            at += 6;
            uint64_t id = 0;
            while (at < body.size() && body[at] >= '0' && body[at] <= '9') {
              id = id * 10 + static_cast<uint64_t>(body[at++] - '0');
            }
            ids[u].push_back(id);
          }
        }
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        error = s;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (!error.ok()) return error;
  return ids;
}

struct Job {
  int user;
  uint64_t id;
  SteadyClock::time_point due;
};

int RunTabs(const Target& target) {
  const std::string prefix = absl::GetFlag(FLAGS_user_prefix);
  const int users = absl::GetFlag(FLAGS_users);
  const int stream_users = std::min(absl::GetFlag(FLAGS_stream_users), users);
  const int per_user = absl::GetFlag(FLAGS_streams_per_user);
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int pub_connections = absl::GetFlag(FLAGS_pub_connections);

  // 1. Every user's unread ids.
  auto t_list = SteadyClock::now();
  absl::StatusOr<std::vector<std::vector<uint64_t>>> unread =
      ListUnread(target, prefix, users, absl::GetFlag(FLAGS_list_limit), 8);
  if (!unread.ok()) {
    std::fprintf(stderr, "inbox_bench: listing: %s\n",
                 unread.status().ToString().c_str());
    return 1;
  }
  uint64_t listed = 0;
  size_t fewest = SIZE_MAX;
  for (const auto& v : *unread) {
    listed += v.size();
    fewest = std::min(fewest, v.size());
    for (uint64_t id : v) g_max_id = std::max(g_max_id, id);
  }
  std::printf("listed %llu unread ids of %d users (fewest %zu) in %s\n",
              static_cast<unsigned long long>(listed), users, fewest,
              FormatNs(Ns(SteadyClock::now() - t_list)).c_str());
  g_sent_ns.reset(new std::atomic<int64_t>[g_max_id + 1]);
  for (uint64_t i = 0; i <= g_max_id; ++i) g_sent_ns[i].store(0);

  // 2. The streams.
  const int nthreads = std::max(1, absl::GetFlag(FLAGS_threads));
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < nthreads; ++i)
    workers.push_back(std::make_unique<Worker>());
  tcp::endpoint server(asio::ip::make_address_v4(target.host), target.port);
  std::vector<std::unique_ptr<Stream>> streams;
  const int total_streams = stream_users * per_user;
  const int sources = std::max(1, absl::GetFlag(FLAGS_source_addrs));
  for (int i = 0; i < total_streams; ++i) {
    int user = i / per_user;
    asio::ip::address_v4 source(0x7f000001u +
                                static_cast<uint32_t>(i % sources));
    std::string request =
        absl::StrCat("GET /v1/stream?user=", prefix, user,
                     " HTTP/1.1\r\nHost: ", target.host, ":", target.port,
                     "\r\nAccept: text/event-stream\r\n\r\n");
    streams.push_back(
        std::make_unique<Stream>(workers[i % nthreads].get(), server, source,
                                 std::move(request), i % per_user == 0));
  }
  std::vector<std::thread> io_threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>>
      guards;
  for (auto& w : workers) {
    guards.push_back(asio::make_work_guard(w->io));
    io_threads.emplace_back([w = w.get()] { w->io.run(); });
  }
  auto sum = [&](std::atomic<uint64_t> Worker::*field) {
    uint64_t n = 0;
    for (auto& w : workers) n += (w.get()->*field).load();
    return n;
  };
  auto t_open = SteadyClock::now();
  const int concurrency = absl::GetFlag(FLAGS_connect_concurrency);
  for (int i = 0; i < total_streams; ++i) {
    while (g_in_setup.load() >= concurrency) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    g_in_setup.fetch_add(1);
    streams[i]->Start();
  }
  while (sum(&Worker::ready) + sum(&Worker::failed) + sum(&Worker::dropped) <
             static_cast<uint64_t>(total_streams) &&
         SteadyClock::now() - t_open < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf(
      "streams: %llu of %d open with their first event (%d users x "
      "%d) in %s; failed %llu, dropped %llu\n",
      static_cast<unsigned long long>(sum(&Worker::ready)), total_streams,
      stream_users, per_user, FormatNs(Ns(SteadyClock::now() - t_open)).c_str(),
      static_cast<unsigned long long>(sum(&Worker::failed)),
      static_cast<unsigned long long>(sum(&Worker::dropped)));
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // 3. Post state changes, open loop.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;
  bool done = false;
  std::atomic<uint64_t> expected{0}, posted{0}, measured_posts{0},
      post_errors{0}, unchanged{0};
  std::vector<LatencyHistogram> ack(pub_connections), lag(pub_connections);
  std::string post_error;
  std::vector<std::thread> senders;
  for (int c = 0; c < pub_connections; ++c) {
    senders.emplace_back([&, c] {
      HttpConn conn;
      absl::Status s = conn.Connect(target);
      for (;;) {
        Job job;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return done || !queue.empty(); });
          if (queue.empty()) return;
          job = queue.front();
          queue.pop_front();
        }
        std::string request = conn.RequestText(
            "POST", absl::StrCat("/v1/inbox/state?user=", prefix, job.user),
            absl::StrCat("{\"ids\":[", job.id, "],\"read\":true}"));
        absl::StatusOr<Response> r =
            s.ok() ? absl::UnavailableError("not sent") : s;
        int64_t sent = NowNs();
        g_sent_ns[job.id].store(sent, std::memory_order_release);
        if (s.ok()) {
          s = conn.Write(request);
          r = s.ok() ? conn.Read() : absl::StatusOr<Response>(s);
        }
        int64_t answered = NowNs();
        posted.fetch_add(1);
        bool ok = r.ok() && r->status == 200;
        if (!ok) {
          post_errors.fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          if (post_error.empty()) {
            post_error = r.ok() ? absl::StrCat("HTTP ", r->status, " ", r->body)
                                : r.status().ToString();
          }
          if (!r.ok()) s = r.status();
          continue;
        }
        if (r->body != "{\"changed\":1}") unchanged.fetch_add(1);
        if (sent >= g_measure_from_ns.load()) {
          measured_posts.fetch_add(1);
          ack[c].Record(answered - Ns(job.due.time_since_epoch()));
          lag[c].Record(sent - Ns(job.due.time_since_epoch()));
          if (job.user < stream_users) expected.fetch_add(per_user - 1);
        }
      }
    });
  }
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  std::uniform_int_distribution<int> pick(0, users - 1);
  uint64_t exhausted = 0;
  auto t_post = SteadyClock::now();
  g_measure_from_ns.store(
      Ns((t_post + absl::ToChronoNanoseconds(warmup)).time_since_epoch()));
  uint64_t issued = RunOpenLoop(
      rate, warmup + duration, [&](uint64_t, SteadyClock::time_point due) {
        int user = pick(rng);
        for (int tries = 0; (*unread)[user].empty() && tries < users; ++tries) {
          user = (user + 1) % users;
        }
        if ((*unread)[user].empty()) {
          ++exhausted;
          return;
        }
        uint64_t id = (*unread)[user].back();
        (*unread)[user].pop_back();
        {
          std::lock_guard<std::mutex> lock(mu);
          queue.push_back(Job{user, id, due});
        }
        cv.notify_one();
      });
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  for (std::thread& t : senders) t.join();
  auto t_sent = SteadyClock::now();

  // 4. Wait for the deliveries.
  auto deadline =
      t_sent + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_drain_timeout));
  while (sum(&Worker::received) < expected.load() &&
         SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& s : streams) s->Close();
  guards.clear();
  for (std::thread& t : io_threads) t.join();

  LatencyHistogram others, own, ack_all, lag_all;
  std::string stream_error;
  for (auto& w : workers) {
    others.Merge(w->others);
    own.Merge(w->own);
    absl::MutexLock lock(&w->error_mu);
    if (stream_error.empty()) stream_error = w->first_error;
  }
  for (int c = 0; c < pub_connections; ++c) {
    ack_all.Merge(ack[c]);
    lag_all.Merge(lag[c]);
  }
  double posted_s = absl::ToDoubleSeconds(absl::FromChrono(t_sent - t_post));
  std::printf(
      "posted: %llu state changes in %.1fs (%.0f/s offered over %d "
      "users, %d connections); measured %llu; errors %llu; "
      "changed nothing %llu; users out of ids %llu\n",
      static_cast<unsigned long long>(posted.load()), posted_s, rate, users,
      pub_connections, static_cast<unsigned long long>(measured_posts.load()),
      static_cast<unsigned long long>(post_errors.load()),
      static_cast<unsigned long long>(unchanged.load()),
      static_cast<unsigned long long>(exhausted));
  if (!post_error.empty())
    std::printf("first post error: %s\n", post_error.c_str());
  (void)issued;
  PrintHistogram("post: schedule -> written (client lag)", lag_all);
  PrintHistogram("post: schedule -> {\"changed\":1}", ack_all);
  PrintHistogram("state: post written -> own stream (tab 1)", own);
  PrintHistogram("state: post written -> each other stream", others);
  uint64_t got = sum(&Worker::received);
  std::printf(
      "deliveries to other streams: %llu of %llu expected, missing "
      "%llu; state events naming an unsent id: %llu; streams dropped "
      "%llu\n",
      static_cast<unsigned long long>(got),
      static_cast<unsigned long long>(expected.load()),
      static_cast<unsigned long long>(
          expected.load() > got ? expected.load() - got : 0),
      static_cast<unsigned long long>(sum(&Worker::unknown)),
      static_cast<unsigned long long>(sum(&Worker::dropped)));
  if (!stream_error.empty())
    std::printf("first stream error: %s\n", stream_error.c_str());
  return got >= expected.load() && post_errors.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace notifyd::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "inbox_bench --scenario=get|tabs --target=127.0.0.1:PORT [flags]");
  absl::ParseCommandLine(argc, argv);
  using namespace notifyd::bench;
  std::printf("machine: %s\ncommand: %s\n", MachineSummary().c_str(),
              CommandLine(argc, argv).c_str());
  absl::StatusOr<Target> target = ParseTarget(absl::GetFlag(FLAGS_target));
  if (!target.ok()) {
    std::fprintf(stderr, "inbox_bench: %s\n",
                 target.status().ToString().c_str());
    return 2;
  }
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  int rc;
  if (scenario == "get") {
    rc = RunGet(*target);
  } else if (scenario == "tabs") {
    rc = RunTabs(*target);
  } else {
    std::fprintf(stderr, "inbox_bench: --scenario must be get or tabs\n");
    return 2;
  }
  std::fflush(stdout);
  return rc;
}
