#include "tests/server/test_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace notifyd::testing {

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::path(::testing::TempDir()) / "notifyd-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

TestServer::TestServer(server::AppOptions options) {
  options.grpc_listen = "127.0.0.1:0";
  options.edge.listen = "127.0.0.1:0";
  options.admin_listen = "127.0.0.1:0";
  options.db = (dir_.path() / "notify.db").string();
  auto app = server::App::Start(std::move(options));
  if (!app.ok()) {
    ADD_FAILURE() << "server did not start: " << app.status();
    return;
  }
  app_ = std::move(*app);
  channel_ = grpc::CreateChannel(app_->grpc_target(),
                                 grpc::InsecureChannelCredentials());
  stub_ = notify::v1::Notifier::NewStub(channel_);
}

TestServer::~TestServer() {
  if (app_) app_->Shutdown();
}

grpc::Status NotifyUser(notify::v1::Notifier::Stub& stub,
                        const std::string& user, const std::string& data,
                        notify::v1::NotifyUserResponse* response,
                        const std::string& authorization,
                        const std::string& idempotency_key,
                        const std::string& traceparent) {
  notify::v1::NotifyUserRequest request;
  request.set_user_id(user);
  request.set_data(data);
  request.set_idempotency_key(idempotency_key);
  notify::v1::NotifyUserResponse ignored;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  if (!authorization.empty()) {
    context.AddMetadata("authorization", authorization);
  }
  if (!traceparent.empty()) context.AddMetadata("traceparent", traceparent);
  return stub.NotifyUser(&context, request, response ? response : &ignored);
}

bool WaitForLiveStreams(notify::v1::Notifier::Stub& stub, uint64_t n) {
  for (int i = 0; i < 500; ++i) {
    notify::v1::GetStatsResponse stats;
    grpc::ClientContext context;
    if (stub.GetStats(&context, {}, &stats).ok() &&
        stats.live_connections() >= n) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

uint64_t StoredCount(notify::v1::Notifier::Stub& stub) {
  notify::v1::GetStatsResponse response;
  grpc::ClientContext context;
  EXPECT_TRUE(
      stub.GetStats(&context, notify::v1::GetStatsRequest(), &response).ok());
  return response.stored_notifications();
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const auto& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

std::string InvalidUtf8NotifyUserRequest() {
  std::string bytes;
  bytes += '\x0a';  // field 1 (user_id), length-delimited
  bytes += '\x05';
  bytes += "alice";
  bytes += '\x1a';  // field 3 (data), length-delimited
  bytes += '\x04';
  bytes += "\xff\xfe\xc3\x28";
  return bytes;
}

double SeriesValue(const std::string& metrics, const std::string& series) {
  const std::string prefix = "\n" + series + " ";
  size_t at = metrics.find(prefix);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(metrics.c_str() + at + prefix.size(), nullptr);
}

}  // namespace notifyd::testing
