// push::Sender against the push service stand-in (tests/support/
// push_service.py) over TLS with a test CA: what the service receives and
// decrypts, and what the sender reports for each kind of answer, for
// refused endpoints, timeouts, a full queue and a stop.
#include "push/push_sender.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "push/ece.h"
#include "tests/push/push_service.h"
#include "tests/server/test_ca.h"

namespace notifyd::push {
namespace {

using ::notifyd::testing::PayloadOf;
using ::notifyd::testing::PushService;
using ::notifyd::testing::PushServiceOptions;
using ::notifyd::testing::TestCa;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kSubject[] = "mailto:ops@example.com";
constexpr auto kWait = std::chrono::seconds(20);

// The results callbacks deliver, in the order they come.
class Outcomes {
 public:
  Sender::Callback Collect() {
    return [this](const Result& result) {
      absl::MutexLock lock(&mu_);
      results_.push_back(result);
    };
  }
  // Waits (up to kWait) for `n` results; returns those there are.
  std::vector<Result> Await(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        absl::MutexLock lock(&mu_);
        if (results_.size() >= n) return results_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    absl::MutexLock lock(&mu_);
    return results_;
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return results_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<Result> results_ ABSL_GUARDED_BY(mu_);
};

PushServiceOptions Failing(int first, int status, std::string retry_after) {
  PushServiceOptions options;
  options.fail_first = first;
  options.fail_status = status;
  options.retry_after = std::move(retry_after);
  return options;
}

// A TCP listener that never accepts: connections complete in the kernel's
// backlog, and a TLS handshake with it never gets an answer.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
            0 &&
        listen(fd_, 16) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class PushSenderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ca_.ok()) << ca_.error(); }

  PushOptions Options() const {
    PushOptions options;
    options.ca_file = ca_.ca_cert();
    options.allow_private = true;  // the stand-in is on loopback
    options.vapid_subject = kSubject;
    options.backoff_base = absl::Milliseconds(20);
    options.backoff_cap = absl::Seconds(10);
    return options;
  }

  std::unique_ptr<Sender> Start(const PushOptions& options) {
    absl::StatusOr<std::unique_ptr<Sender>> sender =
        Sender::Create(options, key_);
    EXPECT_TRUE(sender.ok()) << sender.status();
    return sender.ok() ? *std::move(sender) : nullptr;
  }

  // Sends `message` to `subscription` and waits for its result; a
  // DEADLINE_EXCEEDED failure when none came.
  Result SendAndWait(Sender& sender, const Subscription& subscription,
                     const Message& message = Hello()) {
    const size_t before = outcomes_.count();
    absl::Status sent = sender.Send(subscription, message, outcomes_.Collect());
    EXPECT_TRUE(sent.ok()) << sent;
    std::vector<Result> results = outcomes_.Await(before + 1);
    if (!sent.ok() || results.size() <= before) {
      return Result{Outcome::kFailed, 0, 0,
                    absl::DeadlineExceededError("no result")};
    }
    return results[before];
  }

  // Sends two messages to `service`, the second once the first is
  // reported: their results, and what the service received.
  struct TwoInTurn {
    std::vector<Result> results;
    std::vector<boost::json::object> received;
  };
  TwoInTurn SendTwoInTurn(const PushService& service,
                          const PushOptions& options) {
    auto sender = Start(options);
    TwoInTurn two;
    for (int i = 0; i < 2; ++i) {
      two.results.push_back(SendAndWait(*sender, service.Subscribe("/push/a")));
    }
    two.received = service.Received();
    return two;
  }

  static Message Hello() {
    Message message;
    message.payload = R"({"title":"Hello","body":"from notifyd"})";
    return message;
  }

  TestCa ca_;
  VapidKey key_ = VapidKey::Generate().value();
  Outcomes outcomes_;  // outlives the senders of each test
};

TEST_F(PushSenderTest, DeliversWhatTheBrowserDecrypts) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  Message message = Hello();
  message.ttl = absl::Seconds(60);
  message.urgency = Urgency::kHigh;
  message.collapse_key = "order:42";
  const Result result =
      SendAndWait(*sender, service.Subscribe("/push/a"), message);
  EXPECT_EQ(result.outcome, Outcome::kDelivered) << result.status;
  EXPECT_EQ(result.http_status, 201);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_TRUE(result.status.ok());

  std::vector<boost::json::object> received = service.Received();
  ASSERT_EQ(received.size(), 1u) << service.Log();
  const boost::json::object& r = received[0];
  EXPECT_THAT(r.at("errors").as_array(), IsEmpty()) << r;
  EXPECT_EQ(r.at("path").as_string(), "/push/a");
  EXPECT_EQ(PayloadOf(r), message.payload);
  EXPECT_EQ(r.at("ttl").as_string(), "60");
  EXPECT_EQ(r.at("urgency").as_string(), "high");
  EXPECT_EQ(r.at("topic").as_string(), TopicFor("order:42"));
  EXPECT_EQ(r.at("content_encoding").as_string(), "aes128gcm");
  EXPECT_EQ(r.at("content_type").as_string(), "application/octet-stream");
  const boost::json::object& claims = r.at("claims").as_object();
  EXPECT_EQ(claims.at("aud").as_string(), service.origin());
  EXPECT_EQ(claims.at("sub").as_string(), kSubject);
  EXPECT_EQ(sender->stats().delivered, 1u);
  EXPECT_EQ(sender->stats().queued, 0u);
}

