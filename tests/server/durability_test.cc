// Black-box tests of the notifyd binary: an acknowledged notification
// survives SIGKILL; SIGTERM shuts down cleanly; bad flags and unusable
// store paths are refused with a clear message; the publisher security
// flags (API keys, TLS on both listeners) work end to end with notifyctl.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "notify/v1/notify.grpc.pb.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(DurabilityTest, EveryAcknowledgedIdSurvivesSigkill) {
  testing::TempDir dir;
  constexpr int kThreads = 8;
  std::mutex mu;
  std::vector<std::set<uint64_t>> acked(kThreads);
  uint64_t max_acked = 0;
  {
    NotifydBinary notifyd(dir.path());
    auto stub = notifyd.Connect();
    ASSERT_NE(stub, nullptr);
    std::atomic<int> total{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (;;) {
          pb::NotifyUserRequest request;
          request.set_user_id("durable-" + std::to_string(t));
          request.set_data("payload");
          pb::NotifyUserResponse response;
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + seconds(5));
          if (!stub->NotifyUser(&context, request, &response).ok()) return;
          std::lock_guard lock(mu);
          acked[t].insert(response.notification().id());
          max_acked = std::max(max_acked, response.notification().id());
          ++total;
        }
      });
    }
    // Kill while calls are certainly in flight.
    while (total.load() < 400) std::this_thread::sleep_for(milliseconds(5));
    notifyd.process().Signal(SIGKILL);
    for (auto& t : threads) t.join();
    ASSERT_TRUE(notifyd.process().Wait(seconds(10)).has_value());
  }

  NotifydBinary restarted(dir.path());
  auto stub = restarted.Connect();
  ASSERT_NE(stub, nullptr);
  size_t checked = 0;
  for (int t = 0; t < kThreads; ++t) {
    std::set<uint64_t> stored = AllIds(*stub, "durable-" + std::to_string(t));
    for (uint64_t id : acked[t]) {
      EXPECT_TRUE(stored.count(id)) << "acknowledged id " << id << " lost";
      ++checked;
    }
  }
  EXPECT_GE(checked, 400u);
  pb::NotifyUserRequest request;
  request.set_user_id("after-restart");
  pb::NotifyUserResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->NotifyUser(&context, request, &response).ok());
  EXPECT_GT(response.notification().id(), max_acked);

  restarted.process().Signal(SIGTERM);
  std::optional<int> status = restarted.process().Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << restarted.process().Log();
  EXPECT_THAT(restarted.process().Log(), HasSubstr("store closed"));
}

