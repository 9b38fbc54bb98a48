// sse_load: opens many SSE streams against notifyd (or nchan, for
// comparison) and measures what a browser would see.
//
//   --scenario=stream  Connects --connections streams (from source addresses
//                      127.0.0.1..127.0.0.<--source_addrs>), reports set-up
//                      time and the server's RSS per stream (--server_pid),
//                      then, while events arrive, end-to-end latency (payload
//                      stamp {"t":<ns>} to parse) and deliveries/s. With
//                      --publish it also publishes them itself at --rate:
//                      gRPC NotifyUser or Publish to notifyd, or HTTP POST to
//                      nchan's publisher endpoint. With --publish=none it
//                      only listens (e.g. to publish_bench's writes).
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
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
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
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/latency_histogram.h"
#include "bench/sse_parser.h"
#include "grpcpp/grpcpp.h"
#include "notify/v1/notify.grpc.pb.h"

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

// Linux: reserve the source port at connect() (by 4-tuple), not at bind(),
// so one source address serves many servers and many processes.
using BindNoPort = asio::detail::socket_option::boolean<IPPROTO_IP, 24>;

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

// Events whose stamp is earlier than this (warm-up) are neither timed nor
// counted. Written by the main thread before publishing starts.
std::atomic<int64_t> g_measure_from_ns{INT64_MAX};

// One I/O thread and everything only it touches. The counters are atomics
// because the main thread polls them for progress; the histograms are read
// only after the thread has been joined.
struct alignas(64) Worker {
  asio::io_context io{1};
  std::vector<char> buffer = std::vector<char>(64 * 1024);
  LatencyHistogram e2e;
  LatencyHistogram setup;
  std::atomic<uint64_t> established{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> dropped{0};   // closed by the server after set-up
  std::atomic<uint64_t> events{0};    // all events seen
  std::atomic<uint64_t> measured{0};  // events stamped inside the window
  std::atomic<int64_t> last_measured_ns{0};
  std::string first_error;  // guarded by error_mu
  std::mutex error_mu;

  void Error(const std::string& e) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.empty()) first_error = e;
  }
};

std::atomic<int> g_in_setup{0};

// One SSE stream. Lives until the worker threads are joined; every handler
// runs on its worker's single thread, so no locking.
class Stream final : public SseParser::Listener {
 public:
  Stream(Worker* worker, tcp::endpoint server, asio::ip::address_v4 source,
         std::string request)
      : worker_(worker),
        socket_(worker->io),
        server_(server),
        source_(source),
        request_(std::move(request)),
        // "GET <path>": kept to say which stream a server closed.
        label_(request_.substr(0, request_.find(" HTTP/"))) {}

  // For the replay scenario: called on the worker thread when the
  // `target`-th event arrives.
  void ExpectEvents(uint64_t target, std::function<void()> on_target) {
    target_ = target;
    on_target_ = std::move(on_target);
  }

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

  SteadyClock::time_point started() const { return started_; }
  SteadyClock::time_point headers_at() const { return headers_at_; }
  SteadyClock::time_point first_event_at() const { return first_event_at_; }
  SteadyClock::time_point target_at() const { return target_at_; }
  uint64_t events() const { return events_; }
  uint64_t out_of_order() const { return out_of_order_; }

 private:
  void Connect() {
    started_ = SteadyClock::now();
    boost::system::error_code ec;
    socket_.open(tcp::v4(), ec);
    if (!ec) socket_.set_option(BindNoPort(true), ec);
    if (!ec) socket_.bind(tcp::endpoint(source_, 0), ec);
    if (ec) return Fail(absl::StrCat("socket: ", ec.message()));
    socket_.async_connect(server_, [this](boost::system::error_code ec) {
      if (ec) return Fail(absl::StrCat("connect: ", ec.message()));
      socket_.set_option(tcp::no_delay(true), ec);
      socket_.non_blocking(true, ec);
      asio::async_write(socket_, asio::buffer(request_),
                        [this](boost::system::error_code ec, size_t) {
                          if (ec)
                            return Fail(absl::StrCat("write: ", ec.message()));
                          std::string().swap(request_);
                          WaitRead();
                        });
    });
  }

