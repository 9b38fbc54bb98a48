// push::Sender against the push service stand-in over TLS with a test CA
// (push_sender_test.h): what the sender reports for each kind of answer
// (gone, 429 and Retry-After, the TTL left, 5xx, other 4xx), for endpoints
// and keys it refuses, certificates that do not verify, and a server that
// never answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "push/ece.h"
#include "push/push_sender.h"
#include "tests/push/push_sender_test.h"
#include "tests/push/push_service.h"

namespace notifyd::push {
namespace {

using ::notifyd::testing::PayloadOf;
using ::notifyd::testing::PushService;
using ::notifyd::testing::PushServiceOptions;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

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

}  // namespace
}  // namespace notifyd::push
