// The real notifyd binary (NOTIFYD_BINARY, defined for every server test)
// as a child process on ephemeral ports, for black-box tests. Not
// thread-safe; one owner.
#ifndef NOTIFYD_TESTS_SERVER_NOTIFYD_BINARY_H_
#define NOTIFYD_TESTS_SERVER_NOTIFYD_BINARY_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "notify/v1/notify.grpc.pb.h"
#include "tests/support/process.h"

namespace notifyd {

namespace pb = ::notify::v1;

// Starts notifyd with its store under `dir` (notify.db), its log in
// dir/notifyd.log, and `extra` flags after the defaults.
class NotifydBinary {
 public:
  NotifydBinary(const std::filesystem::path& dir,
                std::vector<std::string> extra = {},
                testing::ChildOptions child = {})
      : ready_((dir / "ready.json").string()) {
    std::filesystem::remove(ready_);
    std::vector<std::string> argv = {NOTIFYD_BINARY,
                                     "--db=" + (dir / "notify.db").string(),
                                     "--grpc_listen=127.0.0.1:0",
                                     "--http_listen=127.0.0.1:0",
                                     "--admin_listen=127.0.0.1:0",
                                     "--ready_file=" + ready_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<testing::ChildProcess>(
        argv, (dir / "notifyd.log").string(), child);
  }

  std::optional<testing::Ports> WaitForPorts() {
    auto ports = testing::WaitForReadyFile(ready_, std::chrono::seconds(20));
    EXPECT_TRUE(ports.has_value()) << process_->Log();
    return ports;
  }

  std::unique_ptr<pb::Notifier::Stub> Connect() {
    auto ports = WaitForPorts();
    if (!ports) return nullptr;
    return pb::Notifier::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(ports->grpc),
                            grpc::InsecureChannelCredentials()));
  }

  // A failed test shows what the server logged (a crash's report included).
  ~NotifydBinary() {
    if (::testing::Test::HasFailure()) {
      std::cerr << "--- notifyd log ---\n" << process_->Log() << "---\n";
    }
  }

  testing::ChildProcess& process() { return *process_; }

 private:
  std::string ready_;
  std::unique_ptr<testing::ChildProcess> process_;
};

// Calls `fn` with every notification stored for `user`, newest first,
// paging through ListNotifications.
template <typename Fn>
void ForEachStored(pb::Notifier::Stub& stub, const std::string& user, Fn fn) {
  uint64_t before = 0;
  for (;;) {
    pb::ListNotificationsRequest request;
    request.set_user_id(user);
    request.set_limit(500);
    request.set_before_id(before);
    pb::ListNotificationsResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub.ListNotifications(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const auto& n : response.notifications()) fn(n);
    if (!status.ok() || response.next_before_id() == 0) return;
    before = response.next_before_id();
  }
}

// Every id stored for `user`.
inline std::set<uint64_t> AllIds(pb::Notifier::Stub& stub,
                                 const std::string& user) {
  std::set<uint64_t> ids;
  ForEachStored(stub, user,
                [&](const pb::Notification& n) { ids.insert(n.id()); });
  return ids;
}

}  // namespace notifyd

#endif  // NOTIFYD_TESTS_SERVER_NOTIFYD_BINARY_H_
