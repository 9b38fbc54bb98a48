// A PublishStream producer killed mid-stream (SIGKILL, a real process: the
// built notifyctl, `notify --stdin`, against the built notifyd) loses nothing
// that was answered, and run again over the same input with the same
// idempotency keys it stores the rest and duplicates nothing (README,
// "Publishing at rate").
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd {
namespace {

using namespace std::chrono_literals;

constexpr int kLines = 20000;

uint64_t Unread(pb::Notifier::Stub& stub, const std::string& user) {
  pb::GetUnreadCountRequest request;
  request.set_user_id(user);
  pb::GetUnreadCountResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub.GetUnreadCount(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.unread();
}

// How many times each data was stored for `user`.
std::map<std::string, int> StoredData(pb::Notifier::Stub& stub,
                                      const std::string& user) {
  std::map<std::string, int> seen;
  ForEachStored(stub, user,
                [&](const pb::Notification& n) { ++seen[n.data()]; });
  return seen;
}

TEST(ProducerKillTest, AKilledProducerRunAgainStoresEveryLineOnce) {
  testing::TempDir dir;
  NotifydBinary server(dir.path(), {"--insecure_dev_identity"});
  std::unique_ptr<pb::Notifier::Stub> stub = server.Connect();
  ASSERT_NE(stub, nullptr);
  auto ports = server.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  const std::filesystem::path input = dir.path() / "lines.txt";
  {
    std::ofstream out(input);
    for (int i = 1; i <= kLines; ++i) out << "line " << i << "\n";
  }
  // The shell execs notifyctl, so the pid is notifyctl's.
  auto producer = [&](const std::string& log) {
    return std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{
            "/bin/sh", "-c",
            absl::StrCat("exec ", NOTIFYCTL_BINARY,
                         " --server=127.0.0.1:", ports->grpc,
                         " notify --stdin --idempotency_key=batch7 ana < ",
                         input.string())},
        (dir.path() / log).string());
  };

  auto first = producer("first.log");
  // Killed once part of the input is stored, part not.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  uint64_t before_kill = 0;
  while ((before_kill = Unread(*stub, "ana")) < kLines / 10 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  first->Signal(SIGKILL);
  std::optional<int> killed = first->Wait(10s);
  ASSERT_TRUE(killed.has_value());
  ASSERT_TRUE(WIFSIGNALED(*killed)) << first->Log();
  // Messages the server had read before the kill still commit: wait until
  // the count stops moving.
  uint64_t after_kill = Unread(*stub, "ana");
  for (uint64_t previous = 0; previous != after_kill;) {
    previous = after_kill;
    std::this_thread::sleep_for(300ms);
    after_kill = Unread(*stub, "ana");
  }
  ASSERT_GE(after_kill, before_kill);
  ASSERT_LT(after_kill, static_cast<uint64_t>(kLines))
      << "the producer finished before it was killed: nothing was tested";

  auto second = producer("second.log");
  std::optional<int> done = second->Wait(120s);
  ASSERT_TRUE(done.has_value());
  ASSERT_TRUE(WIFEXITED(*done) && WEXITSTATUS(*done) == 0) << second->Log();
  // What the first run stored comes back as duplicates, the rest is new.
  // (At least after_kill duplicates: on a loaded machine a message the
  // server read before the kill can still commit after the count above
  // looked settled.)
  const std::string summary = second->Log();
  std::smatch match;
  ASSERT_TRUE(std::regex_search(
      summary, match,
      std::regex(absl::StrCat(R"((\d+) stored, (\d+) duplicate\(s\), )",
                              R"(0 failed, of )", kLines, R"( line\(s\))"))))
      << summary;
  const int new_lines = std::stoi(match[1]);
  const int duplicates = std::stoi(match[2]);
  EXPECT_EQ(new_lines + duplicates, kLines);
  EXPECT_GE(static_cast<uint64_t>(duplicates), after_kill);

  std::map<std::string, int> stored = StoredData(*stub, "ana");
  EXPECT_EQ(stored.size(), static_cast<size_t>(kLines));
  for (int i = 1; i <= kLines; ++i) {
    auto it = stored.find(absl::StrCat("line ", i));
    ASSERT_NE(it, stored.end()) << "line " << i << " lost";
    EXPECT_EQ(it->second, 1) << "line " << i << " stored twice";
  }
  EXPECT_EQ(Unread(*stub, "ana"), static_cast<uint64_t>(kLines));
}

}  // namespace
}  // namespace notifyd