TEST_F(PushSenderTest, TheLargestPayloadArrivesWhole) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  Message message;
  message.payload = std::string(kMaxPlaintextBytes, 'p');
  EXPECT_EQ(
      SendAndWait(*sender, service.Subscribe("/push/big"), message).outcome,
      Outcome::kDelivered);
  std::vector<boost::json::object> received = service.Received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].at("body_bytes").to_number<int64_t>(),
            static_cast<int64_t>(kMaxBodyBytes));
  EXPECT_EQ(PayloadOf(received[0]), message.payload);
}

TEST_F(PushSenderTest, KeepsTheConnectionForTheNextMessage) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  TwoInTurn two = SendTwoInTurn(service, Options());
  ASSERT_EQ(two.received.size(), 2u);
  EXPECT_EQ(two.received[0].at("client_port"),
            two.received[1].at("client_port"));
}

TEST_F(PushSenderTest, AKeptConnectionTheServerClosedIsReplacedUnseen) {
  PushServiceOptions closing;
  closing.close_after_answer = true;
  PushService service(ca_, closing);
  ASSERT_TRUE(service.ok()) << service.Log();
  TwoInTurn two = SendTwoInTurn(service, Options());
  for (const Result& result : two.results) {
    EXPECT_EQ(result.outcome, Outcome::kDelivered) << result.status;
    EXPECT_EQ(result.attempts, 1);  // the reconnection is not a retry
  }
  ASSERT_EQ(two.received.size(), 2u);
  EXPECT_NE(two.received[0].at("client_port"),
            two.received[1].at("client_port"));
}

TEST_F(PushSenderTest, AConnectionIdlePastIdleTimeoutIsNotReused) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  PushOptions options = Options();
  options.idle_timeout = absl::ZeroDuration();
  TwoInTurn two = SendTwoInTurn(service, options);
  ASSERT_EQ(two.received.size(), 2u);
  EXPECT_NE(two.received[0].at("client_port"),
            two.received[1].at("client_port"));
}

TEST_F(PushSenderTest, ReportsAGoneSubscription) {
  PushService service(ca_, [] {
    PushServiceOptions options;
    options.gone_paths = {"/push/gone"};
    return options;
  }());
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  const Result result = SendAndWait(*sender, service.Subscribe("/push/gone"));
  EXPECT_EQ(result.outcome, Outcome::kGone);
  EXPECT_EQ(result.http_status, 410);
  EXPECT_EQ(result.attempts, 1);  // not retried
  EXPECT_EQ(result.status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(sender->stats().gone, 1u);
}

TEST_F(PushSenderTest, RetriesA429NoSoonerThanRetryAfterThenDelivers) {
  PushService service(ca_, Failing(1, 429, "1"));
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());  // backoff 20 ms: Retry-After rules
  const Result result = SendAndWait(*sender, service.Subscribe("/push/a"));
  EXPECT_EQ(result.outcome, Outcome::kDelivered) << result.status;
  EXPECT_EQ(result.attempts, 2);
  std::vector<boost::json::object> received = service.Received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].at("status").to_number<int>(), 429);
  EXPECT_EQ(received[1].at("status").to_number<int>(), 201);
  EXPECT_EQ(PayloadOf(received[1]), Hello().payload);
  EXPECT_GE(received[1].at("time").to_number<double>() -
                received[0].at("time").to_number<double>(),
            1.0);
  EXPECT_EQ(sender->stats().retries, 1u);
}

TEST_F(PushSenderTest, ARetryCarriesTheTtlLeft) {
  PushService service(ca_, Failing(1, 503, "1"));
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  Message message = Hello();
  message.ttl = absl::Seconds(60);
  EXPECT_EQ(SendAndWait(*sender, service.Subscribe("/push/a"), message).outcome,
            Outcome::kDelivered);
  std::vector<boost::json::object> received = service.Received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].at("ttl").as_string(), "60");
  int left = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(std::string(received[1].at("ttl").as_string()), &left));
  EXPECT_LE(left, 59);  // at least Retry-After's second later
}

