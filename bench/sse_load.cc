// sse_load: opens many SSE streams against notifyd (or nchan, for
// comparison) and measures what a browser would see.
//
//   --scenario=stream  Connects --connections streams (from source addresses
//                      127.0.0.1..127.0.0.<--source_addrs>), reports set-up
//                      time and the server's RSS per stream (--server_pid),
//                      then, while events arrive, end-to-end latency (payload
//                      stamp {"t":<ns>} to parse) and deliveries/s. With
//                      --publish it also publishes them itself at --rate:
//                      gRPC NotifyUser, NotifyUsers or Publish to notifyd, or
//                      HTTP POST to nchan's publisher endpoint. With
//                      --publish=none it only listens (e.g. to
//                      publish_bench's writes).
//   --scenario=replay  Per round: publishes a marker and --replay_events
//                      events to a user nobody is listening to, then
//                      connects with Last-Event-ID = marker and times the
//                      arrival of the last missed event.
//
// Streams and their keys: stream i belongs to user <user_prefix><i % users>
// and channel <channel_prefix><i % channels>; --path substitutes {user},
// {channel} and {i}. Published event k goes to key k % users (NotifyUser,
// --pub_key=user) or k % channels (Publish, --pub_key=channel).
//
// One process keeps one socket per stream, so stay under the file limit
// (ulimit -n) and run several processes for more streams.
//
// The streams are bench/sse_stream_client.h, the publishers
// bench/sse_publishers.h; this file holds the flags and the scenarios.
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/latency_histogram.h"
#include "bench/sse_publishers.h"
#include "bench/sse_stream_client.h"

ABSL_FLAG(std::string, scenario, "stream", "stream or replay");
ABSL_FLAG(std::string, target, "127.0.0.1:8080",
          "HTTP host:port serving the streams (notifyd edge or nginx)");
ABSL_FLAG(std::string, path, "/v1/stream?user={user}",
          "request path template; {user}, {channel} and {i} are replaced "
          "(nchan: /sub/{channel})");
ABSL_FLAG(int, connections, 1000, "streams to open");
ABSL_FLAG(int, users, 1000, "distinct users the streams belong to");
ABSL_FLAG(int, channels, 1, "distinct channels the streams belong to");
ABSL_FLAG(std::string, user_prefix, "u", "user id = prefix + index");
ABSL_FLAG(std::string, channel_prefix, "ch", "channel = prefix + index");
ABSL_FLAG(int, source_addrs, 1,
          "spread streams over source addresses 127.0.0.1 .. +N-1 (each "
          "address has ~28k ephemeral ports towards one server)");
ABSL_FLAG(int, threads, 2, "I/O threads reading the streams");
ABSL_FLAG(int, connect_concurrency, 256,
          "connections allowed in set-up at once (keeps the server's accept "
          "backlog from overflowing, which would add SYN-retry seconds)");
ABSL_FLAG(int, server_pid, 0,
          "pid of the server (nginx: the master; workers are included) whose "
          "VmRSS is read before and after connecting");
ABSL_FLAG(absl::Duration, settle, absl::Seconds(2),
          "wait after the last stream is up before reading RSS and publishing");
ABSL_FLAG(std::string, publish, "none",
          "none, notify_user (gRPC), notify_users (gRPC: each publish is one "
          "NotifyUsers call to every one of --users), publish (gRPC) or "
          "nchan (HTTP POST)");
ABSL_FLAG(std::string, pub_target, "127.0.0.1:50051",
          "notifyd gRPC host:port, or nginx host:port for --publish=nchan");
ABSL_FLAG(std::string, pub_path, "/pub/{channel}",
          "nchan publisher path template ({user}, {channel})");
ABSL_FLAG(std::string, pub_key, "",
          "user or channel: which key published events are spread over "
          "(default: user for notify_user, channel otherwise)");
ABSL_FLAG(double, rate, 1000, "events/s to publish");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "measured publishing (or, with --publish=none, listening) time");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1),
          "unmeasured publishing before --duration");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "how long to wait for outstanding deliveries after publishing");
