// push::Sender against the push service stand-in (tests/support/
// push_service.py) over TLS with a test CA (push_sender_test.h): what the
// service receives and decrypts, kept connections, a full queue, a stop and
// many messages at once. Each kind of answer, refusals and timeouts:
// push_sender_answers_test.cc.
#include "push/push_sender.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "push/ece.h"
#include "tests/push/push_sender_test.h"
#include "tests/push/push_service.h"

namespace notifyd::push {
namespace {

using ::notifyd::testing::PayloadOf;
using ::notifyd::testing::PushService;
using ::notifyd::testing::PushServiceOptions;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

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