int RunToExit(const std::filesystem::path& dir, std::vector<std::string> args,
              std::string* log) {
  std::vector<std::string> argv = {NOTIFYD_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string log_path = (dir / "run.log").string();
  std::filesystem::remove(log_path);
  testing::ChildProcess process(argv, log_path);
  std::optional<int> status = process.Wait(seconds(20));
  *log = process.Log();
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST(StartupTest, UnknownFlagIsRefused) {
  testing::TempDir dir;
  std::string log;
  EXPECT_NE(RunToExit(dir.path(), {"--no_such_flag=1"}, &log), 0);
  EXPECT_THAT(log, HasSubstr("no_such_flag"));
}

TEST(StartupTest, UnwritableStorePathIsRefusedNamingIt) {
  testing::TempDir dir;
  std::filesystem::path parent;
  if (geteuid() == 0) {
    // root writes through permissions; a file where a directory must be
    // is refused for everyone.
    parent = dir.path() / "plain-file";
    std::ofstream(parent) << "x";
  } else {
    parent = dir.path() / "locked";
    std::filesystem::create_directory(parent);
    chmod(parent.c_str(), 0500);
  }
  std::string db = (parent / "notify.db").string();
  std::string log;
  int code =
      RunToExit(dir.path(),
                {"--db=" + db, "--grpc_listen=127.0.0.1:0",
                 "--http_listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0"},
                &log);
  chmod(parent.c_str(), 0700);
  EXPECT_NE(code, 0);
  EXPECT_THAT(log, HasSubstr(parent.string()));
}

TEST(StartupTest, NonLoopbackGrpcNeedsInsecure) {
  testing::TempDir dir;
  std::string log;
  EXPECT_NE(RunToExit(dir.path(),
                      {"--db=" + (dir.path() / "n.db").string(),
                       "--grpc_listen=0.0.0.0:0", "--http_listen=127.0.0.1:0",
                       "--admin_listen=127.0.0.1:0"},
                      &log),
            0);
  EXPECT_THAT(log, HasSubstr("--insecure"));
  EXPECT_THAT(log, HasSubstr("--api_keys_file"));
  EXPECT_THAT(log, HasSubstr("--tls_client_ca"));
}

TEST(StartupTest, NonLoopbackAdminListenerNeedsApiKeys) {
  testing::TempDir dir;
  std::string log;
  EXPECT_EQ(RunToExit(dir.path(),
                      {"--db=" + (dir.path() / "n.db").string(),
                       "--grpc_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
                       "--admin_listen=0.0.0.0:0"},
                      &log),
            1);
  EXPECT_THAT(log, HasSubstr("--admin_listen=0.0.0.0:0"));
  EXPECT_THAT(log, HasSubstr("--api_keys_file"));
  EXPECT_THAT(log, HasSubstr("--insecure"));
}

TEST(StartupTest, AnUnknownLogFormatOrLevelIsRefused) {
  testing::TempDir dir;
  std::string log;
  EXPECT_EQ(RunToExit(dir.path(), {"--log_format=xml"}, &log), 2);
  EXPECT_THAT(log, HasSubstr("--log_format must be text or json, not xml"));
  EXPECT_EQ(RunToExit(dir.path(), {"--log_level=verbose"}, &log), 2);
  EXPECT_THAT(log, HasSubstr("--log_level must be"));
}

constexpr char kPublisherKey[] = "publisher-key-0123456789";

std::string WriteKeysFile(const std::filesystem::path& dir) {
  std::string path = (dir / "api_keys").string();
  std::ofstream(path) << "# name:key\npublisher:" << kPublisherKey << "\n";
  return path;
}

// Runs notifyctl to completion; its exit code, and its output in *log.
int RunNotifyctl(const std::filesystem::path& dir,
                 std::vector<std::string> args, std::string* log) {
  std::vector<std::string> argv = {NOTIFYCTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string log_path = (dir / "notifyctl.log").string();
  std::filesystem::remove(log_path);
  testing::ChildProcess process(argv, log_path);
  std::optional<int> status = process.Wait(seconds(30));
  *log = process.Log();
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST(StartupTest, NonLoopbackGrpcStartsWithApiKeysAndChecksThem) {
  testing::TempDir dir;
  NotifydBinary notifyd(dir.path(),
                        {"--grpc_listen=0.0.0.0:0",
                         "--api_keys_file=" + WriteKeysFile(dir.path())});
  auto ports = notifyd.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  std::string server = "--server=127.0.0.1:" + std::to_string(ports->grpc);
  std::string log;
  EXPECT_EQ(RunNotifyctl(dir.path(), {server, "notify", "bob", "x"}, &log), 1);
  EXPECT_THAT(log, HasSubstr("missing or invalid API key"));
  EXPECT_EQ(RunNotifyctl(dir.path(),
                         {server, "--api_key=" + std::string(kPublisherKey),
                          "notify", "bob", "x"},
                         &log),
            0)
      << log;
  // The environment variable is the default for --api_key.
  setenv("NOTIFYD_API_KEY", kPublisherKey, 1);
  int code = RunNotifyctl(dir.path(), {server, "unread", "bob"}, &log);
  unsetenv("NOTIFYD_API_KEY");
  EXPECT_EQ(code, 0) << log;
  EXPECT_THAT(log, HasSubstr("1 unread"));
  // Rejections are logged with the method, successes are not.
  EXPECT_THAT(notifyd.process().Log(),
              HasSubstr("rejected an unauthenticated call method=NotifyUser"));
  EXPECT_THAT(notifyd.process().Log(), Not(HasSubstr(kPublisherKey)));
}

TEST(StartupTest, SighupReloadsTheApiKeysFile) {
  testing::TempDir dir;
  std::string keys = WriteKeysFile(dir.path());
  NotifydBinary notifyd(dir.path(), {"--api_keys_file=" + keys});
  auto stub = notifyd.Connect();
  ASSERT_NE(stub, nullptr);
  const std::string old_key = absl::StrCat("Bearer ", kPublisherKey);
  ASSERT_TRUE(testing::NotifyUser(*stub, "bob", "x", nullptr, old_key).ok());

  constexpr char kRotatedKey[] = "rotated-key-0123456789abcdef";
  std::ofstream(keys) << "publisher-2:" << kRotatedKey << "\n";
  notifyd.process().Signal(SIGHUP);
  const std::string new_key = absl::StrCat("Bearer ", kRotatedKey);
  bool rotated = false;
  for (int i = 0; i < 500 && !rotated; ++i) {
    rotated = testing::NotifyUser(*stub, "bob", "x", nullptr, new_key).ok();
    if (!rotated) std::this_thread::sleep_for(milliseconds(10));
  }

  EXPECT_TRUE(rotated) << notifyd.process().Log();
  EXPECT_EQ(
      testing::NotifyUser(*stub, "bob", "x", nullptr, old_key).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(notifyd.process().Log(),
              HasSubstr("received SIGHUP, reloaded API keys api_keys=1"));
  // A broken file is reported and changes nothing.
  std::ofstream(keys) << "garbage\n";
  notifyd.process().Signal(SIGHUP);
  for (int i = 0;
       i < 500 && notifyd.process().Log().find("kept the previous API keys") ==
                      std::string::npos;
       ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_THAT(notifyd.process().Log(), HasSubstr("kept the previous API keys"));
  EXPECT_TRUE(testing::NotifyUser(*stub, "bob", "x", nullptr, new_key).ok());
  // Two SIGHUPs later it is still serving; SIGTERM still stops it cleanly.
  notifyd.process().Signal(SIGTERM);
  std::optional<int> status = notifyd.process().Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST(StartupTest, TlsFlagsServeGrpcAndHttpOverTls) {
  testing::TempDir dir;
  testing::TestCa ca;
  ASSERT_TRUE(ca.ok()) << ca.error();
  NotifydBinary notifyd(
      dir.path(), {"--tls_cert=" + ca.server_cert(),
                   "--tls_key=" + ca.server_key(), "--insecure_dev_identity"});
  auto ports = notifyd.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  std::string server = "--server=127.0.0.1:" + std::to_string(ports->grpc);
  // `notifyctl tail` follows the stream over HTTPS, verifying the CA.
  testing::ChildProcess tail(
      {NOTIFYCTL_BINARY, "--tls_ca=" + ca.ca_cert(),
       "--http=https://127.0.0.1:" + std::to_string(ports->http), "tail",
       "bob"},
      (dir.path() / "tail.log").string());
  for (int i = 0; i < 500 && tail.Log().find("connected") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::string log;
  EXPECT_EQ(RunNotifyctl(dir.path(),
                         {server, "--tls_ca=" + ca.ca_cert(), "--timeout=5",
                          "notify", "bob", "over tls"},
                         &log),
            0)
      << log;
  bool tailed = false;
  for (int i = 0; i < 500 && !tailed; ++i) {
    tailed = tail.Log().find("notification over tls") != std::string::npos;
    if (!tailed) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(tailed) << tail.Log();
  EXPECT_NE(
      RunNotifyctl(dir.path(),
                   {server, "--timeout=5", "notify", "bob", "plain"}, &log),
      0);
  EXPECT_EQ(RunNotifyctl(
                dir.path(),
                {server, "--tls_ca=" + (dir.path() / "none").string(), "stats"},
                &log),
            2);
  EXPECT_THAT(log, HasSubstr("cannot read --tls_ca="));
  // The HTTP listener takes the same certificate.
  std::string cmd =
      "openssl s_client -connect 127.0.0.1:" + std::to_string(ports->http) +
      " -CAfile " + ca.ca_cert() + " -verify_return_error </dev/null >" +
      (dir.path() / "s_client.log").string() + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0)
      << testing::TestCa::Read((dir.path() / "s_client.log").string());
}

TEST(StartupTest, UnreadableTlsFilesAreRefusedNamingThem) {
  testing::TempDir dir;
  std::string missing = (dir.path() / "missing.pem").string();
  std::string log;
  EXPECT_NE(RunToExit(dir.path(),
                      {"--db=" + (dir.path() / "n.db").string(),
                       "--grpc_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
                       "--admin_listen=127.0.0.1:0", "--tls_cert=" + missing,
                       "--tls_key=" + missing},
                      &log),
            0);
  EXPECT_THAT(log, HasSubstr("cannot read --tls_cert=" + missing));
}

TEST(StartupTest, InvalidFlagValueIsRefused) {
  testing::TempDir dir;
  std::string log;
  EXPECT_NE(RunToExit(dir.path(), {"--synchronous=sometimes"}, &log), 0);
  EXPECT_THAT(log, HasSubstr("--synchronous"));
}

TEST(StartupTest, CommitDelayPastItsLimitIsRefused) {
  testing::TempDir dir;
  for (const char* value : {"101ms", "-1ms"}) {
    std::string log;
    EXPECT_NE(
        RunToExit(dir.path(), {std::string("--commit_delay=") + value}, &log),
        0);
    EXPECT_THAT(log, HasSubstr("--commit_delay must be between 0 and 100ms"));
  }
}

TEST(StartupTest, UnknownStoreOrBusIsRefusedNamingTheFlag) {
  testing::TempDir dir;
  std::string log;
  EXPECT_NE(RunToExit(dir.path(), {"--store=mysql://db/notify"}, &log), 0);
  EXPECT_THAT(log, HasSubstr("--store must be sqlite"));
  EXPECT_NE(RunToExit(dir.path(), {"--bus=nats://127.0.0.1:4222"}, &log), 0);
  EXPECT_THAT(log, HasSubstr("--bus must be local"));
}

// Instances sharing a bus must share a store: other instances could neither
// replay from this one's SQLite file nor fill a gap from it.
TEST(StartupTest, RedisBusWithSqliteIsRefused) {
  testing::TempDir dir;
  std::string log;
  EXPECT_NE(RunToExit(dir.path(), {"--bus=redis://127.0.0.1:6379"}, &log), 0);
  EXPECT_THAT(log, HasSubstr("--bus=redis://... needs --store=postgres://"));
}

// A store or bus that cannot be reached stops the start with a message that
// names it and keeps the password out of the log.
TEST(StartupTest, UnreachablePostgresIsRefusedWithoutShowingThePassword) {
  testing::TempDir dir;
  std::string log;
  const int port = testing::FreeLoopbackPort();
  EXPECT_NE(RunToExit(dir.path(),
                      {absl::StrCat("--store=postgres://notifyd:s3cret-pw@"
                                    "127.0.0.1:",
                                    port, "/notify?connect_timeout=2"),
                       "--grpc_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
                       "--admin_listen=127.0.0.1:0"},
                      &log),
            0);
  EXPECT_THAT(log, HasSubstr(absl::StrCat("127.0.0.1")));
  EXPECT_THAT(log, Not(HasSubstr("s3cret-pw")));
}

}  // namespace
}  // namespace notifyd