  void WaitRead() {
    socket_.async_wait(tcp::socket::wait_read,
                       [this](boost::system::error_code ec) {
                         if (ec) return Ended(ec.message());
                         ReadAvailable();
                       });
  }

  // Reads what the kernel holds into the worker's shared buffer (a
  // per-stream buffer would cost 19,000 x 64 KiB), then waits again.
  void ReadAvailable() {
    for (int round = 0; round < 8; ++round) {
      boost::system::error_code ec;
      size_t n = socket_.read_some(asio::buffer(worker_->buffer), ec);
      if (ec == asio::error::would_block) break;
      if (ec)
        return Ended(ec == asio::error::eof ? "closed by server"
                                            : ec.message());
      if (!parser_.Feed(std::string_view(worker_->buffer.data(), n), this)) {
        return Ended(parser_.error());
      }
      if (closing_) return;
      if (parser_.ended()) return Ended("stream ended");
      if (n < worker_->buffer.size()) break;
    }
    WaitRead();
  }

  void OnHeaders(int status) override {
    headers_at_ = SteadyClock::now();
    if (status != 200) {
      Fail(absl::StrCat("HTTP ", status));
      return;
    }
    established_ = true;
    g_in_setup.fetch_sub(1, std::memory_order_relaxed);
    worker_->setup.Record(Ns(headers_at_ - started_));
    worker_->established.fetch_add(1, std::memory_order_relaxed);
  }

  void OnEvent(std::string_view id, std::string_view,
               std::string_view data) override {
    ++events_;
    worker_->events.fetch_add(1, std::memory_order_relaxed);
    if (events_ == 1) first_event_at_ = SteadyClock::now();
    uint64_t numeric_id = 0;
    if (absl::SimpleAtoi(absl::string_view(id.data(), id.size()),
                         &numeric_id)) {
      if (numeric_id <= last_id_) ++out_of_order_;
      last_id_ = numeric_id;
    }
    int64_t t_ns = 0;
    if (ParseStamp(data, &t_ns) &&
        t_ns >= g_measure_from_ns.load(std::memory_order_relaxed)) {
      int64_t now = RealtimeNs();
      worker_->e2e.Record(now - t_ns);
      worker_->measured.fetch_add(1, std::memory_order_relaxed);
      if (now > worker_->last_measured_ns.load(std::memory_order_relaxed)) {
        worker_->last_measured_ns.store(now, std::memory_order_relaxed);
      }
    }
    if (target_ != 0 && events_ == target_) {
      target_at_ = SteadyClock::now();
      if (on_target_) on_target_();
    }
  }

  void Fail(const std::string& why) {
    if (closing_) return;
    closing_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    g_in_setup.fetch_sub(1, std::memory_order_relaxed);
    worker_->failed.fetch_add(1, std::memory_order_relaxed);
    worker_->Error(why);
    if (on_target_) on_target_();
  }

  void Ended(const std::string& why) {
    if (closing_) return;
    if (!established_) return Fail(why);
    closing_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    worker_->dropped.fetch_add(1, std::memory_order_relaxed);
    worker_->Error(absl::StrCat("after set-up: ", why, " (", label_, " after ",
                                FormatNs(Ns(SteadyClock::now() - headers_at_)),
                                ", ", events_, " events, last id ", last_id_,
                                ")"));
    if (on_target_ && events_ < target_) on_target_();
  }

