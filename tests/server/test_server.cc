#include "tests/server/test_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

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

}  // namespace notifyd::testing
