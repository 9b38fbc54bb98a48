#include "bench/inbox_tabs.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_util.h"
#include "bench/latency_histogram.h"
#include "bench/sse_stream_client.h"

namespace notifyd::bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

void PrintHistogram(const char* label, const LatencyHistogram& h) {
  std::printf("%s: %s\n", label, h.MsSummary().c_str());
}

// When each id's state change was written (SteadyNs; 0: not yet), and from
// when on changes are measured. Written by the posting threads, read by the
// stream threads.
class SentTimes {
 public:
  explicit SentTimes(uint64_t max_id)
      : max_id_(max_id), ns_(new std::atomic<int64_t>[max_id + 1]) {
    for (uint64_t i = 0; i <= max_id; ++i) ns_[i].store(0);
  }
  void Note(uint64_t id, int64_t ns) {
    ns_[id].store(ns, std::memory_order_release);
  }
  int64_t Of(uint64_t id) const {
    return id <= max_id_ ? ns_[id].load(std::memory_order_acquire) : 0;
  }
  std::atomic<int64_t> measure_from_ns{INT64_MAX};

 private:
  const uint64_t max_id_;
  std::unique_ptr<std::atomic<int64_t>[]> ns_;
};

// What one I/O thread's streams measured. The histograms are touched only
// on that thread (read after it is joined); the counters are polled.
struct alignas(64) TabsStats {
  LatencyHistogram others;            // streams 1.. of a user
  LatencyHistogram own;               // stream 0 ("tab 1's own")
  std::atomic<uint64_t> ready{0};     // streams that got their first event
  std::atomic<uint64_t> received{0};  // measured deliveries to streams 1..
  std::atomic<uint64_t> unknown{0};   // state events naming an id not sent
};

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