  Worker* worker_;
  tcp::socket socket_;
  tcp::endpoint server_;
  asio::ip::address_v4 source_;
  std::string request_;
  std::string label_;
  SseParser parser_;
  bool established_ = false;
  bool closing_ = false;
  uint64_t events_ = 0;
  uint64_t last_id_ = 0;
  uint64_t out_of_order_ = 0;
  uint64_t target_ = 0;
  std::function<void()> on_target_;
  SteadyClock::time_point started_, headers_at_, first_event_at_, target_at_;
};

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

// ---------------------------------------------------------------------------
// Publishers. Publish() is thread-safe and returns at once; done(ok, id,
// error) runs later on a publisher thread, with the stored id (notifyd) or
// nchan's last_message_id.
using PublishDone =
    std::function<void(bool ok, const std::string& id, const std::string& err)>;

class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual void Publish(const std::string& key, std::string data,
                       PublishDone done) = 0;
};

class GrpcPublisher final : public Publisher {
 public:
  // `all_users` non-empty: every publish is one NotifyUsers call to them.
  GrpcPublisher(std::vector<std::shared_ptr<grpc::Channel>> channels,
                bool notify_user, std::vector<std::string> all_users = {})
      : notify_user_(notify_user), all_users_(std::move(all_users)) {
    for (auto& c : channels) stubs_.push_back(notify::v1::Notifier::NewStub(c));
  }

  void Publish(const std::string& key, std::string data,
               PublishDone done) override {
    auto* stub =
        stubs_[next_.fetch_add(1, std::memory_order_relaxed) % stubs_.size()]
            .get();
    auto finish = [done = std::move(done)](const grpc::Status& s, uint64_t id) {
      done(s.ok(), absl::StrCat(id),
           s.ok() ? std::string()
                  : absl::StrCat(s.error_code(), " ", s.error_message()));
    };
    if (!all_users_.empty()) {
      struct Call {
        grpc::ClientContext ctx;
        notify::v1::NotifyUsersRequest req;
        notify::v1::NotifyUsersResponse resp;
      };
      auto* c = new Call;
      for (const std::string& u : all_users_) c->req.add_user_ids(u);
      c->req.set_data(std::move(data));
      stub->async()->NotifyUsers(
          &c->ctx, &c->req, &c->resp, [c, finish](grpc::Status s) {
            finish(s, c->resp.deliveries_size() > 0
                          ? c->resp.deliveries(0).id()
                          : 0);
            delete c;
          });
    } else if (notify_user_) {
      struct Call {
        grpc::ClientContext ctx;
        notify::v1::NotifyUserRequest req;
        notify::v1::NotifyUserResponse resp;
      };
      auto* c = new Call;
      c->req.set_user_id(key);
      c->req.set_data(std::move(data));
      stub->async()->NotifyUser(&c->ctx, &c->req, &c->resp,
                                [c, finish](grpc::Status s) {
                                  finish(s, c->resp.notification().id());
                                  delete c;
                                });
    } else {
      struct Call {
        grpc::ClientContext ctx;
        notify::v1::PublishRequest req;
        notify::v1::PublishResponse resp;
      };
      auto* c = new Call;
      c->req.set_channel(key);
      c->req.set_data(std::move(data));
      stub->async()->Publish(&c->ctx, &c->req, &c->resp,
                             [c, finish](grpc::Status s) {
                               finish(s, c->resp.notification().id());
                               delete c;
                             });
    }
  }

 private:
  const bool notify_user_;
  const std::vector<std::string> all_users_;
  std::vector<std::unique_ptr<notify::v1::Notifier::Stub>> stubs_;
  std::atomic<uint64_t> next_{0};
};

// HTTP/1.1 keep-alive POSTs to nchan's publisher location, on its own I/O
// thread. Requests queue when every connection is busy; up to
// `max_connections` are opened on demand.
class NchanPublisher final : public Publisher {
 public:
  NchanPublisher(tcp::endpoint server, std::string host_header,
                 std::string path_template, int max_connections)
      : server_(server),
        host_header_(std::move(host_header)),
        path_template_(std::move(path_template)),
        max_connections_(max_connections),
        guard_(asio::make_work_guard(io_)),
        thread_([this] { io_.run(); }) {}

