// Black-box tests of the descriptor budget (docs/DESIGN.md, "Limits"): the real
// notifyd, started with a small descriptor limit, is flooded with idle TCP
// connections on one listener while the other one is used. No flood on one
// port may stop the other, during the flood or after it; connections over a
// cap are closed at once instead of being held; flags that would let the
// connections outgrow the limit are refused at start. With TLS, gRPC keeps
// its own listener, guarded by server/accept_guard.h: the same flood must
// leave it accepting.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/fd_budget.h"
#include "notify/v1/notify.grpc.pb.h"
#include "tests/edge/sse_client.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

using edge::testing::HttpGet;
using edge::testing::SseClient;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

// notifyd's descriptor limit in these tests, and how many connections each
// flood opens: more than the whole limit.
constexpr uint64_t kServerFdLimit = 1024;
constexpr int kFlood = 1100;

// Idle TCP connections to 127.0.0.1:port that never send a byte.
class Flood {
 public:
  Flood(int port, int count) {
    for (int i = 0; i < count; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      // Loopback completes the handshake from the listen queue, whether or
      // not the server ever accepts.
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(fd);
        continue;
      }
      fds_.push_back(fd);
    }
  }
  ~Flood() { Release(); }

  size_t opened() const { return fds_.size(); }

  // How many of the connections the server has closed (EOF or reset),
  // waiting up to `wait` for at least `at_least` of them.
  size_t ClosedByServer(size_t at_least, milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    size_t closed = 0;
    do {
      closed = 0;
      for (int fd : fds_) {
        char buf[256];
        ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          ++closed;
        } else if (got > 0 && HasEof(fd)) {
          ++closed;
        }
      }
      if (closed >= at_least) break;
      std::this_thread::sleep_for(milliseconds(100));
    } while (std::chrono::steady_clock::now() < deadline);
    return closed;
  }

  void Release() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

 private:
  // A socket with a canned answer waiting: read it all, then look for EOF.
  static bool HasEof(int fd) {
    char buf[512];
    for (;;) {
      ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (got > 0) continue;
      return got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
  }

  std::vector<int> fds_;
};

testing::ChildOptions SmallFdLimit() {
  testing::ChildOptions options;
  options.fd_limit = kServerFdLimit;
  return options;
}

// How notifyd shares kServerFdLimit out (the defaults).
FdBudget Budget() { return *PlanFdBudget(kServerFdLimit, 0, 0); }

// The test itself holds a whole flood plus its clients.
void RaiseOwnFdLimit() {
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = rl.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  ASSERT_GT(rl.rlim_cur, 2 * static_cast<rlim_t>(kFlood));
}

grpc::Status Notify(pb::Notifier::Stub& stub, const std::string& user,
                    uint64_t* id = nullptr) {
  pb::NotifyUserRequest request;
  request.set_user_id(user);
  request.set_data("{\"title\":\"still here\"}");
  pb::NotifyUserResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  grpc::Status status = stub.NotifyUser(&context, request, &response);
  if (id != nullptr) *id = response.notification().id();
  return status;
}

class FloodTest : public ::testing::Test {
 protected:
  void SetUp() override { RaiseOwnFdLimit(); }

  void StartNotifyd(std::vector<std::string> extra = {}) {
    extra.push_back("--insecure_dev_identity");
    notifyd_ =
        std::make_unique<NotifydBinary>(dir_.path(), extra, SmallFdLimit());
    auto ports = notifyd_->WaitForPorts();
    ASSERT_TRUE(ports.has_value());
    ports_ = *ports;
    stub_ = pb::Notifier::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(ports_.grpc),
                            grpc::InsecureChannelCredentials()));
  }

  // After a flood: `stream` opens for `user`, a new caller over
  // `credentials` gets through within 5 s and its notification reaches the
  // stream, and /readyz answers 200.
  void ExpectServingAfter(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          SseClient& stream, const std::string& user) {
    ASSERT_EQ(stream.Open(static_cast<uint16_t>(ports_.http),
                          "/v1/stream?user=" + user),
              200);
    auto fresh = pb::Notifier::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(ports_.grpc), credentials));
    uint64_t id = 0;
    grpc::Status after;
    for (int i = 0; i < 50; ++i) {
      after = Notify(*fresh, user, &id);
      if (after.ok()) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(after.ok()) << after.error_message() << "\n"
                            << notifyd_->process().Log();
    auto event = stream.NextEvent();
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->id, std::to_string(id));
    EXPECT_EQ(HttpGet(static_cast<uint16_t>(ports_.admin), "/readyz").status,
              200);
  }

  testing::TempDir dir_;
  std::unique_ptr<NotifydBinary> notifyd_;
  testing::Ports ports_;
  std::unique_ptr<pb::Notifier::Stub> stub_;
};