TEST_F(PushSenderTest, NoRetryOnceTheTtlHasRunOut) {
  PushService service(ca_, Failing(1, 429, "1"));
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  Message message = Hello();
  message.ttl = absl::ZeroDuration();  // now or never
  const Result result =
      SendAndWait(*sender, service.Subscribe("/push/a"), message);
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_THAT(result.status.message(), HasSubstr("TTL"));
  EXPECT_EQ(service.Received().size(), 1u);
}

TEST_F(PushSenderTest, ServerErrorsAreRetriedUpToMaxAttempts) {
  PushService service(ca_, Failing(100, 500, ""));
  ASSERT_TRUE(service.ok()) << service.Log();
  PushOptions options = Options();
  options.max_attempts = 3;
  auto sender = Start(options);
  const Result result = SendAndWait(*sender, service.Subscribe("/push/a"));
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.http_status, 500);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_EQ(service.Received().size(), 3u);
}

TEST_F(PushSenderTest, ARetryAfterPastTheCapEndsTheMessage) {
  PushService service(ca_, Failing(1, 429, "3600"));
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());  // cap 10 s
  const Result result = SendAndWait(*sender, service.Subscribe("/push/a"));
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_THAT(result.status.message(), HasSubstr("Retry-After"));
}

TEST_F(PushSenderTest, OtherClientErrorsAreRejectedWithoutRetry) {
  PushService service(ca_, Failing(100, 413, ""));
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  const Result result = SendAndWait(*sender, service.Subscribe("/push/a"));
  EXPECT_EQ(result.outcome, Outcome::kRejected);
  EXPECT_EQ(result.http_status, 413);
  EXPECT_EQ(result.attempts, 1);
}

TEST_F(PushSenderTest, RefusesNonHttpsEndpointsAndBadKeysAtOnce) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  Subscription plain = service.Subscribe("/push/a");
  plain.endpoint = absl::StrCat("http://127.0.0.1:", service.port(), "/x");
  absl::Status status = sender->Send(plain, Hello(), outcomes_.Collect());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("https"));

  Subscription short_key = service.Subscribe("/push/a");
  short_key.p256dh.pop_back();
  EXPECT_EQ(sender->Send(short_key, Hello(), outcomes_.Collect()).code(),
            absl::StatusCode::kInvalidArgument);
  Subscription short_auth = service.Subscribe("/push/a");
  short_auth.auth.pop_back();
  EXPECT_EQ(sender->Send(short_auth, Hello(), outcomes_.Collect()).code(),
            absl::StatusCode::kInvalidArgument);
  Message big;
  big.payload = std::string(kMaxPlaintextBytes + 1, 'x');
  EXPECT_EQ(sender->Send(service.Subscribe("/push/a"), big, outcomes_.Collect())
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(outcomes_.count(), 0u);  // refused calls never call back
  EXPECT_THAT(service.Received(), IsEmpty());
}

TEST_F(PushSenderTest, AKeyOffTheCurveIsRejected) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  auto sender = Start(Options());
  Subscription subscription = service.Subscribe("/push/a");
  subscription.p256dh.back() ^= 1;
  const Result result = SendAndWait(*sender, subscription);
  EXPECT_EQ(result.outcome, Outcome::kRejected);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(service.Received(), IsEmpty());
}

TEST_F(PushSenderTest, PrivateAddressesAreRefusedUnlessAllowed) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  PushOptions options = Options();
  options.allow_private = false;
  auto sender = Start(options);
  Subscription by_name = service.Subscribe("/push/a");
  by_name.endpoint =
      absl::StrCat("https://localhost:", service.port(), "/push/a");
  ASSERT_TRUE(
      sender->Send(service.Subscribe("/push/a"), Hello(), outcomes_.Collect())
          .ok());
  ASSERT_TRUE(sender->Send(by_name, Hello(), outcomes_.Collect()).ok());
  std::vector<Result> results = outcomes_.Await(2);
  ASSERT_EQ(results.size(), 2u);
  for (const Result& result : results) {
    EXPECT_EQ(result.outcome, Outcome::kRejected);
    EXPECT_EQ(result.status.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(result.status.message(), HasSubstr("non-public"));
  }
  EXPECT_THAT(service.Received(), IsEmpty());
}

