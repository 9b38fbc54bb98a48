#include "push/push_sender.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "push/ece.h"
#include "push/endpoint.h"
#include "push/https_client.h"
#include "push/retry_policy.h"

namespace notifyd::push {
namespace {

namespace asio = boost::asio;

// One accepted message until it is reported. Its fields are used by one
// step at a time (attempt, answer, retry timer), so they need no lock;
// `done` is taken by whoever removes the job from Impl::jobs.
struct Job {
  uint64_t id = 0;
  Subscription subscription;
  Endpoint endpoint;
  Message message;
  Sender::Callback done;
  std::string body;  // encrypted at the first attempt, reused by retries
  int attempts = 0;
  int last_status = 0;
  // Send's time plus the message's TTL: a retry is not sent after it, and
  // one sent before carries only the TTL left.
  absl::Time expires;
  std::unique_ptr<asio::steady_timer> retry_timer;
};

}  // namespace

struct Sender::Impl {
  void Pump() ABSL_LOCKS_EXCLUDED(mu);
  void Attempt(std::shared_ptr<Job> job) ABSL_LOCKS_EXCLUDED(mu);
  void OnAnswer(std::shared_ptr<Job> job,
                absl::StatusOr<HttpsClient::Response> answer)
      ABSL_LOCKS_EXCLUDED(mu);
  void Retry(std::shared_ptr<Job> job, std::optional<absl::Duration> asked,
             absl::Status why) ABSL_LOCKS_EXCLUDED(mu);
  void Release() ABSL_LOCKS_EXCLUDED(mu);
  void Finish(const std::shared_ptr<Job>& job, Outcome outcome,
              absl::Status status) ABSL_LOCKS_EXCLUDED(mu);
  void Stop() ABSL_LOCKS_EXCLUDED(mu);

  PushOptions options;
  std::unique_ptr<VapidSigner> signer;
  // Destroyed in ~Sender in this order: threads joined, idle connections
  // closed, io (dropping pending handlers), then the client.
  std::unique_ptr<asio::io_context> io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work;
  std::unique_ptr<HttpsClient> client;
  std::vector<std::thread> threads;  // touched by Create and Stop only

