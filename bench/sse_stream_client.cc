#include "bench/sse_stream_client.h"

#include <netinet/in.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/asio_connect.h"

namespace notifyd::bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

}  // namespace

void Worker::Error(const std::string& e) {
  absl::MutexLock lock(&error_mu);
  if (first_error.empty()) first_error = e;
}

uint64_t SumOver(const std::vector<std::unique_ptr<Worker>>& workers,
                 std::atomic<uint64_t> Worker::*counter) {
  uint64_t n = 0;
  for (const auto& w : workers) {
    n += ((*w).*counter).load(std::memory_order_relaxed);
  }
  return n;
}

std::string FirstErrorOf(const std::vector<std::unique_ptr<Worker>>& workers) {
  for (const auto& w : workers) {
    absl::MutexLock lock(&w->error_mu);
    if (!w->first_error.empty()) return w->first_error;
  }
  return "";
}

Stream::Stream(Worker* worker, tcp::endpoint server,
               asio::ip::address_v4 source, std::string request)
    : worker_(worker),
      socket_(worker->io),
      server_(server),
      source_(source),
      request_(std::move(request)),
      // "GET <path>": kept to say which stream a server closed.
      label_(request_.substr(0, request_.find(" HTTP/"))) {}

void Stream::ExpectEvents(uint64_t target, std::function<void()> on_target) {
  target_ = target;
  on_target_ = std::move(on_target);
}

void Stream::OnEachEvent(EventHook hook) { on_event_ = std::move(hook); }

void Stream::Start() {
  asio::post(worker_->io, [this] { Connect(); });
}

void Stream::Close() {
  asio::post(worker_->io, [this] {
    closing_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
  });
}

void Stream::Connect() {
  started_ = SteadyClock::now();
  ConnectAndSend(socket_, source_, server_, request_,
                 [this](const std::string& error) {
                   if (!error.empty()) return Fail(error);
                   std::string().swap(request_);
                   WaitRead();
                 });
}

void Stream::WaitRead() {
  socket_.async_wait(tcp::socket::wait_read,
                     [this](boost::system::error_code ec) {
                       if (ec) return Ended(ec.message());
                       ReadAvailable();
                     });
}

// Reads what the kernel holds into the worker's shared buffer (a
// per-stream buffer would cost 19,000 x 64 KiB), then waits again.
void Stream::ReadAvailable() {
  for (int round = 0; round < 8; ++round) {
    boost::system::error_code ec;
    size_t n = socket_.read_some(asio::buffer(worker_->buffer), ec);
    if (ec == asio::error::would_block) break;
    if (ec)
      return Ended(ec == asio::error::eof ? "closed by server" : ec.message());
    if (!parser_.Feed(std::string_view(worker_->buffer.data(), n), this)) {
      return Ended(parser_.error());
    }
    if (closing_) return;
    if (parser_.ended()) return Ended("stream ended");
    if (n < worker_->buffer.size()) break;
  }
  WaitRead();
}

void Stream::OnHeaders(int status) {
  headers_at_ = SteadyClock::now();
  if (status != 200) {
    Fail(absl::StrCat("HTTP ", status));
    return;
  }
  established_ = true;
  worker_->run->in_setup.fetch_sub(1, std::memory_order_relaxed);
  worker_->setup.Record(Ns(headers_at_ - started_));
  worker_->established.fetch_add(1, std::memory_order_relaxed);
}

void Stream::OnEvent(std::string_view id, std::string_view event,
                     std::string_view data) {
  ++events_;
  worker_->events.fetch_add(1, std::memory_order_relaxed);
  if (events_ == 1) first_event_at_ = SteadyClock::now();
  uint64_t numeric_id = 0;
  if (absl::SimpleAtoi(absl::string_view(id.data(), id.size()), &numeric_id)) {
    if (numeric_id <= last_id_) ++out_of_order_;
    last_id_ = numeric_id;
  }
  int64_t t_ns = 0;
  if (ParseStamp(data, &t_ns) &&
      t_ns >= worker_->run->measure_from_ns.load(std::memory_order_relaxed)) {
    int64_t now = RealtimeNs();
    worker_->e2e.Record(now - t_ns);
    worker_->measured.fetch_add(1, std::memory_order_relaxed);
    if (now > worker_->last_measured_ns.load(std::memory_order_relaxed)) {
      worker_->last_measured_ns.store(now, std::memory_order_relaxed);
    }
  }
  if (on_event_) on_event_(*this, event, data);
  if (target_ != 0 && events_ == target_) {
    target_at_ = SteadyClock::now();
    if (on_target_) on_target_();
  }
}

void Stream::Fail(const std::string& why) {
  if (closing_) return;
  closing_ = true;
  boost::system::error_code ec;
  socket_.close(ec);
  worker_->run->in_setup.fetch_sub(1, std::memory_order_relaxed);
  worker_->failed.fetch_add(1, std::memory_order_relaxed);
  worker_->Error(why);
  if (on_target_) on_target_();
}

void Stream::Ended(const std::string& why) {
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

}  // namespace notifyd::bench
