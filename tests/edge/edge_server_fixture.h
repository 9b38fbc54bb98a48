// The fixture the edge's server tests derive from (edge_server_test.h,
// hostile_http_test.cc, json_api_server_test.h): a real EdgeServer on
// 127.0.0.1 port 0 over the memory store (FakeStore) and its own hub and
// metrics. A test sets options_ (in its constructor or before Start()),
// then Start()s; the server is shut down with the fixture.
#ifndef NOTIFYD_TESTS_EDGE_EDGE_SERVER_FIXTURE_H_
#define NOTIFYD_TESTS_EDGE_EDGE_SERVER_FIXTURE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "edge/http_server.h"
#include "gtest/gtest.h"
#include "tests/edge/fake_store.h"

namespace notifyd::edge::testing {

class EdgeServerFixture : public ::testing::Test {
 protected:
  EdgeServerFixture() { options_.listen = "127.0.0.1:0"; }
  ~EdgeServerFixture() override {
    if (server_) server_->Shutdown();
  }

  // Starts the server with options_; port_ is its port.
  void Start() {
    server_ = std::make_unique<EdgeServer>(options_, store_, hub_, metrics_);
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  // Stores and publishes, as the gRPC service does; returns the id.
  uint64_t Notify(const std::string& channel, const std::string& data,
                  const std::string& event = "notification") {
    auto n = store_.Add(channel, event, data);
    hub_.Publish(n);
    return n->id;
  }

  // Waits until the hub sees `n` streams (a stream subscribes right after
  // its response head is queued, so a client's open can return slightly
  // earlier).
  void WaitForConnections(uint64_t n) {
    for (int i = 0; i < 3000 && hub_.Connections() != n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(hub_.Connections(), n);
  }

  FakeStore store_;
  Metrics metrics_;
  Hub hub_{metrics_};
  EdgeOptions options_;
  std::unique_ptr<EdgeServer> server_;
  uint16_t port_ = 0;
};

}  // namespace notifyd::edge::testing

#endif  // NOTIFYD_TESTS_EDGE_EDGE_SERVER_FIXTURE_H_