  ~NchanPublisher() override {
    guard_.reset();
    asio::post(io_, [this] {
      for (auto& c : conns_) {
        boost::system::error_code ec;
        c->socket.close(ec);
      }
    });
    thread_.join();
  }

  void Publish(const std::string& key, std::string data,
               PublishDone done) override {
    std::string path = absl::StrReplaceAll(
        path_template_, {{"{user}", key}, {"{channel}", key}});
    // Accept: text/json makes nchan answer with the channel's info,
    // including last_message_id (the replay scenario resumes from it).
    std::string req = absl::StrCat(
        "POST ", path, " HTTP/1.1\r\nHost: ", host_header_,
        "\r\nAccept: text/json\r\nContent-Type: application/json\r\n"
        "Content-Length: ",
        data.size(), "\r\n\r\n", data);
    asio::post(io_,
               [this, req = std::move(req), done = std::move(done)]() mutable {
                 queue_.push_back({std::move(req), std::move(done), false});
                 Pump();
               });
  }

 private:
  struct Request {
    std::string bytes;
    PublishDone done;
    bool retried = false;
  };
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::string in;
    // Per connection: asio may perform several reads (into their buffers)
    // before running the first completion handler, so one buffer shared by
    // all connections would be overwritten.
    std::array<char, 8192> read_buf;
    std::optional<Request> current;
    bool connected = false;
  };

  void Pump() {
    while (!queue_.empty()) {
      Conn* idle = nullptr;
      for (auto& c : conns_) {
        if (c->connected && !c->current) {
          idle = c.get();
          break;
        }
      }
      if (idle == nullptr) {
        if (static_cast<int>(conns_.size()) < max_connections_ &&
            connecting_ == 0) {
          Open();
        }
        return;
      }
      idle->current = std::move(queue_.front());
      queue_.pop_front();
      Send(idle);
    }
  }

  void Open() {
    conns_.push_back(std::make_unique<Conn>(io_));
    Conn* c = conns_.back().get();
    ++connecting_;
    c->socket.async_connect(server_, [this, c](boost::system::error_code ec) {
      --connecting_;
      if (ec) {
        FailAll(absl::StrCat("nchan publisher connect: ", ec.message()));
        return;
      }
      c->socket.set_option(tcp::no_delay(true), ec);
      c->connected = true;
      Pump();
    });
  }

  void FailAll(const std::string& why) {
    while (!queue_.empty()) {
      queue_.front().done(false, "", why);
      queue_.pop_front();
    }
  }

  void Send(Conn* c) {
    asio::async_write(c->socket, asio::buffer(c->current->bytes),
                      [this, c](boost::system::error_code ec, size_t) {
                        if (ec) return Broken(c, ec.message());
                        ReadResponse(c);
                      });
  }

  void ReadResponse(Conn* c) {
    // Parses "HTTP/1.1 201 Created ... Content-Length: n\r\n\r\n<body>".
    size_t head_end = c->in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t body_len = 0;
      std::string head = c->in.substr(0, head_end);
      for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
        if (line.size() > 15 &&
            absl::EqualsIgnoreCase(line.substr(0, 15), "content-length:")) {
          (void)absl::SimpleAtoi(line.substr(15), &body_len);
        }
      }
      if (c->in.size() >= head_end + 4 + body_len) {
        int status = 0;
        if (head.size() >= 12)
          (void)absl::SimpleAtoi(head.substr(9, 3), &status);
        std::string body = c->in.substr(head_end + 4, body_len);
        c->in.erase(0, head_end + 4 + body_len);
        std::string id;
        size_t at = body.find("\"last_message_id\"");
        if (at != std::string::npos) {
          size_t q1 = body.find('"', body.find(':', at) + 1);
          size_t q2 = body.find('"', q1 + 1);
          if (q1 != std::string::npos && q2 != std::string::npos) {
            id = body.substr(q1 + 1, q2 - q1 - 1);
          }
        }
        Request r = std::move(*c->current);
        c->current.reset();
        bool ok = status >= 200 && status < 300;
        r.done(ok, id, ok ? "" : absl::StrCat("HTTP ", status, " ", body));
        Pump();
        return;
      }
    }
    c->socket.async_read_some(
        asio::buffer(c->read_buf),
        [this, c](boost::system::error_code ec, size_t n) {
          if (ec) return Broken(c, ec.message());
          c->in.append(c->read_buf.data(), n);
          ReadResponse(c);
        });
  }

  void Broken(Conn* c, const std::string& why) {
    if (c->current) {
      if (c->in.empty() && !c->current->retried) {
        // The server closed an idle keep-alive connection as we sent on it;
        // nothing was answered, so sending again cannot duplicate.
        c->current->retried = true;
        queue_.push_front(std::move(*c->current));
      } else {
        c->current->done(false, "", absl::StrCat("nchan publisher: ", why));
      }
      c->current.reset();
    }
    boost::system::error_code ec;
    c->socket.close(ec);
    c->connected = false;
    for (auto it = conns_.begin(); it != conns_.end(); ++it) {
      if (it->get() == c) {
        // Destroyed later: handlers of this socket may still be queued.
        graveyard_.push_back(std::move(*it));
        conns_.erase(it);
        break;
      }
    }
    Pump();
  }

  tcp::endpoint server_;
  std::string host_header_;
  std::string path_template_;
  int max_connections_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<Conn>> graveyard_;
  std::deque<Request> queue_;
  int connecting_ = 0;
  std::thread thread_;  // last: starts after the members it uses exist
};