// Times each `state` event a stream receives against when its id was sent.
Stream::EventHook TimeStateEvents(TabsStats* stats, const SentTimes* sent,
                                  bool own) {
  return [stats, sent, own](const Stream& stream, std::string_view event,
                            std::string_view data) {
    if (stream.events() == 1) stats->ready.fetch_add(1);
    if (event != "state") return;
    const int64_t now = SteadyNs();
    ForEachId(data, [&](uint64_t id) {
      int64_t at = sent->Of(id);
      if (at == 0) {
        stats->unknown.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (at < sent->measure_from_ns.load(std::memory_order_relaxed)) return;
      if (own) {
        stats->own.Record(now - at);
      } else {
        stats->others.Record(now - at);
        stats->received.fetch_add(1, std::memory_order_relaxed);
      }
    });
  };
}

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

// Every stream of every stream user, on `threads` I/O threads.
class Tabs {
 public:
  Tabs(const TabsOptions& o, const SentTimes* sent) {
    const int nthreads = std::max(1, o.threads);
    for (int i = 0; i < nthreads; ++i) {
      workers_.push_back(std::make_unique<Worker>(&run_));
      stats_.push_back(std::make_unique<TabsStats>());
    }
    tcp::endpoint server(asio::ip::make_address_v4(o.target.host),
                         o.target.port);
    const int sources = std::max(1, o.source_addrs);
    const int total = o.stream_users * o.streams_per_user;
    for (int i = 0; i < total; ++i) {
      asio::ip::address_v4 source(0x7f000001u +
                                  static_cast<uint32_t>(i % sources));
      std::string request = absl::StrCat(
          "GET /v1/stream?user=", o.user_prefix, i / o.streams_per_user,
          " HTTP/1.1\r\nHost: ", o.target.host, ":", o.target.port,
          "\r\nAccept: text/event-stream\r\n\r\n");
      const int w = i % nthreads;
      streams_.push_back(std::make_unique<Stream>(workers_[w].get(), server,
                                                  source, std::move(request)));
      streams_.back()->OnEachEvent(
          TimeStateEvents(stats_[w].get(), sent, i % o.streams_per_user == 0));
    }
    for (auto& w : workers_) {
      guards_.push_back(asio::make_work_guard(w->io));
      threads_.emplace_back([w = w.get()] { w->io.run(); });
    }
  }

  // Starts every stream, `concurrency` in set-up at once, and waits (up to
  // two minutes) until each has its first event or has failed.
  void Open(int concurrency) {
    for (auto& s : streams_) {
      while (run_.in_setup.load() >= concurrency) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      run_.in_setup.fetch_add(1);
      s->Start();
    }
    auto t_open = SteadyClock::now();
    while (Ready() + Sum(&Worker::failed) + Dropped() < streams_.size() &&
           SteadyClock::now() - t_open < std::chrono::seconds(120)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Closes the streams and joins the I/O threads; then the histograms and
  // the first error may be read.
  void Close() {
    for (auto& s : streams_) s->Close();
    guards_.clear();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  uint64_t Ready() const { return SumStats(&TabsStats::ready); }
  uint64_t Received() const { return SumStats(&TabsStats::received); }
  uint64_t Unknown() const { return SumStats(&TabsStats::unknown); }
  uint64_t Failed() const { return Sum(&Worker::failed); }
  uint64_t Dropped() const { return Sum(&Worker::dropped); }
  size_t size() const { return streams_.size(); }

  // After Close().
  LatencyHistogram Merged(LatencyHistogram TabsStats::*field) const {
    LatencyHistogram all;
    for (const auto& s : stats_) all.Merge((*s).*field);
    return all;
  }
  std::string FirstError() { return FirstErrorOf(workers_); }

 private:
  uint64_t Sum(std::atomic<uint64_t> Worker::*field) const {
    return SumOver(workers_, field);
  }
  uint64_t SumStats(std::atomic<uint64_t> TabsStats::*field) const {
    uint64_t n = 0;
    for (const auto& s : stats_) n += ((*s).*field).load();
    return n;
  }

  StreamRun run_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<TabsStats>> stats_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>>
      guards_;
  std::vector<std::thread> threads_;
};

// One state change to post: the user, the id, when it was due.
struct Job {
  int user;
  uint64_t id;
  SteadyClock::time_point due;
};

// What posting the state changes did.
struct Posted {
  uint64_t posted = 0, measured = 0, errors = 0, unchanged = 0;
  uint64_t exhausted = 0;  // draws of a user with no unread id left
  uint64_t expected = 0;   // deliveries to other streams that must arrive
  LatencyHistogram ack, lag;
  std::string first_error;
  double seconds = 0;
};

// Posts state changes at o.rate for warmup + duration (open loop), taking
// ids from `unread`, on o.pub_connections connections.
Posted PostChanges(const TabsOptions& o,
                   std::vector<std::vector<uint64_t>>& unread,
                   SentTimes* sent) {
  const int stream_users = std::min(o.stream_users, o.users);
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;
  bool done = false;
  std::atomic<uint64_t> expected{0}, posted{0}, measured{0}, errors{0},
      unchanged{0};
  std::vector<LatencyHistogram> ack(o.pub_connections), lag(o.pub_connections);
  std::string first_error;
  std::vector<std::thread> senders;
  for (int c = 0; c < o.pub_connections; ++c) {
    senders.emplace_back([&, c] {
      HttpConn conn;
      absl::Status s = conn.Connect(o.target);
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
            "POST",
            absl::StrCat("/v1/inbox/state?user=", o.user_prefix, job.user),
            absl::StrCat("{\"ids\":[", job.id, "],\"read\":true}"));
        absl::StatusOr<Response> r =
            s.ok() ? absl::UnavailableError("not sent") : s;
        int64_t sent_at = SteadyNs();
        sent->Note(job.id, sent_at);
        if (s.ok()) {
          s = conn.Write(request);
          r = s.ok() ? conn.Read() : absl::StatusOr<Response>(s);
        }
        int64_t answered = SteadyNs();
        posted.fetch_add(1);
        if (!r.ok() || r->status != 200) {
          errors.fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) {
            first_error = r.ok()
                              ? absl::StrCat("HTTP ", r->status, " ", r->body)
                              : r.status().ToString();
          }
          if (!r.ok()) s = r.status();
          continue;
        }
        if (r->body != "{\"changed\":1}") unchanged.fetch_add(1);
        if (sent_at >= sent->measure_from_ns.load()) {
          measured.fetch_add(1);
          ack[c].Record(answered - Ns(job.due.time_since_epoch()));
          lag[c].Record(sent_at - Ns(job.due.time_since_epoch()));
          if (job.user < stream_users) {
            expected.fetch_add(o.streams_per_user - 1);
          }
        }
      }
    });
  }
  Posted out;
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int> pick(0, o.users - 1);
  auto t_post = SteadyClock::now();
  sent->measure_from_ns.store(
      Ns((t_post + absl::ToChronoNanoseconds(o.warmup)).time_since_epoch()));
  RunOpenLoop(o.rate, o.warmup + o.duration,
              [&](uint64_t, SteadyClock::time_point due) {
                int user = pick(rng);
                for (int tries = 0; unread[user].empty() && tries < o.users;
                     ++tries) {
                  user = (user + 1) % o.users;
                }
                if (unread[user].empty()) {
                  ++out.exhausted;
                  return;
                }
                uint64_t id = unread[user].back();
                unread[user].pop_back();
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
  out.seconds =
      absl::ToDoubleSeconds(absl::FromChrono(SteadyClock::now() - t_post));
  out.posted = posted.load();
  out.measured = measured.load();
  out.errors = errors.load();
  out.unchanged = unchanged.load();
  out.expected = expected.load();
  for (int c = 0; c < o.pub_connections; ++c) {
    out.ack.Merge(ack[c]);
    out.lag.Merge(lag[c]);
  }
  out.first_error = first_error;
  return out;
}

}  // namespace

int RunTabs(const TabsOptions& o) {
  // 1. Every user's unread ids.
  auto t_list = SteadyClock::now();
  absl::StatusOr<std::vector<std::vector<uint64_t>>> unread =
      ListUnread(o.target, o.user_prefix, o.users, o.list_limit, 8);
  if (!unread.ok()) {
    std::fprintf(stderr, "inbox_bench: listing: %s\n",
                 unread.status().ToString().c_str());
    return 1;
  }
  uint64_t listed = 0, max_id = 0;
  size_t fewest = SIZE_MAX;
  for (const auto& v : *unread) {
    listed += v.size();
    fewest = std::min(fewest, v.size());
    for (uint64_t id : v) max_id = std::max(max_id, id);
  }
  std::printf("listed %llu unread ids of %d users (fewest %zu) in %s\n",
              static_cast<unsigned long long>(listed), o.users, fewest,
              FormatNs(Ns(SteadyClock::now() - t_list)).c_str());
  SentTimes sent(max_id);

  // 2. The streams.
  TabsOptions streaming = o;
  streaming.stream_users = std::min(o.stream_users, o.users);
  Tabs tabs(streaming, &sent);
  auto t_open = SteadyClock::now();
  tabs.Open(o.connect_concurrency);
  std::printf(
      "streams: %llu of %zu open with their first event (%d users x "
      "%d) in %s; failed %llu, dropped %llu\n",
      static_cast<unsigned long long>(tabs.Ready()), tabs.size(),
      streaming.stream_users, o.streams_per_user,
      FormatNs(Ns(SteadyClock::now() - t_open)).c_str(),
      static_cast<unsigned long long>(tabs.Failed()),
      static_cast<unsigned long long>(tabs.Dropped()));
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // 3. Post state changes, open loop.
  Posted p = PostChanges(o, *unread, &sent);

  // 4. Wait for the deliveries.
  auto deadline =
      SteadyClock::now() + absl::ToChronoNanoseconds(o.drain_timeout);
  while (tabs.Received() < p.expected && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  tabs.Close();

  std::printf(
      "posted: %llu state changes in %.1fs (%.0f/s offered over %d "
      "users, %d connections); measured %llu; errors %llu; "
      "changed nothing %llu; users out of ids %llu\n",
      static_cast<unsigned long long>(p.posted), p.seconds, o.rate, o.users,
      o.pub_connections, static_cast<unsigned long long>(p.measured),
      static_cast<unsigned long long>(p.errors),
      static_cast<unsigned long long>(p.unchanged),
      static_cast<unsigned long long>(p.exhausted));
  if (!p.first_error.empty()) {
    std::printf("first post error: %s\n", p.first_error.c_str());
  }
  PrintHistogram("post: schedule -> written (client lag)", p.lag);
  PrintHistogram("post: schedule -> {\"changed\":1}", p.ack);
  PrintHistogram("state: post written -> own stream (tab 1)",
                 tabs.Merged(&TabsStats::own));
  PrintHistogram("state: post written -> each other stream",
                 tabs.Merged(&TabsStats::others));
  const uint64_t got = tabs.Received();
  std::printf(
      "deliveries to other streams: %llu of %llu expected, missing "
      "%llu; state events naming an unsent id: %llu; streams dropped "
      "%llu\n",
      static_cast<unsigned long long>(got),
      static_cast<unsigned long long>(p.expected),
      static_cast<unsigned long long>(p.expected > got ? p.expected - got : 0),
      static_cast<unsigned long long>(tabs.Unknown()),
      static_cast<unsigned long long>(tabs.Dropped()));
  std::string stream_error = tabs.FirstError();
  if (!stream_error.empty()) {
    std::printf("first stream error: %s\n", stream_error.c_str());
  }
  return got >= p.expected && p.errors == 0 ? 0 : 1;
}

}  // namespace notifyd::bench
