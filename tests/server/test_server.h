// A notifyd App started in-process for a test: a fresh store in a temporary
// directory, gRPC and HTTP on 127.0.0.1 port 0, and a generated stub.
#ifndef NOTIFYD_TESTS_SERVER_TEST_SERVER_H_
#define NOTIFYD_TESTS_SERVER_TEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>

#include "notify/v1/notify.grpc.pb.h"
#include "server/app.h"

namespace notifyd::testing {

// A fresh directory under the test temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class TestServer {
 public:
  // Starts with `options` adjusted to the temp dir and port 0; fails the
  // test (ASSERT) when the server does not start.
  explicit TestServer(server::AppOptions options = {});
  ~TestServer();

  server::App& app() { return *app_; }
  notify::v1::Notifier::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::unique_ptr<server::App> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<notify::v1::Notifier::Stub> stub_;
};

// One NotifyUser call of `data` to `user` on `stub`. `response`, when
// given, receives the answer; `authorization` and `traceparent`, when not
// empty, are sent as that metadata ("Bearer <key>", a W3C traceparent).
grpc::Status NotifyUser(notify::v1::Notifier::Stub& stub,
                        const std::string& user, const std::string& data,
                        notify::v1::NotifyUserResponse* response = nullptr,
                        const std::string& authorization = "",
                        const std::string& idempotency_key = "",
                        const std::string& traceparent = "");

// Waits up to 5 s until GetStats on `stub` reports at least `n` live
// streams, so a notification sent next is certainly delivered live. False
// when they did not register in time.
bool WaitForLiveStreams(notify::v1::Notifier::Stub& stub, uint64_t n);

// Notifications the store holds, from GetStats (the call must succeed).
uint64_t StoredCount(notify::v1::Notifier::Stub& stub);

// The bytes of a raw gRPC message, for calls made through GenericStub.
std::string FromByteBuffer(const grpc::ByteBuffer& buffer);

// NotifyUserRequest{user_id: "alice", data: <invalid UTF-8>} as bytes, to
// send through GenericStub: the client's protobuf never sees (or logs
// about) the bad string; the server's protobuf logs an error for it.
std::string InvalidUtf8NotifyUserRequest();

// The value of `series` (a name, with its labels if any) in Prometheus
// text `metrics`; NaN when it is not there.
double SeriesValue(const std::string& metrics, const std::string& series);

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_SERVER_TEST_SERVER_H_