// Counts completions so the caller can wait for all of them.
class Pending {
 public:
  void Add() {
    std::lock_guard<std::mutex> l(mu_);
    ++n_;
  }
  void Done() {
    std::lock_guard<std::mutex> l(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  int64_t n() {
    std::lock_guard<std::mutex> l(mu_);
    return n_;
  }
  bool WaitZero(absl::Duration timeout) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, absl::ToChronoNanoseconds(timeout),
                        [this] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t n_ = 0;
};

// ---------------------------------------------------------------------------

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
      workers_.push_back(std::make_unique<Worker>());
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
      publisher_ = std::make_unique<NchanPublisher>(tcp::endpoint(addr, port),
                                                    o_.pub_target, o_.pub_path,
                                                    o_.pub_connections);
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
    publisher_ = std::make_unique<GrpcPublisher>(
        *std::move(channels), o_.publish == "notify_user", all_users);
    return 0;
  }

  asio::ip::address_v4 SourceOf(uint64_t i) const {
    return asio::ip::address_v4(0x7F000001u +
                                static_cast<uint32_t>(i % o_.source_addrs));
  }

  uint64_t Sum(std::atomic<uint64_t> Worker::*field) const {
    uint64_t s = 0;
    for (auto& w : workers_)
      s += (w.get()->*field).load(std::memory_order_relaxed);
    return s;
  }

  std::string FirstError() {
    for (auto& w : workers_) {
      std::lock_guard<std::mutex> l(w->error_mu);
      if (!w->first_error.empty()) return w->first_error;
    }
    return "";
  }

