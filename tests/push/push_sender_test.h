// What the push::Sender tests share (push_sender_test.cc,
// push_sender_answers_test.cc): a collector of the results callbacks
// deliver, a stand-in that fails its first requests, a listener that never
// answers, and the fixture: a sender with a test CA's trust, loopback
// allowed, quick backoff.
#ifndef NOTIFYD_TESTS_PUSH_PUSH_SENDER_TEST_H_
#define NOTIFYD_TESTS_PUSH_PUSH_SENDER_TEST_H_

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "push/push_sender.h"
#include "tests/push/push_service.h"
#include "tests/server/test_ca.h"

namespace notifyd::push {

inline constexpr char kSubject[] = "mailto:ops@example.com";
inline constexpr auto kWait = std::chrono::seconds(20);

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

inline ::notifyd::testing::PushServiceOptions Failing(int first, int status,
                                                      std::string retry_after) {
  ::notifyd::testing::PushServiceOptions options;
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
  TwoInTurn SendTwoInTurn(const ::notifyd::testing::PushService& service,
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

  ::notifyd::testing::TestCa ca_;
  VapidKey key_ = VapidKey::Generate().value();
  Outcomes outcomes_;  // outlives the senders of each test
};

}  // namespace notifyd::push

#endif  // NOTIFYD_TESTS_PUSH_PUSH_SENDER_TEST_H_