TEST_F(PushSenderTest, CertificatesThatDoNotVerifyAreRefused) {
  PushService service(ca_);  // its certificate names 127.0.0.1 only
  ASSERT_TRUE(service.ok()) << service.Log();
  PushOptions rogue_ca = Options();
  rogue_ca.ca_file = ca_.rogue_cert();
  Subscription by_name = service.Subscribe("/push/a");
  by_name.endpoint =
      absl::StrCat("https://localhost:", service.port(), "/push/a");
  struct Case {
    const char* what;
    PushOptions options;
    Subscription subscription;
  };
  for (const Case& c :
       {Case{"signed by another CA", rogue_ca, service.Subscribe("/push/a")},
        Case{"for another host", Options(), by_name}}) {
    auto sender = Start(c.options);
    const Result result = SendAndWait(*sender, c.subscription);
    EXPECT_EQ(result.outcome, Outcome::kFailed) << c.what;
    EXPECT_EQ(result.status.code(), absl::StatusCode::kFailedPrecondition)
        << c.what;
    EXPECT_THAT(result.status.message(), HasSubstr("does not verify"))
        << c.what;
  }
  EXPECT_THAT(service.Received(), IsEmpty());
}

TEST_F(PushSenderTest, AnUnreadableCaFileFailsCreate) {
  PushOptions options = Options();
  options.ca_file = "/nonexistent/ca.pem";
  absl::StatusOr<std::unique_ptr<Sender>> sender =
      Sender::Create(options, key_);
  EXPECT_EQ(sender.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sender.status().message(), HasSubstr("/nonexistent/ca.pem"));
}

TEST_F(PushSenderTest, ASilentServerTimesOutAndIsRetried) {
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  PushOptions options = Options();
  options.connect_timeout = absl::Milliseconds(300);
  options.max_attempts = 2;
  auto sender = Start(options);
  Subscription subscription{
      .endpoint = absl::StrCat("https://127.0.0.1:", silent.port(), "/p"),
      .p256dh = P256PublicFromPrivate(std::string(31, '\0') + "\x07").value(),
      .auth = std::string(kAuthSecretBytes, 'a')};
  const Result result = SendAndWait(*sender, subscription);
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(result.attempts, 2);
}

TEST_F(PushSenderTest, AFullQueueRefusesAndStopCancelsWhatIsPending) {
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  PushOptions options = Options();
  options.max_queue = 2;
  options.max_in_flight = 1;
  options.connect_timeout = absl::Seconds(60);
  auto sender = Start(options);
  Subscription subscription{
      .endpoint = absl::StrCat("https://127.0.0.1:", silent.port(), "/p"),
      .p256dh = P256PublicFromPrivate(std::string(31, '\0') + "\x07").value(),
      .auth = std::string(kAuthSecretBytes, 'a')};
  ASSERT_TRUE(sender->Send(subscription, Hello(), outcomes_.Collect()).ok());
  ASSERT_TRUE(sender->Send(subscription, Hello(), outcomes_.Collect()).ok());
  absl::Status full = sender->Send(subscription, Hello(), outcomes_.Collect());
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("--push_max_queue"));

  // One request hangs in flight; the other waits for its slot.
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (sender->stats().in_flight == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Sender::Stats stats = sender->stats();
  EXPECT_EQ(stats.in_flight, 1u);
  EXPECT_EQ(stats.queued, 2u);
  EXPECT_EQ(outcomes_.count(), 0u);

  sender->Stop();
  std::vector<Result> results = outcomes_.Await(2);
  ASSERT_EQ(results.size(), 2u);
  for (const Result& result : results) {
    EXPECT_EQ(result.outcome, Outcome::kFailed);
    EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(sender->Send(subscription, Hello(), outcomes_.Collect()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PushSenderTest, SendsManyMessagesConcurrently) {
  PushService service(ca_);
  ASSERT_TRUE(service.ok()) << service.Log();
  PushOptions options = Options();
  options.threads = 2;
  options.max_in_flight = 4;
  auto sender = Start(options);
  constexpr int kMessages = 40;
  for (int i = 0; i < kMessages; ++i) {
    Message message;
    message.payload = absl::StrCat("message ", i);
    ASSERT_TRUE(sender
                    ->Send(service.Subscribe(absl::StrCat("/push/", i % 5)),
                           message, outcomes_.Collect())
                    .ok());
  }
  std::vector<Result> results = outcomes_.Await(kMessages);
  ASSERT_EQ(results.size(), static_cast<size_t>(kMessages));
  for (const Result& result : results) {
    EXPECT_EQ(result.outcome, Outcome::kDelivered) << result.status;
  }
  std::vector<boost::json::object> received = service.Received();
  ASSERT_EQ(received.size(), static_cast<size_t>(kMessages));
  std::vector<std::string> payloads;
  for (const auto& r : received) payloads.push_back(PayloadOf(r));
  std::sort(payloads.begin(), payloads.end());
  std::vector<std::string> expected;
  for (int i = 0; i < kMessages; ++i) {
    expected.push_back(absl::StrCat("message ", i));
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(payloads, expected);
}

}  // namespace
}  // namespace notifyd::push