  mutable absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Job>> jobs ABSL_GUARDED_BY(mu);
  std::deque<std::shared_ptr<Job>> ready ABSL_GUARDED_BY(mu);
  size_t in_flight ABSL_GUARDED_BY(mu) = 0;
  Stats counters ABSL_GUARDED_BY(mu);
  absl::BitGen random ABSL_GUARDED_BY(mu);
};

void Sender::Impl::Pump() {
  std::vector<std::shared_ptr<Job>> starting;
  {
    absl::MutexLock lock(&mu);
    while (in_flight < options.max_in_flight && !ready.empty()) {
      starting.push_back(std::move(ready.front()));
      ready.pop_front();
      ++in_flight;
    }
  }
  for (std::shared_ptr<Job>& job : starting) Attempt(std::move(job));
}

void Sender::Impl::Attempt(std::shared_ptr<Job> job) {
  if (job->body.empty()) {
    absl::StatusOr<std::string> body = Encrypt(
        job->message.payload, job->subscription.p256dh, job->subscription.auth);
    if (!body.ok()) {
      Release();
      return Finish(job, Outcome::kRejected, body.status());
    }
    job->body = *std::move(body);
    job->message.payload.clear();
  }
  absl::StatusOr<std::string> authorization =
      signer->Authorization(job->endpoint.origin);
  if (!authorization.ok()) {
    Release();
    return Finish(job, Outcome::kFailed, authorization.status());
  }
  if (job->attempts > 0) {  // a retry: the TTL left
    job->message.ttl =
        std::max(absl::ZeroDuration(), job->expires - absl::Now());
  }
  HttpsClient::Request request{job->endpoint, PushHeaders(job->message),
                               job->body};
  request.headers.emplace_back("Authorization", *std::move(authorization));
  if (++job->attempts > 1) {
    absl::MutexLock lock(&mu);
    ++counters.retries;
  }
  client->Post(std::move(request),
               [this, job](absl::StatusOr<HttpsClient::Response> answer) {
                 OnAnswer(job, std::move(answer));
               });
}

void Sender::Impl::OnAnswer(std::shared_ptr<Job> job,
                            absl::StatusOr<HttpsClient::Response> answer) {
  Release();
  if (!answer.ok()) {
    if (IsRetryableError(answer.status()) &&
        job->attempts < options.max_attempts) {
      return Retry(std::move(job), std::nullopt, answer.status());
    }
    const bool refused = absl::IsPermissionDenied(answer.status()) ||
                         absl::IsInvalidArgument(answer.status());
    return Finish(job, refused ? Outcome::kRejected : Outcome::kFailed,
                  answer.status());
  }
  job->last_status = answer->status;
  const std::string said =
      absl::StrCat("the push service answered ", answer->status);
  switch (ClassifyHttpStatus(answer->status)) {
    case Outcome::kDelivered:
      return Finish(job, Outcome::kDelivered, absl::OkStatus());
    case Outcome::kGone:
      return Finish(job, Outcome::kGone,
                    absl::NotFoundError(
                        absl::StrCat(said, ": the subscription is gone")));
    case Outcome::kRejected:
      return Finish(job, Outcome::kRejected,
                    absl::FailedPreconditionError(said));
    case Outcome::kFailed:
      break;
  }
  absl::Status why = absl::UnavailableError(said);
  if (job->attempts >= options.max_attempts) {
    return Finish(job, Outcome::kFailed,
                  absl::UnavailableError(absl::StrCat(
                      said, " after ", job->attempts, " attempt(s)")));
  }
  Retry(std::move(job), ParseRetryAfter(answer->retry_after, absl::Now()), why);
}

void Sender::Impl::Retry(std::shared_ptr<Job> job,
                         std::optional<absl::Duration> asked,
                         absl::Status why) {
  double jitter = 0;
  {
    absl::MutexLock lock(&mu);
    jitter = absl::Uniform(random, 0.0, 1.0);
  }
  absl::Duration delay =
      Backoff(job->attempts, options.backoff_base, options.backoff_cap, jitter);
  if (asked.has_value()) {
    // Never earlier than the push service asked; never held past the cap.
    if (*asked > options.backoff_cap) {
      return Finish(
          job, Outcome::kFailed,
          absl::UnavailableError(absl::StrCat(
              why.message(), " with Retry-After ", absl::FormatDuration(*asked),
              ", past --push_backoff_cap; not retried")));
    }
    delay = std::max(delay, *asked);
  }
  if (absl::Now() + delay > job->expires) {
    return Finish(job, Outcome::kFailed,
                  absl::UnavailableError(
                      absl::StrCat(why.message(),
                                   "; the message's TTL runs out before "
                                   "the next attempt, not retried")));
  }
  job->retry_timer = std::make_unique<asio::steady_timer>(
      *io, absl::ToChronoNanoseconds(delay));
  job->retry_timer->async_wait([this, job](boost::system::error_code ec) {
    if (ec) return;
    {
      absl::MutexLock lock(&mu);
      if (stopped) return;
      ready.push_back(job);
    }
    Pump();
  });
}

void Sender::Impl::Release() {
  {
    absl::MutexLock lock(&mu);
    --in_flight;
  }
  Pump();
}

void Sender::Impl::Finish(const std::shared_ptr<Job>& job, Outcome outcome,
                          absl::Status status) {
  Callback done;
  {
    absl::MutexLock lock(&mu);
    auto it = jobs.find(job->id);
    if (it == jobs.end()) return;  // Stop() reported it
    jobs.erase(it);
    done = std::move(job->done);
    switch (outcome) {
      case Outcome::kDelivered:
        ++counters.delivered;
        break;
      case Outcome::kGone:
        ++counters.gone;
        break;
      case Outcome::kRejected:
        ++counters.rejected;
        break;
      case Outcome::kFailed:
        ++counters.failed;
        break;
    }
  }
  Result result{outcome, job->last_status, job->attempts, std::move(status)};
  std::move(done)(result);
}

void Sender::Impl::Stop() {
  {
    absl::MutexLock lock(&mu);
    stopped = true;
  }
  work.reset();
  io->stop();
  for (std::thread& t : threads) {
    if (t.joinable()) t.join();
  }
  threads.clear();
  std::vector<std::shared_ptr<Job>> pending;
  {
    absl::MutexLock lock(&mu);
    for (auto& [id, job] : jobs) pending.push_back(job);
    jobs.clear();
    ready.clear();
    in_flight = 0;
    counters.failed += pending.size();
  }
  std::sort(pending.begin(), pending.end(),
            [](const auto& a, const auto& b) { return a->id < b->id; });
  for (const std::shared_ptr<Job>& job : pending) {
    Result result{Outcome::kFailed, job->last_status, job->attempts,
                  absl::CancelledError("the push sender stopped")};
    std::move(job->done)(result);
  }
}

Sender::Sender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Sender::~Sender() {
  impl_->Stop();
  impl_->client->CloseIdle();
  impl_->io.reset();
  impl_->client.reset();
}

absl::StatusOr<std::unique_ptr<Sender>> Sender::Create(PushOptions options,
                                                       VapidKey key) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<std::unique_ptr<VapidSigner>> signer =
      VapidSigner::Create(std::move(key), options.vapid_subject);
  if (!signer.ok()) return signer.status();
  impl->signer = *std::move(signer);
  impl->io = std::make_unique<asio::io_context>(options.threads);
  HttpsClient::Options client_options;
  client_options.ca_file = options.ca_file;
  client_options.allow_private = options.allow_private;
  client_options.connect_timeout = options.connect_timeout;
  client_options.request_timeout = options.request_timeout;
  client_options.idle_timeout = options.idle_timeout;
  client_options.max_idle = options.max_in_flight;
  absl::StatusOr<std::unique_ptr<HttpsClient>> client =
      HttpsClient::Create(*impl->io, std::move(client_options));
  if (!client.ok()) return client.status();
  impl->client = *std::move(client);
  impl->options = std::move(options);
  impl->work.emplace(impl->io->get_executor());
  for (int i = 0; i < impl->options.threads; ++i) {
    impl->threads.emplace_back([io = impl->io.get()] { io->run(); });
  }
  return std::unique_ptr<Sender>(new Sender(std::move(impl)));
}