ABSL_FLAG(int, payload_bytes, 64, "minimum payload size");
ABSL_FLAG(int, pub_connections, 64,
          "publisher connections (gRPC channels, or HTTP keep-alive "
          "connections to nginx; gRPC uses at most 8)");
ABSL_FLAG(int, max_in_flight, 20000,
          "publishes beyond this many outstanding are dropped and counted");
ABSL_FLAG(int, replay_events, 1000, "replay: events missed while away");
ABSL_FLAG(int, replay_rounds, 5, "replay: repetitions (fresh user each)");
ABSL_FLAG(std::string, json_out, "", "also write figures as JSON here");

namespace notifyd::bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Options {
  std::string scenario, host, path, user_prefix, channel_prefix, publish,
      pub_target, pub_path, pub_key, json_out;
  uint16_t port = 0;
  int connections, users, channels, source_addrs, threads, connect_concurrency,
      server_pid, payload_bytes, pub_connections, max_in_flight, replay_events,
      replay_rounds;
  double rate;
  absl::Duration settle, duration, warmup, drain_timeout;
};

std::string UserOf(const Options& o, uint64_t i) {
  return absl::StrCat(o.user_prefix, i % o.users);
}
std::string ChannelOf(const Options& o, uint64_t i) {
  return absl::StrCat(o.channel_prefix, i % o.channels);
}

// The request that opens stream i, resuming after `last_event_id` unless
// it is empty.
std::string StreamRequest(const Options& o, uint64_t i,
                          const std::string& last_event_id) {
  std::string path =
      absl::StrReplaceAll(o.path, {{"{user}", UserOf(o, i)},
                                   {"{channel}", ChannelOf(o, i)},
                                   {"{i}", absl::StrCat(i)}});
  std::string req =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", o.host, ":", o.port,
                   "\r\nAccept: text/event-stream\r\n"
                   "Cache-Control: no-cache\r\n");
  if (!last_event_id.empty()) {
    absl::StrAppend(&req, "Last-Event-ID: ", last_event_id, "\r\n");
  }
  req += "\r\n";
  return req;
}

// What publishing counts, shared with the publish callbacks: one still
// outstanding after the drain timeout may run after the run has moved on.
struct Publishing {
  std::atomic<uint64_t> expected{0}, pub_ok{0}, pub_err{0}, pub_dropped{0};
  absl::Mutex ack_mu;
  LatencyHistogram ack ABSL_GUARDED_BY(ack_mu);
  std::string pub_error ABSL_GUARDED_BY(ack_mu);
  InFlight pending;
};

// One run of a scenario: the worker threads, their streams and the
// publisher, all owned here and torn down by Run() before it returns.
class Runner {
 public:
  explicit Runner(Options o) : o_(std::move(o)) {}

  int Run(const std::string& command_line) {
    command_line_ = command_line;
    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    boost::system::error_code ec;
    auto results = resolver.resolve(o_.host, std::to_string(o_.port), ec);
    if (ec || results.empty()) {
      std::fprintf(stderr, "sse_load: cannot resolve %s\n", o_.host.c_str());
      return 2;
    }
    server_ = results.begin()->endpoint();
    if (int rc = MakePublisher(); rc != 0) return rc;
    workers_.reserve(o_.threads);
    for (int i = 0; i < o_.threads; ++i)
      workers_.push_back(std::make_unique<Worker>(&stream_run_));
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>>
        guards;
    for (auto& w : workers_) guards.push_back(asio::make_work_guard(w->io));
    for (auto& w : workers_)
      threads_.emplace_back([w = w.get()] { w->io.run(); });

    int rc = o_.scenario == "replay" ? Replay() : StreamScenario();

    for (auto& s : streams_) s->Close();
    guards.clear();
    // Closing posted above; give the workers a moment, then stop them.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (auto& w : workers_) w->io.stop();
    for (auto& t : threads_) t.join();
    publisher_.reset();
    return rc;
  }

