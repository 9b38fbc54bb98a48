// One SSE stream held open the way a browser holds it, for bench/sse_load
// and bench/inbox_bench: an asio connection that sends a ready-made
// HTTP/1.1 request, parses the response with SseParser (bench/sse_parser.h)
// and records into its Worker the set-up time (connect start -> response
// headers parsed) and the end-to-end latency of each event whose payload
// carries a stamp (StampedPayload in bench/bench_util.h); a tool that times
// other events sees each one through OnEachEvent.
//
// Ownership: the caller owns the StreamRun, the Workers and the Streams. A
// StreamRun outlives its Workers, a Worker its Streams, and a Stream its
// worker's thread (handlers may be queued until the io_context stops).
//
// Threading: one thread runs a Worker's io_context and every handler of its
// Streams, so a Stream takes no lock. Start() and Close() may be called from
// any thread: they post to the worker. Other threads may read a Worker's
// counters and the StreamRun (atomics) and first_error (under error_mu) at
// any time; the histograms and a Stream's accessors only after the
// worker's thread has been joined, or after the ExpectEvents callback has
// signalled.
#ifndef NOTIFYD_BENCH_SSE_STREAM_CLIENT_H_
#define NOTIFYD_BENCH_SSE_STREAM_CLIENT_H_

#include <atomic>
#include <boost/asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_util.h"
#include "bench/latency_histogram.h"
#include "bench/sse_parser.h"

namespace notifyd::bench {

// What all the streams of a run share, across workers.
struct StreamRun {
  // Streams started and not yet up or failed: the caller adds one before
  // each Stream::Start(), and the stream takes it back when its headers
  // arrive or it fails. Lets the caller bound how many connect at once.
  std::atomic<int> in_setup{0};
  // Events stamped earlier than this (CLOCK_REALTIME ns; warm-up) are
  // neither timed nor counted. Set by the caller before publishing starts.
  std::atomic<int64_t> measure_from_ns{INT64_MAX};
};

// One I/O thread and everything only it touches. The counters are atomics
// because the main thread polls them for progress; the histograms are read
// only after the thread has been joined.
struct alignas(64) Worker {
  explicit Worker(StreamRun* run) : run(run) {}

  // Records `e` as first_error unless one is already there.
  void Error(const std::string& e);

  StreamRun* const run;  // not owned
  boost::asio::io_context io{1};
  // Shared by the worker's streams: each reads into it and parses at once.
  std::vector<char> buffer = std::vector<char>(64 * 1024);
  LatencyHistogram e2e;
  LatencyHistogram setup;
  std::atomic<uint64_t> established{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> dropped{0};   // closed by the server after set-up
  std::atomic<uint64_t> events{0};    // all events seen
  std::atomic<uint64_t> measured{0};  // events stamped inside the window
  std::atomic<int64_t> last_measured_ns{0};
  absl::Mutex error_mu;
  std::string first_error ABSL_GUARDED_BY(error_mu);
};

// One counter summed over `workers` (progress; any thread).
uint64_t SumOver(const std::vector<std::unique_ptr<Worker>>& workers,
                 std::atomic<uint64_t> Worker::*counter);
// The first error any of `workers` recorded, in their order; "" if none.
std::string FirstErrorOf(const std::vector<std::unique_ptr<Worker>>& workers);

// One SSE stream. Counts itself in its worker: established or failed at
// set-up, dropped when the server ends it later, and each event.
class Stream final : public SseParser::Listener {
 public:
  // `request`: the whole HTTP/1.1 request, sent to `server` from `source`
  // (its port chosen at connect, so many servers can share the address).
  Stream(Worker* worker, boost::asio::ip::tcp::endpoint server,
         boost::asio::ip::address_v4 source, std::string request);

  // For the replay scenario; call before Start(). `on_target` runs on the
  // worker thread when the `target`-th event arrives, and also when the
  // stream fails or ends short of it, so a waiter never waits in vain (it
  // may then run more than once).
  void ExpectEvents(uint64_t target, std::function<void()> on_target);

  // `hook` runs on the worker thread for every event, after the stream has
  // counted it (events() includes it). Call before Start().
  using EventHook = std::function<void(const Stream&, std::string_view event,
                                       std::string_view data)>;
  void OnEachEvent(EventHook hook);

  // Connects and sends the request. The caller has added one to
  // worker->run->in_setup.
  void Start();

  // Closes the connection; nothing is counted after.
  void Close();

  SteadyClock::time_point started() const { return started_; }
  SteadyClock::time_point headers_at() const { return headers_at_; }
  SteadyClock::time_point first_event_at() const { return first_event_at_; }
  SteadyClock::time_point target_at() const { return target_at_; }
  uint64_t events() const { return events_; }
  // Events whose numeric id was not above the previous one's.
  uint64_t out_of_order() const { return out_of_order_; }

 private:
  void Connect();
  void WaitRead();
  void ReadAvailable();
  void OnHeaders(int status) override;
  void OnEvent(std::string_view id, std::string_view event,
               std::string_view data) override;
  // Before set-up completes: counted as failed.
  void Fail(const std::string& why);
  // After set-up: counted as dropped (before it, Fail).
  void Ended(const std::string& why);

  Worker* worker_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::endpoint server_;
  boost::asio::ip::address_v4 source_;
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
  EventHook on_event_;
  SteadyClock::time_point started_, headers_at_, first_event_at_, target_at_;
};

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_SSE_STREAM_CLIENT_H_