absl::Status Sender::Send(Subscription subscription, Message message,
                          Callback done) {
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(subscription.endpoint);
  if (!endpoint.ok()) return endpoint.status();
  if (subscription.p256dh.size() != kP256PointBytes ||
      subscription.p256dh[0] != 0x04) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subscription p256dh must be an uncompressed P-256 point (",
        kP256PointBytes, " bytes starting with 0x04); got ",
        subscription.p256dh.size(), " bytes"));
  }
  if (subscription.auth.size() != kAuthSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscription auth secret must be ", kAuthSecretBytes,
                     " bytes; got ", subscription.auth.size()));
  }
  if (absl::Status s = ValidateMessage(message); !s.ok()) return s;
  auto job = std::make_shared<Job>();
  job->subscription = std::move(subscription);
  job->endpoint = *std::move(endpoint);
  job->message = std::move(message);
  job->expires = absl::Now() + job->message.ttl;
  job->done = std::move(done);
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->stopped) {
      return absl::FailedPreconditionError("the push sender is stopped");
    }
    if (impl_->jobs.size() >= impl_->options.max_queue) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the push queue is full: ", impl_->options.max_queue,
                       " messages pending (--push_max_queue)"));
    }
    job->id = impl_->next_id++;
    impl_->jobs.emplace(job->id, job);
    impl_->ready.push_back(job);
  }
  asio::post(*impl_->io, [impl = impl_.get()] { impl->Pump(); });
  return absl::OkStatus();
}

void Sender::Stop() { impl_->Stop(); }

Sender::Stats Sender::stats() const {
  absl::MutexLock lock(&impl_->mu);
  Stats stats = impl_->counters;
  stats.queued = impl_->jobs.size();
  stats.in_flight = impl_->in_flight;
  return stats;
}

std::string Sender::public_key_base64url() const {
  return impl_->signer->key().public_key_base64url();
}

}  // namespace notifyd::push
