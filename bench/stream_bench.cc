// stream_bench: PublishStream throughput and ack latency from many producers
// (issue #15; docs/BENCHMARKS.md, "Fan-out"). Each of `--producers` opens
// one PublishStream (on its own gRPC channel, so its own TCP connection),
// sends NotifyUser messages for users u0..u<users-1> with a 64-byte payload,
// keeping at most `--window` unanswered, and times each message from its
// Write to its answer (answers come in send order on a stream). Only
// messages sent after `--warmup` and answered before the end count.
//
//   stream_bench --target=127.0.0.1:PORT [--producers=64] [--window=32]
//                [--duration=10s]
#include <grpcpp/grpcpp.h>

#include <atomic>
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

namespace {

namespace pb = ::notify::v1;
using notifyd::bench::LatencyHistogram;
using notifyd::bench::SteadyClock;

// One producer: a writer thread and a reader thread on one stream.
class Producer {
 public:
  Producer(std::shared_ptr<grpc::Channel> channel, int index)
      : stub_(pb::Notifier::NewStub(std::move(channel))), index_(index) {}

  // Runs until `end`, then half-closes and drains. False on a stream error.
  bool Run(SteadyClock::time_point measure_from, SteadyClock::time_point end,
           int window, int users) {
    stream_ = stub_->PublishStream(&context_);
    std::thread reader([&] { Read(measure_from, end); });
    const std::string payload(64, 'x');
    for (uint64_t seq = 0; SteadyClock::now() < end; ++seq) {
      {
        absl::MutexLock lock(&mu_);
        auto room = [&] {
          mu_.AssertHeld();
          return static_cast<int>(sent_at_.size()) < window || failed_;
        };
        mu_.Await(absl::Condition(&room));
        if (failed_) break;
        sent_at_.push_back(SteadyClock::now());
      }
      pb::PublishStreamRequest request;
      request.set_ref(absl::StrCat(seq));
      pb::NotifyUserRequest* n = request.mutable_notify_user();
      n->set_user_id(absl::StrCat("u", (seq * 131 + index_) % users));
      n->set_data(payload);
      if (!stream_->Write(request)) break;
    }
    stream_->WritesDone();
    reader.join();
    grpc::Status status = stream_->Finish();
    if (!status.ok()) {
      std::fprintf(stderr, "stream_bench: producer %d: %s\n", index_,
                   status.error_message().c_str());
    }
    return status.ok() && errors_ == 0;
  }

  const LatencyHistogram& latency() const { return latency_; }
  uint64_t answered() const { return answered_; }
  uint64_t errors() const { return errors_; }

 private:
  void Read(SteadyClock::time_point measure_from, SteadyClock::time_point end) {
    pb::PublishStreamResponse response;
    while (stream_->Read(&response)) {
      SteadyClock::time_point sent;
      {
        absl::MutexLock lock(&mu_);
        sent = sent_at_.front();
        sent_at_.pop_front();
      }
      const SteadyClock::time_point now = SteadyClock::now();
      if (response.code() != 0) {
        ++errors_;
        continue;
      }
      if (sent >= measure_from && now <= end) {
        latency_.Record(notifyd::bench::Ns(now - sent));
        ++answered_;
      }
    }
    absl::MutexLock lock(&mu_);
    failed_ = true;  // no more answers: the writer stops waiting
  }

  std::unique_ptr<pb::Notifier::Stub> stub_;
  const int index_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::PublishStreamRequest,
                                           pb::PublishStreamResponse>>
      stream_;
  absl::Mutex mu_;
  std::deque<SteadyClock::time_point> sent_at_ ABSL_GUARDED_BY(mu_);
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  // Reader thread only; read after it joined.
  LatencyHistogram latency_;
  uint64_t answered_ = 0;
  uint64_t errors_ = 0;
};

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
  auto channels = notifyd::bench::MakeChannels(absl::GetFlag(FLAGS_target),
                                               producers, absl::Seconds(10));
  if (!channels.ok()) {
    std::fprintf(stderr, "stream_bench: %s\n",
                 channels.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<Producer>> all;
  for (int i = 0; i < producers; ++i) {
    all.push_back(std::make_unique<Producer>((*channels)[i], i));
  }
  const SteadyClock::time_point start = SteadyClock::now();
  const SteadyClock::time_point measure_from =
      start + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_warmup));
  const SteadyClock::time_point end =
      measure_from + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_duration));
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (auto& p : all) {
    threads.emplace_back([&, producer = p.get()] {
      if (!producer->Run(measure_from, end, window, users)) ++failed;
    });
  }
  for (std::thread& t : threads) t.join();
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
      static_cast<unsigned long long>(errors), failed.load());
  return failed.load() == 0 ? 0 : 1;
}
