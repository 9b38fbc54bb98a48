// stream_bench: PublishStream throughput and ack latency from many producers
// (issue #15; docs/BENCHMARKS.md, "Publishing at rate"). Each of
// `--producers` opens one PublishStream (on its own gRPC channel, so its own
// TCP connection), sends NotifyUser messages for users u0..u<users-1> with a
// 64-byte payload, keeping at most `--window` unanswered, and times each
// message from its Write to its answer (answers come in send order on a
// stream). Only messages sent after `--warmup` and answered before the end
// count. With `--hold` the producers never read their answers instead: it
// reports how much got through before flow control held them, and notifyd's
// RSS (`--server_pid`).
//
//   stream_bench --target=127.0.0.1:PORT [--producers=64] [--window=32]
//                [--duration=10s] [--hold --server_pid=PID]
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/latency_histogram.h"
#include "notify/v1/notify.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "notifyd gRPC host:port");
ABSL_FLAG(int, producers, 64, "PublishStreams, each on its own connection");
ABSL_FLAG(int, window, 32, "unanswered messages per stream at most");
ABSL_FLAG(int, users, 1000, "distinct user ids written to");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured time");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "unmeasured start");
ABSL_FLAG(bool, hold, false,
          "producers never read their answers: they write until flow "
          "control stops them; prints what they wrote after --warmup and the "
          "server's RSS (--server_pid) while they hold on");
ABSL_FLAG(int, server_pid, 0, "pid of notifyd, for its RSS with --hold");

namespace {

namespace pb = ::notify::v1;
using notifyd::bench::LatencyHistogram;
using notifyd::bench::SteadyClock;

// One producer: one PublishStream driven by gRPC's callback API (no thread
// of its own, like redis-benchmark's event loop against Redis), so the
// client spends its CPU on messages rather than on 128 blocking threads.
// Writes go one at a time (gRPC allows one in flight), at most `window`
// unanswered; each answer frees room and the next write starts.
class Producer final
    : public grpc::ClientBidiReactor<pb::PublishStreamRequest,
                                     pb::PublishStreamResponse> {
 public:
  Producer(std::shared_ptr<grpc::Channel> channel, int index, int window,
           int users, SteadyClock::time_point measure_from,
           SteadyClock::time_point end)
      : stub_(pb::Notifier::NewStub(std::move(channel))),
        index_(index),
        window_(window),
        users_(users),
        measure_from_(measure_from),
        end_(end),
        payload_(64, 'x') {}

  // Starts the stream; Wait() returns once it is over.
  void Start() {
    stub_->async()->PublishStream(&context_, this);
    StartRead(&response_);
    {
      absl::MutexLock lock(&mu_);
      writing_ = true;
      Prepare();
    }
    StartWrite(&request_);
    StartCall();
  }

  // Waits for the stream's end. False on a stream error.
  bool Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    if (!status_.ok()) {
      std::fprintf(stderr, "stream_bench: producer %d: %s\n", index_,
                   status_.error_message().c_str());
    }
    return status_.ok() && errors_ == 0;
  }

  void OnWriteDone(bool ok) override {
    bool write = false, close = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) return;  // the stream failed: OnDone follows
      Next(&write, &close);
    }
    if (write) StartWrite(&request_);
    if (close) StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // all answered, or failed: OnDone follows
    const SteadyClock::time_point now = SteadyClock::now();
    bool write = false, close = false;
    {
      absl::MutexLock lock(&mu_);
      const SteadyClock::time_point sent = sent_at_.front();
      sent_at_.pop_front();
      if (response_.code() != 0) {
        ++errors_;
      } else if (sent >= measure_from_ && now <= end_) {
        latency_.Record(notifyd::bench::Ns(now - sent));
        ++answered_;
      }
      if (!writing_) Next(&write, &close);
    }
    StartRead(&response_);
    if (write) StartWrite(&request_);
    if (close) StartWritesDone();
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  const LatencyHistogram& latency() const { return latency_; }
  uint64_t answered() const { return answered_; }
  uint64_t errors() const { return errors_; }

 private:
  // Decides, with no write in flight, whether the next message goes out
  // (window room, time left) or the stream half-closes (time is up).
  void Next(bool* write, bool* close) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closed_) return;
    if (SteadyClock::now() >= end_) {
      closed_ = *close = true;
    } else if (static_cast<int>(sent_at_.size()) < window_) {
      writing_ = *write = true;
      Prepare();
    }
  }

  // Fills request_ with the next message and stamps its send time.
  void Prepare() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    request_.set_ref(absl::StrCat(seq_));
    pb::NotifyUserRequest* n = request_.mutable_notify_user();
    n->set_user_id(absl::StrCat("u", (seq_ * 131 + index_) % users_));
    n->set_data(payload_);
    ++seq_;
    sent_at_.push_back(SteadyClock::now());
  }

  std::unique_ptr<pb::Notifier::Stub> stub_;
  const int index_;
  const int window_;
  const int users_;
  const SteadyClock::time_point measure_from_;
  const SteadyClock::time_point end_;
  const std::string payload_;
  grpc::ClientContext context_;
  pb::PublishStreamRequest request_;    // the one write in flight
  pb::PublishStreamResponse response_;  // the one read in flight

  absl::Mutex mu_;
  std::deque<SteadyClock::time_point> sent_at_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  // Touched in OnReadDone under mu_; read after Wait().
  LatencyHistogram latency_;
  uint64_t answered_ = 0;
  uint64_t errors_ = 0;
};