  int StreamScenario() {
    // --- set-up -------------------------------------------------------
    int64_t rss_before =
        o_.server_pid > 0 ? ReadRssBytes(o_.server_pid, true) : -1;
    const auto connect_start = SteadyClock::now();
    auto last_print = connect_start;
    streams_.reserve(o_.connections);
    for (int i = 0; i < o_.connections; ++i) {
      while (g_in_setup.load(std::memory_order_relaxed) >=
             o_.connect_concurrency) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      g_in_setup.fetch_add(1, std::memory_order_relaxed);
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
    while (g_in_setup.load() > 0 &&
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

    // --- events ------------------------------------------------------
    const auto t0 = SteadyClock::now();
    const auto measure_from = t0 + absl::ToChronoNanoseconds(o_.warmup);
    g_measure_from_ns.store(
        ToRealtimeNs(o_.publish == "none" ? t0 : measure_from));
    // Shared with the publish callbacks: one still outstanding after the
    // drain timeout may run after this function returns.
    struct PubState {
      std::atomic<uint64_t> expected{0}, pub_ok{0}, pub_err{0}, pub_dropped{0};
      LatencyHistogram ack;
      std::mutex ack_mu;
      std::string pub_error;
      Pending pending;
    };
    auto ps = std::make_shared<PubState>();
    auto& expected = ps->expected;
    auto& pub_ok = ps->pub_ok;
    auto& pub_err = ps->pub_err;
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
                    std::lock_guard<std::mutex> l(ps->ack_mu);
                    if (measured) ps->ack.Record(Ns(SteadyClock::now() - due));
                  } else {
                    ps->pub_err.fetch_add(1);
                    std::lock_guard<std::mutex> l(ps->ack_mu);
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
    const double window_s = last_ns > 0
                                ? (last_ns - g_measure_from_ns.load()) / 1e9
                                : absl::ToDoubleSeconds(o_.duration);
    const double deliveries_per_s = window_s > 0 ? measured / window_s : 0;
    const uint64_t dropped_streams = Sum(&Worker::dropped);
    LatencyHistogram ack;
    std::string pub_error;
    {
      std::lock_guard<std::mutex> l(ps->ack_mu);
      ack = ps->ack;
      pub_error = ps->pub_error;
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

  // Publishes `n` events to `key` with up to 64 in flight; the id of the
  // last one acknowledged (in completion order, which is fine: only the
  // marker's id is used). Empty on failure.
  bool PublishBatch(const std::string& key, int n, std::string* id,
                    std::string* error) {
    // Shared with the callbacks, which may outlive a timed-out batch.
    struct State {
      Pending pending;
      std::atomic<int> in_flight{0};
      std::mutex mu;
      bool ok_all = true;
      std::string id, error;
    };
    auto st = std::make_shared<State>();
    const auto deadline = SteadyClock::now() + std::chrono::seconds(60);
    for (int i = 0; i < n; ++i) {
      while (st->in_flight.load() >= 64) {
        if (SteadyClock::now() > deadline) {
          *error = "publishing timed out";
          return false;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      st->in_flight.fetch_add(1);
      st->pending.Add();
      publisher_->Publish(
          key, StampedPayload(RealtimeNs(), i, o_.payload_bytes),
          [st](bool ok, const std::string& got, const std::string& err) {
            {
              std::lock_guard<std::mutex> l(st->mu);
              if (ok) {
                st->id = got;
              } else {
                st->ok_all = false;
                if (st->error.empty()) st->error = err;
              }
            }
            st->in_flight.fetch_sub(1);
            st->pending.Done();
          });
    }
    if (!st->pending.WaitZero(absl::Seconds(60))) {
      *error = "publishing timed out";
      return false;
    }
    std::lock_guard<std::mutex> l(st->mu);
    *id = st->id;
    if (error->empty()) *error = st->error;
    return st->ok_all;
  }

  int Replay() {
    if (publisher_ == nullptr) {
      std::fprintf(stderr, "sse_load: --scenario=replay needs --publish\n");
      return 2;
    }
    g_measure_from_ns.store(INT64_MAX);  // replay times whole batches instead
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
      if (!PublishBatch(key, 1, &marker_id, &error) || marker_id.empty() ||
          !PublishBatch(key, o_.replay_events, &last_id, &error)) {
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
      g_in_setup.fetch_add(1);
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