TEST_F(FloodTest, AnHttpFloodLeavesGrpcServingDuringAndAfter) {
  StartNotifyd();
  ASSERT_TRUE(Notify(*stub_, "alice").ok()) << notifyd_->process().Log();
  {
    Flood flood(ports_.http, kFlood);
    ASSERT_EQ(flood.opened(), static_cast<size_t>(kFlood));
    // Over the HTTP cap, connections are answered and closed at once, not
    // held until the idle timeout.
    const size_t over_cap = kFlood - Budget().http;
    EXPECT_GE(flood.ClosedByServer(over_cap, seconds(10)), over_cap);
    grpc::Status during = Notify(*stub_, "alice");
    EXPECT_TRUE(during.ok()) << during.error_message() << "\n"
                             << notifyd_->process().Log();
  }
  // After: gRPC answers, and a stream opens and gets a new notification.
  SseClient stream;
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    status = stream.Open(static_cast<uint16_t>(ports_.http),
                         "/v1/stream?user=alice");
    if (status != 200) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(status, 200);
  uint64_t id = 0;
  ASSERT_TRUE(Notify(*stub_, "alice", &id).ok()) << notifyd_->process().Log();
  auto event = stream.NextEvent();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->id, std::to_string(id));
  EXPECT_EQ(HttpGet(static_cast<uint16_t>(ports_.admin), "/readyz").status,
            200);
}

TEST_F(FloodTest, AGrpcFloodLeavesStreamsOpeningDuringAndAfter) {
  StartNotifyd();
  ASSERT_TRUE(Notify(*stub_, "bob").ok()) << notifyd_->process().Log();
  {
    Flood flood(ports_.grpc, kFlood);
    ASSERT_EQ(flood.opened(), static_cast<size_t>(kFlood));
    // Everything over the gRPC share is closed at once.
    const size_t over_cap = kFlood - Budget().grpc;
    EXPECT_GE(flood.ClosedByServer(over_cap, seconds(10)), over_cap);
    SseClient during;
    EXPECT_EQ(
        during.Open(static_cast<uint16_t>(ports_.http), "/v1/stream?user=bob"),
        200);
    EXPECT_EQ(HttpGet(static_cast<uint16_t>(ports_.http), "/healthz").status,
              200);
  }
  // After the flood leaves, gRPC accepts again: a new caller's
  // notification reaches a stream opened after the flood.
  SseClient stream;
  ExpectServingAfter(grpc::InsecureChannelCredentials(), stream, "bob");
}

// gRPC 1.51's own listener (TLS) stopped accepting for good once the process
// hit its descriptor limit; the accept guard sheds what is over the gRPC
// share instead, and never lets accept4 fail with EMFILE.
TEST_F(FloodTest, AGrpcTlsFloodLeavesStreamsOpeningAndGrpcServingAfter) {
  testing::TestCa ca;
  ASSERT_TRUE(ca.ok()) << ca.error();
  StartNotifyd(
      {"--tls_cert=" + ca.server_cert(), "--tls_key=" + ca.server_key()});
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = testing::TestCa::Read(ca.ca_cert());
  const std::string target = "127.0.0.1:" + std::to_string(ports_.grpc);
  auto tls_stub = pb::Notifier::NewStub(
      grpc::CreateChannel(target, grpc::SslCredentials(tls)));
  ASSERT_TRUE(Notify(*tls_stub, "carol").ok()) << notifyd_->process().Log();
  {
    Flood flood(ports_.grpc, kFlood);
    ASSERT_EQ(flood.opened(), static_cast<size_t>(kFlood));
    // Everything over the gRPC share is closed at once.
    const size_t over_cap = kFlood - Budget().grpc;
    EXPECT_GE(flood.ClosedByServer(over_cap, seconds(10)), over_cap);
    SseClient during(ca.ca_cert());  // --tls_cert serves HTTPS too
    EXPECT_EQ(during.Open(static_cast<uint16_t>(ports_.http),
                          "/v1/stream?user=carol"),
              200)
        << notifyd_->process().Log();
    EXPECT_EQ(HttpGet(static_cast<uint16_t>(ports_.admin), "/healthz").status,
              200);
  }
  // After the flood leaves, a new TLS caller's notification reaches a
  // stream opened after the flood.
  SseClient stream(ca.ca_cert());
  ExpectServingAfter(grpc::SslCredentials(tls), stream, "carol");
  // The guard did the shedding, and counted it.
  const std::string metrics =
      HttpGet(static_cast<uint16_t>(ports_.admin), "/metrics").body;
  EXPECT_GE(testing::SeriesValue(metrics,
                                 "notifyd_limit_rejections_total{limit=\"grpc_"
                                 "connections\"}"),
            static_cast<double>(kFlood - Budget().grpc));
  const std::string log = notifyd_->process().Log();
  EXPECT_THAT(log, HasSubstr("closed connections at accept"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("Failed accept4")));
}

TEST_F(FloodTest, ConnectionCapsOverTheDescriptorLimitAreRefusedAtStart) {
  NotifydBinary notifyd(dir_.path(), {"--max_connections=2000"},
                        SmallFdLimit());
  std::optional<int> status = notifyd.process().Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_THAT(notifyd.process().Log(), HasSubstr("--max_connections=2000"));
  EXPECT_THAT(notifyd.process().Log(), HasSubstr("ulimit -n"));
}

}  // namespace
}  // namespace notifyd