// --hold: one blocking writer thread per stream (as in the flow-control
// test, tests/api/publish_stream_test.cc), none reading; reports what they
// wrote after the warmup (nothing once flow control holds them) and the
// server's RSS before, while they hold, and once they are cancelled.
int Hold(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
         int users) {
  const int pid = absl::GetFlag(FLAGS_server_pid);
  auto rss_mib = [pid] {
    return pid > 0 ? notifyd::bench::ReadRssBytes(pid, false) / 1048576.0
                   : -1.0;
  };
  const double before = rss_mib();
  std::atomic<uint64_t> written{0};
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> writers;
  const std::string payload(64, 'x');
  for (size_t i = 0; i < channels.size(); ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    writers.emplace_back([&, i, context = contexts.back().get()] {
      auto stub = pb::Notifier::NewStub(channels[i]);
      auto stream = stub->PublishStream(context);
      for (uint64_t seq = 0;; ++seq) {
        pb::PublishStreamRequest request;
        request.set_ref(absl::StrCat(seq));
        request.mutable_notify_user()->set_user_id(
            absl::StrCat("u", (seq * 131 + i) % users));
        request.mutable_notify_user()->set_data(payload);
        if (!stream->Write(request)) break;  // cancelled
        written.fetch_add(1, std::memory_order_relaxed);
      }
      stream->Finish();
    });
  }
  absl::SleepFor(absl::GetFlag(FLAGS_warmup));
  const uint64_t at_warmup = written.load();
  absl::SleepFor(absl::GetFlag(FLAGS_duration));
  const uint64_t at_end = written.load();
  const double held = rss_mib();
  for (auto& context : contexts) context->TryCancel();
  for (std::thread& t : writers) t.join();
  absl::SleepFor(absl::Seconds(1));
  const double after = rss_mib();
  std::printf(
      "PublishStream x%zu holding (answers never read): %llu messages "
      "written, %llu of them in the last %.0f s; server RSS %.1f MiB before, "
      "%.1f MiB while held (+%.1f MiB, %.0f KiB per stream), %.1f MiB after "
      "cancelling\n",
      channels.size(), static_cast<unsigned long long>(at_end),
      static_cast<unsigned long long>(at_end - at_warmup),
      absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration)), before, held,
      held - before, (held - before) * 1024 / channels.size(), after);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int producers = absl::GetFlag(FLAGS_producers);
  const int window = absl::GetFlag(FLAGS_window);
  const int users = absl::GetFlag(FLAGS_users);
  if (producers < 1 || window < 1 || users < 1) {
    std::fprintf(stderr, "stream_bench: --producers, --window, --users >= 1\n");
    return 2;
  }
  std::printf("$ %s\n# %s\n", notifyd::bench::CommandLine(argc, argv).c_str(),
              notifyd::bench::MachineSummary().c_str());
  // Holding, the answers must stay in notifyd (the worst case for it), not
  // in a client window grown by BDP probing.
  auto channels = notifyd::bench::MakeChannels(
      absl::GetFlag(FLAGS_target), producers, absl::Seconds(10),
      /*bdp_probe=*/!absl::GetFlag(FLAGS_hold));
  if (!channels.ok()) {
    std::fprintf(stderr, "stream_bench: %s\n",
                 channels.status().ToString().c_str());
    return 1;
  }
  if (absl::GetFlag(FLAGS_hold)) return Hold(*channels, users);
  const SteadyClock::time_point start = SteadyClock::now();
  const SteadyClock::time_point measure_from =
      start + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_warmup));
  const SteadyClock::time_point end =
      measure_from + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_duration));
  std::vector<std::unique_ptr<Producer>> all;
  for (int i = 0; i < producers; ++i) {
    all.push_back(std::make_unique<Producer>((*channels)[i], i, window, users,
                                             measure_from, end));
  }
  for (auto& p : all) p->Start();
  int failed = 0;
  for (auto& p : all) {
    if (!p->Wait()) ++failed;
  }
  LatencyHistogram latency;
  uint64_t answered = 0, errors = 0;
  for (const auto& p : all) {
    latency.Merge(p->latency());
    answered += p->answered();
    errors += p->errors();
  }
  const double seconds = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration));
  std::printf(
      "PublishStream x%d (window %d)  %.0f notifications/s  ack %s  "
      "errors=%llu failed_streams=%d\n",
      producers, window, answered / seconds, latency.Summary().c_str(),
      static_cast<unsigned long long>(errors), failed);
  return failed == 0 ? 0 : 1;
}