 private:
  int MakePublisher() {
    if (o_.publish == "none") return 0;
    if (o_.publish == "nchan") {
      std::vector<std::string> hp = absl::StrSplit(o_.pub_target, ':');
      uint32_t port = 0;
      if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) {
        std::fprintf(stderr, "sse_load: --pub_target must be host:port\n");
        return 2;
      }
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(
          hp[0] == "localhost" ? "127.0.0.1" : hp[0], ec);
      if (ec) {
        std::fprintf(stderr, "sse_load: --pub_target host must be an IP\n");
        return 2;
      }
      publisher_ = NewNchanPublisher(tcp::endpoint(addr, port), o_.pub_target,
                                     o_.pub_path, o_.pub_connections);
      return 0;
    }
    auto channels = MakeChannels(o_.pub_target, std::min(o_.pub_connections, 8),
                                 absl::Seconds(10));
    if (!channels.ok()) {
      std::fprintf(stderr, "sse_load: %s\n",
                   std::string(channels.status().message()).c_str());
      return 1;
    }
    std::vector<std::string> all_users;
    if (o_.publish == "notify_users") {
      for (int u = 0; u < o_.users; ++u) all_users.push_back(UserOf(o_, u));
    }
    publisher_ =
        NewGrpcPublisher(*std::move(channels), o_.publish == "notify_user",
                         std::move(all_users));
    return 0;
  }

  asio::ip::address_v4 SourceOf(uint64_t i) const {
    return asio::ip::address_v4(0x7F000001u +
                                static_cast<uint32_t>(i % o_.source_addrs));
  }

  uint64_t Sum(std::atomic<uint64_t> Worker::*field) const {
    return SumOver(workers_, field);
  }
  std::string FirstError() { return FirstErrorOf(workers_); }

  // The stream scenario: open the streams, publish (if asked) while they
  // read, then report. 1 when nothing opened, a publish failed or a
  // delivery is missing.
  int StreamScenario() {
    const uint64_t established = OpenStreams();
    auto pub = std::make_shared<Publishing>();
    const double offered = PublishAndDrain(pub);
    return Report(*pub, offered, established);
  }

  // Opens o_.connections streams, o_.connect_concurrency in set-up at once,
  // waits for their set-up to end, and prints set-up times and the server's
  // RSS per stream. Returns how many are up.
  uint64_t OpenStreams() {
    int64_t rss_before =
        o_.server_pid > 0 ? ReadRssBytes(o_.server_pid, true) : -1;
    const auto connect_start = SteadyClock::now();
    auto last_print = connect_start;
    streams_.reserve(o_.connections);
    for (int i = 0; i < o_.connections; ++i) {
      while (stream_run_.in_setup.load(std::memory_order_relaxed) >=
             o_.connect_concurrency) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      stream_run_.in_setup.fetch_add(1, std::memory_order_relaxed);
      Worker* w = workers_[i % workers_.size()].get();
      streams_.push_back(std::make_unique<Stream>(w, server_, SourceOf(i),
                                                  StreamRequest(o_, i, "")));
      streams_.back()->Start();
      if (SteadyClock::now() - last_print > std::chrono::seconds(2)) {
        last_print = SteadyClock::now();
        std::printf("  connecting: %d started, %llu up, %llu failed\n", i + 1,
                    static_cast<unsigned long long>(Sum(&Worker::established)),
                    static_cast<unsigned long long>(Sum(&Worker::failed)));
        std::fflush(stdout);
      }
    }
    while (stream_run_.in_setup.load() > 0 &&
           SteadyClock::now() - connect_start < std::chrono::seconds(120)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const double connect_s = Ns(SteadyClock::now() - connect_start) / 1e9;
    const uint64_t established = Sum(&Worker::established);
    const uint64_t failed = Sum(&Worker::failed);
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(o_.settle));
    int64_t rss_after =
        o_.server_pid > 0 ? ReadRssBytes(o_.server_pid, true) : -1;
    LatencyHistogram setup;
    // Set-up histograms are final: no stream is connecting any more.
    for (auto& w : workers_) setup.Merge(w->setup);
    std::printf(
        "streams: %llu up, %llu failed of %d in %.2fs (%.0f/s); set-up %s\n",
        static_cast<unsigned long long>(established),
        static_cast<unsigned long long>(failed), o_.connections, connect_s,
        established / connect_s, setup.Summary().c_str());
    if (failed > 0) std::printf("  first error: %s\n", FirstError().c_str());
    double rss_per_stream = -1;
    if (rss_before > 0 && rss_after > 0 && established > 0) {
      rss_per_stream =
          static_cast<double>(rss_after - rss_before) / established;
      std::printf(
          "server RSS: %.1f MiB before, %.1f MiB after: %.0f bytes (%.2f KiB) "
          "per stream\n",
          rss_before / 1048576.0, rss_after / 1048576.0, rss_per_stream,
          rss_per_stream / 1024);
    }
    std::fflush(stdout);
    json_ = absl::StrCat(
        "\"connections\":", o_.connections, ",\"established\":", established,
        ",\"failed\":", failed, ",\"connect_s\":", connect_s,
        ",\"setup_p50_ns\":", setup.Percentile(0.5),
        ",\"setup_p99_ns\":", setup.Percentile(0.99),
        ",\"setup_max_ns\":", setup.max_ns(), ",\"rss_before\":", rss_before,
        ",\"rss_after\":", rss_after, ",\"rss_per_stream\":", rss_per_stream);
    return established;
  }

  // Publishes at o_.rate for warmup + duration (open loop; without a
  // publisher, just listens for duration), then waits up to drain_timeout
  // for the answers and for every expected delivery. Returns the issued
  // rate.
  double PublishAndDrain(const std::shared_ptr<Publishing>& ps) {
    const auto t0 = SteadyClock::now();
    const auto measure_from = t0 + absl::ToChronoNanoseconds(o_.warmup);
    stream_run_.measure_from_ns.store(
        ToRealtimeNs(o_.publish == "none" ? t0 : measure_from));
    auto& expected = ps->expected;
    auto& pub_dropped = ps->pub_dropped;
    auto& pending = ps->pending;
    const bool by_user =
        o_.pub_key.empty() ? o_.publish == "notify_user" : o_.pub_key == "user";
    // notify_users: each publish reaches every stream.
    const bool to_all = o_.publish == "notify_users";
    const int keys = to_all ? 1 : by_user ? o_.users : o_.channels;
    // Streams per key: stream i has key i % keys.
    auto subscribers_of = [&](uint64_t k) -> uint64_t {
      if (to_all) return o_.connections;
      return o_.connections / keys +
             (static_cast<int>(k) < o_.connections % keys ? 1 : 0);
    };
    double offered = 0;
    if (publisher_ != nullptr) {
      uint64_t issued = RunOpenLoop(
          o_.rate, o_.warmup + o_.duration,
          [&](uint64_t seq, SteadyClock::time_point due) {
            bool measured = due >= measure_from;
            if (pending.n() >= o_.max_in_flight) {
              if (measured) pub_dropped.fetch_add(1);
              return;
            }
            uint64_t k = seq % keys;
            std::string key = by_user ? UserOf(o_, k) : ChannelOf(o_, k);
            const uint64_t subscribers = subscribers_of(k);
            pending.Add();
            publisher_->Publish(
                key, StampedPayload(ToRealtimeNs(due), seq, o_.payload_bytes),
                [ps, due, measured, subscribers](bool ok, const std::string&,
                                                 const std::string& err) {
                  if (ok) {
                    ps->pub_ok.fetch_add(1);
                    if (measured) ps->expected.fetch_add(subscribers);
                    absl::MutexLock l(&ps->ack_mu);
                    if (measured) ps->ack.Record(Ns(SteadyClock::now() - due));
                  } else {
                    ps->pub_err.fetch_add(1);
                    absl::MutexLock l(&ps->ack_mu);
                    if (ps->pub_error.empty()) ps->pub_error = err;
                  }
                  ps->pending.Done();
                });
          });
      offered = issued / absl::ToDoubleSeconds(o_.warmup + o_.duration);
      pending.WaitZero(o_.drain_timeout);
      // Deliveries may trail the acks; wait until every expected one is in.
      auto drain_until =
          SteadyClock::now() + absl::ToChronoNanoseconds(o_.drain_timeout);
      while (Sum(&Worker::measured) < expected.load() &&
             SteadyClock::now() < drain_until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    } else {
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(o_.duration));
    }
    return offered;
  }

  // Stops the workers and prints what the publishing and the streams
  // measured (and --json_out).
  int Report(Publishing& ps, double offered, uint64_t established) {
    auto& expected = ps.expected;
    auto& pub_ok = ps.pub_ok;
    auto& pub_err = ps.pub_err;
    auto& pub_dropped = ps.pub_dropped;
    // Latency histograms are written by the workers; stop them before
    // reading. The streams are closed after.
    for (auto& w : workers_) w->io.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    int64_t rss_end =
        o_.server_pid > 0 ? ReadRssBytes(o_.server_pid, true) : -1;
    LatencyHistogram e2e;
    int64_t last_ns = 0;
    for (auto& w : workers_) {
      e2e.Merge(w->e2e);
      last_ns = std::max(last_ns, w->last_measured_ns.load());
    }
    const uint64_t measured = Sum(&Worker::measured);
    const double window_s =
        last_ns > 0 ? (last_ns - stream_run_.measure_from_ns.load()) / 1e9
                    : absl::ToDoubleSeconds(o_.duration);
    const double deliveries_per_s = window_s > 0 ? measured / window_s : 0;
    const uint64_t dropped_streams = Sum(&Worker::dropped);
    LatencyHistogram ack;
    std::string pub_error;
    {
      absl::MutexLock l(&ps.ack_mu);
      ack = ps.ack;
      pub_error = ps.pub_error;
    }
    if (publisher_ != nullptr) {
      std::printf(
          "published: %s at %.0f/s offered (%.0f/s issued): %llu ok, %llu "
          "errors, %llu dropped by client; ack %s\n",
          o_.publish.c_str(), o_.rate, offered,
          static_cast<unsigned long long>(pub_ok.load()),
          static_cast<unsigned long long>(pub_err.load()),
          static_cast<unsigned long long>(pub_dropped.load()),
          ack.Summary().c_str());
      if (!pub_error.empty())
        std::printf("  first publish error: %s\n", pub_error.c_str());
    }
    std::printf(
        "deliveries: %llu measured of %llu expected (%.3f%%) in %.2fs: "
        "%.0f deliveries/s\n",
        static_cast<unsigned long long>(measured),
        static_cast<unsigned long long>(expected.load()),
        expected.load() ? 100.0 * measured / expected.load() : 0.0, window_s,
        deliveries_per_s);
    std::printf("end-to-end latency (publish -> parsed by reader): %s\n",
                e2e.Summary().c_str());
    if (o_.publish == "notify_users" && pub_ok.load() == 1) {
      // One call: its last delivery, counted from the call's answer.
      std::printf(
          "one NotifyUsers to %d users: answered after %.2f ms; last "
          "delivery %.2f ms after the answer\n",
          o_.users, ack.max_ns() / 1e6, (e2e.max_ns() - ack.max_ns()) / 1e6);
    }
    if (dropped_streams > 0) {
      std::printf("streams closed by the server during the run: %llu (%s)\n",
                  static_cast<unsigned long long>(dropped_streams),
                  FirstError().c_str());
    }
    if (rss_end > 0)
      std::printf("server RSS at end: %.1f MiB\n", rss_end / 1048576.0);
    std::fflush(stdout);
    absl::StrAppend(
        &json_, ",\"publish\":\"", o_.publish, "\",\"rate\":", o_.rate,
        ",\"pub_ok\":", pub_ok.load(), ",\"pub_errors\":", pub_err.load(),
        ",\"pub_dropped\":", pub_dropped.load(),
        ",\"ack_p50_ns\":", ack.Percentile(0.5),
        ",\"ack_p99_ns\":", ack.Percentile(0.99),
        ",\"expected\":", expected.load(), ",\"delivered\":", measured,
        ",\"window_s\":", window_s, ",\"deliveries_per_s\":", deliveries_per_s,
        ",\"e2e_p50_ns\":", e2e.Percentile(0.5),
        ",\"e2e_p99_ns\":", e2e.Percentile(0.99),
        ",\"e2e_max_ns\":", e2e.max_ns(),
        ",\"streams_dropped\":", dropped_streams, ",\"rss_end\":", rss_end);
    WriteJson();
    bool bad = established == 0 || pub_err.load() > 0 ||
               (publisher_ != nullptr && measured < expected.load());
    return bad ? 1 : 0;
  }

  int Replay() {
    if (publisher_ == nullptr) {
      std::fprintf(stderr, "sse_load: --scenario=replay needs --publish\n");
      return 2;
    }
    // Replay times whole batches instead.
    stream_run_.measure_from_ns.store(INT64_MAX);
    LatencyHistogram to_last, to_first;
    uint64_t bad_rounds = 0;
    std::string error;
    for (int r = 0; r < o_.replay_rounds; ++r) {
      // A fresh key each round: the stream sees exactly the missed events.
      Options round = o_;
      round.user_prefix =
          absl::StrCat(o_.user_prefix, "replay", getpid(), "-", r, "-");
      round.channel_prefix =
          absl::StrCat(o_.channel_prefix, "replay", getpid(), "-", r, "-");
      round.users = round.channels = 1;
      const bool by_user = o_.pub_key.empty() ? o_.publish == "notify_user"
                                              : o_.pub_key == "user";
      std::string key = by_user ? UserOf(round, 0) : ChannelOf(round, 0);
      std::string marker_id, last_id;
      if (!PublishBatch(publisher_.get(), key, 1, o_.payload_bytes, &marker_id,
                        &error) ||
          marker_id.empty() ||
          !PublishBatch(publisher_.get(), key, o_.replay_events,
                        o_.payload_bytes, &last_id, &error)) {
        if (error.empty()) error = "publisher returned no id for the marker";
        ++bad_rounds;
        continue;
      }
      // Shared with the stream: after a timeout the stream may still call
      // back once, and the promise must outlive that; set at most once.
      auto reached = std::make_shared<std::promise<void>>();
      auto once = std::make_shared<std::atomic<bool>>(false);
      auto stream =
          std::make_unique<Stream>(workers_[0].get(), server_, SourceOf(r),
                                   StreamRequest(round, 0, marker_id));
      stream->ExpectEvents(o_.replay_events, [reached, once] {
        if (!once->exchange(true)) reached->set_value();
      });
      stream_run_.in_setup.fetch_add(1);
      stream->Start();
      auto done = reached->get_future();
      bool in_time =
          done.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
      Stream* s = stream.get();
      streams_.push_back(std::move(stream));
      s->Close();
      // The worker wrote the stream's fields before set_value(); reading
      // them after the future is ready is ordered by it.
      if (!in_time || s->events() < static_cast<uint64_t>(o_.replay_events)) {
        ++bad_rounds;
        if (error.empty()) {
          error =
              absl::StrCat("round ", r, ": got ", s->events(), " of ",
                           o_.replay_events, " events (", FirstError(), ")");
        }
        continue;
      }
      to_first.Record(Ns(s->first_event_at() - s->started()));
      to_last.Record(Ns(s->target_at() - s->started()));
      std::printf(
          "  round %d: marker id %s, %d events replayed: first after %s, "
          "last after %s, out of order %llu\n",
          r, marker_id.c_str(), o_.replay_events,
          FormatNs(Ns(s->first_event_at() - s->started())).c_str(),
          FormatNs(Ns(s->target_at() - s->started())).c_str(),
          static_cast<unsigned long long>(s->out_of_order()));
      if (s->out_of_order() > 0) ++bad_rounds;
      std::fflush(stdout);
    }
    std::printf(
        "replay of %d missed events (connect -> last event): %s; first event "
        "%s\n",
        o_.replay_events, to_last.Summary().c_str(),
        to_first.Summary().c_str());
    if (!error.empty()) std::printf("  error: %s\n", error.c_str());
    json_ = absl::StrCat("\"replay_events\":", o_.replay_events,
                         ",\"rounds\":", o_.replay_rounds,
                         ",\"bad_rounds\":", bad_rounds,
                         ",\"replay_p50_ns\":", to_last.Percentile(0.5),
                         ",\"replay_max_ns\":", to_last.max_ns(),
                         ",\"first_p50_ns\":", to_first.Percentile(0.5));
    WriteJson();
    return bad_rounds > 0 || to_last.count() == 0 ? 1 : 0;
  }

  void WriteJson() {
    if (o_.json_out.empty()) return;
    std::string escaped =
        absl::StrReplaceAll(command_line_, {{"\\", "\\\\"}, {"\"", "\\\""}});
    std::string json =
        absl::StrCat("{\"command\":\"", escaped, "\",\"scenario\":\"",
                     o_.scenario, "\",", json_, "}\n");
    FILE* f = std::fopen(o_.json_out.c_str(), "w");
    if (f == nullptr || std::fputs(json.c_str(), f) < 0 ||
        std::fclose(f) != 0) {
      std::fprintf(stderr, "sse_load: cannot write %s\n", o_.json_out.c_str());
    }
  }

  Options o_;
  std::string command_line_;
  std::string json_;
  tcp::endpoint server_;
  std::unique_ptr<Publisher> publisher_;
  StreamRun stream_run_;  // before the workers and streams that use it
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "sse_load: many SSE streams against notifyd or nchan; set-up time, "
      "server RSS per stream, end-to-end latency, fan-out, replay.\n"
      "Usage: sse_load --target=127.0.0.1:8080 --connections=10000 "
      "--users=10000 --publish=notify_user --rate=5000");
  absl::ParseCommandLine(argc, argv);
  std::string command_line = CommandLine(argc, argv);
  std::printf("$ %s\n# %s\n", command_line.c_str(), MachineSummary().c_str());

  Options o;
  o.scenario = absl::GetFlag(FLAGS_scenario);
  std::vector<std::string> hp =
      absl::StrSplit(absl::GetFlag(FLAGS_target), ':');
  uint32_t port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port) || port > 65535) {
    std::fprintf(stderr, "sse_load: --target must be host:port\n");
    return 2;
  }
  o.host = hp[0];
  o.port = static_cast<uint16_t>(port);
  o.path = absl::GetFlag(FLAGS_path);
  o.connections = absl::GetFlag(FLAGS_connections);
  o.users = absl::GetFlag(FLAGS_users);
  o.channels = absl::GetFlag(FLAGS_channels);
  o.user_prefix = absl::GetFlag(FLAGS_user_prefix);
  o.channel_prefix = absl::GetFlag(FLAGS_channel_prefix);
  o.source_addrs = absl::GetFlag(FLAGS_source_addrs);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.connect_concurrency = absl::GetFlag(FLAGS_connect_concurrency);
  o.server_pid = absl::GetFlag(FLAGS_server_pid);
  o.settle = absl::GetFlag(FLAGS_settle);
  o.publish = absl::GetFlag(FLAGS_publish);
  o.pub_target = absl::GetFlag(FLAGS_pub_target);
  o.pub_path = absl::GetFlag(FLAGS_pub_path);
  o.pub_key = absl::GetFlag(FLAGS_pub_key);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.duration = absl::GetFlag(FLAGS_duration);
  o.warmup = absl::GetFlag(FLAGS_warmup);
  o.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  o.payload_bytes = absl::GetFlag(FLAGS_payload_bytes);
  o.pub_connections = absl::GetFlag(FLAGS_pub_connections);
  o.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  o.replay_events = absl::GetFlag(FLAGS_replay_events);
  o.replay_rounds = absl::GetFlag(FLAGS_replay_rounds);
  o.json_out = absl::GetFlag(FLAGS_json_out);
  if ((o.scenario != "stream" && o.scenario != "replay") || o.connections < 0 ||
      o.users < 1 || o.channels < 1 || o.source_addrs < 1 ||
      o.source_addrs > 65000 || o.threads < 1 || o.connect_concurrency < 1 ||
      o.rate <= 0 || o.pub_connections < 1 || o.replay_events < 1 ||
      (o.publish != "none" && o.publish != "notify_user" &&
       o.publish != "notify_users" && o.publish != "publish" &&
       o.publish != "nchan") ||
      (!o.pub_key.empty() && o.pub_key != "user" && o.pub_key != "channel")) {
    std::fprintf(stderr, "sse_load: invalid flags (see --help)\n");
    return 2;
  }
  return Runner(std::move(o)).Run(command_line);
}

}  // namespace
}  // namespace notifyd::bench

int main(int argc, char** argv) { return notifyd::bench::Main(argc, argv); }
